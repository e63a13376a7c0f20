// The routing state of one network namespace, indexed once so that many lookups are cheap:
// links by name and index, addresses per device (in the kernel's order), rules per family in
// priority order, and every table as a longest-prefix-match index.

import type { IpAddress, IpFamily } from '../../model/ip.js';
import type { Warning } from '../../model/warning.js';
import type { Address } from './address.js';
import { FibTable } from './fib-table.js';
import type { Link } from './link.js';
import { RT_TABLE_DEFAULT, RT_TABLE_LOCAL, RT_TABLE_MAIN } from './names.js';
import { formatRoute, type Route } from './route.js';
import { buildDefaultRules, type Rule } from './rule.js';
import type { RoutingSysctls } from './sysctls.js';

export interface RoutingInput {
  readonly links: readonly Link[];
  readonly addresses: readonly Address[];
  /** Routes of every table, both families (`ip -j -d route show table all` and `ip -6 ...`). */
  readonly routes: readonly Route[];
  /**
   * Rules of both families (`ip -j rule` and `ip -6 -j rule`). A family without any rule gets the
   * kernel's default rules, with a warning on every lookup of that family.
   */
  readonly rules?: readonly Rule[];
  /** net.ipv4.conf.* values; unknown values take the kernel defaults, with a warning where they matter. */
  readonly sysctls?: RoutingSysctls;
}

export interface FamilyState {
  readonly family: IpFamily;
  /** Rules in evaluation order: by priority, then dump order. */
  readonly rules: readonly Rule[];
  /** True when the rules were not in the snapshot and the defaults stand in for them. */
  readonly rulesAssumed: boolean;
  readonly tables: ReadonlyMap<number, FibTable>;
  /** The rules differ from the kernel's defaults (fib4_has_custom_rules). */
  readonly customRules: boolean;
  /** Some `local` route was added by hand (fib_has_custom_local_routes): see fib_validate_source. */
  readonly customLocalRoutes: boolean;
  /** Some rule selects on ipproto/sport/dport (fib_rules_require_fldissect). */
  readonly rulesNeedPorts: boolean;
}

export interface RoutingState {
  readonly links: ReadonlyMap<string, Link>;
  /** Links in dump order (`ip link` dumps by ifindex). */
  readonly linkList: readonly Link[];
  readonly addressesByDev: ReadonlyMap<string, readonly Address[]>;
  /** Every configured address, `family:value`, for "is this one of ours" questions. */
  readonly localAddressKeys: ReadonlySet<string>;
  readonly families: Readonly<Record<IpFamily, FamilyState>>;
  readonly sysctls?: RoutingSysctls;
  /** What the index could not make sense of (routes through unknown devices, ...). */
  readonly warnings: readonly Warning[];
}

export function addressKey(ip: IpAddress): string {
  return `${ip.family}:${ip.value}`;
}

/** Indexes a namespace's links, addresses, routes and rules for lookups. */
export function buildRoutingState(input: RoutingInput): RoutingState {
  const warnings: Warning[] = [];
  const links = new Map<string, Link>();
  for (const link of input.links) if (!links.has(link.name)) links.set(link.name, link);
  const addressesByDev = new Map<string, Address[]>();
  const localAddressKeys = new Set<string>();
  for (const address of input.addresses) {
    const list = addressesByDev.get(address.dev);
    if (list === undefined) addressesByDev.set(address.dev, [address]);
    else list.push(address);
    localAddressKeys.add(addressKey(address.local));
    if (!links.has(address.dev)) {
      warnings.push({ code: 'unknown-device', message: `address ${address.dev} is on a device missing from the link dump` });
    }
  }
  for (const route of input.routes) {
    for (const nh of route.nexthops) {
      if (nh.dev !== undefined && !links.has(nh.dev)) {
        warnings.push({
          code: 'unknown-device',
          message: `route "${formatRoute(route)}" uses device ${nh.dev}, missing from the link dump`,
        });
      }
    }
  }
  return {
    links,
    linkList: input.links,
    addressesByDev,
    localAddressKeys,
    families: { 4: buildFamily(4, input), 6: buildFamily(6, input) },
    ...(input.sysctls !== undefined ? { sysctls: input.sysctls } : {}),
    warnings,
  };
}

function buildFamily(family: IpFamily, input: RoutingInput): FamilyState {
  const given = (input.rules ?? []).filter((r) => r.family === family);
  const rulesAssumed = given.length === 0;
  const rules = (rulesAssumed ? buildDefaultRules(family) : given)
    .map((rule, i) => ({ rule, i }))
    .sort((a, b) => a.rule.priority - b.rule.priority || a.i - b.i)
    .map(({ rule }) => rule);
  const byTable = new Map<number, { name: string; routes: Route[] }>();
  for (const route of input.routes) {
    if (route.family !== family) continue;
    let entry = byTable.get(route.table);
    if (entry === undefined) {
      entry = { name: route.tableName, routes: [] };
      byTable.set(route.table, entry);
    }
    entry.routes.push(route);
  }
  const tables = new Map<number, FibTable>();
  for (const [id, { name, routes }] of byTable) tables.set(id, new FibTable(family, id, name, routes));
  return {
    family,
    rules,
    rulesAssumed,
    tables,
    customRules: !rulesAssumed && !isDefaultRuleSet(family, rules),
    customLocalRoutes: input.routes.some((r) => r.family === family && r.type === 'local' && r.protocol !== 'kernel'),
    rulesNeedPorts: rules.some((r) => r.ipproto !== undefined || r.sport !== undefined || r.dport !== undefined),
  };
}

function isDefaultRuleSet(family: IpFamily, rules: readonly Rule[]): boolean {
  const expected: Array<[number, number]> = [
    [0, RT_TABLE_LOCAL],
    [32766, RT_TABLE_MAIN],
  ];
  if (family === 4) expected.push([32767, RT_TABLE_DEFAULT]);
  if (rules.length !== expected.length) return false;
  return rules.every((rule, i) => {
    const [priority, table] = expected[i] ?? [-1, -1];
    const plain =
      !rule.not &&
      rule.src === undefined &&
      rule.dst === undefined &&
      rule.iif === undefined &&
      rule.oif === undefined &&
      rule.fwmask === 0 &&
      rule.tos === 0 &&
      rule.ipproto === undefined &&
      rule.sport === undefined &&
      rule.dport === undefined &&
      rule.uidRange === undefined &&
      rule.suppressPrefixLength === undefined &&
      rule.suppressIfgroup === undefined;
    return plain && rule.priority === priority && rule.action.kind === 'lookup' && rule.action.table === table;
  });
}
