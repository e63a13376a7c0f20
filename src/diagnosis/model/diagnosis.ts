// What a diagnosis asks and answers: the query (source, destination, port, protocol) and the
// result as data: a verdict, suspicions (what is wrong, where, how bad), the packet path (netnodes
// and the links between them, with the packet on each link), and warnings.

import type { Warning } from './warning.js';

/** Where a query starts or ends. A service is a destination only. */
export type QueryEndpoint =
  | { readonly kind: 'pod'; readonly namespace: string; readonly name: string }
  | { readonly kind: 'node'; readonly name: string }
  | { readonly kind: 'service'; readonly namespace: string; readonly name: string }
  | { readonly kind: 'ip'; readonly ip: string };

export type QueryProtocol = 'TCP' | 'UDP' | 'ICMP';

export interface DiagnosisQuery {
  readonly source: QueryEndpoint;
  readonly destination: QueryEndpoint;
  /** Destination port (ignored for ICMP). */
  readonly port: number;
  readonly protocol: QueryProtocol;
  /** The client's source port; default 40000 (an ephemeral port). */
  readonly sourcePort?: number;
}

export type DiagnosisVerdict = 'Reachable' | 'Unreachable' | 'Degraded' | 'Inconclusive';

export type SuspicionLevel = 'info' | 'warning' | 'critical' | 'fatal';

/** Stable codes (DESIGN §6); users alert on them. */
export type SuspicionCode =
  | 'LinkDown'
  | 'LinkMissing'
  | 'MTUMismatch'
  | 'AddressMissing'
  | 'RouteMissing'
  | 'RouteInvalid'
  | 'NoRouteToHost'
  | 'NeighborMissing'
  | 'ForwardingDisabled'
  | 'RPFilterDrop'
  | 'IptablesDrop'
  | 'IptablesReject'
  | 'NftablesDrop'
  | 'NoListener'
  | 'ServiceNoEndpoints'
  | 'ServiceRulesMissing'
  | 'NetworkPolicyDenied'
  | 'VxlanFdbMissing'
  | 'TunnelMisconfigured'
  | 'CollectorFailed'
  | 'SnapshotIncomplete'
  | 'UnsupportedConfig'
  /** The packet comes back to a netns and interface it already crossed, unchanged. */
  | 'RoutingLoop'
  /** The reply does not reach the client as the connection it belongs to. */
  | 'ReplyMisrouted'
  /** kube-proxy's rules (IPVS real servers) send a service's traffic to an address that is no ready endpoint of it. */
  | 'ServiceRulesStale'
  /** A pod's packet leaves the cluster network with the pod's address: no MASQUERADE/SNAT rewrites it. */
  | 'MasqueradeMissing'
  /** Hairpin is off on a bridge port that the CNI configuration wants it on: a pod cannot reach itself through a service. */
  | 'HairpinDisabled'
  /** net.bridge.bridge-nf-call-iptables is off (or br_netfilter absent) where iptables must see bridged frames. */
  | 'BridgeNetfilterDisabled'
  /** Informational: the request leaves the cluster through a gateway; the walk stops there. */
  | 'LeavesCluster'
  /** A running pod has no CNI ADD in its node's call records, though netdiag's tap records that node's calls. */
  | 'CniAddMissing'
  /** The pod's last CNI ADD failed (the chain reached the tap's head record but not its tail) and none succeeded since. */
  | 'CniAddFailed'
  /** An address of the last CNI ADD result is not the pod's status IP, or not on its interface in the pod's netns. */
  | 'CniResultMismatch'
  /** A CNI DEL tore down the network of a running pod's current sandbox, and no ADD followed. */
  | 'CniDelWithoutAdd'
  /** The plugins of the last recorded CNI call differ from the node's configuration list on disk. */
  | 'CniChainMismatch';

export interface Suspicion {
  readonly level: SuspicionLevel;
  /** The netnode id: a node name, `namespace/name` of a pod, or an IP. */
  readonly node: string;
  readonly code: SuspicionCode;
  /** Names the device, route, rule, sysctl or object at fault. */
  readonly message: string;
}

export type NetNodeType = 'pod' | 'node' | 'external' | 'service';

/** What a netnode did with the packet, in the kernel's words. */
export type NetNodeAction =
  /** A locally generated packet leaves (OUTPUT, POSTROUTING). */
  | { readonly kind: 'send'; readonly direction: Direction; readonly outIface?: string; readonly verdict: string }
  /** Received on `iif` and routed: delivered locally or forwarded out of `outIface`. */
  | { readonly kind: 'receive'; readonly direction: Direction; readonly iif: string; readonly outIface?: string; readonly verdict: string }
  /** Switched at layer 2 by a bridge, from one port to another. */
  | { readonly kind: 'bridge'; readonly direction: Direction; readonly bridge: string; readonly inPort: string; readonly outPort: string }
  /** Address or port rewritten by netfilter (DNAT, SNAT, MASQUERADE, REDIRECT) or undone by conntrack. */
  | { readonly kind: 'nat'; readonly direction: Direction; readonly nat: string; readonly before: string; readonly after: string; readonly rule?: string }
  /** Delivered to a local socket (or to the client, for the reply). */
  | { readonly kind: 'deliver'; readonly direction: Direction; readonly socket: string };

export type Direction = 'request' | 'reply';

export interface PathNode {
  readonly id: string;
  readonly type: NetNodeType;
  readonly actions: readonly NetNodeAction[];
}

export type PathLinkType = 'veth' | 'bridge' | 'underlay' | 'vxlan' | 'ipip' | 'local';

/** A packet as `proto src:sport > dst:dport`. */
export type PacketText = string;

export interface PathLink {
  readonly source: string;
  readonly destination: string;
  readonly type: PathLinkType;
  readonly direction: Direction;
  /** The packet as it entered the source netnode, and as it left it on this link. */
  readonly packet: { readonly before: PacketText; readonly after: PacketText };
  /** Interfaces and devices: sourceInterface, destinationInterface, bridge, vni, remote... */
  readonly attributes: Readonly<Record<string, string>>;
}

export interface PacketPath {
  readonly nodes: readonly PathNode[];
  readonly links: readonly PathLink[];
}

export interface Diagnosis {
  readonly verdict: DiagnosisVerdict;
  readonly suspicions: readonly Suspicion[];
  readonly packetPath: PacketPath;
  readonly warnings: readonly Warning[];
}
