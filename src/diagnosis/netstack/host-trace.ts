// One packet through one host: netfilter's hooks in kernel order, with the routing decisions
// between them taken from the host's routes and policy rules, and ipset membership from its sets.
// This is the engine behind `netdiag trace`; the diagnostor uses it per network namespace.

import { compareIp, formatIp, type IpAddress } from '../model/ip.js';
import type { Packet } from '../model/packet.js';
import type { Warning } from '../model/warning.js';
import { assertNever } from '../model/assert-never.js';
import type { IpsetTable } from './ipset/index.js';
import type { NftRuleset } from './nftables/index.js';
import {
  traceIptables,
  type IpsetLookup,
  type HostContext,
  type NetfilterRouteDecision,
  type NetfilterRouteLookup,
  type Outcome,
  type Ruleset,
  type TraceStep,
  type Verdict,
} from './netfilter/index.js';
import {
  lookupRoute,
  RT_SCOPE_UNIVERSE,
  selectIpv4Source,
  selectIpv6Source,
  type RejectedDecision,
  type RouteDecision,
  type RoutingState,
} from './routing/index.js';
import { PROTOCOL_NUMBERS } from '../model/packet.js';

export interface HostTraceInput {
  readonly ruleset: Ruleset;
  /** The host's sets (`ipset save`); without them a `-m set` rule the packet meets is Inconclusive. */
  readonly ipsets?: IpsetTable;
  /** The host's routing; without it the output interface is unknown unless forced. */
  readonly routing?: RoutingState;
  /** Every address of the host: addrtype LOCAL, and INPUT vs FORWARD without routing. */
  readonly localAddresses: readonly IpAddress[];
  /** The host's native nftables rule set: its base chains run among the iptables tables by priority. */
  readonly nftables?: NftRuleset;
}

export interface HostTraceQuery {
  /** The packet as it arrives (or leaves the socket). */
  readonly packet: Packet;
  /** The interface it arrives on; undefined: a locally generated packet (OUTPUT path). */
  readonly iif?: string;
  /** Forces the output interface instead of looking it up. */
  readonly oif?: string;
}

/** One rule the packet met, on any of its possible paths. */
export interface RuleHit {
  readonly hook: string;
  readonly table: string;
  readonly chain: string;
  readonly line: number;
  readonly rule: string;
  readonly target: string;
}

export interface HostTraceResult {
  /**
   * ACCEPT / DROP / REJECT when every possible path agrees; INCONCLUSIVE when any path depends on
   * something not understood. When random branches (statistic) disagree, the most likely
   * non-ACCEPT verdict, with a warning giving the split.
   */
  readonly verdict: Verdict;
  /** Every possible destination after DNAT/REDIRECT, `ip:port` (`[ip]:port` for IPv6; the bare ip for ICMP), sorted. */
  readonly destinations: readonly string[];
  /** True when some accepted path leaves source-NATed (SNAT or MASQUERADE). */
  readonly masquerade: boolean;
  /** The rules met on any path, in walk order, each once. */
  readonly hits: readonly RuleHit[];
  /** Every distinct path, with its probability, verdict, final packet and full step list. */
  readonly outcomes: readonly Outcome[];
  readonly warnings: readonly Warning[];
}

/** Adapts the ipset module's three-way test to the walk's lookup interface. */
function ipsetLookupOf(table: IpsetTable): IpsetLookup {
  return {
    has: (name, packet, flags) => table.has(name, packet, flags),
    lookup: (name, packet, flags) => {
      const result = table.test(name, packet, flags);
      return result === 'miss' ? 'none' : result;
    },
  };
}

/**
 * The address MASQUERADE picks: the kernel's inet_select_addr(out, next hop, RT_SCOPE_UNIVERSE)
 * for IPv4, where the next hop is the gateway or else the destination (nf_nat_masquerade_ipv4),
 * and ipv6_dev_get_saddr(out, destination) for IPv6. Not the route's `src`: MASQUERADE ignores it.
 */
function masqueradeSource(routing: RoutingState, dev: string, gateway: IpAddress | undefined, dst: IpAddress): IpAddress | undefined {
  return dst.family === 4 ? selectIpv4Source(routing, dev, gateway ?? dst, RT_SCOPE_UNIVERSE) : selectIpv6Source(routing, dev, dst).src;
}

/** The walk's view of a routing decision: where the packet goes next, or why it does not. */
export function toNetfilterDecision(decision: RouteDecision, routing: RoutingState, dst: IpAddress): NetfilterRouteDecision {
  switch (decision.kind) {
    case 'local': {
      const source = masqueradeSource(routing, 'lo', undefined, dst);
      return { kind: 'local', ...(source !== undefined ? { source } : {}) };
    }
    case 'unicast': {
      const devices = [...new Set(decision.nexthops.map((nh) => nh.dev))];
      const first = decision.nexthops[0];
      if (first === undefined || devices.length !== 1) {
        // The kernel picks one next hop per flow by hash; which device is not in the dumps.
        return { kind: 'unknown', reason: `multipath route over ${devices.join(', ')}: the output interface depends on the flow hash (${decision.explanation})` };
      }
      const source = masqueradeSource(routing, first.dev, first.gateway, dst);
      return {
        kind: 'unicast',
        outIface: first.dev,
        ...(source !== undefined ? { source } : {}),
        ...(first.gateway !== undefined ? { gateway: first.gateway } : {}),
      };
    }
    case 'broadcast':
      // A broadcast route delivers an incoming packet locally; the walk treats it as local.
      return { kind: 'local' };
    case 'blackhole':
      return { kind: 'unreachable', reason: decision.explanation, reject: false };
    case 'unreachable':
    case 'prohibit':
    case 'no-route':
      return { kind: 'unreachable', reason: decision.explanation, reject: true };
    case 'rejected':
      return rejectedToNetfilter(decision);
    case 'unsupported':
      return { kind: 'unknown', reason: decision.explanation };
    default:
      return assertNever(decision, 'route decision');
  }
}

function rejectedToNetfilter(decision: RejectedDecision): NetfilterRouteDecision {
  switch (decision.reason) {
    // Input-path refusals drop silently: the kernel sends no ICMP for them.
    case 'forwarding-disabled':
    case 'martian-source':
    case 'martian-destination':
    case 'rp-filter':
    case 'device-down':
      return { kind: 'unreachable', reason: decision.explanation, reject: false };
    // Output-path refusals fail the sender's call: a reject as far as the sender is concerned.
    case 'source-not-local':
    case 'invalid-source':
    case 'invalid-destination':
      return { kind: 'unreachable', reason: decision.explanation, reject: true };
    // The query names a device the dumps do not have: the dumps and the query disagree.
    case 'device-missing':
      return { kind: 'unknown', reason: decision.explanation };
    default:
      return assertNever(decision.reason, 'route reject reason');
  }
}

function routeLookupOf(routing: RoutingState): NetfilterRouteLookup {
  return ({ packet, inIface }) =>
    toNetfilterDecision(
      lookupRoute(routing, {
        dst: packet.dst,
        src: packet.src,
        ...(inIface !== undefined ? { iif: inIface } : {}),
        mark: packet.mark,
        tos: packet.tos,
        protocol: PROTOCOL_NUMBERS[packet.protocol],
        sport: packet.sport,
        dport: packet.dport,
      }),
      routing,
      packet.dst,
    );
}

/** Addresses per interface, primary first (REDIRECT, addrtype --limit-iface-*). */
function interfaceAddressesOf(routing: RoutingState): Map<string, IpAddress[]> {
  const byDev = new Map<string, IpAddress[]>();
  for (const [dev, addresses] of routing.addressesByDev) {
    byDev.set(dev, [...addresses].sort((a, b) => Number(a.secondary) - Number(b.secondary)).map((a) => a.local));
  }
  return byDev;
}

function formatEndpoint(address: IpAddress, port: number, withPort: boolean): string {
  const ip = formatIp(address);
  if (!withPort) return ip;
  return address.family === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function collectHits(outcomes: readonly Outcome[]): RuleHit[] {
  const seen = new Set<string>();
  const hits: RuleHit[] = [];
  for (const outcome of outcomes) {
    for (const step of outcome.trace) {
      if (step.kind === 'nft' && step.step.kind === 'rule') {
        const r = step.step;
        const key = `${step.hook}/${r.family} ${r.table}/${r.chain}/handle ${r.handle ?? '?'}`;
        if (seen.has(key)) continue;
        seen.add(key);
        hits.push({ hook: step.hook, table: `${r.family} ${r.table}`, chain: r.chain, line: r.handle ?? 0, rule: r.ruleText, target: r.action });
        continue;
      }
      if (!isMatchedRule(step)) continue;
      const key = `${step.hook}/${step.table}/${step.chain}/${step.line}`;
      if (seen.has(key)) continue;
      seen.add(key);
      hits.push({ hook: step.hook, table: step.table, chain: step.chain, line: step.line, rule: step.ruleText, target: step.target });
    }
  }
  return hits;
}

function isMatchedRule(step: TraceStep): step is Extract<TraceStep, { kind: 'rule' }> {
  return step.kind === 'rule' && step.matched;
}

const VERDICT_SEVERITY: Record<Verdict, number> = { ACCEPT: 0, REJECT: 1, DROP: 2, INCONCLUSIVE: 3 };

function combineVerdicts(outcomes: readonly Outcome[]): { verdict: Verdict; warnings: Warning[] } {
  const byVerdict = new Map<Verdict, number>();
  for (const o of outcomes) byVerdict.set(o.verdict, (byVerdict.get(o.verdict) ?? 0) + o.probability);
  if (byVerdict.size === 0) {
    return { verdict: 'INCONCLUSIVE', warnings: [{ code: 'no-outcome', message: 'the walk produced no outcome' }] };
  }
  if (byVerdict.has('INCONCLUSIVE')) return { verdict: 'INCONCLUSIVE', warnings: [] };
  if (byVerdict.size === 1) return { verdict: [...byVerdict.keys()][0] ?? 'INCONCLUSIVE', warnings: [] };
  // Random branches (statistic) disagree: some packets of this kind pass, others do not.
  const split = [...byVerdict.entries()]
    .sort((a, b) => b[1] - a[1] || VERDICT_SEVERITY[b[0]] - VERDICT_SEVERITY[a[0]])
    .map(([v, p]) => `${v} ${(p * 100).toFixed(1)}%`);
  const worst = [...byVerdict.entries()]
    .filter(([v]) => v !== 'ACCEPT')
    .sort((a, b) => b[1] - a[1] || VERDICT_SEVERITY[b[0]] - VERDICT_SEVERITY[a[0]])[0];
  return {
    verdict: worst?.[0] ?? 'ACCEPT',
    warnings: [{ code: 'verdict-depends-on-branch', message: `the verdict depends on a random branch: ${split.join(', ')}` }],
  };
}

/** A locally generated packet the routing sent to `lo`: it comes back in on `lo`. */
function isLoopedBack(outcome: Outcome): boolean {
  return outcome.verdict === 'ACCEPT' && outcome.delivery?.kind === 'transmit' && outcome.delivery.outIface === 'lo';
}

/**
 * The second half of a local packet to a local address: out through `lo`, it re-enters
 * PREROUTING and INPUT on `lo` with its conntrack entry, whose NAT was set up on the way out (nat
 * is not consulted again) and with the local route it was sent by (ip_rcv_finish does no input
 * route lookup for a packet that still carries its route, so no martian or rp_filter check).
 * The two walks are joined into one path per combination.
 */
function followLoopback(input: HostTraceInput, host: HostContext, first: Outcome): Outcome[] {
  const looped: HostContext = { ...host, route: () => ({ kind: 'local' }) };
  const second = traceIptables(input.ruleset, first.packet, { kind: 'incoming', inIface: 'lo' }, looped, {
    conntrack: { natInitialized: { source: true, destination: true } },
  });
  return second.outcomes.map((o) => ({
    ...o,
    probability: first.probability * o.probability,
    natApplied: [...first.natApplied, ...o.natApplied],
    trace: [...first.trace, ...o.trace],
    warnings: [...first.warnings, ...o.warnings],
  }));
}

/** Walks `query.packet` through the host and summarises every path it may take. */
export function traceHost(input: HostTraceInput, query: HostTraceQuery): HostTraceResult {
  const host: HostContext = {
    localAddresses: input.localAddresses,
    ...(input.routing !== undefined ? { route: routeLookupOf(input.routing), interfaceAddresses: interfaceAddressesOf(input.routing) } : {}),
    ...(input.ipsets !== undefined ? { ipsets: ipsetLookupOf(input.ipsets) } : {}),
    ...(input.nftables !== undefined ? { nftables: input.nftables } : {}),
  };
  const walked = traceIptables(
    input.ruleset,
    query.packet,
    query.iif !== undefined ? { kind: 'incoming', inIface: query.iif } : { kind: 'outgoing' },
    host,
    query.oif !== undefined ? { outIface: query.oif } : {},
  );
  const outcomes = query.iif === undefined ? walked.outcomes.flatMap((o) => (isLoopedBack(o) ? followLoopback(input, host, o) : [o])) : walked.outcomes;
  const result = { ...walked, outcomes };
  const withPort = query.packet.protocol !== 'icmp';
  const destinations = new Map<string, IpAddress>();
  let masquerade = false;
  for (const outcome of result.outcomes) {
    for (const nat of outcome.natApplied) {
      switch (nat.kind) {
        case 'dnat':
        case 'redirect':
          if (nat.after !== undefined) destinations.set(formatEndpoint(nat.after.address, nat.after.port, withPort), nat.after.address);
          break;
        case 'snat':
        case 'masquerade':
          if (outcome.verdict !== 'DROP' && outcome.verdict !== 'REJECT') masquerade = true;
          break;
        default:
          assertNever(nat.kind, 'NAT kind');
      }
    }
  }
  const combined = combineVerdicts(result.outcomes);
  return {
    verdict: combined.verdict,
    destinations: [...destinations.entries()]
      .sort((a, b) => compareIp(a[1], b[1]) || a[0].localeCompare(b[0]))
      .map(([text]) => text),
    masquerade,
    hits: collectHits(result.outcomes),
    outcomes: result.outcomes,
    warnings: [
      ...(input.routing?.warnings ?? []),
      ...result.warnings,
      ...dedupeWarnings(result.outcomes.flatMap((o) => o.warnings)),
      ...combined.warnings,
    ],
  };
}

function dedupeWarnings(warnings: readonly Warning[]): Warning[] {
  const seen = new Set<string>();
  return warnings.filter((w) => {
    const key = `${w.code}|${w.message}|${w.source ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
