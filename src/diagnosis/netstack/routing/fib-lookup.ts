// The kernel's FIB lookup: policy rules in order (fib_rules_lookup in net/core/fib_rules.c), a
// longest-prefix match in the table a rule names (fib_table_lookup in net/ipv4/fib_trie.c), and
// the per-route and per-next-hop checks between the two.
//
// - Rules: the first rule whose selector matches acts. `goto` jumps to the first rule of the target
//   priority (skipped when unresolved), `nop` does nothing, blackhole/unreachable/prohibit end the
//   lookup with EINVAL/ENETUNREACH/EACCES. A `lookup` that finds nothing, or finds a `throw`
//   route, lets evaluation continue; so does a result refused by suppress_prefixlength (prefix
//   length <= N) or suppress_ifgroup (the first next hop's device is in the group). No rule left:
//   ENETUNREACH.
// - Table: prefixes from longest to shortest; within a prefix, routes by TOS (a route with a TOS
//   matches only that TOS, compared on the legacy TOS bits 0x1c) then metric. A blackhole,
//   unreachable or prohibit route ends the lookup (EINVAL, EHOSTUNREACH, EACCES) before any next
//   hop is checked. A route is usable through its first next hop that is not dead, not linkdown when
//   ignore_routes_with_linkdown is set, and on the forced output interface if there is one;
//   otherwise the next route (then the next shorter prefix) is tried.

import { prefixContains, type IpAddress, type IpFamily } from '../../model/ip.js';
import type { Warning } from '../../model/warning.js';
import { assertNever } from '../../model/assert-never.js';
import type { RouteAnomaly, RouteErrno, RuleStep } from './decision.js';
import type { FibTable } from './fib-table.js';
import { formatRoute, type Route, type RouteNexthop } from './route.js';
import { formatRule, type Rule } from './rule.js';
import type { FamilyState, RoutingState } from './state.js';
import { effectiveFlag } from './sysctls.js';
import { RT_SCOPE_HOST, RT_SCOPE_UNIVERSE } from './names.js';

/** The flow key of a lookup (struct flowi4): what rules and routes are matched against. */
export interface Flow {
  readonly family: IpFamily;
  readonly dst: IpAddress;
  /** Undefined = 0.0.0.0 / :: (a locally generated packet before source selection). */
  readonly src?: IpAddress;
  /** The input interface; `lo` for locally generated packets (LOOPBACK_IFINDEX). */
  readonly iif: string;
  readonly oif?: string;
  readonly mark: number;
  readonly tos: number;
  readonly protocol: number;
  readonly sport: number;
  readonly dport: number;
  readonly uid: number;
  /** flowi4_scope: routes of a narrower scope are skipped (used to validate gateways). */
  readonly scope: number;
}

/** Mutable collectors shared by the steps of one lookup. */
export interface LookupContext {
  readonly state: RoutingState;
  readonly warnings: Warning[];
  readonly anomalies: RouteAnomaly[];
  /** Warning messages already given, so that a loop does not repeat them. */
  readonly said: Set<string>;
}

export function warnOnce(ctx: LookupContext, warning: Warning): void {
  const key = `${warning.code}:${warning.message}`;
  if (ctx.said.has(key)) return;
  ctx.said.add(key);
  ctx.warnings.push(warning);
}

export interface TableFound {
  readonly kind: 'found';
  readonly route: Route;
  readonly table: FibTable;
  /** The first usable next hop (res->nh_sel). */
  readonly nexthop: RouteNexthop;
  /** Every usable next hop, for multipath selection (without a forced oif). */
  readonly usable: readonly RouteNexthop[];
}

export type TableResult =
  | TableFound
  | { readonly kind: 'reject'; readonly route: Route; readonly table: FibTable; readonly errno: RouteErrno }
  | { readonly kind: 'throw'; readonly route: Route; readonly table: FibTable }
  | { readonly kind: 'none' };

const LEGACY_TOS_MASK = 0x1c;

function routeTosMatches(route: Route, flow: Flow): boolean {
  if (route.tos === 0) return true;
  return route.family === 4 ? route.tos === (flow.tos & LEGACY_TOS_MASK) : route.tos === (flow.tos & 0xfc);
}

/** fib_props[type].error: what a route of each type does to the lookup. */
function routeTypeErrno(route: Route): RouteErrno | 'throw' | undefined {
  switch (route.type) {
    case 'unicast':
    case 'local':
    case 'broadcast':
    case 'anycast':
    case 'multicast':
      return undefined;
    case 'blackhole':
      return 'EINVAL';
    case 'unreachable':
      return 'EHOSTUNREACH';
    case 'prohibit':
      return 'EACCES';
    case 'throw':
      return 'throw';
    case 'nat':
    case 'xresolve':
    case 'unspec':
      return 'EINVAL';
    default:
      return assertNever(route.type, 'route type');
  }
}

/** fib_lookup_good_nhc, plus the consistency checks a dump (unlike the kernel) needs. */
function nexthopUsable(ctx: LookupContext, route: Route, nh: RouteNexthop, flow: Flow, ignoreLinkstate: boolean): boolean {
  if (nh.dead) return false;
  if (nh.dev !== undefined) {
    const link = ctx.state.links.get(nh.dev);
    if (link === undefined) {
      warnOnce(ctx, {
        code: 'unknown-device',
        message: `route "${formatRoute(route)}" uses device ${nh.dev}, which is not in the link dump; the route is skipped`,
      });
      return false;
    }
    // A device going down kills the next hops through it (fib_sync_down_dev), except those of
    // host-scope routes (local addresses stay routable). A dump still showing one is stale.
    if (!link.up && route.scope !== RT_SCOPE_HOST) {
      warnOnce(ctx, {
        code: 'stale-route',
        message: `route "${formatRoute(route)}" uses ${nh.dev}, which is down, and is not marked dead: the kernel would have removed it; it is skipped`,
      });
      return false;
    }
    if (nh.linkdown && !ignoreLinkstate && route.family === 4) {
      const ignore = effectiveFlag(ctx.state.sysctls, nh.dev, 'ignoreRoutesWithLinkdown');
      if (ignore.value) return false;
    }
  }
  if (flow.oif !== undefined && nh.dev !== flow.oif) return false;
  return true;
}

/** fib_table_lookup: the first usable route for `flow` in `table`. */
export function tableLookup(ctx: LookupContext, table: FibTable, flow: Flow, ignoreLinkstate = false): TableResult {
  for (const route of table.candidates(flow.dst)) {
    if (!routeTosMatches(route, flow)) continue;
    if (route.scope < flow.scope) continue;
    if (route.src !== undefined) {
      // IPv6 source-specific routes live in a subtree keyed by the source prefix.
      if (flow.src === undefined || !prefixContains(route.src, flow.src)) continue;
    }
    const errno = routeTypeErrno(route);
    if (errno === 'throw') return { kind: 'throw', route, table };
    if (errno !== undefined) return { kind: 'reject', route, table, errno };
    const usable = route.nexthops.filter((nh) => nexthopUsable(ctx, route, nh, flow, ignoreLinkstate));
    const first = usable[0];
    if (first === undefined) {
      for (const nh of route.nexthops) {
        if (nh.dead && nh.dev !== undefined) ctx.anomalies.push({ kind: 'nexthop-dead', route, dev: nh.dev });
      }
      if (route.nexthops.length === 0) {
        warnOnce(ctx, { code: 'route-without-nexthop', message: `route "${formatRoute(route)}" has no device; it is skipped` });
      }
      continue;
    }
    return { kind: 'found', route, table, nexthop: first, usable };
  }
  return { kind: 'none' };
}

export type RuleMatch = 'match' | 'no-match' | 'unsupported';

function portInRange(range: { start: number; end: number } | undefined, port: number): boolean {
  // fib_rule_port_range_set: a range with a 0 bound is "not set".
  if (range === undefined || range.start === 0 || range.end === 0) return true;
  return port >= range.start && port <= range.end;
}

/** fib_rule_match + fib4_rule_match / fib6_rule_match, `not` applied last. */
export function matchRule(ctx: LookupContext, rule: Rule, flow: Flow): RuleMatch {
  const inner = ((): RuleMatch => {
    if (rule.iif !== undefined && (rule.iifDetached || rule.iif !== flow.iif)) return 'no-match';
    if (rule.oif !== undefined && (rule.oifDetached || rule.oif !== flow.oif)) return 'no-match';
    if (((rule.fwmark ^ flow.mark) & rule.fwmask) >>> 0 !== 0) return 'no-match';
    if (rule.tunId !== undefined && rule.tunId !== 0) return 'no-match';
    if (rule.uidRange !== undefined && (flow.uid < rule.uidRange.start || flow.uid > rule.uidRange.end)) return 'no-match';
    if (rule.src !== undefined) {
      if (flow.src === undefined) {
        // IPv4 matches the 0.0.0.0 of an unset source; IPv6 never matches it (no RT6_LOOKUP_F_HAS_SADDR).
        if (flow.family === 6 || rule.src.network !== 0n) return 'no-match';
      } else if (!prefixContains(rule.src, flow.src)) return 'no-match';
    }
    if (rule.dst !== undefined && !prefixContains(rule.dst, flow.dst)) return 'no-match';
    if (rule.tos !== 0) {
      const tos = flow.family === 4 ? flow.tos & LEGACY_TOS_MASK : flow.tos & 0xfc;
      if (tos !== rule.tos) return 'no-match';
    }
    if (rule.ipproto !== undefined && rule.ipproto !== 0 && rule.ipproto !== flow.protocol) return 'no-match';
    if (!portInRange(rule.sport, flow.sport) || !portInRange(rule.dport, flow.dport)) return 'no-match';
    if (rule.l3mdev) {
      // l3mdev rules match packets of VRF devices only; without any VRF they cannot match.
      if (![...ctx.state.links.values()].some((l) => l.kind === 'vrf')) return 'no-match';
      return 'unsupported';
    }
    if (rule.unsupportedSelectors.length > 0) return 'unsupported';
    return 'match';
  })();
  if (inner === 'unsupported') return inner;
  return rule.not ? (inner === 'match' ? 'no-match' : 'match') : inner;
}

export type RulesResult =
  | {
      readonly kind: 'found';
      readonly found: TableFound;
      readonly rule: Rule;
      readonly steps: readonly RuleStep[];
      readonly tables: readonly number[];
    }
  | {
      readonly kind: 'reject';
      /** Which kind of rejection: a rule action or a route type. */
      readonly type: 'blackhole' | 'unreachable' | 'prohibit' | 'unsupported';
      readonly errno: RouteErrno;
      readonly rule: Rule;
      readonly route?: Route;
      readonly table?: number;
      readonly steps: readonly RuleStep[];
      readonly tables: readonly number[];
    }
  | { readonly kind: 'none'; readonly steps: readonly RuleStep[]; readonly tables: readonly number[] };

/** fib_rules_lookup with fib4_rule_action / fib4_rule_suppress. */
export function rulesLookup(ctx: LookupContext, fam: FamilyState, flow: Flow, ignoreLinkstate = false): RulesResult {
  const steps: RuleStep[] = [];
  const tables: number[] = [];
  if (fam.rulesAssumed) {
    warnOnce(ctx, {
      code: 'rules-missing',
      message: `no IPv${fam.family} policy rules in the snapshot: the kernel's default rules (local, main${fam.family === 4 ? ', default' : ''}) are assumed`,
    });
  }
  const rules = fam.rules;
  let i = 0;
  while (i < rules.length) {
    const rule = rules[i];
    if (rule === undefined) break;
    const match = matchRule(ctx, rule, flow);
    if (match === 'unsupported') {
      warnOnce(ctx, {
        code: 'unsupported-rule',
        message: `${formatRule(rule)}: cannot tell whether it matches (${rule.l3mdev ? 'l3mdev (VRF)' : rule.unsupportedSelectors.join(', ')}); taken as not matching`,
      });
      steps.push({ rule, outcome: 'unsupported' });
      i++;
      continue;
    }
    if (match === 'no-match') {
      i++;
      continue;
    }
    const action = rule.action;
    switch (action.kind) {
      case 'goto': {
        const target = rule.unresolved ? -1 : rules.findIndex((r) => r.priority === action.target);
        if (target <= i) {
          steps.push({ rule, outcome: 'unresolved-goto' });
          i++;
        } else {
          steps.push({ rule, outcome: 'goto' });
          i = target;
        }
        continue;
      }
      case 'nop':
        steps.push({ rule, outcome: 'nop' });
        i++;
        continue;
      case 'blackhole':
        steps.push({ rule, outcome: 'rejected' });
        return { kind: 'reject', type: 'blackhole', errno: 'EINVAL', rule, steps, tables };
      case 'unreachable':
        steps.push({ rule, outcome: 'rejected' });
        return { kind: 'reject', type: 'unreachable', errno: 'ENETUNREACH', rule, steps, tables };
      case 'prohibit':
        steps.push({ rule, outcome: 'rejected' });
        return { kind: 'reject', type: 'prohibit', errno: 'EACCES', rule, steps, tables };
      case 'unsupported':
        warnOnce(ctx, { code: 'unsupported-rule-action', message: `${formatRule(rule)}: action "${action.name}" is not simulated` });
        steps.push({ rule, outcome: 'unsupported' });
        return { kind: 'reject', type: 'unsupported', errno: 'EINVAL', rule, steps, tables };
      case 'l3mdev':
        warnOnce(ctx, { code: 'unsupported-rule-action', message: `${formatRule(rule)}: VRF table lookups are not simulated` });
        steps.push({ rule, outcome: 'unsupported' });
        i++;
        continue;
      case 'lookup': {
        const table = fam.tables.get(action.table);
        tables.push(action.table);
        if (table === undefined) {
          steps.push({ rule, outcome: 'no-table', table: action.table });
          i++;
          continue;
        }
        const result = tableLookup(ctx, table, flow, ignoreLinkstate);
        switch (result.kind) {
          case 'none':
            steps.push({ rule, outcome: 'no-route', table: action.table });
            break;
          case 'throw':
            steps.push({ rule, outcome: 'throw', route: result.route, table: action.table });
            break;
          case 'reject': {
            steps.push({ rule, outcome: 'rejected', route: result.route, table: action.table });
            const type = result.route.type;
            const kind = type === 'blackhole' || type === 'unreachable' || type === 'prohibit' ? type : 'unsupported';
            if (kind === 'unsupported') {
              warnOnce(ctx, { code: 'unsupported-route-type', message: `route "${formatRoute(result.route)}": type ${type} is not simulated` });
            }
            return { kind: 'reject', type: kind, errno: result.errno, rule, route: result.route, table: action.table, steps, tables };
          }
          case 'found': {
            if (isSuppressed(ctx, rule, result)) {
              steps.push({ rule, outcome: 'suppressed', route: result.route, table: action.table });
              break;
            }
            steps.push({ rule, outcome: 'matched', route: result.route, table: action.table });
            return { kind: 'found', found: result, rule, steps, tables };
          }
          default:
            return assertNever(result, 'table result');
        }
        i++;
        continue;
      }
      default:
        return assertNever(action, 'rule action');
    }
  }
  return { kind: 'none', steps, tables };
}

/** fib4_rule_suppress: refuse a result with a short prefix or through a device of a given group. */
function isSuppressed(ctx: LookupContext, rule: Rule, found: TableFound): boolean {
  if (rule.suppressPrefixLength !== undefined && found.route.dst.length <= rule.suppressPrefixLength) return true;
  if (rule.suppressIfgroup !== undefined) {
    const dev = found.route.nexthops[0]?.dev;
    const link = dev === undefined ? undefined : ctx.state.links.get(dev);
    if (link !== undefined && link.group === rule.suppressIfgroup) return true;
  }
  return false;
}

/** A flow with the defaults of a plain lookup. */
export function buildFlow(fields: Partial<Flow> & Pick<Flow, 'family' | 'dst' | 'iif'>): Flow {
  return { mark: 0, tos: 0, protocol: 0, sport: 0, dport: 0, uid: 0, scope: RT_SCOPE_UNIVERSE, ...fields };
}
