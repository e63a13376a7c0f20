// lookupRoute: the route the kernel gives a packet, as `ip route get` reports it.
//
// Locally generated packets follow ip_route_output_key_hash_rcu (net/ipv4/route.c): a given
// source must be one of ours; a forced oif must exist and be up; then the FIB lookup (rules and
// tables, see fib-lookup.ts). When it fails and an oif was given, the kernel assumes the
// destination is on that link. A `local` result goes out through lo; otherwise a multipath
// route picks a next hop by flow hash (all candidates are reported) and the preferred source is
// the route's `src`, else inet_select_addr on the next hop's device.
//
// Forwarded packets (an input interface) follow ip_route_input_slow: martian sources and
// destinations are refused (EINVAL), the FIB lookup is done with iif set, a failure turns into
// EHOSTUNREACH when the input device does not forward, local delivery and forwarding check the
// source with fib_validate_source (rp_filter, or a source that is one of ours: EINVAL), and
// forwarding needs net.ipv4.conf.IIF.forwarding=1 (EHOSTUNREACH otherwise).

import { formatIp, ipEquals, parsePrefix, prefixContains, type IpAddress, type IpFamily } from '../../model/ip.js';
import type { Warning } from '../../model/warning.js';
import { assertNever } from '../../model/assert-never.js';
import {
  ERRNO_MESSAGES,
  type DecisionNexthop,
  type RejectReason,
  type RouteAnomaly,
  type RouteDecision,
  type RouteErrno,
  type RouteQuery,
  type RuleStep,
} from './decision.js';
import { buildFlow, rulesLookup, tableLookup, warnOnce, type Flow, type LookupContext, type RulesResult, type TableFound } from './fib-lookup.js';
import { RT_SCOPE_LINK, RT_TABLE_LOCAL, RT_TABLE_MAIN } from './names.js';
import { formatRoute, type Route, type RouteNexthop } from './route.js';
import { formatRule, type Rule } from './rule.js';
import { selectIpv4Source, selectIpv6Source } from './source-address.js';
import { addressKey, type FamilyState, type RoutingState } from './state.js';
import { effectiveFlag, effectiveForwarding, effectiveRpFilter } from './sysctls.js';

const LOOPBACK = 'lo';

const V4 = {
  loopback: parsePrefix('127.0.0.0/8'),
  zeronet: parsePrefix('0.0.0.0/8'),
  multicast: parsePrefix('224.0.0.0/4'),
  localMulticast: parsePrefix('224.0.0.0/24'),
  limitedBroadcast: 0xffffffffn,
};
const V6_MULTICAST = parsePrefix('ff00::/8');

function inPrefix(prefix: ReturnType<typeof parsePrefix>, ip: IpAddress): boolean {
  return prefix !== undefined && prefixContains(prefix, ip);
}

function isMulticast(ip: IpAddress): boolean {
  return ip.family === 4 ? inPrefix(V4.multicast, ip) : inPrefix(V6_MULTICAST, ip);
}

function isLimitedBroadcast(ip: IpAddress): boolean {
  return ip.family === 4 && ip.value === V4.limitedBroadcast;
}

interface Outcome {
  readonly ctx: LookupContext;
  readonly steps: readonly RuleStep[];
}

/** The route the kernel would use for `query` in the namespace described by `state`. */
export function lookupRoute(state: RoutingState, query: RouteQuery): RouteDecision {
  const ctx: LookupContext = { state, warnings: [], anomalies: [], said: new Set() };
  const family = query.dst.family;
  if (query.src !== undefined && query.src.family !== family) {
    return rejected({ ctx, steps: [] }, 'invalid-source', 'EINVAL', `source ${formatIp(query.src)} is not of the destination's family`);
  }
  const fam = state.families[family];
  if (query.iif === undefined) return outputRoute(ctx, fam, query);
  return inputRoute(ctx, fam, query, query.iif);
}

function baseFlow(query: RouteQuery, family: IpFamily, iif: string): Flow {
  return buildFlow({
    family,
    dst: query.dst,
    ...(query.src !== undefined && query.src.value !== 0n ? { src: query.src } : {}),
    iif,
    ...(query.oif !== undefined ? { oif: query.oif } : {}),
    mark: (query.mark ?? 0) >>> 0,
    tos: query.tos ?? 0,
    protocol: query.protocol ?? 0,
    sport: query.sport ?? 0,
    dport: query.dport ?? 0,
    uid: query.uid ?? 0,
  });
}

function isOurAddress(state: RoutingState, fam: FamilyState, ctx: LookupContext, ip: IpAddress): boolean {
  if (state.localAddressKeys.has(addressKey(ip))) return true;
  // __ip_dev_find falls back to the local table: `ip route add local 10.5.0.0/16 dev lo` (AnyIP).
  const local = fam.tables.get(RT_TABLE_LOCAL);
  if (local === undefined) return false;
  const result = tableLookup(ctx, local, buildFlow({ family: ip.family, dst: ip, iif: LOOPBACK }));
  return result.kind === 'found' && result.route.type === 'local';
}

// ---------------------------------------------------------------------------------------------
// Locally generated packets.

function outputRoute(ctx: LookupContext, fam: FamilyState, query: RouteQuery): RouteDecision {
  const { state } = ctx;
  const dst = query.dst;
  const src = query.src !== undefined && query.src.value !== 0n ? query.src : undefined;
  const none: Outcome = { ctx, steps: [] };
  if (src !== undefined) {
    if (isMulticast(src) || isLimitedBroadcast(src) || (src.family === 4 && inPrefix(V4.zeronet, src))) {
      return rejected(none, 'invalid-source', 'EINVAL', `source ${formatIp(src)} cannot be used`);
    }
    if (!isOurAddress(state, fam, ctx, src)) {
      return rejected(none, 'source-not-local', 'ENETUNREACH', `source ${formatIp(src)} is not an address of this namespace`);
    }
  }
  if (query.oif !== undefined) {
    const link = state.links.get(query.oif);
    if (link === undefined) return rejected(none, 'device-missing', 'ENODEV', `oif ${query.oif} does not exist`);
    if (!link.up) return rejected(none, 'device-down', 'ENETUNREACH', `oif ${query.oif} is down`);
    if (dst.family === 4 && (inPrefix(V4.localMulticast, dst) || isLimitedBroadcast(dst))) {
      if (isLimitedBroadcast(dst)) {
        const refusal = loopbackSourceRefusal(state, src, [query.oif]);
        if (refusal !== undefined) return rejected(none, 'invalid-source', 'EINVAL', refusal);
        const s = src ?? selectIpv4Source(state, query.oif, undefined, RT_SCOPE_LINK);
        return broadcast(none, query.oif, s, undefined, undefined, `255.255.255.255 dev ${query.oif}`);
      }
      return unsupported(none, `multicast destination ${formatIp(dst)} is not simulated`);
    }
  }
  if (src !== undefined && query.oif === undefined && isLimitedBroadcast(dst)) {
    const dev = devOfAddress(state, src) ?? LOOPBACK;
    return broadcast(none, dev, src, undefined, undefined, `255.255.255.255 from ${formatIp(src)} goes out ${dev}`);
  }
  if (isMulticast(dst)) return unsupported(none, `multicast destination ${formatIp(dst)} is not simulated`);
  if (dst.value === 0n) {
    const s = src ?? (dst.family === 4 ? { family: 4 as const, value: 0x7f000001n } : dst);
    return local(none, { dev: LOOPBACK, src: s, explanation: `${formatIp(dst)}: the unspecified address is this host (dev lo)` });
  }

  const flow = baseFlow(query, dst.family, LOOPBACK);
  const result = rulesLookup(ctx, fam, flow);
  const outcome: Outcome = { ctx, steps: result.steps };
  if (result.kind !== 'found') {
    if (query.oif !== undefined) {
      // "Apparently, routing tables are wrong. Assume, that the destination is on link."
      const s = src ?? (dst.family === 4 ? selectIpv4Source(state, query.oif, undefined, RT_SCOPE_LINK) : ipv6Source(ctx, query.oif, dst));
      const refusal = loopbackSourceRefusal(state, s, [query.oif]);
      if (refusal !== undefined) return rejected(outcome, 'invalid-source', 'EINVAL', refusal);
      const why = result.kind === 'none' ? 'no route' : `${result.type} (${ERRNO_MESSAGES[result.errno]})`;
      return {
        kind: 'unicast',
        nexthops: [{ dev: query.oif, onlink: true, weight: 1, linkdown: false, ...(s !== undefined ? { src: s } : {}) }],
        ...(s !== undefined ? { src: s } : {}),
        forwarded: false,
        assumedOnLink: true,
        explanation: `${explainSteps(result.steps)}${result.steps.length > 0 ? '; ' : ''}${why}; oif ${query.oif} given: the kernel assumes ${formatIp(dst)} is on link dev ${query.oif}`,
        ...collected(outcome),
      };
    }
    return failure(outcome, result);
  }
  const { found, rule } = result;
  const route = found.route;
  switch (route.type) {
    case 'local': {
      const s = src ?? route.prefsrc ?? dst;
      const dev = found.nexthop.dev;
      return local(outcome, {
        dev: LOOPBACK,
        ...(dev !== undefined ? { routeDev: dev } : {}),
        src: s,
        table: route.table,
        rule,
        route,
        explanation: `${explainSteps(result.steps)}; delivered locally (dev lo)`,
      });
    }
    case 'broadcast': {
      const s = src ?? route.prefsrc ?? nexthopSource(ctx, route, found.nexthop, dst);
      const refusal = loopbackSourceRefusal(state, s, [found.nexthop.dev ?? LOOPBACK]);
      if (refusal !== undefined) return rejected(outcome, 'invalid-source', 'EINVAL', refusal, rule, route);
      return broadcast(outcome, found.nexthop.dev ?? LOOPBACK, s, rule, route, explainSteps(result.steps));
    }
    case 'unicast':
      break;
    case 'multicast':
    case 'anycast':
    case 'blackhole':
    case 'unreachable':
    case 'prohibit':
    case 'throw':
    case 'nat':
    case 'xresolve':
    case 'unspec':
      return unsupported(outcome, `route type ${route.type} (${formatRoute(route)}) is not simulated`, rule, route);
    default:
      return assertNever(route.type, 'route type');
  }
  if (isLimitedBroadcast(dst)) {
    // Sent as a broadcast out of the route's device (the gateway is not used); a multipath route
    // picks the device by hash.
    const candidates = (query.oif !== undefined || !route.multipath ? [found.nexthop] : found.usable).map((nh) => ({
      dev: nh.dev ?? LOOPBACK,
      onlink: false,
      weight: nh.weight,
      linkdown: nh.linkdown,
      ...optionalSrc(src ?? route.prefsrc ?? nexthopSource(ctx, route, nh, dst)),
    }));
    const first = candidates[0];
    if (first === undefined) return unsupported(outcome, 'no next hop', rule, route);
    const refusal = loopbackSourceRefusal(state, first.src, [first.dev]);
    if (refusal !== undefined) return rejected(outcome, 'invalid-source', 'EINVAL', refusal, rule, route);
    return broadcast(outcome, first.dev, first.src, rule, route, `${explainSteps(result.steps)}; 255.255.255.255 is sent as a broadcast`, candidates);
  }
  if (dst.family === 4 && inPrefix(V4.zeronet, dst)) {
    return rejected(outcome, 'invalid-destination', 'EINVAL', `destination ${formatIp(dst)} is in 0.0.0.0/8`, rule, route);
  }
  const chosen = query.oif !== undefined || !route.multipath ? [found.nexthop] : found.usable;
  const nexthops = chosen.map((nh) => decisionNexthop(ctx, route, nh, src === undefined ? nexthopSource(ctx, route, nh, dst) : src));
  // The check runs on the final source, which may be the route's own `src 127.0.0.1`.
  const refusals = nexthops.map((nh) => loopbackSourceRefusal(state, nh.src, [nh.dev]));
  const refusal = refusals.find((r) => r !== undefined);
  if (refusal !== undefined) {
    if (refusals.every((r) => r !== undefined)) return rejected(outcome, 'invalid-source', 'EINVAL', refusal, rule, route);
    warnOnce(ctx, { code: 'multipath-source', message: `${refusal} for some next hops of "${formatRoute(route)}" only: the outcome depends on the hash` });
  }
  checkDefaultSelection(ctx, found);
  checkIpv6Siblings(ctx, found);
  return unicast(outcome, route, rule, nexthops, src, false);
}

/** __mkroute_output: a 127/8 source may not leave through a non-loopback device unless route_localnet. */
function loopbackSourceRefusal(state: RoutingState, src: IpAddress | undefined, devs: readonly string[]): string | undefined {
  if (src === undefined || src.family !== 4 || !inPrefix(V4.loopback, src)) return undefined;
  const out = devs.find((dev) => dev !== LOOPBACK && !effectiveFlag(state.sysctls, dev, 'routeLocalnet').value);
  return out === undefined ? undefined : `a loopback source (${formatIp(src)}) cannot leave through ${out} (route_localnet=0)`;
}

function devOfAddress(state: RoutingState, ip: IpAddress): string | undefined {
  for (const [dev, list] of state.addressesByDev) if (list.some((a) => ipEquals(a.local, ip))) return dev;
  return undefined;
}

function ipv6Source(ctx: LookupContext, dev: string | undefined, dst: IpAddress): IpAddress | undefined {
  const { src, ambiguous } = selectIpv6Source(ctx.state, dev, dst);
  if (ambiguous) {
    warnOnce(ctx, {
      code: 'ipv6-source-approximated',
      message: `IPv6 source selection for ${formatIp(dst)}: several addresses tie on the rules modelled (RFC 6724 is only partly simulated); ${src === undefined ? 'none' : formatIp(src)} is reported`,
    });
  }
  return src;
}

/** fib_result_prefsrc: the route's `src`, else the next hop's device address (inet_select_addr). */
function nexthopSource(ctx: LookupContext, route: Route, nh: RouteNexthop, dst: IpAddress): IpAddress | undefined {
  if (route.prefsrc !== undefined) return route.prefsrc;
  if (route.family === 6) return ipv6Source(ctx, nh.dev, dst);
  const near = nh.gateway?.family === 4 ? nh.gateway : undefined;
  return selectIpv4Source(ctx.state, nh.dev, near, route.scope);
}

function decisionNexthop(ctx: LookupContext, route: Route, nh: RouteNexthop, src: IpAddress | undefined): DecisionNexthop {
  const dev = nh.dev ?? LOOPBACK;
  if (nh.linkdown) ctx.anomalies.push({ kind: 'nexthop-linkdown', route, dev });
  if (nh.gateway !== undefined && !nh.onlink && !gatewayOnLink(ctx, route, nh)) {
    ctx.anomalies.push({ kind: 'gateway-not-on-link', route, gateway: nh.gateway, dev });
  }
  return {
    dev,
    ...(nh.gateway !== undefined ? { gateway: nh.gateway } : {}),
    onlink: nh.onlink,
    weight: nh.weight,
    ...(src !== undefined ? { src } : {}),
    linkdown: nh.linkdown,
  };
}

/**
 * fib_check_nh_v4_gw: the gateway must be reachable through a route of a narrower scope (a link
 * or host route) on the next hop's device. The kernel refuses other routes at insertion, but one
 * can remain after the connected route went away, and the kernel still uses it.
 */
function gatewayOnLink(ctx: LookupContext, route: Route, nh: RouteNexthop): boolean {
  const gateway = nh.gateway;
  if (gateway === undefined || gateway.family !== route.family) return true;
  const fam = ctx.state.families[route.family];
  const flow = buildFlow({
    family: route.family,
    dst: gateway,
    iif: LOOPBACK,
    ...(nh.dev !== undefined ? { oif: nh.dev } : {}),
    scope: route.scope + 1,
  });
  const probe: LookupContext = { ...ctx, warnings: [], anomalies: [], said: new Set(ctx.said) };
  for (const id of [route.table, RT_TABLE_MAIN, RT_TABLE_LOCAL]) {
    const table = fam.tables.get(id);
    if (table === undefined) continue;
    const result = tableLookup(probe, table, flow, true);
    if (result.kind === 'found' && (result.route.type === 'unicast' || result.route.type === 'local')) return true;
  }
  return false;
}

/**
 * IPv6 chooses among routes of the same prefix and metric by next-hop reachability and router
 * preference (rt6_select), which a dump cannot tell.
 */
function checkIpv6Siblings(ctx: LookupContext, found: TableFound): void {
  const route = found.route;
  if (route.family !== 6 || route.multipath) return;
  const peers = found.table.routesOf(route.dst.network, route.dst.length).filter((r) => r.type === 'unicast' && r.metric === route.metric && !r.multipath);
  if (peers.length > 1) {
    warnOnce(ctx, {
      code: 'ipv6-route-selection',
      message: `${peers.length} IPv6 routes to ${formatRoute(route).split(' ')[0] ?? ''} with metric ${route.metric}: the kernel picks by neighbour reachability and router preference; "${formatRoute(route)}" is reported`,
    });
  }
}

/** fib_select_default picks among equal default routes by neighbour state, which a dump cannot tell. */
function checkDefaultSelection(ctx: LookupContext, found: TableFound): void {
  const route = found.route;
  if (route.dst.length !== 0 || route.multipath || route.family !== 4) return;
  const peers = found.table
    .routesOf(0n, 0)
    .filter((r) => r.type === 'unicast' && r.metric === route.metric && r.tos === route.tos && r.nexthops[0]?.gateway !== undefined);
  if (peers.length > 1) {
    warnOnce(ctx, {
      code: 'default-route-selection',
      message: `${peers.length} default routes of metric ${route.metric} in table ${route.tableName}: the kernel picks one by neighbour reachability; "${formatRoute(route)}" is reported`,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Forwarded packets (and packets received for this host).

function inputRoute(ctx: LookupContext, fam: FamilyState, query: RouteQuery, iif: string): RouteDecision {
  const { state } = ctx;
  const none: Outcome = { ctx, steps: [] };
  const link = state.links.get(iif);
  if (link === undefined) return rejected(none, 'device-missing', 'ENODEV', `iif ${iif} does not exist`);
  const dst = query.dst;
  const src = query.src ?? { family: dst.family, value: 0n };
  /** The source decisions report: the packet's, when the query gave one. */
  const given = query.src;
  if (dst.family === 6) return inputRoute6(ctx, fam, query, iif, src);

  if (isMulticast(src) || isLimitedBroadcast(src)) return rejected(none, 'martian-source', 'EINVAL', `martian source ${formatIp(src)}`);
  if (isMulticast(dst)) return unsupported(none, `multicast destination ${formatIp(dst)} is not simulated`);
  if (isLimitedBroadcast(dst) || (src.value === 0n && dst.value === 0n)) {
    const check = src.value === 0n ? undefined : validateSource(ctx, fam, query, iif, src, { family: 4, value: 0n }, undefined);
    if (check !== undefined) return rejected(none, check.reason, check.errno, check.why);
    return broadcast(none, LOOPBACK, given, undefined, undefined, `${formatIp(dst)} received on ${iif} is a broadcast`);
  }
  if (inPrefix(V4.zeronet, src)) return rejected(none, 'martian-source', 'EINVAL', `martian source ${formatIp(src)} (0.0.0.0/8) on ${iif}`);
  if (inPrefix(V4.zeronet, dst)) return rejected(none, 'martian-destination', 'EINVAL', `martian destination ${formatIp(dst)} (0.0.0.0/8)`);
  const localnet = effectiveFlag(state.sysctls, iif, 'routeLocalnet').value;
  if (inPrefix(V4.loopback, dst)) {
    if (!localnet) return rejected(none, 'martian-destination', 'EINVAL', `martian destination ${formatIp(dst)} (loopback) on ${iif}, route_localnet=0`);
  } else if (inPrefix(V4.loopback, src) && !localnet) {
    return rejected(none, 'martian-source', 'EINVAL', `martian source ${formatIp(src)} (loopback) on ${iif}, route_localnet=0`);
  }

  const flow = buildFlow({ ...baseFlow(query, 4, iif), src });
  const forwarding = effectiveForwarding(state.sysctls, iif);
  const result = rulesLookup(ctx, fam, flow);
  const outcome: Outcome = { ctx, steps: result.steps };
  if (result.kind !== 'found') {
    if (!forwarding.value) {
      noteUnknown(ctx, forwarding.known, iif, 'forwarding');
      return rejected(outcome, 'forwarding-disabled', 'EHOSTUNREACH', `${iif} does not forward (forwarding=0) and ${explainFailure(result)}`);
    }
    return failure(outcome, result);
  }
  const { found, rule } = result;
  const route = found.route;
  switch (route.type) {
    case 'broadcast': {
      const check = validateSource(ctx, fam, query, iif, src, { family: 4, value: 0n }, undefined);
      if (check !== undefined) return rejected(outcome, check.reason, check.errno, check.why, rule, route);
      return broadcast(outcome, LOOPBACK, given, rule, route, explainSteps(result.steps));
    }
    case 'local': {
      const check = validateSource(ctx, fam, query, iif, src, dst, undefined);
      if (check !== undefined) return rejected(outcome, check.reason, check.errno, check.why, rule, route);
      const dev = found.nexthop.dev;
      return local(outcome, {
        dev: LOOPBACK,
        ...(dev !== undefined ? { routeDev: dev } : {}),
        ...(given !== undefined ? { src: given } : {}),
        table: route.table,
        rule,
        route,
        explanation: `${explainSteps(result.steps)}; delivered locally (dev lo)`,
      });
    }
    case 'unicast':
      break;
    case 'multicast':
    case 'anycast':
    case 'blackhole':
    case 'unreachable':
    case 'prohibit':
    case 'throw':
    case 'nat':
    case 'xresolve':
    case 'unspec':
      if (!forwarding.value) break;
      return rejected(outcome, 'martian-destination', 'EINVAL', `${formatRoute(route)} is not a unicast route`, rule, route);
    default:
      return assertNever(route.type, 'route type');
  }
  if (!forwarding.value) {
    noteUnknown(ctx, forwarding.known, iif, 'forwarding');
    return rejected(outcome, 'forwarding-disabled', 'EHOSTUNREACH', `${iif} does not forward (net.ipv4.conf.${iif}.forwarding=0)`, rule, route);
  }
  const candidates = route.multipath ? found.usable : [found.nexthop];
  // fib_validate_source runs with the chosen next hop's device: with several candidates the
  // answer may depend on which one the hash picks. Only the next hops that pass are reported.
  const checks = candidates.map((nh) => validateSource(ctx, fam, query, iif, src, dst, nh.dev));
  const chosen = candidates.filter((_, i) => checks[i] === undefined);
  const refusal = checks.find((c) => c !== undefined);
  if (refusal !== undefined && chosen.length === 0) return rejected(outcome, refusal.reason, refusal.errno, refusal.why, rule, route);
  if (refusal !== undefined) {
    warnOnce(ctx, {
      code: 'multipath-rp-filter',
      message: `${refusal.why} through some next hops of "${formatRoute(route)}" only: the packet is dropped (EINVAL) if the hash picks one of those; the others are reported`,
    });
  }
  const nexthops = chosen.map((nh) => decisionNexthop(ctx, route, nh, undefined));
  checkDefaultSelection(ctx, found);
  return unicast(outcome, route, rule, nexthops, given, true);
}

function noteUnknown(ctx: LookupContext, known: boolean, dev: string, name: string): void {
  if (known) return;
  warnOnce(ctx, {
    code: 'sysctl-unknown',
    message: `net.ipv4.conf.${dev}.${name} is not in the snapshot: the kernel default is assumed`,
  });
}

interface SourceRefusal {
  readonly reason: RejectReason;
  readonly errno: RouteErrno;
  readonly why: string;
}

/**
 * fib_validate_source (net/ipv4/fib_frontend.c). `oif` is the output device of a forwarded
 * packet (undefined for local delivery and broadcast). Every refusal is EINVAL: since Linux 6.13
 * the input path turns any source-validation drop reason into EINVAL (before, a forwarded packet
 * failing rp_filter got EXDEV, "Invalid cross-device link").
 */
function validateSource(
  ctx: LookupContext,
  fam: FamilyState,
  query: RouteQuery,
  iif: string,
  src: IpAddress,
  dst: IpAddress,
  oif: string | undefined,
): SourceRefusal | undefined {
  const { state } = ctx;
  const rp = effectiveRpFilter(state.sysctls, iif);
  noteUnknown(ctx, rp.known, iif, 'rp_filter');
  const acceptLocal = effectiveFlag(state.sysctls, iif, 'acceptLocal').value;
  const txRedirects = effectiveFlag(state.sysctls, iif, 'sendRedirects').value;
  if (rp.value === 0 && (iif !== oif || !txRedirects)) {
    if (acceptLocal) return undefined;
    if (!fam.customLocalRoutes && !fam.customRules) {
      if (state.localAddressKeys.has(addressKey(src))) {
        return { reason: 'martian-source', errno: 'EINVAL', why: `martian source ${formatIp(src)} on ${iif}: it is an address of this namespace` };
      }
      return undefined;
    }
  }
  // __fib_validate_source: route the reply (dst and src swapped, iif = our output device).
  const srcValidMark = effectiveFlag(state.sysctls, iif, 'srcValidMark').value;
  const reverse = buildFlow({
    family: 4,
    dst: src,
    ...(dst.value !== 0n ? { src: dst } : {}),
    iif: oif ?? LOOPBACK,
    mark: srcValidMark ? (query.mark ?? 0) >>> 0 : 0,
    tos: query.tos ?? 0,
    ...(fam.rulesNeedPorts ? { protocol: query.protocol ?? 0, sport: query.dport ?? 0, dport: query.sport ?? 0 } : {}),
  });
  const probe: LookupContext = { ...ctx, anomalies: [] };
  const result = rulesLookup(probe, fam, reverse);
  const rpfRefusal: SourceRefusal = {
    reason: 'rp-filter',
    errno: 'EINVAL',
    why: `reverse path filter (rp_filter=${rp.value}) on ${iif}: ${formatIp(src)} is not routed back through ${iif}`,
  };
  if (result.kind !== 'found') return rp.value !== 0 ? rpfRefusal : undefined;
  const route = result.found.route;
  if (route.type !== 'unicast') {
    if (route.type !== 'local') {
      return { reason: 'martian-source', errno: 'EINVAL', why: `martian source ${formatIp(src)} on ${iif}: routed back as ${route.type}` };
    }
    if (!acceptLocal) {
      return { reason: 'martian-source', errno: 'EINVAL', why: `martian source ${formatIp(src)} on ${iif}: it is an address of this namespace (accept_local=0)` };
    }
  }
  const devMatch = route.nexthops.some((nh) => nh.dev === iif) || (route.type === 'local' && iif === LOOPBACK);
  if (devMatch) return undefined;
  const hasAddress = (state.addressesByDev.get(iif) ?? []).some((a) => a.family === 4);
  if (!hasAddress) return rp.value !== 0 ? rpfRefusal : undefined;
  if (rp.value === 1) return rpfRefusal;
  return undefined;
}

function inputRoute6(ctx: LookupContext, fam: FamilyState, query: RouteQuery, iif: string, src: IpAddress): RouteDecision {
  warnOnce(ctx, {
    code: 'ipv6-input-approximated',
    message: 'IPv6 forwarding checks (net.ipv6.conf.*.forwarding, martian addresses, rpfilter) are not simulated',
  });
  const flow = buildFlow({ ...baseFlow(query, 6, iif), ...(src.value !== 0n ? { src } : {}) });
  const result = rulesLookup(ctx, fam, flow);
  const outcome: Outcome = { ctx, steps: result.steps };
  if (result.kind !== 'found') return failure(outcome, result);
  const { found, rule } = result;
  const route = found.route;
  if (route.type === 'local') {
    return local(outcome, { dev: LOOPBACK, src, table: route.table, rule, route, explanation: `${explainSteps(result.steps)}; delivered locally (dev lo)` });
  }
  if (route.type !== 'unicast') return unsupported(outcome, `route type ${route.type} is not simulated for IPv6 input`, rule, route);
  const chosen = route.multipath ? found.usable : [found.nexthop];
  checkIpv6Siblings(ctx, found);
  return unicast(outcome, route, rule, chosen.map((nh) => decisionNexthop(ctx, route, nh, undefined)), query.src, true);
}

// ---------------------------------------------------------------------------------------------
// Decisions and their explanations.

function collected(outcome: Outcome): { steps: readonly RuleStep[]; anomalies: readonly RouteAnomaly[]; warnings: readonly Warning[] } {
  return { steps: outcome.steps, anomalies: dedupeAnomalies(outcome.ctx.anomalies), warnings: outcome.ctx.warnings };
}

function dedupeAnomalies(anomalies: readonly RouteAnomaly[]): RouteAnomaly[] {
  const seen = new Set<string>();
  return anomalies.filter((a) => {
    const key = `${a.kind}|${a.route.index}|${a.dev}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The steps in the kernel's words: "rule 100 from all fwmark 0x100/0xff00 lookup 100; throw 10.69.0.0/16 table 100, next rule; ...". */
export function explainSteps(steps: readonly RuleStep[]): string {
  return steps
    // Every lookup starts with the local table; saying it had nothing is noise.
    .filter((step) => !(step.outcome === 'no-route' && step.table === RT_TABLE_LOCAL))
    .map((step) => {
      const rule = formatRule(step.rule);
      const route = step.route === undefined ? '' : formatRoute(step.route);
      switch (step.outcome) {
        case 'matched':
        case 'rejected':
          return step.route === undefined ? rule : `${rule}; ${route}`;
        case 'no-route':
          return `${rule}: no route, next rule`;
        case 'no-table':
          return `${rule}: no such table, next rule`;
        case 'throw':
          return `${rule}; ${route}: throw, next rule`;
        case 'suppressed':
          return `${rule}; ${route}: suppressed, next rule`;
        case 'goto':
          return rule;
        case 'unresolved-goto':
          return `${rule}: no rule has that priority, next rule`;
        case 'nop':
          return `${rule}: next rule`;
        case 'unsupported':
          return `${rule}: not simulated, taken as not matching`;
        default:
          return assertNever(step.outcome, 'rule step outcome');
      }
    })
    .join('; ');
}

function explainFailure(result: Exclude<RulesResult, { kind: 'found' }>): string {
  if (result.kind === 'none') {
    const tables = [...new Set(result.tables)];
    return `no rule found a route (tables looked up: ${tables.length === 0 ? 'none' : tables.map(tableLabel).join(', ')})`;
  }
  return `${explainSteps(result.steps)} (${ERRNO_MESSAGES[result.errno]})`;
}

function tableLabel(id: number): string {
  return id === RT_TABLE_LOCAL ? 'local' : id === RT_TABLE_MAIN ? 'main' : id === 253 ? 'default' : String(id);
}

function failure(outcome: Outcome, result: Exclude<RulesResult, { kind: 'found' }>): RouteDecision {
  if (result.kind === 'none') {
    return {
      kind: 'no-route',
      error: 'ENETUNREACH',
      tables: [...new Set(result.tables)],
      explanation: `${explainSteps(result.steps)}${result.steps.length > 0 ? '; ' : ''}${explainFailure(result)}: ${ERRNO_MESSAGES.ENETUNREACH}`,
      ...collected(outcome),
    };
  }
  const explanation = `${explainSteps(result.steps)}: ${ERRNO_MESSAGES[result.errno]}`;
  if (result.type === 'unsupported') {
    return { kind: 'unsupported', reason: explanation, rule: result.rule, ...(result.route ? { route: result.route } : {}), explanation, ...collected(outcome) };
  }
  return {
    kind: result.type,
    error: result.errno,
    rule: result.rule,
    ...(result.route !== undefined ? { route: result.route } : {}),
    ...(result.table !== undefined ? { table: result.table } : {}),
    explanation,
    ...collected(outcome),
  };
}

function rejected(outcome: Outcome, reason: RejectReason, errno: RouteErrno, why: string, rule?: Rule, route?: Route): RouteDecision {
  const prefix = outcome.steps.length > 0 ? `${explainSteps(outcome.steps)}; ` : '';
  return {
    kind: 'rejected',
    reason,
    error: errno,
    ...(rule !== undefined ? { rule } : {}),
    ...(route !== undefined ? { route } : {}),
    explanation: `${prefix}${why}: ${ERRNO_MESSAGES[errno]}`,
    ...collected(outcome),
  };
}

function unsupported(outcome: Outcome, reason: string, rule?: Rule, route?: Route): RouteDecision {
  warnOnce(outcome.ctx, { code: 'unsupported-route', message: reason });
  return {
    kind: 'unsupported',
    reason,
    ...(rule !== undefined ? { rule } : {}),
    ...(route !== undefined ? { route } : {}),
    explanation: reason,
    ...collected(outcome),
  };
}

function local(
  outcome: Outcome,
  fields: { dev: string; routeDev?: string; src?: IpAddress; table?: number; rule?: Rule; route?: Route; explanation: string },
): RouteDecision {
  return { kind: 'local', ...fields, ...collected(outcome) };
}

function optionalSrc(src: IpAddress | undefined): { src?: IpAddress } {
  return src === undefined ? {} : { src };
}

function broadcast(
  outcome: Outcome,
  dev: string,
  src: IpAddress | undefined,
  rule: Rule | undefined,
  route: Route | undefined,
  explanation: string,
  nexthops?: readonly DecisionNexthop[],
): RouteDecision {
  return {
    kind: 'broadcast',
    dev,
    ...(nexthops !== undefined && nexthops.length > 1 ? { nexthops } : {}),
    ...(src !== undefined ? { src } : {}),
    ...(route !== undefined ? { table: route.table, route } : {}),
    ...(rule !== undefined ? { rule } : {}),
    explanation,
    ...collected(outcome),
  };
}

function unicast(
  outcome: Outcome,
  route: Route,
  rule: Rule,
  nexthops: readonly DecisionNexthop[],
  givenSrc: IpAddress | undefined,
  forwarded: boolean,
): RouteDecision {
  const first = nexthops[0]?.src;
  const agreed = first !== undefined && nexthops.every((nh) => nh.src !== undefined && ipEquals(nh.src, first)) ? first : undefined;
  const src = givenSrc ?? agreed;
  const via = nexthops
    .map((nh) => `${nh.gateway !== undefined ? `via ${formatIp(nh.gateway)} ` : ''}dev ${nh.dev}${nh.src !== undefined && givenSrc === undefined ? ` src ${formatIp(nh.src)}` : ''}`)
    .join(' | ');
  const multipath = nexthops.length > 1 ? ` (multipath: one of ${nexthops.length} next hops per flow, by hash)` : '';
  return {
    kind: 'unicast',
    nexthops,
    ...(src !== undefined ? { src } : {}),
    table: route.table,
    rule,
    route,
    forwarded,
    assumedOnLink: false,
    explanation: `${explainSteps(outcome.steps)}; ${forwarded ? 'forward' : 'send'} ${via}${multipath}`,
    ...collected(outcome),
  };
}

/** `ip route get`'s one-line summary of a decision, for logs and test failures. */
export function summarizeDecision(decision: RouteDecision): string {
  switch (decision.kind) {
    case 'local':
      return `local dev ${decision.dev}${decision.src ? ` src ${formatIp(decision.src)}` : ''}`;
    case 'unicast':
      return `unicast ${decision.nexthops
        .map((nh) => `${nh.gateway ? `via ${formatIp(nh.gateway)} ` : ''}dev ${nh.dev}${nh.src ? ` src ${formatIp(nh.src)}` : ''}`)
        .join(' | ')}`;
    case 'broadcast':
      return `broadcast dev ${decision.dev}${decision.src ? ` src ${formatIp(decision.src)}` : ''}`;
    case 'blackhole':
    case 'unreachable':
    case 'prohibit':
      return `${decision.kind} (${ERRNO_MESSAGES[decision.error]})`;
    case 'no-route':
      return `no route (${ERRNO_MESSAGES[decision.error]})`;
    case 'rejected':
      return `rejected: ${decision.reason} (${ERRNO_MESSAGES[decision.error]})`;
    case 'unsupported':
      return `unsupported: ${decision.reason}`;
    default:
      return assertNever(decision, 'route decision');
  }
}
