// The reference `bridge` CNI plugin with host-local IPAM, as the node's CNI configuration sets it
// up: a Linux bridge (`bridge`, default cni0) holding the gateway of the IPAM subnet when
// `isGateway`, one veth per pod enslaved to it (hairpin on with `hairpinMode`), the pod's eth0 with
// an address of the subnet and the IPAM routes (plus a default route with `isDefaultGateway`) via
// the gateway, ip_forward turned on (isGateway), a CNI-xxxx chain per pod in nat POSTROUTING that
// masquerades what leaves the subnet (`ipMasq`), and `mtu` on bridge, veth and eth0. The plugin
// adds no route between nodes: a bridge-CNI cluster routes each node's podCIDR to it by a static
// route via its InternalIP, which this plugin expects on every node.

import { assertNever } from '../model/assert-never.js';
import type { Suspicion, SuspicionLevel } from '../model/diagnosis.js';
import { formatIp, formatPrefix, ipAdd, ipEquals, parseIp, parsePrefix, prefixContains, type IpAddress, type IpPrefix } from '../model/ip.js';
import { nodeInternalIps, objectKey, podIps, type KubeNode } from '../model/kube-objects.js';
import { buildPacket } from '../model/packet.js';
import { traceNetns } from './netns-trace.js';
import { lookupRoute, RT_TABLE_MAIN, type Link } from '../netstack/routing/index.js';
import {
  CniFieldReader,
  findPlugin,
  formatCniConfigError,
  loadCniConfig,
  readIpam,
  rangeHolding,
  type CniConfigError,
  type HostLocalIpam,
  type IpamRange,
} from './cni-config.js';
import { netnsStateOf, type ClusterState } from './cluster-state.js';
import type { NetnsState } from './netns-state.js';
import type { FailureContext, NetnsRef, Plugin, Subjects } from './plugin.js';

/** The bridge plugin's configuration, with its defaults applied. */
export interface BridgeConfig {
  readonly file: string;
  readonly network: string;
  /** `bridge`, default cni0. */
  readonly bridge: string;
  /** `isGateway`, true also when `isDefaultGateway` is. */
  readonly isGateway: boolean;
  readonly isDefaultGateway: boolean;
  readonly ipMasq: boolean;
  readonly hairpinMode: boolean;
  readonly mtu?: number;
  /** host-local IPAM; undefined for another IPAM type (named in `ipamType`). */
  readonly ipam?: HostLocalIpam;
  readonly ipamType?: string;
}

export type BridgeConfigResult =
  | { readonly kind: 'bridge'; readonly config: BridgeConfig }
  /** The node's configuration has no `bridge` plugin: not this plugin's node. */
  | { readonly kind: 'other'; readonly file: string; readonly types: readonly string[] }
  | { readonly kind: 'error'; readonly errors: readonly CniConfigError[] }
  /** Nothing to read: no file, or none collected. */
  | { readonly kind: 'none'; readonly message: string };

const DEFAULT_BRIDGE = 'cni0';
/** The interface the runtime asks the plugin for (CNI_IFNAME). */
const POD_INTERFACE = 'eth0';

/** Reads the bridge plugin's part of a node's CNI configuration files (the runtime's choice of file). */
export function readBridgeConfig(files: Parameters<typeof loadCniConfig>[0]): BridgeConfigResult {
  const loaded = loadCniConfig(files);
  switch (loaded.kind) {
    case 'none':
      return { kind: 'none', message: loaded.message };
    case 'error':
      return { kind: 'error', errors: [loaded.error] };
    case 'ok':
      break;
    default:
      return assertNever(loaded, 'CNI configuration');
  }
  const config = loaded.config;
  const plugin = findPlugin(config, 'bridge');
  if (plugin === undefined) return { kind: 'other', file: config.file, types: config.plugins.map((p) => p.type) };
  const r = new CniFieldReader(config.file, plugin.field, plugin.raw);
  const bridge = r.string('bridge') ?? DEFAULT_BRIDGE;
  const isDefaultGateway = r.boolean('isDefaultGateway') ?? false;
  const isGateway = (r.boolean('isGateway') ?? false) || isDefaultGateway;
  const ipMasq = r.boolean('ipMasq') ?? false;
  const hairpinMode = r.boolean('hairpinMode') ?? false;
  const mtu = r.integer('mtu');
  if (mtu !== undefined && (mtu < 0 || mtu > 65535)) r.problem('mtu', `${mtu} is no MTU`);
  const ipam = readIpam(r);
  if (ipam === undefined && !r.has('ipam')) r.problem('ipam', 'missing: the bridge plugin needs an IPAM plugin');
  if (r.problems.length > 0) return { kind: 'error', errors: r.problems };
  return {
    kind: 'bridge',
    config: {
      file: config.file,
      network: config.name,
      bridge,
      isGateway,
      isDefaultGateway,
      ipMasq,
      hairpinMode,
      ...(mtu !== undefined && mtu > 0 ? { mtu } : {}),
      ...(ipam !== undefined && 'rangeSets' in ipam ? { ipam } : {}),
      ...(ipam !== undefined ? { ipamType: ipam.type } : {}),
    },
  };
}

// ---- reading the cluster state --------------------------------------------------------------

const configCache = new WeakMap<ClusterState, Map<string, BridgeConfigResult | undefined>>();

/** The node's bridge configuration; undefined when the state carries no CNI configuration at all. */
function nodeConfig(cluster: ClusterState, node: string): BridgeConfigResult | undefined {
  let byNode = configCache.get(cluster);
  if (byNode === undefined) {
    byNode = new Map();
    configCache.set(cluster, byNode);
  }
  if (byNode.has(node)) return byNode.get(node);
  const files = cluster.cniConfigs === undefined ? undefined : cluster.cniConfigs[node];
  const result = cluster.cniConfigs === undefined ? undefined : files === undefined ? { kind: 'none' as const, message: `no CNI configuration was collected on ${node}` } : readBridgeConfig(files);
  byNode.set(node, result);
  return result;
}


function podCidrs(node: KubeNode): IpPrefix[] {
  const texts = node.spec?.podCIDRs ?? (node.spec?.podCIDR !== undefined ? [node.spec.podCIDR] : []);
  return texts.map((t) => parsePrefix(t)).filter((p): p is IpPrefix => p?.family === 4);
}

function v4(texts: readonly string[]): IpAddress[] {
  return texts.map((t) => parseIp(t)).filter((ip): ip is IpAddress => ip?.family === 4);
}

/** The netns refs of the subjects that are pods on `node`. */
function subjectPodsOn(subjects: Subjects, node: string): NetnsRef[] {
  const out: NetnsRef[] = [];
  for (const s of [subjects.source, subjects.destination]) if (s?.type === 'pod' && s.nodeName === node && !out.some((o) => o.id === s.id)) out.push(s);
  return out;
}

/**
 * Whether the bridge plugin has run on `node`: it creates the bridge and turns forwarding on at the
 * first ADD, so a node that has never held a pod has neither, and needs neither.
 */
function hostsPods(cluster: ClusterState, node: string): boolean {
  return cluster.objects.pods.some((p) => p.spec.nodeName === node && p.spec.hostNetwork !== true);
}

/** Whether the query's packets leave `node` (or come to it) through forwarding: not both ends on it. */
function crossesNode(subjects: Subjects, node: string): boolean {
  return subjects.source?.nodeName !== node || subjects.destination?.nodeName !== node;
}

// ---- checks ---------------------------------------------------------------------------------

function gatewaysOf(cfg: BridgeConfig): IpamRange[] {
  return (cfg.ipam?.rangeSets ?? []).flatMap((set) => set.filter((r) => r.subnet.family === 4));
}

function checkGateway(cfg: BridgeConfig, at: NetnsRef, bridge: Link): Suspicion[] {
  if (!cfg.isGateway) return [];
  const out: Suspicion[] = [];
  const addresses = at.state.routing.addressesByDev;
  for (const range of gatewaysOf(cfg)) {
    const onBridge = addresses.get(bridge.name)?.find((a) => ipEquals(a.local, range.gateway));
    if (onBridge !== undefined) continue;
    const elsewhere = [...addresses.entries()].find(([, list]) => list.some((a) => ipEquals(a.local, range.gateway)))?.[0];
    out.push({
      level: 'critical',
      node: at.id,
      code: 'AddressMissing',
      message:
        `${bridge.name} on ${at.id} does not hold ${formatIp(range.gateway)}/${range.subnet.length}, the gateway of the pods in ${formatPrefix(range.subnet)} ` +
        `(isGateway in ${cfg.file})${elsewhere !== undefined ? `; ${elsewhere} holds it instead` : ''}: the pods' packets to anything outside ${formatPrefix(range.subnet)} find no next hop`,
    });
  }
  return out;
}

function checkForwarding(cfg: BridgeConfig, at: NetnsRef, subjects: Subjects): Suspicion[] {
  if (!cfg.isGateway) return [];
  const sysctls = at.state.routing.sysctls;
  const level: SuspicionLevel = crossesNode(subjects, at.nodeName) ? 'critical' : 'warning';
  const why = `the bridge plugin (isGateway in ${cfg.file}) routes the pods' traffic through ${at.id}, so packets between ${cfg.bridge} and other devices are not forwarded`;
  if (sysctls?.all?.forwarding === false) {
    return [{ level, node: at.id, code: 'ForwardingDisabled', message: `net.ipv4.ip_forward=0 (net.ipv4.conf.all.forwarding=0) on ${at.id}: ${why}` }];
  }
  if (sysctls?.devices?.[cfg.bridge]?.forwarding === false) {
    return [{ level, node: at.id, code: 'ForwardingDisabled', message: `net.ipv4.conf.${cfg.bridge}.forwarding=0 on ${at.id}: ${why}` }];
  }
  return [];
}

/** Every other node's podCIDR must be routed via that node's InternalIP. */
function checkNodeRoutes(cluster: ClusterState, at: NetnsRef, subjects: Subjects): Suspicion[] {
  const out: Suspicion[] = [];
  for (const node of cluster.objects.nodes) {
    const name = node.metadata.name;
    if (name === at.nodeName) continue;
    const expected = v4(nodeInternalIps(node));
    const level: SuspicionLevel = [subjects.source, subjects.destination].some((s) => s?.nodeName === name) ? 'critical' : 'warning';
    const via = expected.length === 0 ? `node ${name} (which has no IPv4 InternalIP)` : `${expected.map(formatIp).join(' or ')} (node ${name})`;
    for (const cidr of podCidrs(node)) {
      const probe = ipAdd({ family: 4, value: cidr.network }, 1n);
      const decision = lookupRoute(at.state.routing, { dst: probe });
      const wanted = `${formatPrefix(cidr)} via ${via}`;
      switch (decision.kind) {
        case 'no-route':
          out.push({ level, node: at.id, code: 'RouteMissing', message: `no route on ${at.id} to ${formatPrefix(cidr)}, the podCIDR of node ${name}: expected ${wanted}, the static route a bridge-CNI cluster needs` });
          break;
        case 'unicast': {
          const hop = decision.nexthops.length === 1 ? decision.nexthops[0] : undefined;
          const route = decision.route;
          if (hop === undefined || route === undefined) break;
          if (hop.gateway !== undefined && expected.some((ip) => hop.gateway !== undefined && ipEquals(ip, hop.gateway))) break;
          if (route.dst.length === 0) {
            out.push({
              level,
              node: at.id,
              code: 'RouteMissing',
              message: `no route on ${at.id} to ${formatPrefix(cidr)}, the podCIDR of node ${name}: only the default route (${decision.explanation}) covers it; expected ${wanted}`,
            });
            break;
          }
          const gatewayNode = hop.gateway === undefined ? undefined : cluster.objects.nodes.find((n) => v4(nodeInternalIps(n)).some((ip) => hop.gateway !== undefined && ipEquals(ip, hop.gateway)));
          if (gatewayNode !== undefined || hop.gateway === undefined) {
            out.push({
              level,
              node: at.id,
              code: 'RouteInvalid',
              message: `${at.id} routes ${formatPrefix(cidr)}, the podCIDR of node ${name}, ${gatewayNode !== undefined ? `via node ${gatewayNode.metadata.name}` : `out of ${hop.dev} with no gateway`} (${decision.explanation}); expected ${wanted}`,
            });
          }
          // Via a router that is no node: a routed underlay may carry the podCIDRs; not ours to judge.
          break;
        }
        case 'blackhole':
        case 'unreachable':
        case 'prohibit':
          out.push({ level, node: at.id, code: 'RouteInvalid', message: `${decision.kind} route on ${at.id} to ${formatPrefix(cidr)}, the podCIDR of node ${name} (${decision.explanation}); expected ${wanted}` });
          break;
        case 'local':
        case 'broadcast':
        case 'rejected':
        case 'unsupported':
          // The walk reports what it meets; a lookup from the host itself says nothing more here.
          break;
        default:
          assertNever(decision, 'route decision');
      }
    }
  }
  return out;
}

/** The veth on `node` whose peer is the pod's eth0. */
function hostEnd(node: NetnsState, eth0: Link): Link | undefined {
  return node.routing.linkList.find((l) => l.kind === 'veth' && l.ifindex === eth0.linkIndex && l.linkIndex === eth0.ifindex);
}

/** The pod's own namespace: its eth0 address within the subnet, its routes via the gateway. */
function checkPodNetns(cfg: BridgeConfig, pod: NetnsRef): Suspicion[] {
  const ipam = cfg.ipam;
  const eth0 = pod.state.routing.links.get(POD_INTERFACE);
  if (ipam === undefined || eth0 === undefined) return [];
  const out: Suspicion[] = [];
  const addresses = (pod.state.routing.addressesByDev.get(POD_INTERFACE) ?? []).filter((a) => a.family === 4);
  const subnets = gatewaysOf(cfg).map((r) => formatPrefix(r.subnet));
  const held = addresses.map((a) => ({ address: a, range: rangeHolding(ipam, a.local) })).find((x) => x.range !== undefined);
  if (held?.range === undefined) {
    const has = addresses.length === 0 ? 'it has no IPv4 address' : `it has ${addresses.map((a) => `${formatIp(a.local)}/${a.prefixLength}`).join(', ')}`;
    out.push({ level: 'critical', node: pod.id, code: 'AddressMissing', message: `${POD_INTERFACE} of pod ${pod.id} has no address in ${subnets.join(', ')} (host-local IPAM of ${cfg.file}): ${has}` });
    return out;
  }
  const gateway = held.range.gateway;
  const expected = ipam.routes.filter((r) => r.dst.family === 4).map((r) => ({ dst: r.dst, gw: r.gw ?? gateway }));
  if (cfg.isDefaultGateway && !expected.some((r) => r.dst.length === 0)) expected.push({ dst: { family: 4, network: 0n, length: 0 }, gw: gateway });
  const main = pod.state.routing.families[4].tables.get(RT_TABLE_MAIN);
  for (const want of expected) {
    const routes = (main?.routesOf(want.dst.network, want.dst.length) ?? []).filter((r) => r.type === 'unicast');
    const text = `${want.dst.length === 0 ? 'default' : formatPrefix(want.dst)} via ${formatIp(want.gw)} dev ${POD_INTERFACE}`;
    if (routes.some((r) => r.gateway !== undefined && ipEquals(r.gateway, want.gw))) continue;
    const other = routes[0];
    if (other === undefined) {
      out.push({ level: 'critical', node: pod.id, code: 'RouteMissing', message: `pod ${pod.id} has no route ${text} (the IPAM routes of ${cfg.file}, via the gateway on ${cfg.bridge})` });
    } else {
      out.push({
        level: 'critical',
        node: pod.id,
        code: 'RouteInvalid',
        message: `pod ${pod.id} routes ${want.dst.length === 0 ? 'default' : formatPrefix(want.dst)} ${other.gateway !== undefined ? `via ${formatIp(other.gateway)}` : 'with no gateway'} dev ${other.dev ?? '?'}; expected ${text} (the gateway on ${cfg.bridge}, ${cfg.file})`,
      });
    }
  }
  return out;
}

/** A pod seen from its node: its veth a port of the bridge, hairpin, MTUs, masquerade. */
function checkPodOnNode(cluster: ClusterState, cfg: BridgeConfig, pod: NetnsRef, node: NetnsRef, subjects: Subjects): Suspicion[] {
  const eth0 = pod.state.routing.links.get(POD_INTERFACE);
  if (eth0 === undefined) return [];
  const out: Suspicion[] = [];
  const port = hostEnd(node.state, eth0);
  const bridge = node.state.routing.links.get(cfg.bridge);
  if (port === undefined) {
    out.push({ level: 'critical', node: node.id, code: 'LinkMissing', message: `the host end of ${POD_INTERFACE} of pod ${pod.id} (a veth with ifindex ${eth0.linkIndex ?? '?'}) is not on ${node.id}` });
    return out;
  }
  if (port.master !== cfg.bridge) {
    out.push({
      level: 'critical',
      node: node.id,
      code: 'LinkMissing',
      message: `${port.name} on ${node.id}, the host end of ${POD_INTERFACE} of pod ${pod.id}, is not a port of ${cfg.bridge} (${port.master === undefined ? 'it has no master' : `its master is ${port.master}`}): ${cfg.bridge} cannot switch frames to the pod, and nothing answers ARP for its address there`,
    });
  } else if (cfg.hairpinMode && port.bridgeSlave?.hairpin === false) {
    out.push({
      level: 'warning',
      node: node.id,
      code: 'HairpinDisabled',
      message: `hairpin is off on ${port.name}, the port of pod ${pod.id} on ${cfg.bridge} (${node.id}), although hairpinMode is set in ${cfg.file}: the pod cannot reach itself through a service, whose DNAT sends the frame back out of the port it came in on`,
    });
  }
  out.push(...checkMtus(cfg, pod, eth0, node, port, bridge));
  if (cfg.ipMasq && subjects.source?.id === pod.id) out.push(...checkMasquerade(cluster, cfg, pod, node));
  return out;
}

function checkMtus(cfg: BridgeConfig, pod: NetnsRef, eth0: Link, node: NetnsRef, port: Link, bridge: Link | undefined): Suspicion[] {
  const out: Suspicion[] = [];
  const devices: [Link, string][] = [
    [eth0, `${POD_INTERFACE} of pod ${pod.id}`],
    [port, `${port.name} on ${node.id} (its host end)`],
    ...(bridge !== undefined && port.master === bridge.name ? [[bridge, `${bridge.name} on ${node.id}`] as [Link, string]] : []),
  ];
  if (cfg.mtu !== undefined) {
    const wrong = devices.filter(([l]) => l.mtu !== cfg.mtu);
    if (wrong.length > 0) {
      out.push({
        level: 'warning',
        node: wrong.some(([l]) => l === eth0) ? pod.id : node.id,
        code: 'MTUMismatch',
        message: `${wrong.map(([l, what]) => `${what} has MTU ${l.mtu}`).join(', ')}; mtu is ${cfg.mtu} in ${cfg.file}`,
      });
    }
    return out;
  }
  if (eth0.mtu !== port.mtu) {
    out.push({
      level: 'warning',
      node: eth0.mtu > port.mtu ? pod.id : node.id,
      code: 'MTUMismatch',
      message: `${POD_INTERFACE} of pod ${pod.id} has MTU ${eth0.mtu}, ${port.name} on ${node.id}, its host end, ${port.mtu}: the bridge plugin gives both ends one MTU, and packets larger than ${Math.min(eth0.mtu, port.mtu)} bytes are dropped one way`,
    });
  }
  if (bridge !== undefined && port.master === bridge.name && bridge.mtu > port.mtu) {
    out.push({
      level: 'warning',
      node: node.id,
      code: 'MTUMismatch',
      message: `${bridge.name} on ${node.id} has MTU ${bridge.mtu}, larger than its port ${port.name} (${port.mtu}) towards pod ${pod.id}: packets routed into ${bridge.name} larger than ${port.mtu} bytes are dropped`,
    });
  }
  return out;
}

/**
 * ipMasq: a packet of the pod to an address outside the subnet leaves the node masqueraded. Traced
 * through the node's netfilter (the bridge plugin's CNI-xxxx chain in nat POSTROUTING, or any rule
 * that does the same), to another node's InternalIP, or else to a documentation address.
 */
function checkMasquerade(cluster: ClusterState, cfg: BridgeConfig, pod: NetnsRef, node: NetnsRef): Suspicion[] {
  const src = v4(cluster.objects.pods.filter((p) => objectKey(p.metadata) === pod.id).flatMap((p) => podIps(p)))[0];
  if (src === undefined || cfg.ipam === undefined || rangeHolding(cfg.ipam, src) === undefined) return [];
  const others = cluster.objects.nodes.filter((n) => n.metadata.name !== node.id).flatMap((n) => v4(nodeInternalIps(n)));
  const dst = others[0] ?? { family: 4 as const, value: 0xc6336401n };
  const packet = buildPacket({ protocol: 'tcp', src, dst, sport: 40000, dport: 443 });
  const result = traceNetns(node, { packet, iif: cfg.bridge });
  const accepted = result.outcomes.filter((o) => o.verdict === 'ACCEPT' && o.delivery?.kind === 'transmit');
  if (accepted.length === 0 || accepted.some((o) => o.natApplied.some((n) => n.kind === 'masquerade' || n.kind === 'snat'))) return [];
  return [
    {
      level: 'warning',
      node: node.id,
      code: 'MasqueradeMissing',
      message: `no rule in nat POSTROUTING on ${node.id} masquerades ${formatIp(src)} (pod ${pod.id}) going to ${formatIp(dst)}, outside ${gatewaysOf(cfg).map((r) => formatPrefix(r.subnet)).join(', ')}: ipMasq in ${cfg.file} expects the bridge plugin's CNI-xxxx chain for the pod, so its packets leave with the pod's own address`,
    },
  ];
}

function configProblem(at: NetnsRef, result: BridgeConfigResult): Suspicion[] {
  if (at.type !== 'node') return [];
  switch (result.kind) {
    case 'error':
      return result.errors.map((e) => ({ level: 'warning', node: at.id, code: 'UnsupportedConfig', message: `the CNI configuration of ${at.id} cannot be read: ${formatCniConfigError(e)}` }));
    case 'none':
      return [{ level: 'warning', node: at.id, code: 'SnapshotIncomplete', message: `${result.message}: the bridge plugin's layout on ${at.id} is not checked` }];
    case 'other':
    case 'bridge':
      return [];
    default:
      return assertNever(result, 'bridge configuration');
  }
}

function checkNetns(cluster: ClusterState, at: NetnsRef, subjects: Subjects): Suspicion[] {
  const result = nodeConfig(cluster, at.nodeName);
  if (result === undefined) return [];
  if (result.kind !== 'bridge') return configProblem(at, result);
  const cfg = result.config;
  const out: Suspicion[] = [];
  if (at.type === 'pod') {
    out.push(...checkPodNetns(cfg, at));
    const nodeState = netnsStateOf(cluster.netns.nodes[at.nodeName]);
    if (nodeState !== undefined) out.push(...checkPodOnNode(cluster, cfg, at, { id: at.nodeName, type: 'node', nodeName: at.nodeName, state: nodeState }, subjects));
    return out;
  }
  const bridge = at.state.routing.links.get(cfg.bridge);
  if (bridge !== undefined) out.push(...checkGateway(cfg, at, bridge));
  if (hostsPods(cluster, at.nodeName)) out.push(...checkForwarding(cfg, at, subjects));
  out.push(...checkNodeRoutes(cluster, at, subjects));
  if (bridge !== undefined && cfg.mtu !== undefined && bridge.mtu !== cfg.mtu) {
    out.push({ level: 'warning', node: at.id, code: 'MTUMismatch', message: `${cfg.bridge} on ${at.id} has MTU ${bridge.mtu}; mtu is ${cfg.mtu} in ${cfg.file}` });
  }
  // The query's pods on this node, whether or not the walk reached them.
  for (const pod of subjectPodsOn(subjects, at.id)) {
    const record = cluster.netns.pods[pod.id];
    if (netnsStateOf(record) === undefined) continue;
    out.push(...checkPodNetns(cfg, pod), ...checkPodOnNode(cluster, cfg, pod, at, subjects));
  }
  return out;
}

function expectations(cluster: ClusterState, at: NetnsRef): { kind: 'device'; name: string; why: string }[] {
  const result = nodeConfig(cluster, at.nodeName);
  if (at.type !== 'node' || result?.kind !== 'bridge' || !hostsPods(cluster, at.nodeName)) return [];
  return [{ kind: 'device', name: result.config.bridge, why: `the bridge of network ${result.config.network} in ${result.config.file}` }];
}

function explainFailure(failure: FailureContext): Suspicion[] {
  const { at, cause, packet, cluster } = failure;
  if (at.type !== 'node' || cause.kind !== 'route' || cause.decision.kind !== 'no-route') return [];
  if (nodeConfig(cluster, at.nodeName)?.kind !== 'bridge') return [];
  const out: Suspicion[] = [];
  for (const node of cluster.objects.nodes) {
    if (node.metadata.name === at.nodeName) continue;
    for (const cidr of podCidrs(node)) {
      if (!prefixContains(cidr, packet.dst)) continue;
      const via = v4(nodeInternalIps(node)).map(formatIp)[0] ?? `the InternalIP of ${node.metadata.name}`;
      out.push({
        level: 'fatal',
        node: at.id,
        code: 'RouteMissing',
        message: `the static route ${formatPrefix(cidr)} via ${via} (node ${node.metadata.name}) is missing on ${at.id}: the bridge plugin adds no route between nodes, so each node needs one to every other node's podCIDR`,
      });
    }
  }
  return out;
}

/** The bridge CNI: consult it with `diagnose(state, query, { plugins: [bridgePlugin] })`. */
/** The reference bridge plugin programs no NetworkPolicy. */
export const bridgePlugin: Plugin = { name: 'bridge', enforcesNetworkPolicy: false, expectations, checkNetns, explainFailure };
