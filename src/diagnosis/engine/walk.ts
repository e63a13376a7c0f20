// The diagnostor's walk: a packet through the cluster's network namespaces, one at a time. In each
// namespace the host trace decides (netfilter + routing); the kernel's state then says which
// namespace it reaches next: a veth's peer, a bridge's port, another node on the underlay, a
// VXLAN peer's node. Every outcome of a trace is a branch; every branch ends delivered, failed
// (with the suspicion naming why) or inconclusive (with a warning naming what is unknown).

import type { Direction, PathLinkType, Suspicion, SuspicionCode } from '../model/diagnosis.js';
import { assertNever } from '../model/assert-never.js';
import { formatIp, ipEquals, parseIp, type IpAddress } from '../model/ip.js';
import { buildPacket, PROTOCOL_NUMBERS, type Packet } from '../model/packet.js';
import type { Outcome, TraceStep } from '../netstack/netfilter/index.js';
import { lookupRoute, type Link, type RouteDecision } from '../netstack/routing/index.js';
import type { ClusterState } from '../plugins/cluster-state.js';
import { deviceOfAddress, hasListener, ownsAddress } from '../plugins/netns-state.js';
import { traceNetns } from '../plugins/netns-trace.js';
import type { FailureCause, NetnsRef, Plugin, Subjects } from '../plugins/plugin.js';
import { resolveOverLink } from './arp.js';
import type { IpCache } from './ip-cache.js';
import type { MissingNetns } from './netns-refs.js';
import { ipvsOutcomes, type IpvsOutcome } from './ipvs-step.js';
import { addAction, forkTrail, formatPacket, packetKey, type Trail } from './trail.js';

/** At most this many namespaces per branch (request and reply together). */
export const MAX_STEPS = 48;

export interface WalkContext {
  readonly cluster: ClusterState;
  readonly ipCache: IpCache;
  readonly plugins: readonly Plugin[];
  readonly subjects: Subjects;
  readonly nodes: ReadonlyMap<string, NetnsRef>;
  readonly pods: ReadonlyMap<string, NetnsRef>;
  readonly podsOnNode: ReadonlyMap<string, readonly NetnsRef[]>;
  /** Namespaces not in the snapshot: id → why and on which node. */
  readonly missing: ReadonlyMap<string, MissingNetns>;
  /** The client: where the request starts and the reply must come back to. */
  readonly client: { readonly netns: NetnsRef; readonly packet: Packet };
}

export type BranchEnd =
  | { readonly kind: 'delivered'; readonly at: NetnsRef; readonly packet: Packet }
  | { readonly kind: 'failed' }
  | { readonly kind: 'inconclusive' }
  /** A packet for an address outside the cluster, handed to a gateway that is no node: the cluster's part is done. */
  | { readonly kind: 'left-cluster'; readonly at: NetnsRef; readonly gateway: string };

export interface Branch {
  readonly end: BranchEnd;
  readonly trail: Trail;
}

const failed = (trail: Trail, ...suspicions: Suspicion[]): Branch => {
  trail.suspicions.push(...suspicions);
  return { end: { kind: 'failed' }, trail };
};

const inconclusive = (trail: Trail, code: string, message: string, ...suspicions: Suspicion[]): Branch => {
  trail.warnings.push({ code, message });
  trail.suspicions.push(...suspicions);
  return { end: { kind: 'inconclusive' }, trail };
};

/** `at` filters or rewrites packets in ways its dumps do not let the walk simulate. */
function unsimulated(trail: Trail, at: NetnsRef): Branch {
  const what = at.state.unsimulated.join('; ');
  return inconclusive(trail, 'unsimulated', `${at.id}: ${what}`, {
    level: 'warning',
    node: at.id,
    code: 'UnsupportedConfig',
    message: `what ${at.id} does to the packet cannot be simulated: ${what}`,
  });
}

function endpointText(e: { readonly address: IpAddress; readonly port: number } | undefined): string {
  return e === undefined ? '?' : `${formatIp(e.address)}:${e.port}`;
}

/** Walks `packet` through `at`, arriving on `iif` (undefined: generated there), and on. */
export function walkFrom(ctx: WalkContext, at: NetnsRef, iif: string | undefined, packetIn: Packet, trailIn: Trail, dir: Direction): Branch[] {
  const trail = forkTrail(trailIn);
  const stopped = (verdict: string): void =>
    addAction(trail, at.id, at.type, iif === undefined ? { kind: 'send', direction: dir, verdict } : { kind: 'receive', direction: dir, iif, verdict });
  if (trail.steps >= MAX_STEPS) {
    stopped('not followed: walk bound reached');
    return [inconclusive(trail, 'walk-bound', `the walk crossed ${MAX_STEPS} namespaces and stopped at ${at.id}`)];
  }
  const key = `${at.id}|${iif ?? '-'}|${packetKey(packetIn)}`;
  if (trail.visited.has(key)) {
    stopped('DROP: routing loop');
    return [failed(trail, { level: 'fatal', node: at.id, code: 'RoutingLoop', message: `${formatPacket(packetIn)} comes back to ${at.id}${iif !== undefined ? ` on ${iif}` : ''} unchanged: a routing loop` })];
  }
  trail.visited.add(key);
  trail.steps++;
  if (at.state.unsimulated.length > 0) {
    stopped(`not simulated: ${at.state.unsimulated.join('; ')}`);
    return [unsimulated(trail, at)];
  }
  const packet = dir === 'reply' ? undoNat(trail, at, packetIn, 'source') : packetIn;
  const result = traceNetns(at, { packet, ...(iif !== undefined ? { iif } : {}) });
  const branches: Branch[] = [];
  for (const outcome of result.outcomes) {
    const t = forkTrail(trail);
    for (const nat of outcome.natApplied) {
      t.nat.push({ netnode: at.id, nat });
      addAction(t, at.id, at.type, { kind: 'nat', direction: dir, nat: nat.kind.toUpperCase(), before: endpointText(nat.before), after: endpointText(nat.after), rule: `${nat.hook} ${nat.chain} line ${nat.line}` });
    }
    const outIface = outcome.delivery?.kind === 'transmit' ? outcome.delivery.outIface : undefined;
    const verdictText = outcome.verdict === 'ACCEPT' ? (outcome.delivery?.kind === 'local' ? 'local delivery' : 'ACCEPT') : `${outcome.verdict}: ${outcome.reason}`;
    addAction(
      t,
      at.id,
      at.type,
      iif === undefined
        ? { kind: 'send', direction: dir, ...(outIface !== undefined ? { outIface } : {}), verdict: verdictText }
        : { kind: 'receive', direction: dir, iif, ...(outIface !== undefined ? { outIface } : {}), verdict: verdictText },
    );
    switch (outcome.verdict) {
      case 'INCONCLUSIVE':
        t.warnings.push(...outcome.warnings);
        branches.push(inconclusive(t, 'trace-inconclusive', `${at.id}: ${outcome.reason}`));
        break;
      case 'DROP':
      case 'REJECT':
        branches.push(failed(t, ...failureSuspicions(ctx, at, iif, outcome, dir)));
        break;
      case 'ACCEPT': {
        const delivery = outcome.delivery;
        if (delivery === undefined) {
          branches.push(inconclusive(t, 'no-delivery', `${at.id}: the trace accepted the packet without saying where it goes`));
        } else if (delivery.kind === 'local') {
          const ipvs = ipvsOutcomes(at, outcome.packet, t, dir);
          if (ipvs === undefined) branches.push(deliver(ctx, at, outcome.packet, t, dir));
          else branches.push(...ipvs.flatMap((o) => followIpvs(ctx, at, iif, o, dir)));
        } else if (delivery.outIface === undefined) {
          branches.push(inconclusive(t, 'no-output-interface', `${at.id}: the output interface of ${formatPacket(outcome.packet)} is unknown (${outcome.reason})`));
        } else {
          const out = dir === 'reply' ? undoNat(t, at, outcome.packet, 'destination') : outcome.packet;
          const gateway = lastGateway(outcome.trace);
          branches.push(...transmit(ctx, at, delivery.outIface, gateway ?? out.dst, out, packetIn, t, dir));
        }
        break;
      }
      default:
        assertNever(outcome.verdict, 'trace verdict');
    }
  }
  if (result.outcomes.length === 0) branches.push(inconclusive(trail, 'no-outcome', `${at.id}: the trace produced no outcome`));
  return branches;
}

/** On from IPVS's choice of a real server: the rewritten packet leaves `at` as if it had arrived rewritten. */
function followIpvs(ctx: WalkContext, at: NetnsRef, iif: string | undefined, o: IpvsOutcome, dir: Direction): Branch[] {
  switch (o.kind) {
    case 'forward':
      return walkFrom(ctx, at, iif, o.packet, o.trail, dir);
    case 'unsupported':
      return [inconclusive(o.trail, 'ipvs-forwarding', `${at.id}: ${o.reason}`, { level: 'warning', node: at.id, code: 'UnsupportedConfig', message: o.reason })];
    case 'no-server':
      return [failed(o.trail, { level: 'fatal', node: at.id, code: 'ServiceNoEndpoints', message: o.message })];
    default:
      return assertNever(o, 'IPVS outcome');
  }
}

/**
 * Conntrack's un-NAT of a reply in `at`: the inverse of a SNAT/MASQUERADE (rewriting the
 * destination) before routing, the inverse of a DNAT/REDIRECT (rewriting the source) after it.
 * `which` names the original manipulation undone: 'source' (SNAT) or 'destination' (DNAT).
 */
function undoNat(t: Trail, at: NetnsRef, p: Packet, which: 'source' | 'destination'): Packet {
  let packet = p;
  for (const { netnode, nat } of t.nat) {
    if (netnode !== at.id || nat.after === undefined) continue;
    const isSource = nat.kind === 'snat' || nat.kind === 'masquerade';
    if (which === 'source' && isSource && ipEquals(packet.dst, nat.after.address) && packet.dport === nat.after.port) {
      packet = { ...packet, dst: nat.before.address, dport: nat.before.port };
      addAction(t, at.id, at.type, { kind: 'nat', direction: 'reply', nat: `un-${nat.kind.toUpperCase()}`, before: endpointText(nat.after), after: endpointText(nat.before) });
    }
    if (which === 'destination' && !isSource && ipEquals(packet.src, nat.after.address) && packet.sport === nat.after.port) {
      packet = { ...packet, src: nat.before.address, sport: nat.before.port };
      addAction(t, at.id, at.type, { kind: 'nat', direction: 'reply', nat: `un-${nat.kind.toUpperCase()}`, before: endpointText(nat.after), after: endpointText(nat.before) });
    }
  }
  return packet;
}

function lastGateway(trace: readonly TraceStep[]): IpAddress | undefined {
  for (let i = trace.length - 1; i >= 0; i--) {
    const step = trace[i];
    if (step?.kind === 'route') return step.decision.kind === 'unicast' ? step.decision.gateway : undefined;
  }
  return undefined;
}

function deliver(ctx: WalkContext, at: NetnsRef, delivered: Packet, t: Trail, dir: Direction): Branch {
  if (dir === 'reply') {
    const packet = undoNat(t, at, delivered, 'destination');
    const client = ctx.client;
    if (at.id !== client.netns.id || !ipEquals(packet.dst, client.packet.src) || (packet.protocol !== 'icmp' && packet.dport !== client.packet.sport)) {
      return failed(t, { level: 'fatal', node: at.id, code: 'ReplyMisrouted', message: `the reply ${formatPacket(packet)} is delivered to ${at.id}, not to the client ${client.netns.id}` });
    }
    if (!ipEquals(packet.src, client.packet.dst) || (packet.protocol !== 'icmp' && packet.sport !== client.packet.dport)) {
      return failed(t, {
        level: 'fatal',
        node: at.id,
        code: 'ReplyMisrouted',
        message: `the reply reaches ${at.id} from ${formatIp(packet.src)}:${packet.sport}, but the client sent to ${formatIp(client.packet.dst)}:${client.packet.dport}: the reply bypasses the namespace whose conntrack entry would undo the DNAT`,
      });
    }
    addAction(t, at.id, at.type, { kind: 'deliver', direction: dir, socket: `the client's socket ${formatIp(packet.dst)}${packet.protocol === 'icmp' ? '' : `:${packet.dport}`}` });
    return { end: { kind: 'delivered', at, packet }, trail: t };
  }
  if (delivered.protocol === 'icmp') {
    addAction(t, at.id, at.type, { kind: 'deliver', direction: dir, socket: 'the kernel answers the echo request' });
    return { end: { kind: 'delivered', at, packet: delivered }, trail: t };
  }
  const listeners = at.state.listeners;
  const socket = `${delivered.protocol} ${formatIp(delivered.dst)}:${delivered.dport}`;
  if (listeners === undefined) return inconclusive(t, 'no-socket-dump', `${at.id}: no socket dump, so whether anything listens on ${socket} is unknown`);
  if (!hasListener(listeners, delivered.protocol, delivered.dst, delivered.dport)) {
    return failed(t, {
      level: 'fatal',
      node: at.id,
      code: 'NoListener',
      message: `nothing listens on ${socket} in ${at.id} (no ${delivered.protocol} socket on that address or the wildcard)${delivered.protocol === 'tcp' ? ': the kernel answers with a RST' : ''}`,
    });
  }
  addAction(t, at.id, at.type, { kind: 'deliver', direction: dir, socket });
  return { end: { kind: 'delivered', at, packet: delivered }, trail: t };
}

// ---- failures ------------------------------------------------------------------------------

function failureSuspicions(ctx: WalkContext, at: NetnsRef, iif: string | undefined, outcome: Outcome, dir: Direction): Suspicion[] {
  const last = outcome.trace[outcome.trace.length - 1];
  let cause: FailureCause | undefined;
  const out: Suspicion[] = [];
  if (last?.kind === 'rule' && last.matched) {
    const target = last.target.split(' ')[0] ?? last.target;
    const code: SuspicionCode = target === 'REJECT' ? 'IptablesReject' : 'IptablesDrop';
    out.push({ level: 'fatal', node: at.id, code, message: `iptables ${last.table} ${last.chain} (${last.hook}), line ${last.line}: ${last.ruleText}` });
    cause = { kind: 'netfilter', table: last.table, chain: last.chain, rule: last.ruleText, target: last.target };
  } else if (last?.kind === 'policy') {
    out.push({ level: 'fatal', node: at.id, code: 'IptablesDrop', message: `iptables ${last.table} ${last.chain} (${last.hook}): policy ${last.policy}, line ${last.line}` });
    cause = { kind: 'netfilter', table: last.table, chain: last.chain, rule: `:${last.chain} ${last.policy}`, target: last.policy };
  } else if (last?.kind === 'nft' && last.step.kind !== 'skip') {
    const step = last.step;
    const where = `nftables table ${step.family} ${step.table} chain ${step.chain} (hook ${step.hook})`;
    if (step.kind === 'rule') {
      const verb = step.action.startsWith('reject') ? 'rejects' : 'drops';
      out.push({ level: 'fatal', node: at.id, code: 'NftablesDrop', message: `${where}, handle ${step.handle ?? '?'} ${verb} the packet: ${step.ruleText}` });
      cause = { kind: 'netfilter', table: `${step.family} ${step.table}`, chain: step.chain, rule: step.ruleText, target: step.action };
    } else {
      out.push({ level: 'fatal', node: at.id, code: 'NftablesDrop', message: `${where}: policy ${step.policy}` });
      cause = { kind: 'netfilter', table: `${step.family} ${step.table}`, chain: step.chain, rule: `policy ${step.policy}`, target: step.policy };
    }
  } else if (last?.kind === 'route') {
    const p = outcome.packet;
    const decision = lookupRoute(at.state.routing, {
      dst: p.dst,
      src: p.src,
      ...(iif !== undefined && last.stage === 'input' ? { iif } : {}),
      mark: p.mark,
      tos: p.tos,
      protocol: PROTOCOL_NUMBERS[p.protocol],
      sport: p.sport,
      dport: p.dport,
    });
    out.push(routeSuspicion(at, iif, p, decision, last.decision.kind === 'unreachable' ? last.decision.reason : outcome.reason));
    cause = { kind: 'route', decision };
  } else {
    out.push({ level: 'fatal', node: at.id, code: 'UnsupportedConfig', message: `${at.id} ${outcome.verdict}s ${formatPacket(outcome.packet)}: ${outcome.reason}` });
  }
  if (cause !== undefined) {
    for (const plugin of ctx.plugins) out.push(...(plugin.explainFailure?.({ cluster: ctx.cluster, direction: dir, at, ...(iif !== undefined ? { iif } : {}), packet: outcome.packet, cause }) ?? []));
  }
  return out;
}

function routeSuspicion(at: NetnsRef, iif: string | undefined, p: Packet, decision: RouteDecision, reason: string): Suspicion {
  const base = { level: 'fatal' as const, node: at.id };
  const dst = formatIp(p.dst);
  switch (decision.kind) {
    case 'no-route':
      return { ...base, code: 'NoRouteToHost', message: `no route to ${dst} on ${at.id}: ${decision.explanation}` };
    case 'blackhole':
    case 'unreachable':
    case 'prohibit':
      return { ...base, code: 'RouteInvalid', message: `${decision.kind} route to ${dst} on ${at.id}: ${decision.explanation}` };
    case 'rejected': {
      const reason = decision.reason;
      switch (reason) {
        case 'forwarding-disabled':
          return { ...base, code: 'ForwardingDisabled', message: `net.ipv4.conf.${iif ?? 'all'}.forwarding=0 on ${at.id}: packets arriving on ${iif ?? '?'} are not forwarded (${decision.explanation})` };
        case 'rp-filter':
          return { ...base, code: 'RPFilterDrop', message: `rp_filter on ${at.id} drops ${formatPacket(p)} arriving on ${iif ?? '?'}: ${decision.explanation}` };
        case 'device-down':
          return { ...base, code: 'LinkDown', message: `${decision.explanation} (on ${at.id})` };
        case 'device-missing':
          return { ...base, code: 'LinkMissing', message: `${decision.explanation} (on ${at.id})` };
        case 'source-not-local':
          return { ...base, code: 'AddressMissing', message: `${formatIp(p.src)} is not an address of ${at.id}: ${decision.explanation}` };
        case 'martian-source':
        case 'martian-destination':
        case 'invalid-source':
        case 'invalid-destination':
          return { ...base, code: 'RouteInvalid', message: `${reason} on ${at.id}: ${decision.explanation}` };
        default:
          return assertNever(reason, 'reject reason');
      }
    }
    case 'unsupported':
      return { ...base, code: 'UnsupportedConfig', message: `${at.id}: ${decision.explanation}` };
    case 'local':
    case 'unicast':
    case 'broadcast':
      // The trace refused what a fresh lookup accepts: report the trace's reason.
      return { ...base, code: 'RouteInvalid', message: `${at.id} refuses ${formatPacket(p)}: ${reason}` };
    default:
      return assertNever(decision, 'route decision');
  }
}

// ---- links between namespaces ---------------------------------------------------------------

function netnsOfNode(ctx: WalkContext, nodeName: string): NetnsRef[] {
  const node = ctx.nodes.get(nodeName);
  return [...(node !== undefined ? [node] : []), ...(ctx.podsOnNode.get(nodeName) ?? [])];
}

/** A pod whose netns is missing and that owns `ip`. */
function missingOwner(ctx: WalkContext, ip: IpAddress): string | undefined {
  const owner = ctx.ipCache.lookup(ip);
  return owner.kind === 'pod' && ctx.missing.has(owner.key) ? owner.key : undefined;
}

type PeerSearch =
  | { readonly kind: 'found'; readonly ns: NetnsRef; readonly link: Link }
  | { readonly kind: 'ambiguous'; readonly candidates: readonly string[] }
  | { readonly kind: 'none' };

/** The other end of a veth: same namespace by name, else the namespace of the node holding the peer ifindex that points back. */
function findVethPeer(ctx: WalkContext, at: NetnsRef, link: Link): PeerSearch {
  if (link.linkNetnsid === undefined && link.link !== undefined) {
    const peer = at.state.routing.links.get(link.link);
    return peer === undefined ? { kind: 'none' } : { kind: 'found', ns: at, link: peer };
  }
  if (link.linkIndex === undefined) return { kind: 'none' };
  const found: { ns: NetnsRef; link: Link }[] = [];
  for (const ns of netnsOfNode(ctx, at.nodeName)) {
    if (ns.id === at.id) continue;
    for (const l of ns.state.routing.linkList) if (l.ifindex === link.linkIndex && l.kind === 'veth' && l.linkIndex === link.ifindex) found.push({ ns, link: l });
  }
  const first = found[0];
  if (found.length === 1 && first !== undefined) return { kind: 'found', ...first };
  if (found.length > 1) return { kind: 'ambiguous', candidates: found.map((f) => `${f.ns.id}/${f.link.name}`) };
  return { kind: 'none' };
}

/** The port of `bridge` in `at` whose veth leads to the namespace holding `nextHop`. */
function findBridgePort(ctx: WalkContext, at: NetnsRef, bridge: string, nextHop: IpAddress, exclude?: string): PeerSearch & { port?: Link } {
  const hits: { port: Link; ns: NetnsRef; link: Link }[] = [];
  for (const port of at.state.routing.linkList) {
    if (port.master !== bridge || port.name === exclude || port.kind !== 'veth') continue;
    const peer = findVethPeer(ctx, at, port);
    if (peer.kind === 'found' && ownsAddress(peer.ns.state, nextHop)) hits.push({ port, ns: peer.ns, link: peer.link });
  }
  const first = hits[0];
  if (hits.length === 1 && first !== undefined) return { kind: 'found', ns: first.ns, link: first.link, port: first.port };
  if (hits.length > 1) return { kind: 'ambiguous', candidates: hits.map((h) => `${h.ns.id}/${h.link.name}`) };
  return { kind: 'none' };
}

function classifyLink(ctx: WalkContext, at: NetnsRef, link: Link): PathLinkType | 'unknown' {
  switch (link.kind) {
    case 'veth':
      return 'veth';
    case 'bridge':
      return 'bridge';
    case 'vxlan':
      return 'vxlan';
    case 'ipip':
      return 'ipip';
    case undefined:
      return link.name === 'lo' ? 'local' : 'underlay';
    default:
      for (const plugin of ctx.plugins) {
        const type = plugin.classifyLink?.(at, link);
        if (type !== undefined) return type;
      }
      return 'unknown';
  }
}

/** A namespace the packet reaches is not in the snapshot: CollectorFailed when its node's collector failed. */
export function missingNetnsSuspicion(missing: ReadonlyMap<string, MissingNetns>, id: string, message: string): Suspicion {
  const record = missing.get(id);
  return { level: 'warning', node: id, code: record?.collectorFailed === true ? 'CollectorFailed' : 'SnapshotIncomplete', message };
}

function snapshotIncomplete(trail: Trail, pod: string, ctx: WalkContext, from: NetnsRef): Branch {
  const why = ctx.missing.get(pod)?.reason ?? 'not in the snapshot';
  return inconclusive(
    trail,
    'netns-missing',
    `the netns of pod ${pod} is missing: ${why}`,
    missingNetnsSuspicion(ctx.missing, pod, `the packet goes from ${from.id} to pod ${pod}, whose network namespace is not in the snapshot (${why})`),
  );
}

/** The packet leaves `at` on `outIface` towards `nextHop`: find where it arrives. */
function transmit(ctx: WalkContext, at: NetnsRef, outIface: string, nextHop: IpAddress, packet: Packet, before: Packet, t: Trail, dir: Direction): Branch[] {
  const link = at.state.routing.links.get(outIface);
  if (link === undefined) return [failed(t, { level: 'fatal', node: at.id, code: 'LinkMissing', message: `the route on ${at.id} sends ${formatPacket(packet)} out of ${outIface}, which does not exist` })];
  if (!link.up) return [failed(t, { level: 'fatal', node: at.id, code: 'LinkDown', message: `${outIface} on ${at.id} is down` })];
  const type = classifyLink(ctx, at, link);
  const hop = { from: at, fromIface: outIface, nextHop, packet, before, dir };
  switch (type) {
    case 'veth': {
      const peer = findVethPeer(ctx, at, link);
      switch (peer.kind) {
        case 'found':
          if (!peer.link.up) {
            addAction(t, peer.ns.id, peer.ns.type, { kind: 'receive', direction: dir, iif: peer.link.name, verdict: `DROP: ${peer.link.name} is down` });
            return [failed(t, { level: 'fatal', node: peer.ns.id, code: 'LinkDown', message: `${peer.link.name} on ${peer.ns.id}, the veth peer of ${outIface} on ${at.id}, is down` })];
          }
          if (peer.link.master !== undefined) return bridgeIngress(ctx, hop, peer.ns, peer.link, t);
          {
            const arp = resolveOverLink(at, outIface, packet.src, nextHop, peer.ns, peer.link.name);
            if (!arp.resolved) {
              addAction(t, peer.ns.id, peer.ns.type, { kind: 'receive', direction: dir, iif: peer.link.name, verdict: `ARP for ${formatIp(nextHop)} not answered` });
              return [failed(t, { level: 'fatal', node: peer.ns.id, code: arp.code, message: `${arp.why}: ${at.id} cannot send to its next hop` })];
            }
          }
          return arrive(ctx, hop, peer.ns, peer.link.name, 'veth', {}, t);
        case 'ambiguous':
          return [inconclusive(t, 'veth-peer-ambiguous', `the veth peer of ${outIface} on ${at.id} could be any of ${peer.candidates.join(', ')}`)];
        case 'none': {
          const pod = missingOwner(ctx, nextHop) ?? missingOwner(ctx, packet.dst);
          if (pod !== undefined) return [snapshotIncomplete(t, pod, ctx, at)];
          if (at.type === 'node') return underlay(ctx, hop, link, t);
          if (!ctx.nodes.has(at.nodeName)) {
            const why = ctx.missing.get(at.nodeName)?.reason ?? 'not in the snapshot';
            return [
              inconclusive(
                t,
                'netns-missing',
                `the host netns of node ${at.nodeName} is missing: ${why}`,
                missingNetnsSuspicion(ctx.missing, at.nodeName, `the packet leaves ${at.id} for the host network namespace of node ${at.nodeName}, which is not in the snapshot (${why})`),
              ),
            ];
          }
          return [inconclusive(t, 'veth-peer-unknown', `the veth peer of ${outIface} on ${at.id} is in no namespace of node ${at.nodeName} in the snapshot`)];
        }
        default:
          return assertNever(peer, 'peer search');
      }
    }
    case 'bridge':
      return bridgeEgress(ctx, hop, at, link, undefined, t);
    case 'vxlan':
      return vxlan(ctx, hop, link, t);
    case 'ipip':
      return ipip(ctx, hop, link, t);
    case 'underlay':
      return underlay(ctx, hop, link, t);
    case 'local':
      return [inconclusive(t, 'loopback', `${at.id} sends ${formatPacket(packet)} out of lo without delivering it`)];
    case 'unknown':
      return [
        inconclusive(t, 'unsupported-device', `${outIface} on ${at.id} is a ${link.kind ?? '?'} device, which the walk does not follow`, {
          level: 'warning',
          node: at.id,
          code: 'UnsupportedConfig',
          message: `${outIface} on ${at.id} is a ${link.kind ?? '?'} device: no plugin follows it`,
        }),
      ];
    default:
      return assertNever(type, 'link type');
  }
}

interface HopStart {
  readonly from: NetnsRef;
  readonly fromIface: string;
  readonly nextHop: IpAddress;
  readonly packet: Packet;
  readonly before: Packet;
  readonly dir: Direction;
}

/** The packet crosses to `to`, arriving on `toIface`; plugins check the hop, then the walk goes on. */
function arrive(ctx: WalkContext, hop: HopStart, to: NetnsRef, toIface: string, type: PathLinkType, attributes: Record<string, string>, trail: Trail): Branch[] {
  const t = forkTrail(trail);
  for (const plugin of ctx.plugins) {
    t.suspicions.push(
      ...(plugin.checkHop?.({ cluster: ctx.cluster, direction: hop.dir, from: hop.from, fromIface: hop.fromIface, to, toIface, type, nextHop: hop.nextHop, packet: hop.packet }) ?? []),
    );
  }
  t.links.push({
    source: hop.from.id,
    destination: to.id,
    type,
    direction: hop.dir,
    packet: { before: formatPacket(hop.before), after: formatPacket(hop.packet) },
    attributes: { sourceInterface: hop.fromIface, destinationInterface: toIface, nextHop: formatIp(hop.nextHop), ...attributes },
  });
  return walkFrom(ctx, to, toIface, hop.packet, t, hop.dir);
}

/** A frame arrives on a bridge port in `ns`: to the bridge's own stack, or switched to another port. */
function bridgeIngress(ctx: WalkContext, hop: HopStart, ns: NetnsRef, port: Link, t: Trail): Branch[] {
  const bridgeName = port.master ?? '';
  const bridge = ns.state.routing.links.get(bridgeName);
  if (bridge === undefined) return [failed(t, { level: 'fatal', node: ns.id, code: 'LinkMissing', message: `${port.name} on ${ns.id} is enslaved to ${bridgeName}, which is not in the link dump` })];
  // The frame has crossed the veth into this netns whatever the bridge then does with it.
  const portLink = (trail: Trail): void => {
    trail.links.push({
      source: hop.from.id,
      destination: ns.id,
      type: 'veth',
      direction: hop.dir,
      packet: { before: formatPacket(hop.before), after: formatPacket(hop.packet) },
      attributes: { sourceInterface: hop.fromIface, destinationInterface: port.name, bridge: bridge.name },
    });
  };
  if (!bridge.up) {
    const t2 = forkTrail(t);
    addAction(t2, ns.id, ns.type, { kind: 'receive', direction: hop.dir, iif: port.name, verdict: `DROP: bridge ${bridge.name} is down` });
    portLink(t2);
    return [failed(t2, { level: 'fatal', node: ns.id, code: 'LinkDown', message: `bridge ${bridge.name} on ${ns.id} is down: frames from ${hop.from.id} arriving on its port ${port.name} are dropped` })];
  }
  if (port.bridgeSlave?.state !== undefined && port.bridgeSlave.state !== 'forwarding') {
    return [failed(t, { level: 'fatal', node: ns.id, code: 'LinkDown', message: `port ${port.name} of bridge ${bridge.name} on ${ns.id} is in STP state ${port.bridgeSlave.state}, not forwarding` })];
  }
  if (ownsAddress(ns.state, hop.nextHop)) return arrive(ctx, hop, ns, bridge.name, 'veth', { bridge: bridge.name, bridgePort: port.name }, t);
  // Switched at layer 2 to the port behind which the next hop lives.
  const t2 = forkTrail(t);
  portLink(t2);
  return bridgeEgress(ctx, { ...hop, from: ns, fromIface: port.name, before: hop.packet }, ns, bridge, port.name, t2);
}

/** Out of a bridge (routed out of it, or switched from `inPort`): the port whose veth leads to the next hop. */
function bridgeEgress(ctx: WalkContext, hop: HopStart, ns: NetnsRef, bridge: Link, inPort: string | undefined, trail: Trail): Branch[] {
  const found = findBridgePort(ctx, ns, bridge.name, hop.nextHop, inPort);
  const t = forkTrail(trail);
  if (inPort !== undefined && found.kind !== 'found') {
    // A frame switched in from a port that finds no way out: record the bridge's netnode.
    addAction(t, ns.id, ns.type, { kind: 'receive', direction: hop.dir, iif: inPort, verdict: `not forwarded by ${bridge.name}` });
  }
  switch (found.kind) {
    case 'found': {
      const port = found.port;
      if (port === undefined) return [inconclusive(t, 'bridge-port', `${ns.id}: no port found on ${bridge.name}`)];
      if (!port.up) return [failed(t, { level: 'fatal', node: ns.id, code: 'LinkDown', message: `${port.name}, the port of ${bridge.name} on ${ns.id} towards ${found.ns.id}, is down` })];
      if (!found.link.up) return [failed(t, { level: 'fatal', node: found.ns.id, code: 'LinkDown', message: `${found.link.name} on ${found.ns.id} is down` })];
      const attributes = { bridge: bridge.name, bridgePort: port.name };
      if (inPort === undefined) return arrive(ctx, { ...hop, fromIface: bridge.name }, found.ns, found.link.name, 'bridge', attributes, t);
      const t2 = forkTrail(t);
      addAction(t2, ns.id, ns.type, { kind: 'bridge', direction: hop.dir, bridge: bridge.name, inPort, outPort: port.name });
      if (ns.state.bridgeNfCallIptables === true || bridge.bridge?.nfCallIptables === true) {
        // br_netfilter: a bridged IPv4 frame goes through PREROUTING, FORWARD and POSTROUTING with the bridge as iif and oif.
        return bridgedNetfilter(ctx, { ...hop, fromIface: port.name }, ns, bridge, found.ns, found.link.name, attributes, t2);
      }
      return arrive(ctx, { ...hop, fromIface: port.name }, found.ns, found.link.name, 'bridge', attributes, t2);
    }
    case 'ambiguous':
      return [inconclusive(t, 'bridge-port-ambiguous', `${hop.nextHop.value} is held behind several ports of ${bridge.name} on ${ns.id}: ${found.candidates.join(', ')}`)];
    case 'none': {
      const pod = missingOwner(ctx, hop.nextHop);
      if (pod !== undefined) return [snapshotIncomplete(t, pod, ctx, ns)];
      return [
        failed(t, {
          level: 'fatal',
          node: ns.id,
          code: 'NeighborMissing',
          message: `no port of ${bridge.name} on ${ns.id} leads to ${formatIp(hop.nextHop)}: no namespace attached to it holds that address, so ARP for it goes unanswered`,
        }),
      ];
    }
    default:
      return assertNever(found, 'bridge port search');
  }
}

function bridgedNetfilter(ctx: WalkContext, hop: HopStart, ns: NetnsRef, bridge: Link, to: NetnsRef, toIface: string, attributes: Record<string, string>, t: Trail): Branch[] {
  if (ns.state.unsimulated.length > 0) return [unsimulated(t, ns)];
  const packet = hop.dir === 'reply' ? undoNat(t, ns, hop.packet, 'source') : hop.packet;
  const result = traceNetns(ns, { packet, iif: bridge.name, oif: bridge.name });
  const branches: Branch[] = [];
  for (const outcome of result.outcomes) {
    const t2 = forkTrail(t);
    for (const nat of outcome.natApplied) t2.nat.push({ netnode: ns.id, nat });
    switch (outcome.verdict) {
      case 'ACCEPT': {
        const out = hop.dir === 'reply' ? undoNat(t2, ns, outcome.packet, 'destination') : outcome.packet;
        branches.push(...arrive(ctx, { ...hop, packet: out }, to, toIface, 'bridge', attributes, t2));
        break;
      }
      case 'DROP':
      case 'REJECT':
        branches.push(failed(t2, ...failureSuspicions(ctx, ns, bridge.name, outcome, hop.dir)));
        break;
      case 'INCONCLUSIVE':
        t2.warnings.push(...outcome.warnings);
        branches.push(inconclusive(t2, 'trace-inconclusive', `${ns.id} (bridged on ${bridge.name}): ${outcome.reason}`));
        break;
      default:
        assertNever(outcome.verdict, 'trace verdict');
    }
  }
  return branches;
}

/**
 * The nodes that may hold `ip` on an interface: first those whose Node object lists it, then every
 * other. Reading a node's state parses its dumps, so the common case (a next hop that is a node's
 * address) touches one node; an address no Node object lists makes the walk read every node.
 */
function* nodesHolding(ctx: WalkContext, ip: IpAddress, except: string): Generator<NetnsRef> {
  const lists = (a: { readonly address: string }): boolean => {
    const address = parseIp(a.address);
    return address !== undefined && ipEquals(address, ip);
  };
  const listed = new Set(ctx.cluster.objects.nodes.filter((n) => (n.status?.addresses ?? []).some(lists)).map((n) => n.metadata.name));
  for (const name of listed) {
    const node = ctx.nodes.get(name);
    if (node !== undefined && name !== except) yield node;
  }
  for (const node of ctx.nodes.values()) if (!listed.has(node.id) && node.id !== except) yield node;
}

/** Out of a node's own interface onto the underlay: the node holding the next hop, on the same L2. */
function underlay(ctx: WalkContext, hop: HopStart, link: Link, t: Trail): Branch[] {
  for (const node of nodesHolding(ctx, hop.nextHop, hop.from.id)) {
    const dev = deviceOfAddress(node.state, hop.nextHop);
    if (dev === undefined) continue;
    const arriving = node.state.routing.links.get(dev);
    if (arriving !== undefined && !arriving.up) return [failed(t, { level: 'fatal', node: node.id, code: 'LinkDown', message: `${dev} on ${node.id}, holding ${formatIp(hop.nextHop)}, is down` })];
    return arrive(ctx, hop, node, dev, 'underlay', { underlay: link.name }, t);
  }
  const owner = ctx.ipCache.lookup(hop.nextHop);
  if (owner.kind === 'node') {
    return [
      inconclusive(
        t,
        'netns-missing',
        `the host netns of node ${owner.name} is missing`,
        missingNetnsSuspicion(ctx.missing, owner.name, `the packet goes from ${hop.from.id} to node ${owner.name}, whose host network namespace is not in the snapshot (${ctx.missing.get(owner.name)?.reason ?? 'no record'})`),
      ),
    ];
  }
  const t2 = forkTrail(t);
  const id = formatIp(hop.nextHop);
  const dstOwner = ctx.ipCache.lookup(hop.packet.dst);
  if (dstOwner.kind === 'pod' || dstOwner.kind === 'node') {
    // A pod or node address routed to a gateway that is no node: the cluster's own routes miss it.
    const what = dstOwner.kind === 'pod' ? `pod ${dstOwner.key}` : `node ${dstOwner.name}`;
    const cidr = dstOwner.kind === 'pod' ? podCidrOf(ctx, dstOwner.pod.spec.nodeName) : undefined;
    t2.suspicions.push({
      level: 'critical',
      node: hop.from.id,
      code: 'RouteMissing',
      message: `${hop.from.id} has no route of the cluster to ${formatIp(hop.packet.dst)} (${what}${cidr !== undefined ? `, podCIDR ${cidr} of node ${dstOwner.kind === 'pod' ? (dstOwner.pod.spec.nodeName ?? '?') : ''}` : ''}): it sends it out of ${link.name} to ${id}, which is no node of the cluster`,
    });
  }
  addAction(t2, id, 'external', { kind: 'receive', direction: hop.dir, iif: '?', verdict: 'outside the cluster' });
  t2.links.push({
    source: hop.from.id,
    destination: id,
    type: 'underlay',
    direction: hop.dir,
    packet: { before: formatPacket(hop.before), after: formatPacket(hop.packet) },
    attributes: { sourceInterface: hop.fromIface, nextHop: id },
  });
  // A request for an address no pod, node or service holds, sent to a gateway outside the cluster:
  // the cluster has done its part. Anything else leaving the snapshot (a reply, or a cluster
  // address routed away) is not simulated beyond this point.
  if (hop.dir === 'request' && dstOwner.kind === 'external') {
    t2.suspicions.push({
      level: 'info',
      node: hop.from.id,
      code: 'LeavesCluster',
      message: `${hop.from.id} sends ${formatPacket(hop.packet)} out of ${link.name} to ${id}, outside the cluster: what happens beyond the gateway is not simulated`,
    });
    return [{ end: { kind: 'left-cluster', at: hop.from, gateway: id }, trail: t2 }];
  }
  return [inconclusive(t2, 'leaves-cluster', `${hop.from.id} sends ${formatPacket(hop.packet)} out of ${link.name} to ${id}, outside the snapshot: what happens beyond is unknown`)];
}

function podCidrOf(ctx: WalkContext, nodeName: string | undefined): string | undefined {
  const node = ctx.cluster.objects.nodes.find((n) => n.metadata.name === nodeName);
  return node?.spec?.podCIDRs?.[0] ?? node?.spec?.podCIDR;
}

/** Out of a VXLAN device: neighbour (inner next hop → MAC), FDB (MAC → remote VTEP), the VTEP's node. */
function vxlan(ctx: WalkContext, hop: HopStart, link: Link, t: Trail): Branch[] {
  const at = hop.from;
  const neighbor = at.state.neighbors.find((n) => n.dev === link.name && ipEquals(n.dst, hop.nextHop) && n.lladdr !== undefined);
  if (neighbor?.lladdr === undefined) {
    return [failed(t, { level: 'fatal', node: at.id, code: 'NeighborMissing', message: `no neighbour entry for ${formatIp(hop.nextHop)} on ${link.name} (${at.id}): the VXLAN inner next hop has no MAC` })];
  }
  const fdb = at.state.fdb.find((f) => f.dev === link.name && f.mac.toLowerCase() === neighbor.lladdr?.toLowerCase() && f.dst !== undefined);
  if (fdb?.dst === undefined) {
    return [failed(t, { level: 'fatal', node: at.id, code: 'VxlanFdbMissing', message: `no FDB entry on ${link.name} (${at.id}) for ${neighbor.lladdr}, the MAC of ${formatIp(hop.nextHop)}: the remote VTEP is unknown` })];
  }
  const remote = fdb.dst;
  for (const node of nodesHolding(ctx, remote, at.id)) {
    if (!ownsAddress(node.state, remote)) continue;
    const peer = node.state.routing.linkList.find((l) => l.kind === 'vxlan' && l.vxlan?.id === link.vxlan?.id);
    if (peer === undefined) {
      return [failed(t, { level: 'fatal', node: node.id, code: 'TunnelMisconfigured', message: `${node.id} (VTEP ${formatIp(remote)}) has no VXLAN device with VNI ${link.vxlan?.id ?? '?'}` })];
    }
    if (!peer.up) return [failed(t, { level: 'fatal', node: node.id, code: 'LinkDown', message: `${peer.name} on ${node.id} is down` })];
    const blocked = vxlanOuterBlocked(ctx, hop, link, remote, node, t);
    if (blocked !== undefined) return [blocked];
    return arrive(ctx, hop, node, peer.name, 'vxlan', { vni: String(link.vxlan?.id ?? '?'), remote: formatIp(remote) }, t);
  }
  return [inconclusive(t, 'vtep-unknown', `the VTEP ${formatIp(remote)} of ${link.name} on ${at.id} is no node in the snapshot`)];
}

/** The UDP port of a VXLAN device created without `dstport`: Linux's own default (IANA's is 4789). */
const LINUX_VXLAN_PORT = 8472;
/** The outer packet's source port is a hash of the inner flow; any port in the ephemeral range stands for it. */
const VXLAN_SOURCE_PORT = 40000;

/**
 * The encapsulated packet is an ordinary UDP packet between the two nodes: it leaves the sender
 * through OUTPUT and POSTROUTING and reaches the receiver through PREROUTING and INPUT, where a
 * firewall rule can drop it (the classic "VXLAN port blocked"). Returns the failed branch when
 * netfilter on either node does not let it through, undefined when both do.
 */
function vxlanOuterBlocked(ctx: WalkContext, hop: HopStart, link: Link, remote: IpAddress, node: NetnsRef, trail: Trail): Branch | undefined {
  const at = hop.from;
  const route = lookupRoute(at.state.routing, { dst: remote });
  const source = link.vxlan?.local ?? (route.kind === 'unicast' ? route.src : undefined);
  if (source === undefined) return inconclusive(trail, 'vxlan-source', `${at.id}: the source address of ${link.name}'s encapsulated packets to ${formatIp(remote)} is unknown`);
  const outer = buildPacket({ protocol: 'udp', src: source, dst: remote, sport: VXLAN_SOURCE_PORT, dport: link.vxlan?.port ?? LINUX_VXLAN_PORT });
  const what = `the VXLAN packet ${formatPacket(outer)} of ${link.name}`;
  const judge = (ns: NetnsRef, iif: string | undefined): Branch | undefined => {
    for (const outcome of traceNetns(ns, { packet: outer, ...(iif !== undefined ? { iif } : {}) }).outcomes) {
      const t = forkTrail(trail);
      const accepted = outcome.verdict === 'ACCEPT' && (iif === undefined ? outcome.delivery?.kind === 'transmit' : outcome.delivery?.kind === 'local');
      if (accepted) continue;
      addAction(t, ns.id, ns.type, iif === undefined ? { kind: 'send', direction: hop.dir, verdict: `${what}: ${outcome.verdict}: ${outcome.reason}` } : { kind: 'receive', direction: hop.dir, iif, verdict: `${what}: ${outcome.verdict}: ${outcome.reason}` });
      if (outcome.verdict === 'DROP' || outcome.verdict === 'REJECT') return failed(t, ...failureSuspicions(ctx, ns, iif, outcome, hop.dir).map((s) => ({ ...s, message: `${what}: ${s.message}` })));
      return inconclusive(t, 'vxlan-outer', `${ns.id}: ${what} is not simply ${iif === undefined ? 'sent' : 'delivered'}: ${outcome.reason}`);
    }
    return undefined;
  };
  return judge(at, undefined) ?? judge(node, deviceOfAddress(node.state, remote));
}

/**
 * Out of an IPIP device with no fixed remote (calico's tunl0): the route's gateway, on link, is the
 * outer destination; the node holding it decapsulates on its own ipip device, where the inner
 * packet arrives. (The outer packet is not walked through either node's netfilter.)
 */
function ipip(ctx: WalkContext, hop: HopStart, link: Link, t: Trail): Branch[] {
  const at = hop.from;
  const remote = hop.nextHop;
  if (ipEquals(remote, hop.packet.dst)) {
    return [inconclusive(t, 'ipip-remote-unknown', `${at.id} routes ${formatPacket(hop.packet)} into ${link.name} without a gateway: the outer destination is not in the route`)];
  }
  for (const node of nodesHolding(ctx, remote, at.id)) {
    if (!ownsAddress(node.state, remote)) continue;
    const peer = node.state.routing.linkList.find((l) => l.kind === 'ipip');
    if (peer === undefined) {
      return [failed(t, { level: 'fatal', node: node.id, code: 'TunnelMisconfigured', message: `${node.id} (${formatIp(remote)}) has no IPIP device: the IP-in-IP packets ${at.id} sends out of ${link.name} are not decapsulated` })];
    }
    if (!peer.up) return [failed(t, { level: 'fatal', node: node.id, code: 'LinkDown', message: `${peer.name} on ${node.id} is down: the IP-in-IP packets from ${at.id} are not decapsulated` })];
    return arrive(ctx, hop, node, peer.name, 'ipip', { remote: formatIp(remote) }, t);
  }
  return [inconclusive(t, 'ipip-remote-unknown', `the outer destination ${formatIp(remote)} of ${link.name} on ${at.id} is no node in the snapshot`)];
}
