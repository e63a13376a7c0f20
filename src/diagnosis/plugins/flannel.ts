// The flannel plugin: what flanneld (--kube-subnet-mgr) and the flannel CNI plugin lay out, read
// from each node's lease (the flannel.alpha.coreos.com/* annotations flanneld writes on its Node:
// backend-type, backend-data {"VNI","VtepMAC"}, public-ip) and checked against the kernel's state.
//
// On every node: the bridge cni0 (made by the bridge plugin flannel's CNI plugin delegates to)
// holding the first address of the node's podCIDR, forwarding on. For each other node's lease:
// - host-gw: `PODCIDR via PUBLIC-IP dev UNDERLAY`;
// - vxlan: flannel.VNI (kind vxlan, id VNI, local = the node's public-ip, UDP 8472 unless the
//   backend's Port says otherwise, MTU = underlay − 50) holding SUBNET.0/32;
//   `PODCIDR via SUBNET.0 dev flannel.VNI onlink`, a permanent neighbour SUBNET.0 → the remote
//   VtepMAC on flannel.VNI, and an FDB entry VtepMAC → the remote public-ip (flanneld installs all
//   three per lease; with DirectRouting a peer on the same subnet gets the host-gw route instead).
// With --ip-masq, chain FLANNEL-POSTRTG (nat POSTROUTING) masquerades pod traffic that leaves
// the cluster network. Pods: eth0's MTU no larger than the overlay's.

import type { Suspicion, SuspicionLevel } from '../model/diagnosis.js';
import { formatIp, formatPrefix, ipEquals, parseIp, parsePrefix, prefixContains, type IpAddress, type IpPrefix } from '../model/ip.js';
import { nodeInternalIps, type KubeNode } from '../model/kube-objects.js';
import { traceNetns } from './netns-trace.js';
import { formatRoute, lookupRoute, type Link, type Route } from '../netstack/routing/index.js';
import { netnsStateOf, type ClusterState } from './cluster-state.js';
import { deviceOfAddress, type NetnsState } from './netns-state.js';
import type { Expectation, FailureContext, HopContext, NetnsRef, Plugin, Subjects } from './plugin.js';

export const FLANNEL_ANNOTATION_PREFIX = 'flannel.alpha.coreos.com';
export const FLANNEL_BRIDGE = 'cni0';
/** The kernel's VXLAN port flannel leaves unset (Backend.Port 0): the IANA-assigned one is 4789, Linux's default 8472. */
export const FLANNEL_VXLAN_PORT = 8472;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_IPV4_OVERHEAD = 50;
export const FLANNEL_MASQ_CHAIN = 'FLANNEL-POSTRTG';
const MAIN_TABLE = 254;

export type FlannelMode = 'vxlan' | 'host-gw';

/** One node's flannel lease, from its Node object. */
export interface FlannelLease {
  readonly node: string;
  readonly podCIDR: IpPrefix;
  /** backend-type as written (vxlan, host-gw, wireguard, ...); undefined without the annotation. */
  readonly backendType?: string;
  /** public-ip, else the node's first InternalIP. */
  readonly publicIp?: IpAddress;
  readonly vni?: number;
  readonly vtepMac?: string;
  /** The lease as a reader finds it on the Node, for messages. */
  readonly summary: string;
}

function annotation(node: KubeNode, name: string): string | undefined {
  const annotations = node.metadata.annotations ?? {};
  const exact = annotations[`${FLANNEL_ANNOTATION_PREFIX}/${name}`];
  if (exact !== undefined) return exact;
  // flanneld --kube-annotation-prefix: the same names under another prefix.
  const key = Object.keys(annotations).find((k) => k.endsWith(`/${name}`) && annotations[k.replace(/\/[^/]+$/, '/kube-subnet-manager')] === 'true');
  return key === undefined ? undefined : annotations[key];
}

/** Reads a node's lease; undefined when it has no IPv4 podCIDR. */
export function readLease(node: KubeNode): FlannelLease | undefined {
  const cidrText = [...(node.spec?.podCIDRs ?? []), ...(node.spec?.podCIDR !== undefined ? [node.spec.podCIDR] : [])].find((c) => parsePrefix(c)?.family === 4);
  const podCIDR = cidrText === undefined ? undefined : parsePrefix(cidrText);
  if (podCIDR === undefined) return undefined;
  const backendType = annotation(node, 'backend-type');
  const publicText = annotation(node, 'public-ip') ?? nodeInternalIps(node).find((ip) => parseIp(ip)?.family === 4);
  const publicIp = publicText === undefined ? undefined : parseIp(publicText);
  const dataText = annotation(node, 'backend-data');
  let vni: number | undefined;
  let vtepMac: string | undefined;
  if (dataText !== undefined) {
    try {
      const data = JSON.parse(dataText) as { VNI?: unknown; VtepMAC?: unknown } | null;
      if (typeof data?.VNI === 'number') vni = data.VNI;
      if (typeof data?.VtepMAC === 'string') vtepMac = data.VtepMAC.toLowerCase();
    } catch {
      // An unreadable backend-data leaves VNI and VtepMAC unknown; the checks that need them are skipped.
    }
  }
  const parts = [
    `podCIDR ${formatPrefix(podCIDR)}`,
    `backend-type ${backendType ?? '(none)'}`,
    `public-ip ${publicIp === undefined ? '(none)' : formatIp(publicIp)}`,
    ...(dataText !== undefined ? [`backend-data ${dataText}`] : []),
  ];
  return {
    node: node.metadata.name,
    podCIDR,
    ...(backendType !== undefined ? { backendType } : {}),
    ...(publicIp !== undefined ? { publicIp } : {}),
    ...(vni !== undefined ? { vni } : {}),
    ...(vtepMac !== undefined ? { vtepMac } : {}),
    summary: `node ${node.metadata.name}'s lease (${parts.join(', ')})`,
  };
}

export function readLeases(cluster: ClusterState): FlannelLease[] {
  return cluster.objects.nodes.map(readLease).filter((l): l is FlannelLease => l !== undefined);
}

/** The device flanneld names after the VNI. */
export function vxlanDeviceName(vni: number | undefined): string {
  return `flannel.${vni ?? 1}`;
}

export type ModeOf = { readonly kind: 'mode'; readonly mode: FlannelMode } | { readonly kind: 'unsupported'; readonly backendType: string };

/**
 * The backend: the node's backend-type annotation, else any node's, else the devices present
 * (a flannel.N VXLAN device: vxlan; else host-gw).
 */
export function flannelMode(leases: readonly FlannelLease[], nodeName: string, state: NetnsState | undefined): ModeOf {
  const declared = leases.find((l) => l.node === nodeName)?.backendType ?? leases.find((l) => l.backendType !== undefined)?.backendType;
  if (declared === 'vxlan' || declared === 'host-gw') return { kind: 'mode', mode: declared };
  if (declared !== undefined) return { kind: 'unsupported', backendType: declared };
  const vxlan = state?.routing.linkList.some((l) => l.kind === 'vxlan' && /^flannel\.\d+$/.test(l.name));
  return { kind: 'mode', mode: vxlan === true ? 'vxlan' : 'host-gw' };
}

/** A node's parsed namespace, when the snapshot has it (a dump that cannot be parsed counts as absent). */
function nodeState(cluster: ClusterState, name: string): NetnsState | undefined {
  return netnsStateOf(cluster.netns.nodes[name]);
}

function hasPods(cluster: ClusterState, nodeName: string): boolean {
  return cluster.objects.pods.some((p) => p.spec.nodeName === nodeName && p.spec.hostNetwork !== true);
}

/** The network address of a lease's subnet (flannel's VTEP address for it: SUBNET.0). */
function networkAddress(prefix: IpPrefix): IpAddress {
  return { family: prefix.family, value: prefix.network };
}

function firstHost(prefix: IpPrefix): IpAddress {
  return { family: prefix.family, value: prefix.network + 1n };
}

/** The underlay device: the one holding the node's public-ip. */
function underlayOf(state: NetnsState, lease: FlannelLease | undefined): Link | undefined {
  const dev = lease?.publicIp === undefined ? undefined : deviceOfAddress(state, lease.publicIp);
  return dev === undefined ? undefined : state.routing.links.get(dev);
}

/** Whether the query is about a lease's node: an end on it, or an address in its podCIDR. */
function concerns(lease: FlannelLease, subjects: Subjects): boolean {
  const packet = subjects.packet;
  return (
    subjects.source?.nodeName === lease.node ||
    subjects.destination?.nodeName === lease.node ||
    (packet !== undefined && (prefixContains(lease.podCIDR, packet.dst) || prefixContains(lease.podCIDR, packet.src)))
  );
}

function expectations(cluster: ClusterState, at: NetnsRef): Expectation[] {
  if (at.type !== 'node') return [];
  const leases = readLeases(cluster);
  const mode = flannelMode(leases, at.nodeName, at.state);
  const out: Expectation[] = [];
  if (hasPods(cluster, at.nodeName)) out.push({ kind: 'device', name: FLANNEL_BRIDGE, why: 'the bridge the flannel CNI plugin attaches the pods of this node to' });
  if (mode.kind === 'mode' && mode.mode === 'vxlan') {
    const lease = leases.find((l) => l.node === at.nodeName);
    out.push({ kind: 'device', name: vxlanDeviceName(lease?.vni), why: "flannel's VXLAN device, through which the other nodes' pods are reached" });
  }
  return out;
}

// ---- checks of one namespace -----------------------------------------------------------------

interface NodeCheck {
  readonly cluster: ClusterState;
  readonly subjects: Subjects;
  readonly at: NetnsRef;
  readonly mode: FlannelMode;
  readonly lease: FlannelLease | undefined;
  readonly leases: readonly FlannelLease[];
  readonly underlay: Link | undefined;
  readonly out: Suspicion[];
}

function suspect(check: NodeCheck, level: SuspicionLevel, code: Suspicion['code'], message: string): void {
  check.out.push({ level, node: check.at.id, code, message });
}

function checkBridge(check: NodeCheck, overlayMtu: { readonly name: string; readonly mtu: number } | undefined): void {
  const { at, lease } = check;
  const bridge = at.state.routing.links.get(FLANNEL_BRIDGE);
  if (bridge === undefined || lease === undefined) return;
  const gateway = firstHost(lease.podCIDR);
  const addresses = at.state.routing.addressesByDev.get(FLANNEL_BRIDGE) ?? [];
  if (!addresses.some((a) => ipEquals(a.local, gateway) && a.prefixLength === lease.podCIDR.length)) {
    const held = addresses.filter((a) => a.family === 4).map((a) => `${formatIp(a.local)}/${a.prefixLength}`);
    suspect(
      check,
      'critical',
      'AddressMissing',
      `${FLANNEL_BRIDGE} on ${at.id} holds ${held.length === 0 ? 'no IPv4 address' : held.join(', ')}, not ${formatIp(gateway)}/${lease.podCIDR.length}, the first address of podCIDR ${formatPrefix(lease.podCIDR)}: the pods' gateway is missing`,
    );
  }
  if (overlayMtu !== undefined && bridge.mtu > overlayMtu.mtu) {
    suspect(
      check,
      'warning',
      'MTUMismatch',
      `MTU of ${FLANNEL_BRIDGE} on ${at.id} (${bridge.mtu}) is larger than that of ${overlayMtu.name} (${overlayMtu.mtu}): packets from the pods larger than ${overlayMtu.mtu} bytes do not fit the overlay`,
    );
  }
}

function checkVxlanDevice(check: NodeCheck, peers: readonly NetnsState[]): Link | undefined {
  const { at, lease, underlay } = check;
  const name = vxlanDeviceName(lease?.vni);
  const link = at.state.routing.links.get(name);
  if (link === undefined) return undefined; // LinkMissing: the engine's expectation.
  if (link.kind !== 'vxlan' || link.vxlan === undefined) {
    suspect(check, 'critical', 'TunnelMisconfigured', `${name} on ${at.id} is a ${link.kind ?? 'physical'} device, not a vxlan device`);
    return undefined;
  }
  const vx = link.vxlan;
  if (lease?.vni !== undefined && vx.id !== lease.vni) {
    suspect(check, 'critical', 'TunnelMisconfigured', `${name} on ${at.id} has VNI ${vx.id} (vxlan id ${vx.id}), but ${lease.summary} says VNI ${lease.vni}: the other nodes' VTEPs use VNI ${lease.vni}`);
  }
  if (lease?.publicIp !== undefined && (vx.local === undefined || !ipEquals(vx.local, lease.publicIp))) {
    suspect(
      check,
      'critical',
      'TunnelMisconfigured',
      `${name} on ${at.id} has local ${vx.local === undefined ? '(none)' : formatIp(vx.local)}, but the node's public-ip is ${formatIp(lease.publicIp)}: the other nodes send to ${formatIp(lease.publicIp)}`,
    );
  }
  const port = vx.port ?? FLANNEL_VXLAN_PORT;
  const peerPorts = peers.flatMap((p) => p.routing.linkList.filter((l) => l.kind === 'vxlan' && l.vxlan?.id === vx.id).map((l) => l.vxlan?.port ?? FLANNEL_VXLAN_PORT));
  const otherPort = peerPorts.find((p) => p !== port);
  if (otherPort !== undefined) {
    suspect(check, 'critical', 'TunnelMisconfigured', `${name} on ${at.id} sends and listens on UDP port ${port} (dstport ${port}), but the VXLAN device with VNI ${vx.id} at the other end of the path uses ${otherPort}: their frames do not reach each other`);
  } else if (peerPorts.length === 0 && port !== FLANNEL_VXLAN_PORT) {
    suspect(check, 'warning', 'TunnelMisconfigured', `${name} on ${at.id} uses UDP port ${port} (dstport ${port}), not flannel's default ${FLANNEL_VXLAN_PORT}; no other node of the path is in the snapshot to compare`);
  }
  if (underlay !== undefined && link.mtu > underlay.mtu - VXLAN_IPV4_OVERHEAD) {
    suspect(
      check,
      'warning',
      'MTUMismatch',
      `MTU of ${name} on ${at.id} (${link.mtu}) is larger than that of its underlay ${underlay.name} (${underlay.mtu}) minus the VXLAN overhead of ${VXLAN_IPV4_OVERHEAD} bytes (${underlay.mtu - VXLAN_IPV4_OVERHEAD}): encapsulated packets larger than ${underlay.mtu} bytes are fragmented or dropped`,
    );
  }
  if (lease !== undefined) {
    const vtep = networkAddress(lease.podCIDR);
    const held = at.state.routing.addressesByDev.get(name) ?? [];
    if (!held.some((a) => ipEquals(a.local, vtep))) {
      suspect(check, 'warning', 'AddressMissing', `${name} on ${at.id} does not hold ${formatIp(vtep)}/32 (flanneld puts the network address of podCIDR ${formatPrefix(lease.podCIDR)} on it): the node's own packets to other nodes' pods take another source address`);
    }
  }
  return link;
}

function routeText(dst: IpPrefix, gateway: IpAddress | undefined, dev: string | undefined, onlink: boolean): string {
  return `${formatPrefix(dst)}${gateway !== undefined ? ` via ${formatIp(gateway)}` : ''}${dev !== undefined ? ` dev ${dev}` : ''}${onlink ? ' onlink' : ''}`;
}

function checkRoutes(check: NodeCheck, vxlanDev: string): void {
  const { at, mode, underlay, subjects } = check;
  const table = at.state.routing.families[4].tables.get(MAIN_TABLE);
  for (const other of check.leases) {
    if (other.node === check.lease?.node || other.node === at.nodeName) continue;
    const level: SuspicionLevel = concerns(other, subjects) ? 'critical' : 'warning';
    const hostGw = other.publicIp === undefined || underlay === undefined ? undefined : { gateway: other.publicIp, dev: underlay.name };
    const expected =
      mode === 'vxlan'
        ? { gateway: networkAddress(other.podCIDR), dev: vxlanDev, onlink: true }
        : hostGw === undefined
          ? undefined
          : { ...hostGw, onlink: false };
    if (expected === undefined) continue;
    const want = routeText(other.podCIDR, expected.gateway, expected.dev, expected.onlink);
    const routes = table?.routesOf(other.podCIDR.network, other.podCIDR.length) ?? [];
    const route: Route | undefined = routes[0];
    if (route === undefined) {
      const decision = lookupRoute(at.state.routing, { dst: firstHost(other.podCIDR) });
      suspect(
        check,
        level,
        'RouteMissing',
        `no route ${formatPrefix(other.podCIDR)} on ${at.id}: flannel (${mode}) installs "${want}" for ${other.summary}; instead ${formatIp(firstHost(other.podCIDR))} goes by ${decision.explanation}`,
      );
      continue;
    }
    const matches = (e: { gateway: IpAddress; dev: string }): boolean => route.type === 'unicast' && route.gateway !== undefined && ipEquals(route.gateway, e.gateway) && route.dev === e.dev;
    // vxlan with DirectRouting routes a peer on the same subnet like host-gw.
    if (matches(expected) || (mode === 'vxlan' && hostGw !== undefined && matches(hostGw))) continue;
    suspect(check, level, 'RouteInvalid', `route "${formatRoute(route)}" on ${at.id} to node ${other.node}'s podCIDR; flannel (${mode}) installs "${want}" for ${other.summary}`);
  }
}

function checkNeighborsAndFdb(check: NodeCheck, vxlanDev: string): void {
  const { at, subjects } = check;
  for (const other of check.leases) {
    if (other.node === at.nodeName || other.vtepMac === undefined) continue;
    const level: SuspicionLevel = concerns(other, subjects) ? 'critical' : 'warning';
    const vtep = networkAddress(other.podCIDR);
    const want = `${formatIp(vtep)} dev ${vxlanDev} lladdr ${other.vtepMac} PERMANENT`;
    const neighbor = at.state.neighbors.find((n) => n.dev === vxlanDev && ipEquals(n.dst, vtep));
    if (neighbor === undefined) {
      suspect(check, level, 'NeighborMissing', `no neighbour entry for ${formatIp(vtep)} on ${vxlanDev} (${at.id}): flannel installs "${want}" from ${other.summary}`);
    } else if (neighbor.lladdr?.toLowerCase() !== other.vtepMac) {
      suspect(
        check,
        level,
        'NeighborMissing',
        `neighbour ${formatIp(vtep)} dev ${vxlanDev} on ${at.id} is ${neighbor.lladdr ?? '(no lladdr)'} ${neighbor.state.join(',')}, but node ${other.node}'s VtepMAC is ${other.vtepMac}: flannel installs "${want}"`,
      );
    }
    if (other.publicIp === undefined) continue;
    const wantFdb = `${other.vtepMac} dev ${vxlanDev} dst ${formatIp(other.publicIp)} self permanent`;
    const entries = at.state.fdb.filter((f) => f.dev === vxlanDev && f.mac.toLowerCase() === other.vtepMac);
    if (entries.length === 0) {
      suspect(check, level, 'VxlanFdbMissing', `no FDB entry for ${other.vtepMac} on ${vxlanDev} (${at.id}): flannel installs "${wantFdb}" from ${other.summary}, so frames to node ${other.node}'s VTEP have no remote`);
    } else if (!entries.some((f) => f.dst !== undefined && ipEquals(f.dst, other.publicIp as IpAddress))) {
      const dsts = entries.map((f) => (f.dst === undefined ? '(none)' : formatIp(f.dst))).join(', ');
      suspect(check, level, 'VxlanFdbMissing', `FDB entry ${other.vtepMac} dev ${vxlanDev} on ${at.id} has dst ${dsts}, but node ${other.node}'s public-ip is ${formatIp(other.publicIp)}: flannel installs "${wantFdb}"`);
    }
  }
}

function checkSysctls(check: NodeCheck): void {
  const { at, subjects, cluster } = check;
  const forwarding = at.state.routing.sysctls?.all?.forwarding;
  if (forwarding === false) {
    // The node forwards unless it is an end of the query itself.
    const forwards = subjects.source?.id !== at.id && subjects.destination?.id !== at.id;
    suspect(
      check,
      forwards ? 'critical' : 'warning',
      'ForwardingDisabled',
      `net.ipv4.ip_forward=0 on ${at.id} (net.ipv4.conf.all.forwarding = 0): the node does not route its pods' packets between ${FLANNEL_BRIDGE} and ${check.mode === 'vxlan' ? vxlanDeviceName(check.lease?.vni) : (check.underlay?.name ?? 'the underlay')}`,
    );
  }
  const nat = at.state.trace.ruleset.tables.get('nat');
  const kubeProxy = nat?.chains.has('KUBE-SERVICES') === true;
  const bridge = at.state.routing.links.get(FLANNEL_BRIDGE);
  if (!kubeProxy || bridge === undefined || at.state.bridgeNfCallIptables === true || bridge.bridge?.nfCallIptables === true) return;
  const dst = subjects.packet?.dst;
  const toService = dst !== undefined && cluster.objects.services.some((s) => ipEquals(parseIp(s.spec.clusterIP ?? '') ?? { family: 4, value: -1n }, dst));
  const level: SuspicionLevel = toService && subjects.source?.type === 'pod' && subjects.source.nodeName === at.nodeName ? 'critical' : 'warning';
  const state = at.state.bridgeNfCallIptables === undefined ? 'absent (br_netfilter is not loaded)' : '0';
  suspect(
    check,
    level,
    'BridgeNetfilterDisabled',
    `net.bridge.bridge-nf-call-iptables is ${state} on ${at.id} while kube-proxy's iptables rules are loaded (nat KUBE-SERVICES): frames switched by ${FLANNEL_BRIDGE} between two pods skip iptables and conntrack, so a service endpoint's reply to a client on the same bridge is not un-DNATed`,
  );
}

/** Whether `ip` belongs to the cluster: a podCIDR, a node address, a service IP. */
function inCluster(cluster: ClusterState, leases: readonly FlannelLease[], ip: IpAddress): boolean {
  if (leases.some((l) => prefixContains(l.podCIDR, ip) || (l.publicIp !== undefined && ipEquals(l.publicIp, ip)))) return true;
  if (cluster.objects.nodes.some((n) => (n.status?.addresses ?? []).some((a) => parseIp(a.address) !== undefined && ipEquals(parseIp(a.address) as IpAddress, ip)))) return true;
  return cluster.objects.services.some((s) => [...(s.spec.clusterIPs ?? []), ...(s.spec.clusterIP !== undefined ? [s.spec.clusterIP] : [])].some((t) => {
    const parsed = parseIp(t);
    return parsed !== undefined && ipEquals(parsed, ip);
  }));
}

function checkMasquerade(check: NodeCheck): void {
  const { at, subjects, cluster } = check;
  const source = subjects.source;
  const packet = subjects.packet;
  if (packet === undefined || source?.type !== 'pod' || source.nodeName !== at.nodeName || inCluster(cluster, check.leases, packet.dst)) return;
  if (!at.state.routing.links.has(FLANNEL_BRIDGE)) return;
  const result = traceNetns(at, { packet, iif: FLANNEL_BRIDGE });
  const hasChain = at.state.trace.ruleset.tables.get('nat')?.chains.has(FLANNEL_MASQ_CHAIN) === true;
  for (const outcome of result.outcomes) {
    if (outcome.verdict !== 'ACCEPT' || outcome.delivery?.kind !== 'transmit') continue;
    if (outcome.natApplied.some((n) => n.kind === 'masquerade' || n.kind === 'snat')) continue;
    suspect(
      check,
      'critical',
      'MasqueradeMissing',
      `${formatIp(packet.src)} → ${formatIp(packet.dst)} leaves ${at.id} by ${outcome.delivery.outIface ?? '?'} with the pod's own address: no MASQUERADE or SNAT in nat POSTROUTING rewrites it (${
        hasChain ? `chain ${FLANNEL_MASQ_CHAIN} is there but does not masquerade it` : `no chain ${FLANNEL_MASQ_CHAIN}: flanneld runs without --ip-masq`
      }), and the outside has no route back to the pod network`,
    );
    return;
  }
}

function checkPod(cluster: ClusterState, at: NetnsRef, mode: FlannelMode, leases: readonly FlannelLease[]): Suspicion[] {
  const node = nodeState(cluster, at.nodeName);
  const eth0 = at.state.routing.links.get('eth0');
  if (node === undefined || eth0 === undefined) return [];
  const lease = leases.find((l) => l.node === at.nodeName);
  const overlay = mode === 'vxlan' ? node.routing.links.get(vxlanDeviceName(lease?.vni)) : underlayOf(node, lease);
  if (overlay === undefined || eth0.mtu <= overlay.mtu) return [];
  return [
    {
      level: 'warning',
      node: at.id,
      code: 'MTUMismatch',
      message: `MTU of eth0 in pod ${at.id} (${eth0.mtu}) is larger than that of ${overlay.name} on ${at.nodeName} (${overlay.mtu}): packets larger than ${overlay.mtu} bytes to other nodes do not pass (flannel's subnet file gives the pods FLANNEL_MTU)`,
    },
  ];
}

function checkNetns(cluster: ClusterState, at: NetnsRef, subjects: Subjects): Suspicion[] {
  const leases = readLeases(cluster);
  const mode = flannelMode(leases, at.nodeName, nodeState(cluster, at.nodeName) ?? (at.type === 'node' ? at.state : undefined));
  if (mode.kind === 'unsupported') {
    return at.type === 'node'
      ? [{ level: 'warning', node: at.id, code: 'UnsupportedConfig', message: `flannel backend ${mode.backendType} on ${at.id} is not modelled (vxlan and host-gw are): its devices and routes are not checked` }]
      : [];
  }
  if (at.type === 'pod') return checkPod(cluster, at, mode.mode, leases);
  const lease = leases.find((l) => l.node === at.nodeName);
  const check: NodeCheck = { cluster, subjects, at, mode: mode.mode, lease, leases, underlay: underlayOf(at.state, lease), out: [] };
  if (lease?.publicIp !== undefined && check.underlay === undefined) {
    suspect(check, 'critical', 'AddressMissing', `${at.id} holds no address ${formatIp(lease.publicIp)}, the public-ip of ${lease.summary}: the other nodes send its traffic there`);
  }
  if (check.mode === 'vxlan') {
    // Compared with the other end's node only: reading every node's dumps would make a diagnosis
    // cost as much as the cluster is large.
    const ends = new Set([subjects.source?.nodeName, subjects.destination?.nodeName].filter((n): n is string => n !== undefined && n !== at.nodeName));
    const peers = [...ends].map((n) => nodeState(cluster, n)).filter((s): s is NetnsState => s !== undefined);
    const dev = checkVxlanDevice(check, peers);
    checkBridge(check, dev === undefined ? undefined : { name: `${dev.name} on ${at.id}`, mtu: dev.mtu });
    checkRoutes(check, vxlanDeviceName(lease?.vni));
    checkNeighborsAndFdb(check, vxlanDeviceName(lease?.vni));
  } else {
    checkBridge(check, check.underlay === undefined ? undefined : { name: `${check.underlay.name} on ${at.id}`, mtu: check.underlay.mtu });
    checkRoutes(check, vxlanDeviceName(lease?.vni));
  }
  checkSysctls(check);
  checkMasquerade(check);
  return check.out;
}

// ---- hops and failures -------------------------------------------------------------------------

function checkHop(hop: HopContext): Suspicion[] {
  if (hop.type !== 'vxlan') return [];
  const from = hop.from.state.routing.links.get(hop.fromIface);
  const to = hop.to.state.routing.links.get(hop.toIface);
  const fromPort = from?.vxlan?.port ?? FLANNEL_VXLAN_PORT;
  const toPort = to?.vxlan?.port ?? FLANNEL_VXLAN_PORT;
  if (from === undefined || to === undefined || fromPort === toPort) return [];
  return [
    {
      level: 'critical',
      node: hop.to.id,
      code: 'TunnelMisconfigured',
      message: `${hop.fromIface} on ${hop.from.id} sends to UDP port ${fromPort}, but ${hop.toIface} on ${hop.to.id} listens on ${toPort}: the encapsulated packet is not decapsulated`,
    },
  ];
}

function explainFailure(failure: FailureContext): Suspicion[] {
  if (failure.at.type !== 'node' || failure.cause.kind !== 'route' || failure.cause.decision.kind !== 'no-route') return [];
  const leases = readLeases(failure.cluster);
  const mode = flannelMode(leases, failure.at.nodeName, failure.at.state);
  if (mode.kind !== 'mode') return [];
  const other = leases.find((l) => l.node !== failure.at.nodeName && prefixContains(l.podCIDR, failure.packet.dst));
  if (other === undefined) return [];
  const own = leases.find((l) => l.node === failure.at.nodeName);
  const underlay = underlayOf(failure.at.state, own);
  const want =
    mode.mode === 'vxlan'
      ? routeText(other.podCIDR, networkAddress(other.podCIDR), vxlanDeviceName(own?.vni), true)
      : routeText(other.podCIDR, other.publicIp, underlay?.name, false);
  return [
    {
      level: 'fatal',
      node: failure.at.id,
      code: 'RouteMissing',
      message: `flanneld on ${failure.at.id} has not installed "${want}" for ${other.summary}: is flanneld running there, and does it see node ${other.node}?`,
    },
  ];
}

/** flannel moves packets only; NetworkPolicy needs another agent (canal's calico, kube-router...). */
export const flannelPlugin: Plugin = { name: 'flannel', enforcesNetworkPolicy: false, expectations, checkNetns, checkHop, explainFailure };

