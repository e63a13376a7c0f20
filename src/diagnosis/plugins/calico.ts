// The calico plugin: what calico's own layout needs, beyond what the kernel's state shows the walk.
// Calico routes every workload at layer 3 through its host (no bridge):
//
// - the CNI plugin gives the pod's eth0 a /32 and the routes `169.254.1.1 dev eth0 scope link` and
//   `default via 169.254.1.1 dev eth0`; the host end of the veth, `cali` + 11 hex digits of
//   sha1("<namespace>.<pod>"), has no address but net.ipv4.conf.caliX.proxy_arp=1 and forwarding=1,
//   so the host answers the pod's ARP for 169.254.1.1 with its own MAC; a route
//   `<podIP> dev caliX scope link` leads back to the pod (kept by felix);
// - each node owns IPAM blocks (/26 by default) and holds `blackhole <block>` for them (`proto
//   bird` when BIRD runs, `proto 80` when felix programs it);
// - other nodes' blocks are reached by mode: BGP `via <node IP> proto bird`, VXLAN `via <remote
//   tunnel address> dev vxlan.calico onlink` with a permanent ARP entry (tunnel address → VTEP
//   MAC) and a permanent FDB entry (VTEP MAC → node IP) programmed by felix, IPIP `via <node IP>
//   dev tunl0 proto bird onlink`;
// - felix's iptables chains (cali-FORWARD → cali-to-wl-dispatch → cali-tw-caliX → cali-pi-*
//   policy chains) enforce NetworkPolicy: a drop there is a policy decision.
//
// The plugin checks these for the pods of the query and the nodes on the path, and names the
// NetworkPolicy behind a drop in felix's chains.

import { createHash } from 'node:crypto';
import { assertNever } from '../model/assert-never.js';
import type { Suspicion } from '../model/diagnosis.js';
import { formatIp, formatPrefix, ipEquals, parseIp, type IpAddress } from '../model/ip.js';
import { nodeInternalIps, objectKey, podIps, type KubeNetworkPolicy, type KubeNode, type KubePod } from '../model/kube-objects.js';
import {
  formatRoute,
  lookupRoute,
  RT_TABLE_MAIN,
  type Link,
  type Route,
  type RouteDecision,
} from '../netstack/routing/index.js';
import { netnsStateOf, type ClusterState } from './cluster-state.js';
import { ownsAddress, type NetnsState } from './netns-state.js';
import type { FailureContext, NetnsRef, Plugin, Subjects } from './plugin.js';

/** The gateway every calico workload routes through; nobody holds it, the host answers by proxy ARP. */
export const CALICO_GATEWAY = '169.254.1.1';
export const VXLAN_DEVICE = 'vxlan.calico';
export const IPIP_DEVICE = 'tunl0';
/** Bytes of encapsulation: VXLAN over IPv4 (outer IP + UDP + VXLAN + inner Ethernet), IP-in-IP. */
export const VXLAN_OVERHEAD = 50;
export const IPIP_OVERHEAD = 20;

/** Node annotations calico-node writes (libcalico-go's Kubernetes node resource). */
export const ANNOTATIONS = {
  ipv4Address: 'projectcalico.org/IPv4Address',
  vxlanTunnelAddr: 'projectcalico.org/IPv4VXLANTunnelAddr',
  vxlanTunnelMac: 'projectcalico.org/VXLANTunnelMACAddr',
  ipipTunnelAddr: 'projectcalico.org/IPv4IPIPTunnelAddr',
} as const;

/** Route protocols of calico's routes: BIRD's, and felix's own (80) when BIRD does not run. */
const CALICO_PROTOCOLS: ReadonlySet<string> = new Set(['bird', '80']);

export type CalicoMode = 'bgp' | 'vxlan' | 'ipip';

/** The host-side veth name calico gives a pod (VethNameForWorkload, default prefix `cali`). */
export function calicoVethName(namespace: string, pod: string): string {
  return `cali${createHash('sha1').update(`${namespace}.${pod}`).digest('hex').slice(0, 11)}`;
}

/** How a node reaches other nodes' blocks, from its devices, its routes and its annotations. */
export function calicoModes(state: NetnsState, node: KubeNode | undefined): Set<CalicoMode> {
  const modes = new Set<CalicoMode>();
  const annotations = node?.metadata.annotations ?? {};
  if (state.routing.links.get(VXLAN_DEVICE)?.kind === 'vxlan' || annotations[ANNOTATIONS.vxlanTunnelAddr] !== undefined) modes.add('vxlan');
  if (state.routing.links.get(IPIP_DEVICE)?.kind === 'ipip' || annotations[ANNOTATIONS.ipipTunnelAddr] !== undefined) modes.add('ipip');
  // Neither tunnel: blocks are routed natively, as BIRD learns them over BGP.
  if (modes.size === 0) modes.add('bgp');
  return modes;
}

/** Whether a node runs calico: calico-node's annotation, or one of its devices. */
export function isCalicoNode(state: NetnsState, node: KubeNode | undefined): boolean {
  if (node?.metadata.annotations?.[ANNOTATIONS.ipv4Address] !== undefined) return true;
  return state.routing.linkList.some((l) => l.name === VXLAN_DEVICE || (l.name === IPIP_DEVICE && l.kind === 'ipip') || (l.kind === 'veth' && /^cali[0-9a-f]{11}$/.test(l.name)));
}

function findNode(cluster: ClusterState, name: string): KubeNode | undefined {
  return cluster.objects.nodes.find((n) => n.metadata.name === name);
}

function firstIpv4(texts: readonly string[]): IpAddress | undefined {
  return texts.map((t) => parseIp(t.split('/')[0] ?? t)).find((ip): ip is IpAddress => ip?.family === 4);
}

function podOf(cluster: ClusterState, ref: NetnsRef): KubePod | undefined {
  return cluster.objects.pods.find((p) => objectKey(p.metadata) === ref.id);
}

function mainRoutesFor(state: NetnsState, dst: IpAddress): Route[] {
  const main = state.routing.families[4].tables.get(RT_TABLE_MAIN);
  return main === undefined ? [] : [...main.candidates(dst)];
}

/** A pod of the query, with its address. */
interface Workload {
  readonly ref: NetnsRef;
  readonly pod: KubePod;
  readonly ip: IpAddress;
}

function workloads(cluster: ClusterState, subjects: Subjects): Workload[] {
  const out: Workload[] = [];
  for (const ref of [subjects.source, subjects.destination]) {
    if (ref?.type !== 'pod' || out.some((w) => w.ref.id === ref.id)) continue;
    const pod = podOf(cluster, ref);
    const ip = pod === undefined ? undefined : firstIpv4(podIps(pod));
    if (pod !== undefined && ip !== undefined) out.push({ ref, pod, ip });
  }
  return out;
}

/** The host end of a pod's veth: the link whose ifindex the pod's eth0 points to, else calico's name for it. */
function hostVeth(node: NetnsState, w: Workload): { link?: Link; expected: string } {
  const expected = calicoVethName(w.pod.metadata.namespace ?? 'default', w.pod.metadata.name);
  const eth0 = w.ref.state.routing.links.get('eth0');
  const byPeer =
    eth0?.linkIndex === undefined ? undefined : node.routing.linkList.find((l) => l.kind === 'veth' && l.ifindex === eth0.linkIndex && l.linkIndex === eth0.ifindex);
  const link = byPeer ?? node.routing.links.get(expected);
  return { ...(link !== undefined ? { link } : {}), expected: link?.name ?? expected };
}

// ---- the pod's own namespace ------------------------------------------------------------------

function checkPod(at: NetnsRef): Suspicion[] {
  const gateway = parseIp(CALICO_GATEWAY);
  const main = at.state.routing.families[4].tables.get(RT_TABLE_MAIN);
  if (gateway === undefined) return [];
  const defaults = main?.routesOf(0n, 0) ?? [];
  if (defaults.some((r) => r.type === 'unicast' && r.gateway !== undefined && ipEquals(r.gateway, gateway))) return [];
  const why = `calico's CNI plugin installs \`default via ${CALICO_GATEWAY} dev eth0\` (and \`${CALICO_GATEWAY} dev eth0 scope link\`), the host answering ARP for ${CALICO_GATEWAY} by proxy ARP`;
  const other = defaults[0];
  if (other !== undefined) {
    return [{ level: 'critical', node: at.id, code: 'RouteInvalid', message: `the default route of pod ${at.id} is \`${formatRoute(other)}\`, not via ${CALICO_GATEWAY}: ${why}` }];
  }
  return [{ level: 'critical', node: at.id, code: 'RouteMissing', message: `pod ${at.id} has no default route via ${CALICO_GATEWAY}: ${why}` }];
}

// ---- a node, about one of its own workloads ----------------------------------------------------

function checkLocalWorkload(at: NetnsRef, w: Workload): Suspicion[] {
  const out: Suspicion[] = [];
  const base = { node: at.id } as const;
  const podIp = formatIp(w.ip);
  const { link, expected } = hostVeth(at.state, w);
  if (link === undefined) {
    out.push({ ...base, level: 'critical', code: 'LinkMissing', message: `${expected}, the host end of pod ${w.ref.id}'s veth (calico names it \`cali\` + sha1 of "${w.pod.metadata.namespace ?? 'default'}.${w.pod.metadata.name}"), is missing on ${at.id}` });
    return out;
  }
  const cali = link.name;
  if (!link.up) out.push({ ...base, level: 'critical', code: 'LinkDown', message: `${cali}, the host end of pod ${w.ref.id}'s veth, is down on ${at.id}` });

  // The /32 route back to the pod (the CNI plugin's SetupRoutes; felix keeps it).
  const covering = mainRoutesFor(at.state, w.ip);
  const own = covering.find((r) => r.dst.length === 32);
  if (own === undefined) {
    const fallback = covering[0];
    out.push({
      ...base,
      level: 'critical',
      code: 'RouteMissing',
      message: `no route \`${podIp} dev ${cali} scope link\` on ${at.id} for pod ${w.ref.id} (calico's CNI plugin adds it, felix keeps it): ${fallback === undefined ? 'no route covers the pod' : `\`${formatRoute(fallback)}\` takes its traffic instead`}`,
    });
  } else if (own.dev !== cali) {
    out.push({ ...base, level: 'critical', code: 'RouteInvalid', message: `the route \`${formatRoute(own)}\` on ${at.id} sends pod ${w.ref.id}'s address out of ${own.dev ?? own.type}, not ${cali}, its veth` });
  }

  // The block's blackhole: calico holds one for every block affine to the node.
  if (!covering.some((r) => r.type === 'blackhole' && r.dst.length < 32 && CALICO_PROTOCOLS.has(r.protocol))) {
    out.push({
      ...base,
      level: 'info',
      code: 'RouteMissing',
      message: `no \`blackhole <block> proto bird\` (or proto 80) on ${at.id} covers pod ${w.ref.id}'s address ${podIp}: calico installs one for each IPAM block affine to the node, so that unassigned addresses of the block are dropped there (and BIRD exports the block)`,
    });
  }

  // Proxy ARP for 169.254.1.1 (proxy_arp, forwarding, a route out of another device) is the walk's
  // own check of every veth hop (engine/arp.ts): it fails the hop where the kernel would.
  return out;
}

// ---- a node, about a workload on another node --------------------------------------------------

interface RemoteNode {
  readonly name: string;
  readonly ip?: IpAddress;
  readonly vxlanTunnel?: IpAddress;
  readonly vtepMac?: string;
  readonly ipipTunnel?: IpAddress;
  /** The block of the workload, from the remote node's blackhole route, when its netns is known. */
  readonly block?: string;
  readonly vxlanLink?: Link;
}

function remoteNode(cluster: ClusterState, nodes: NodeStateOf, name: string, podIp: IpAddress): RemoteNode {
  const node = findNode(cluster, name);
  const annotations = node?.metadata.annotations ?? {};
  const state = nodes(name);
  const vxlanLink = state?.routing.links.get(VXLAN_DEVICE);
  const vxlanAddress = state?.routing.addressesByDev.get(VXLAN_DEVICE)?.find((a) => a.family === 4)?.local;
  const annotated = (key: string): IpAddress | undefined => {
    const text = annotations[key];
    return text === undefined ? undefined : firstIpv4([text]);
  };
  const ip = (node === undefined ? undefined : firstIpv4(nodeInternalIps(node))) ?? annotated(ANNOTATIONS.ipv4Address);
  const vxlanTunnel = annotated(ANNOTATIONS.vxlanTunnelAddr) ?? vxlanAddress;
  const vtepMac = annotations[ANNOTATIONS.vxlanTunnelMac] ?? vxlanLink?.address;
  const ipipTunnel = annotated(ANNOTATIONS.ipipTunnelAddr);
  const blackhole = state === undefined ? undefined : mainRoutesFor(state, podIp).find((r) => r.type === 'blackhole' && r.dst.length < 32);
  return {
    name,
    ...(ip !== undefined ? { ip } : {}),
    ...(vxlanTunnel !== undefined ? { vxlanTunnel } : {}),
    ...(vtepMac !== undefined ? { vtepMac } : {}),
    ...(ipipTunnel !== undefined ? { ipipTunnel } : {}),
    ...(blackhole !== undefined ? { block: formatPrefix(blackhole.dst) } : {}),
    ...(vxlanLink !== undefined ? { vxlanLink } : {}),
  };
}

/** The route calico would install on `modes`' node for the remote workload's block. */
function expectedRoute(modes: ReadonlySet<CalicoMode>, remote: RemoteNode, podIp: IpAddress): string {
  const block = remote.block ?? `the block of ${formatIp(podIp)}`;
  const nodeIp = remote.ip === undefined ? `<InternalIP of ${remote.name}>` : formatIp(remote.ip);
  if (modes.has('vxlan')) return `\`${block} via ${remote.vxlanTunnel === undefined ? `<VXLAN tunnel address of ${remote.name}>` : formatIp(remote.vxlanTunnel)} dev ${VXLAN_DEVICE} onlink\` (felix)`;
  if (modes.has('ipip')) return `\`${block} via ${nodeIp} dev ${IPIP_DEVICE} proto bird onlink\` (BIRD)`;
  return `\`${block} via ${nodeIp} proto bird\` (BIRD)`;
}

/** Every address that stands for a node of the cluster: InternalIPs and tunnel addresses. */
function clusterNodeAddresses(cluster: ClusterState): Map<string, string> {
  const out = new Map<string, string>();
  for (const node of cluster.objects.nodes) {
    const name = node.metadata.name;
    for (const text of nodeInternalIps(node)) out.set(text, `the InternalIP of node ${name}`);
    const a = node.metadata.annotations ?? {};
    const vxlan = a[ANNOTATIONS.vxlanTunnelAddr];
    const ipip = a[ANNOTATIONS.ipipTunnelAddr];
    if (vxlan !== undefined) out.set(vxlan, `the VXLAN tunnel address of node ${name}`);
    if (ipip !== undefined) out.set(ipip, `the IPIP tunnel address of node ${name}`);
  }
  return out;
}

function checkRemoteWorkload(cluster: ClusterState, at: NetnsRef, nodes: NodeStateOf, modes: ReadonlySet<CalicoMode>, w: Workload): Suspicion[] {
  const out: Suspicion[] = [];
  const remote = remoteNode(cluster, nodes, w.ref.nodeName, w.ip);
  const podIp = formatIp(w.ip);
  const what = `pod ${w.ref.id} (${podIp}) on node ${remote.name}${remote.block !== undefined ? `, block ${remote.block}` : ''}`;
  const decision: RouteDecision = lookupRoute(at.state.routing, { dst: w.ip });
  const expected = expectedRoute(modes, remote, w.ip);
  if (decision.kind !== 'unicast' || decision.route === undefined || decision.route.dst.length === 0) {
    const taken = decision.kind === 'unicast' && decision.route !== undefined ? `only \`${formatRoute(decision.route)}\` covers it` : decision.explanation;
    out.push({ level: 'critical', node: at.id, code: 'RouteMissing', message: `no route of calico on ${at.id} to ${what}: ${taken}; expected ${expected}` });
    return out;
  }
  const route = decision.route;
  const hop = decision.nexthops[0];
  const gateway = hop?.gateway;
  const onNode = gateway !== undefined && remote.ip !== undefined && ipEquals(gateway, remote.ip);
  const onVxlan = hop?.dev === VXLAN_DEVICE && gateway !== undefined && remote.vxlanTunnel !== undefined && ipEquals(gateway, remote.vxlanTunnel);
  if (!onNode && !onVxlan && gateway !== undefined) {
    const owner = clusterNodeAddresses(cluster).get(formatIp(gateway));
    // A gateway that is no node (a router of the fabric, learnt by BIRD) cannot be judged here.
    if (owner !== undefined) {
      out.push({ level: 'critical', node: at.id, code: 'RouteInvalid', message: `the route \`${formatRoute(route)}\` on ${at.id} sends ${what} to ${formatIp(gateway)}, ${owner}; expected ${expected}` });
    }
  }
  if (hop?.dev === VXLAN_DEVICE && gateway !== undefined) out.push(...checkVxlanPeer(at, remote, gateway));
  return out;
}

/** felix's layer-2 state for a remote VTEP: ARP (tunnel address → VTEP MAC), FDB (VTEP MAC → node IP). */
function checkVxlanPeer(at: NetnsRef, remote: RemoteNode, tunnel: IpAddress): Suspicion[] {
  const out: Suspicion[] = [];
  const tunnelText = formatIp(tunnel);
  const neighbor = at.state.neighbors.find((n) => n.dev === VXLAN_DEVICE && ipEquals(n.dst, tunnel));
  const mac = remote.vtepMac?.toLowerCase();
  if (neighbor?.lladdr === undefined) {
    out.push({
      level: 'critical',
      node: at.id,
      code: 'NeighborMissing',
      message: `no ARP entry for ${tunnelText}, the VXLAN tunnel address of node ${remote.name}, on ${VXLAN_DEVICE} of ${at.id}${neighbor === undefined ? '' : ` (only ${neighbor.state.join(',')})`}: felix programs \`${tunnelText} lladdr ${mac ?? '<VTEP MAC>'} PERMANENT\``,
    });
    return out;
  }
  const lladdr = neighbor.lladdr.toLowerCase();
  if (mac !== undefined && lladdr !== mac) {
    out.push({ level: 'critical', node: at.id, code: 'NeighborMissing', message: `the ARP entry for ${tunnelText} on ${VXLAN_DEVICE} of ${at.id} is lladdr ${lladdr}, but the VTEP MAC of node ${remote.name} is ${mac} (${ANNOTATIONS.vxlanTunnelMac})` });
  }
  const fdb = at.state.fdb.find((f) => f.dev === VXLAN_DEVICE && f.mac.toLowerCase() === lladdr && f.dst !== undefined);
  if (fdb?.dst === undefined) {
    out.push({
      level: 'critical',
      node: at.id,
      code: 'VxlanFdbMissing',
      message: `no FDB entry for ${lladdr} on ${VXLAN_DEVICE} of ${at.id}: felix programs \`${lladdr} dev ${VXLAN_DEVICE} dst ${remote.ip === undefined ? `<InternalIP of ${remote.name}>` : formatIp(remote.ip)} self permanent\` for node ${remote.name}`,
    });
  } else if (remote.ip !== undefined && !ipEquals(fdb.dst, remote.ip)) {
    out.push({ level: 'critical', node: at.id, code: 'VxlanFdbMissing', message: `the FDB entry for ${lladdr} on ${VXLAN_DEVICE} of ${at.id} sends to ${formatIp(fdb.dst)}, but node ${remote.name} (VTEP ${lladdr}) is ${formatIp(remote.ip)}` });
  }
  const local = at.state.routing.links.get(VXLAN_DEVICE);
  const peer = remote.vxlanLink;
  if (local?.vxlan !== undefined && peer?.vxlan !== undefined) {
    if (local.vxlan.id !== peer.vxlan.id) {
      out.push({ level: 'critical', node: at.id, code: 'TunnelMisconfigured', message: `${VXLAN_DEVICE} has VNI ${local.vxlan.id} on ${at.id} but ${peer.vxlan.id} on ${remote.name}: the receiver drops frames of another VNI (felix's vxlanVNI must be the same on every node)` });
    }
    if (local.vxlan.port !== undefined && peer.vxlan.port !== undefined && local.vxlan.port !== peer.vxlan.port) {
      out.push({ level: 'critical', node: at.id, code: 'TunnelMisconfigured', message: `${VXLAN_DEVICE} sends to UDP port ${local.vxlan.port} on ${at.id} but listens on ${peer.vxlan.port} on ${remote.name} (felix's vxlanPort must be the same on every node)` });
    }
  }
  return out;
}

// ---- a node's tunnel devices ---------------------------------------------------------------------

function checkTunnelDevices(cluster: ClusterState, at: NetnsRef, node: KubeNode | undefined): Suspicion[] {
  const out: Suspicion[] = [];
  const vxlan = at.state.routing.links.get(VXLAN_DEVICE);
  if (vxlan !== undefined) {
    if (!vxlan.up) out.push({ level: 'critical', node: at.id, code: 'LinkDown', message: `${VXLAN_DEVICE} is down on ${at.id}: the kernel removed the routes to other nodes' blocks through it` });
    const local = vxlan.vxlan?.local;
    if (local !== undefined && !ownsAddress(at.state, local)) {
      out.push({ level: 'critical', node: at.id, code: 'TunnelMisconfigured', message: `${VXLAN_DEVICE} on ${at.id} sends from local ${formatIp(local)}, which is no address of ${at.id}: other nodes drop VXLAN from addresses that are not calico nodes` });
    }
    const annotated = node?.metadata.annotations?.[ANNOTATIONS.vxlanTunnelAddr];
    const tunnel = annotated === undefined ? undefined : parseIp(annotated);
    const addresses = at.state.routing.addressesByDev.get(VXLAN_DEVICE) ?? [];
    if (tunnel !== undefined && !addresses.some((a) => ipEquals(a.local, tunnel))) {
      out.push({ level: 'warning', node: at.id, code: 'AddressMissing', message: `${VXLAN_DEVICE} on ${at.id} does not hold ${annotated ?? ''}/32 (${ANNOTATIONS.vxlanTunnelAddr}): felix assigns it, other nodes route this node's block via it and the node's own packets to remote pods take it as source` });
    }
    const parent = parentDevice(at.state, vxlan);
    if (parent !== undefined && vxlan.mtu + VXLAN_OVERHEAD > parent.mtu) {
      out.push({
        level: 'warning',
        node: at.id,
        code: 'MTUMismatch',
        message: `${VXLAN_DEVICE} on ${at.id} has MTU ${vxlan.mtu}: with ${VXLAN_OVERHEAD} bytes of VXLAN encapsulation that exceeds the MTU of ${parent.name} (${parent.mtu}); calico sets the tunnel MTU to the underlay's minus ${VXLAN_OVERHEAD} (${parent.mtu - VXLAN_OVERHEAD})`,
      });
    }
  }
  const tunl = at.state.routing.links.get(IPIP_DEVICE);
  if (tunl?.kind === 'ipip') {
    if (!tunl.up) out.push({ level: 'critical', node: at.id, code: 'LinkDown', message: `${IPIP_DEVICE} is down on ${at.id}: the kernel removed the routes to other nodes' blocks through it` });
    const uplink = uplinkOf(cluster, at);
    if (uplink !== undefined && tunl.mtu + IPIP_OVERHEAD > uplink.mtu) {
      out.push({
        level: 'warning',
        node: at.id,
        code: 'MTUMismatch',
        message: `${IPIP_DEVICE} on ${at.id} has MTU ${tunl.mtu}: with ${IPIP_OVERHEAD} bytes of IP-in-IP encapsulation that exceeds the MTU of ${uplink.name} (${uplink.mtu}); calico sets the tunnel MTU to the underlay's minus ${IPIP_OVERHEAD} (${uplink.mtu - IPIP_OVERHEAD})`,
      });
    }
  }
  return out;
}

/** The underlay device of a VXLAN device: its `dev`, else the device holding its local address. */
function parentDevice(state: NetnsState, vxlan: Link): Link | undefined {
  const dev = vxlan.vxlan?.dev;
  if (dev !== undefined && !dev.startsWith('if')) return state.routing.links.get(dev);
  const local = vxlan.vxlan?.local;
  if (local === undefined) return undefined;
  for (const [name, addresses] of state.routing.addressesByDev) if (addresses.some((a) => ipEquals(a.local, local))) return state.routing.links.get(name);
  return undefined;
}

/** The device holding the node's InternalIP. */
function uplinkOf(cluster: ClusterState, at: NetnsRef): Link | undefined {
  const node = findNode(cluster, at.nodeName);
  const ip = node === undefined ? undefined : firstIpv4(nodeInternalIps(node));
  if (ip === undefined) return undefined;
  for (const [name, addresses] of at.state.routing.addressesByDev) if (addresses.some((a) => ipEquals(a.local, ip))) return at.state.routing.links.get(name);
  return undefined;
}

// ---- the hooks ------------------------------------------------------------------------------------

/** A node's parsed namespace, read only for the nodes a check needs (parsing every node would make a diagnosis cost as much as the cluster). */
type NodeStateOf = (name: string) => NetnsState | undefined;

/** calico's checks of one netns on the path. */
export function checkCalicoNetns(cluster: ClusterState, at: NetnsRef, subjects: Subjects): Suspicion[] {
  const node = findNode(cluster, at.nodeName);
  const nodes: NodeStateOf = (name) => netnsStateOf(cluster.netns.nodes[name]);
  const host = nodes(at.nodeName);
  if (at.type === 'pod') return host !== undefined && isCalicoNode(host, node) ? checkPod(at) : [];
  if (!isCalicoNode(at.state, node)) return [];
  const out: Suspicion[] = [];
  const pods = workloads(cluster, subjects);
  const modes = calicoModes(at.state, node);
  for (const w of pods) {
    if (w.ref.nodeName === at.nodeName) out.push(...checkLocalWorkload(at, w));
    else out.push(...checkRemoteWorkload(cluster, at, nodes, modes, w));
  }
  // Tunnels matter when the path leaves the node.
  const remoteEnd = [subjects.source, subjects.destination].some((r) => r !== undefined && r.nodeName !== at.nodeName);
  if (remoteEnd) out.push(...checkTunnelDevices(cluster, at, node));
  return out;
}

/** The directions a policy applies to: its policyTypes, else Ingress plus Egress when it has egress rules. */
function policyTypes(policy: KubeNetworkPolicy): readonly string[] {
  const given = policy.spec.policyTypes ?? [];
  if (given.length > 0) return given;
  return (policy.spec.egress ?? []).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** Whether `policy` selects `pod` (same namespace, matchLabels and matchExpressions). */
function selects(policy: KubeNetworkPolicy, pod: KubePod): boolean {
  if ((policy.metadata.namespace ?? 'default') !== (pod.metadata.namespace ?? 'default')) return false;
  const selector = policy.spec.podSelector ?? {};
  const labels = pod.metadata.labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const value = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (value === undefined || !(e.values ?? []).includes(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && (e.values ?? []).includes(value)) return false;
        break;
      case 'Exists':
        if (value === undefined) return false;
        break;
      case 'DoesNotExist':
        if (value !== undefined) return false;
        break;
      default:
        return assertNever(e.operator, 'label selector operator');
    }
  }
  return true;
}

/** The pod whose calico veth is `dev` on `nodeName`. */
function podOfVeth(cluster: ClusterState, nodeName: string, dev: string): KubePod | undefined {
  return cluster.objects.pods.find((p) => p.spec.nodeName === nodeName && calicoVethName(p.metadata.namespace ?? 'default', p.metadata.name) === dev);
}

/**
 * A drop in felix's per-workload chains is a policy decision: cali-tw-caliX (to the workload,
 * ingress) or cali-fw-caliX (from it, egress), and the cali-pi-/cali-po- policy chains they jump to.
 */
export function explainCalicoFailure(failure: FailureContext): Suspicion[] {
  const cause = failure.cause;
  if (cause.kind !== 'netfilter' || failure.at.type !== 'node') return [];
  const flow = `${formatIp(failure.packet.src)} → ${formatIp(failure.packet.dst)}${failure.packet.protocol === 'icmp' ? '' : `:${failure.packet.dport}`}`;
  // A policy's own Deny rule (calico policies have them; Kubernetes NetworkPolicies only allow).
  const policyChain = /^cali-p([io])-/.exec(cause.chain);
  if (policyChain !== null) {
    return [
      {
        level: 'fatal',
        node: failure.at.id,
        code: 'NetworkPolicyDenied',
        message: `felix's ${policyChain[1] === 'i' ? 'inbound' : 'outbound'} policy chain ${cause.chain} denies ${flow}: ${cause.rule}`,
      },
    ];
  }
  const match = /^cali-(tw|fw)-(cali[0-9a-z]+)$/.exec(cause.chain);
  const comment = /--comment "((?!cali:)[^"]+)"/.exec(cause.rule)?.[1];
  // Only the end of the policy and profile sections is a policy decision; a conntrack INVALID drop is not.
  if (match === null || comment === undefined || !/^Drop if no (policies passed packet|profiles matched)$/.test(comment)) return [];
  const [, direction, dev = ''] = match;
  const pod = podOfVeth(failure.cluster, failure.at.nodeName, dev);
  const podName = pod === undefined ? `the workload behind ${dev}` : `pod ${objectKey(pod.metadata)}`;
  const ingress = direction === 'tw';
  const policies = pod === undefined ? [] : failure.cluster.objects.networkPolicies.filter((p) => selects(p, pod) && policyTypes(p).includes(ingress ? 'Ingress' : 'Egress'));
  const names = policies.map((p) => objectKey(p.metadata));
  return [
    {
      level: 'fatal',
      node: failure.at.id,
      code: 'NetworkPolicyDenied',
      message: `felix's ${ingress ? 'ingress' : 'egress'} chain ${cause.chain} of ${podName} drops the packet ("${comment}"): ${
        names.length > 0 ? `no rule of the NetworkPolicies selecting it (${names.join(', ')}) allows ${flow}` : 'no policy or profile allows it'
      }`,
    },
  ];
}

/** felix renders NetworkPolicy into the iptables chains the walk crosses (cali-pi-*, cali-tw-*, cali-fw-*). */
export const calicoPlugin: Plugin = { name: 'calico', enforcesNetworkPolicy: true, checkNetns: checkCalicoNetns, explainFailure: explainCalicoFailure };
