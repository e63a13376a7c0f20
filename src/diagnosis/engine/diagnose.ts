// The diagnostor: resolves the query against the cluster, walks the request from the client's
// namespace, walks the reply of every delivered branch back, and sums the branches up into a
// verdict, the suspicions, the packet path and the warnings.

import type {
  Diagnosis,
  DiagnosisQuery,
  DiagnosisVerdict,
  PathLink,
  PathNode,
  QueryEndpoint,
  QueryProtocol,
  Suspicion,
} from '../model/diagnosis.js';
import { assertNever } from '../model/assert-never.js';
import { formatIp, parseIp, type IpAddress } from '../model/ip.js';
import { nodeInternalIps, objectKey, podIps, sliceServiceKey, type KubeService } from '../model/kube-objects.js';
import { buildPacket, type Packet, type Protocol } from '../model/packet.js';
import type { Warning } from '../model/warning.js';
import { lookupRoute } from '../netstack/routing/index.js';
import type { ClusterState } from '../plugins/cluster-state.js';
import { cniRecordFindings, type CniRecordFindings } from '../plugins/cni-record-check.js';
import { genericPlugin } from '../plugins/generic.js';
import { genericProvider } from '../providers/generic.js';
import type { Provider, UnderlayCrossing } from '../providers/provider.js';
import type { NetnsRef, Plugin, Subjects } from '../plugins/plugin.js';
import { buildIpCache, type IpCache } from './ip-cache.js';
import { ipvsEndpointSuspicions } from './ipvs-step.js';
import { NetnsUnreadableError } from '../plugins/netns-trace.js';
import { buildNetnsRefs, type NetnsRefs } from './netns-refs.js';
import { networkPolicyFindings } from './policy-check.js';
import { emptyTrail, type TrailHop } from './trail.js';
import { missingNetnsSuspicion, walkFrom, type Branch, type WalkContext } from './walk.js';

export interface DiagnoseOptions {
  /** CNI plugins to consult besides the generic one. */
  readonly plugins?: readonly Plugin[];
  /** The infrastructure between the nodes; default: generic (checks nothing, and says so). */
  readonly provider?: Provider;
}

const DEFAULT_SOURCE_PORT = 40000;

const PROTOCOLS: Record<DiagnosisQuery['protocol'], Protocol> = { TCP: 'tcp', UDP: 'udp', ICMP: 'icmp' };

type Resolved =
  | { readonly kind: 'ok'; readonly ref: NetnsRef; readonly ip: IpAddress }
  | { readonly kind: 'failed'; readonly suspicion?: Suspicion; readonly warning: Warning };

function unknownObject(what: string): Resolved {
  return { kind: 'failed', warning: { code: 'unknown-object', message: `${what} is not in the cluster state` } };
}

function firstIpv4(texts: readonly string[]): IpAddress | undefined {
  return texts.map((t) => parseIp(t)).find((ip) => ip?.family === 4);
}

/** The client's namespace and address. */
function resolveSource(cluster: ClusterState, ipCache: IpCache, refs: NetnsRefs, source: QueryEndpoint): Resolved {
  const missing = (id: string): Resolved => ({
    kind: 'failed',
    suspicion: missingNetnsSuspicion(refs.missing, id, `the network namespace of the source ${id} is not in the snapshot (${refs.missing.get(id)?.reason ?? 'missing'})`),
    warning: { code: 'netns-missing', message: `the source ${id} has no netns in the snapshot` },
  });
  switch (source.kind) {
    case 'pod': {
      const key = `${source.namespace}/${source.name}`;
      const pod = cluster.objects.pods.find((p) => objectKey(p.metadata) === key);
      if (pod === undefined) return unknownObject(`pod ${key}`);
      const ip = firstIpv4(podIps(pod));
      if (ip === undefined) return { kind: 'failed', warning: { code: 'no-pod-ip', message: `pod ${key} has no IPv4 address in its status` } };
      if (pod.spec.hostNetwork === true) return resolveSource(cluster, ipCache, refs, { kind: 'node', name: pod.spec.nodeName ?? '' });
      const ref = refs.pods.get(key);
      return ref === undefined ? missing(key) : { kind: 'ok', ref, ip };
    }
    case 'node': {
      const node = cluster.objects.nodes.find((n) => n.metadata.name === source.name);
      if (node === undefined) return unknownObject(`node ${source.name}`);
      const ip = firstIpv4(nodeInternalIps(node));
      if (ip === undefined) return { kind: 'failed', warning: { code: 'no-node-ip', message: `node ${source.name} has no IPv4 InternalIP` } };
      const ref = refs.nodes.get(source.name);
      return ref === undefined ? missing(source.name) : { kind: 'ok', ref, ip };
    }
    case 'ip': {
      const ip = parseIp(source.ip);
      if (ip === undefined) return { kind: 'failed', warning: { code: 'bad-ip', message: `${source.ip} is not an IP address` } };
      const owner = ipCache.lookup(ip);
      if (owner.kind === 'pod') {
        const [namespace = 'default', name = ''] = owner.key.split('/');
        return resolveSource(cluster, ipCache, refs, { kind: 'pod', namespace, name });
      }
      if (owner.kind === 'node') return resolveSource(cluster, ipCache, refs, { kind: 'node', name: owner.name });
      return {
        kind: 'failed',
        suspicion: { level: 'warning', node: source.ip, code: 'UnsupportedConfig', message: `a source outside the cluster (${source.ip}) is not diagnosed yet` },
        warning: { code: 'external-source', message: `${source.ip} is neither a pod nor a node` },
      };
    }
    case 'service':
      return { kind: 'failed', warning: { code: 'service-source', message: 'a service cannot be a source' } };
    default:
      return assertNever(source, 'query endpoint');
  }
}

interface Target {
  readonly ip: IpAddress;
  readonly port: number;
  readonly service?: KubeService;
}

/** A node address with a port: a NodePort service's when one has that port and protocol. */
function nodeTarget(ipCache: IpCache, ip: IpAddress, port: number, protocol: QueryProtocol): Target {
  const service = protocol === 'ICMP' ? undefined : ipCache.nodePortService(port, protocol);
  return { ip, port, ...(service !== undefined ? { service } : {}) };
}

function resolveDestination(cluster: ClusterState, ipCache: IpCache, destination: QueryEndpoint, port: number, protocol: QueryProtocol): Target | Warning {
  switch (destination.kind) {
    case 'pod': {
      const key = `${destination.namespace}/${destination.name}`;
      const pod = cluster.objects.pods.find((p) => objectKey(p.metadata) === key);
      const ip = pod === undefined ? undefined : firstIpv4(podIps(pod));
      return ip === undefined ? { code: 'unknown-destination', message: `pod ${key} is not in the cluster state or has no IPv4 address` } : { ip, port };
    }
    case 'node': {
      const node = cluster.objects.nodes.find((n) => n.metadata.name === destination.name);
      const ip = node === undefined ? undefined : firstIpv4(nodeInternalIps(node));
      return ip === undefined ? { code: 'unknown-destination', message: `node ${destination.name} is not in the cluster state or has no IPv4 InternalIP` } : nodeTarget(ipCache, ip, port, protocol);
    }
    case 'service': {
      const key = `${destination.namespace}/${destination.name}`;
      const service = cluster.objects.services.find((s) => objectKey(s.metadata) === key);
      const ip = service?.spec.clusterIP === undefined ? undefined : parseIp(service.spec.clusterIP);
      if (service === undefined || ip === undefined) return { code: 'unknown-destination', message: `service ${key} is not in the cluster state or has no ClusterIP` };
      return { ip, port, service };
    }
    case 'ip': {
      const ip = parseIp(destination.ip);
      if (ip === undefined) return { code: 'bad-ip', message: `${destination.ip} is not an IP address` };
      const owner = ipCache.lookup(ip);
      if (owner.kind === 'node') return nodeTarget(ipCache, ip, port, protocol);
      return { ip, port, ...(owner.kind === 'service' ? { service: owner.service } : {}) };
    }
    default:
      return assertNever(destination, 'query endpoint');
  }
}

/** Ready endpoint addresses of a service, from its EndpointSlices. */
function readyEndpoints(cluster: ClusterState, service: KubeService): string[] {
  const key = objectKey(service.metadata);
  return cluster.objects.endpointSlices
    .filter((s) => sliceServiceKey(s) === key)
    .flatMap((s) => s.endpoints ?? [])
    .filter((e) => e.conditions?.ready !== false)
    .flatMap((e) => e.addresses);
}

function replyOf(p: Packet): Packet {
  return {
    ...p,
    src: p.dst,
    dst: p.src,
    sport: p.dport,
    dport: p.sport,
    ...(p.protocol === 'icmp' ? { icmpType: 0, icmpCode: 0 } : {}),
    tcpFlags: new Set(p.protocol === 'tcp' ? ['SYN', 'ACK'] : []),
    ctState: 'ESTABLISHED',
    mark: 0,
    connmark: 0,
  };
}

function mergePath(branches: readonly Branch[]): { nodes: PathNode[]; links: PathLink[] } {
  const order: string[] = [];
  const byId = new Map<string, { hop: TrailHop; seen: Set<string> }>();
  for (const b of branches) {
    for (const hop of b.trail.hops) {
      let entry = byId.get(hop.id);
      if (entry === undefined) {
        entry = { hop: { id: hop.id, type: hop.type, actions: [] }, seen: new Set() };
        byId.set(hop.id, entry);
        order.push(hop.id);
      }
      for (const a of hop.actions) {
        const k = JSON.stringify(a);
        if (!entry.seen.has(k)) {
          entry.seen.add(k);
          entry.hop.actions.push(a);
        }
      }
    }
  }
  const links: PathLink[] = [];
  const seenLinks = new Set<string>();
  for (const b of branches) {
    for (const l of b.trail.links) {
      const k = JSON.stringify(l);
      if (!seenLinks.has(k)) {
        seenLinks.add(k);
        links.push(l);
      }
    }
  }
  return { nodes: order.map((id) => byId.get(id)?.hop).filter((h): h is TrailHop => h !== undefined), links };
}

function dedupe<T>(items: readonly T[]): T[] {
  const seen = new Set<string>();
  return items.filter((i) => {
    const k = JSON.stringify(i);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * A sender whose interface MTU exceeds the smallest MTU of a device on its path (a tunnel's, say)
 * sends packets that are too big for it: dropped, or fragmented, depending on DF and PMTU discovery.
 */
function pathMtuSuspicions(branches: readonly Branch[], refs: NetnsRefs, client: NetnsRef): Suspicion[] {
  const out: Suspicion[] = [];
  for (const b of branches) {
    for (const direction of ['request', 'reply'] as const) {
      const links = b.trail.links.filter((l) => l.direction === direction);
      const first = links[0];
      if (first === undefined) continue;
      const senderRef = refs.pods.get(first.source) ?? refs.nodes.get(first.source);
      const senderDev = first.attributes.sourceInterface;
      const sender = senderDev === undefined ? undefined : senderRef?.state.routing.links.get(senderDev);
      if (senderRef === undefined || sender === undefined || senderRef.type !== 'pod') continue;
      let narrowest: { mtu: number; where: string } | undefined;
      for (const l of links) {
        for (const [id, dev] of [[l.source, l.attributes.sourceInterface], [l.destination, l.attributes.destinationInterface]] as const) {
          const link = dev === undefined ? undefined : (refs.pods.get(id) ?? refs.nodes.get(id))?.state.routing.links.get(dev);
          if (link !== undefined && (narrowest === undefined || link.mtu < narrowest.mtu)) narrowest = { mtu: link.mtu, where: `${link.name} on ${id}` };
        }
      }
      if (narrowest !== undefined && sender.mtu > narrowest.mtu) {
        out.push({
          level: 'warning',
          node: senderRef.id,
          code: 'MTUMismatch',
          message: `${sender.name} of ${senderRef.id} has MTU ${sender.mtu}, larger than ${narrowest.where} (${narrowest.mtu}) on the ${direction === 'request' ? `path from ${client.id}` : 'reply path'}: packets larger than ${narrowest.mtu} bytes do not pass`,
        });
      }
    }
  }
  return out;
}

/** The links of the path that cross the infrastructure: node to node (underlay, tunnels) or node to outside. */
function underlayCrossings(branches: readonly Branch[], refs: NetnsRefs): UnderlayCrossing[] {
  const out: UnderlayCrossing[] = [];
  const seen = new Set<string>();
  for (const b of branches) {
    for (const link of b.trail.links) {
      if (!refs.nodes.has(link.source) || link.type === 'veth' || link.type === 'bridge' || link.type === 'local') continue;
      const key = `${link.source}>${link.destination}>${link.type}>${link.direction}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ link, to: refs.nodes.has(link.destination) ? { kind: 'node', name: link.destination } : { kind: 'external', address: link.destination } });
    }
  }
  return out;
}

/** The pods a query names (directly or by address), by `namespace/name`. */
function queryPods(ipCache: IpCache, query: DiagnosisQuery): string[] {
  const out: string[] = [];
  for (const endpoint of [query.source, query.destination]) {
    if (endpoint.kind === 'pod') out.push(`${endpoint.namespace}/${endpoint.name}`);
    if (endpoint.kind !== 'ip') continue;
    const ip = parseIp(endpoint.ip);
    const owner = ip === undefined ? undefined : ipCache.lookup(ip);
    if (owner?.kind === 'pod') out.push(owner.key);
  }
  return out;
}

/**
 * What the nodes' CNI call records say about the pods of the query and of the path, and about the
 * chain of the nodes they run on and the path crosses (on the pod's, or the node's, netnode).
 */
function cniFindings(cluster: ClusterState, refs: NetnsRefs, pods: readonly string[], pathNodes: readonly string[]): CniRecordFindings {
  if (cluster.cniRecords === undefined) return { suspicions: [], warnings: [] };
  const nodeOf = (key: string): string | undefined => cluster.objects.pods.find((p) => objectKey(p.metadata) === key)?.spec.nodeName;
  const nodes = [...pathNodes, ...pods.map(nodeOf).filter((n): n is string => n !== undefined)];
  return cniRecordFindings({
    cluster,
    pods,
    nodes,
    netnsOf: (key) => {
      try {
        return refs.pods.get(key)?.state;
      } catch {
        return undefined;
      }
    },
  });
}

function verdictOf(branches: readonly Branch[]): DiagnosisVerdict {
  if (branches.length === 0) return 'Inconclusive';
  const kinds = new Set(branches.map((b) => b.end.kind));
  if (kinds.has('inconclusive')) return 'Inconclusive';
  if (!kinds.has('failed')) return 'Reachable';
  return kinds.has('delivered') || kinds.has('left-cluster') ? 'Degraded' : 'Unreachable';
}

/**
 * Diagnoses whether `query.source` reaches `query.destination` on the port and protocol. Dumps
 * that cannot be parsed make the diagnosis Inconclusive, naming the namespace, dump and line.
 */
export function diagnose(cluster: ClusterState, query: DiagnosisQuery, options: DiagnoseOptions = {}): Diagnosis {
  try {
    return diagnoseParsed(cluster, query, options);
  } catch (error) {
    if (!(error instanceof NetnsUnreadableError)) throw error;
    return {
      verdict: 'Inconclusive',
      suspicions: [{ level: 'warning', node: error.netnode, code: 'SnapshotIncomplete', message: error.message }],
      packetPath: { nodes: [], links: [] },
      warnings: [{ code: 'netns-unreadable', message: error.message }],
    };
  }
}

function diagnoseParsed(cluster: ClusterState, query: DiagnosisQuery, options: DiagnoseOptions): Diagnosis {
  const refs = buildNetnsRefs(cluster);
  const ipCache = buildIpCache(cluster.objects);
  const warnings: Warning[] = ipCache.conflicts.map((message) => ({ code: 'ip-conflict', message }));
  const suspicions: Suspicion[] = [];
  const inconclusiveResult = (w: Warning, s?: Suspicion): Diagnosis => {
    const cni = cniFindings(cluster, refs, queryPods(ipCache, query), []);
    return {
      verdict: 'Inconclusive',
      suspicions: dedupe([...(s === undefined ? [] : [s]), ...cni.suspicions]),
      packetPath: { nodes: [], links: [] },
      warnings: [...warnings, w, ...cni.warnings],
    };
  };

  const source = resolveSource(cluster, ipCache, refs, query.source);
  if (source.kind === 'failed') return inconclusiveResult(source.warning, source.suspicion);
  const target = resolveDestination(cluster, ipCache, query.destination, query.port, query.protocol);
  if (!('ip' in target)) return inconclusiveResult(target);

  const protocol = PROTOCOLS[query.protocol];
  const packet = buildPacket({ protocol, src: source.ip, dst: target.ip, sport: query.sourcePort ?? DEFAULT_SOURCE_PORT, dport: target.port });
  const destinationOwner = ipCache.lookup(target.ip);
  const destinationRef =
    destinationOwner.kind === 'pod' ? refs.pods.get(destinationOwner.key) : destinationOwner.kind === 'node' ? refs.nodes.get(destinationOwner.name) : undefined;
  const subjects: Subjects = { source: source.ref, packet, ...(destinationRef !== undefined ? { destination: destinationRef } : {}) };
  const plugins = [genericPlugin, ...(options.plugins ?? [])];
  const ctx: WalkContext = { cluster, ipCache, plugins, subjects, nodes: refs.nodes, pods: refs.pods, podsOnNode: refs.podsOnNode, missing: refs.missing, client: { netns: source.ref, packet } };

  let service: { key: string; endpoints: string[] } | undefined;
  if (target.service !== undefined) {
    const key = objectKey(target.service.metadata);
    service = { key, endpoints: readyEndpoints(cluster, target.service) };
    if (service.endpoints.length === 0) {
      suspicions.push({ level: 'fatal', node: key, code: 'ServiceNoEndpoints', message: `service ${key} has no ready endpoint in its EndpointSlices` });
    }
  }

  const request = walkFrom(ctx, source.ref, undefined, packet, emptyTrail(), 'request');
  const branches: Branch[] = [];
  for (const b of request) {
    if (b.end.kind !== 'delivered') {
      branches.push(b);
      continue;
    }
    const policy = networkPolicyFindings(ctx, b.end.at, b.end.packet);
    suspicions.push(...policy.suspicions);
    warnings.push(...policy.warnings);
    branches.push(...walkFrom(ctx, b.end.at, undefined, replyOf(b.end.packet), b.trail, 'reply'));
  }

  if (service !== undefined && service.endpoints.length > 0) {
    const before = `${formatIp(target.ip)}:${target.port}`;
    const dnatted = branches.some((b) => b.trail.nat.some(({ nat }) => (nat.kind === 'dnat' || nat.kind === 'redirect') && `${formatIp(nat.before.address)}:${nat.before.port}` === before));
    if (!dnatted) {
      const first = branches.flatMap((b) => b.trail.hops).find((h) => h.type === 'node')?.id ?? source.ref.id;
      suspicions.push({
        level: 'fatal',
        node: first,
        code: 'ServiceRulesMissing',
        message: `service ${service.key} has endpoints (${service.endpoints.join(', ')}) but no rule on the path DNATs ${before} to them`,
      });
    }
    // A rule that DNATs to an address that is no ready endpoint: kube-proxy has not caught up (or
    // is not running) on that node. (IPVS real servers are compared separately, all of them.)
    const ready = new Set(service.endpoints);
    const stale = new Map<string, string>();
    for (const b of branches) {
      for (const { netnode, nat } of b.trail.nat) {
        if (nat.kind !== 'dnat' || nat.chain === 'IPVS' || nat.after === undefined || `${formatIp(nat.before.address)}:${nat.before.port}` !== before) continue;
        const to = formatIp(nat.after.address);
        if (!ready.has(to)) stale.set(`${netnode}|${to}`, `${nat.hook} ${nat.chain} line ${nat.line}`);
      }
    }
    for (const [key, rule] of stale) {
      const [netnode = '', to = ''] = key.split('|');
      suspicions.push({
        level: 'critical',
        node: netnode,
        code: 'ServiceRulesStale',
        message: `the rules of ${netnode} DNAT ${before} (service ${service.key}) to ${to} (${rule}), which is no ready endpoint of the service (EndpointSlices: ${service.endpoints.join(', ')})`,
      });
    }
  }

  // IPVS real servers against the EndpointSlices, on every node the path crosses.
  if (service !== undefined) {
    for (const node of new Set(branches.flatMap((b) => b.trail.hops.map((h) => h.id)))) {
      const ref = refs.nodes.get(node);
      if (ref !== undefined) suspicions.push(...ipvsEndpointSuspicions(ref, service.key, packet, service.endpoints));
    }
  }

  // Expectations of the plugins, for every namespace on the path.
  const visited = new Map<string, NetnsRef>();
  for (const b of branches) for (const h of b.trail.hops) {
    const ref = refs.nodes.get(h.id) ?? refs.pods.get(h.id);
    if (ref !== undefined) visited.set(ref.id, ref);
  }
  for (const ref of visited.values()) {
    for (const plugin of plugins) {
      suspicions.push(...(plugin.checkNetns?.(cluster, ref, subjects) ?? []));
      for (const e of plugin.expectations?.(cluster, ref, subjects) ?? []) {
        switch (e.kind) {
          case 'device': {
            const link = ref.state.routing.links.get(e.name);
            if (link === undefined) suspicions.push({ level: 'critical', node: ref.id, code: 'LinkMissing', message: `${e.name} is missing on ${ref.id} (${e.why})` });
            else if (!link.up) suspicions.push({ level: 'critical', node: ref.id, code: 'LinkDown', message: `${e.name} is down on ${ref.id} (${e.why})` });
            break;
          }
          case 'route': {
            const decision = lookupRoute(ref.state.routing, { dst: e.dst });
            if (decision.kind === 'no-route') {
              suspicions.push({ level: 'critical', node: ref.id, code: 'RouteMissing', message: `no route to ${formatIp(e.dst)} on ${ref.id} (${e.why}): ${decision.explanation}` });
            }
            break;
          }
          default:
            assertNever(e, 'expectation');
        }
      }
    }
  }

  const pathIds = [...new Set(branches.flatMap((b) => b.trail.hops.map((h) => h.id)))];
  const cni = cniFindings(cluster, refs, [...queryPods(ipCache, query), ...pathIds.filter((id) => refs.pods.has(id))], pathIds.filter((id) => refs.nodes.has(id)));
  suspicions.push(...cni.suspicions);
  warnings.push(...cni.warnings);

  suspicions.push(...pathMtuSuspicions(branches, refs, source.ref));
  suspicions.push(...(options.provider ?? genericProvider).infra.checkCrossings(cluster, underlayCrossings(branches, refs)));

  const path = mergePath(branches);
  const allSuspicions = dedupe([...suspicions, ...branches.flatMap((b) => b.trail.suspicions)]);
  const netnsWarnings = [...visited.values()].flatMap((r) => r.state.warnings.map((w) => ({ ...w, message: `${r.id}: ${w.message}` })));
  return {
    verdict: verdictOf(branches),
    suspicions: allSuspicions,
    packetPath: path,
    warnings: dedupe([...warnings, ...branches.flatMap((b) => b.trail.warnings), ...netnsWarnings]),
  };
}

