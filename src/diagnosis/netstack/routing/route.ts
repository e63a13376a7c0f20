// `ip -j -d route show table all` (and `ip -6 ...`): the routes of every table of a namespace.

import { formatIp, formatPrefix, type IpAddress, type IpFamily, type IpPrefix } from '../../model/ip.js';
import { parseIp } from '../../model/ip.js';
import type { Warning } from '../../model/warning.js';
import { optional, readEntries, type EntryReader, type JsonDump } from './json-reader.js';
import {
  dsfieldValue,
  formatTos,
  isRouteType,
  RT_TABLE_MAIN,
  scopeId,
  scopeName,
  tableId,
  tableName,
  unresolvedTableId,
  type RouteType,
} from './names.js';

export interface RouteNexthop {
  /** `via`; for an IPv4 route it may be an IPv6 address (`via inet6`, RFC 5549). */
  readonly gateway?: IpAddress;
  readonly dev?: string;
  /** Multipath weight (1 for a single-path route). */
  readonly weight: number;
  /** RTNH_F_* flags as printed: onlink, dead, linkdown, pervasive, offload, ... */
  readonly flags: readonly string[];
  readonly onlink: boolean;
  /** The kernel marked the next hop dead (its device went down): never used. */
  readonly dead: boolean;
  /** The device has no carrier: used unless ignore_routes_with_linkdown is set. */
  readonly linkdown: boolean;
}

export interface Route {
  readonly family: IpFamily;
  readonly type: RouteType;
  readonly dst: IpPrefix;
  /** Source prefix of an IPv6 source-specific route (`from`). */
  readonly src?: IpPrefix;
  /** TOS the route is restricted to (0 = any). */
  readonly tos: number;
  readonly table: number;
  /** The table as printed (`main`, `100`, or a site-specific name). */
  readonly tableName: string;
  readonly protocol: string;
  /** RT_SCOPE_* number. */
  readonly scope: number;
  /** `metric` (RTA_PRIORITY); 0 when not printed. */
  readonly metric: number;
  /** Preferred source (`src` in `ip route add`, `prefsrc` in JSON). */
  readonly prefsrc?: IpAddress;
  /** The device of a single-path route (the first next hop's); undefined for multipath and reject routes. */
  readonly dev?: string;
  /** The gateway (`via`) of a single-path route. */
  readonly gateway?: IpAddress;
  /**
   * Next hops: one for a single-path route (possibly with only a device), several for a
   * multipath route, none for blackhole/unreachable/prohibit/throw routes.
   */
  readonly nexthops: readonly RouteNexthop[];
  readonly multipath: boolean;
  /** Nexthop object id (`ip nexthop`), when the route uses one. */
  readonly nhid?: number;
  readonly flags: readonly string[];
  /** IPv6 router preference. */
  readonly pref?: string;
  /** `mtu` metric (lock or not). */
  readonly mtu?: number;
  /** Position in its dump, so that routes equal in every key keep the kernel's order. */
  readonly index: number;
}

export interface ParsedRoutes {
  readonly routes: readonly Route[];
  readonly warnings: readonly Warning[];
}

export interface ParseRoutesOptions {
  /** Family of every route, for dumps taken with `-4`/`-6` (otherwise inferred per route). */
  readonly family?: IpFamily;
  /** Site-specific table names (/etc/iproute2/rt_tables.d) → ids. */
  readonly tableNames?: Readonly<Record<string, number>>;
}

/** Parses `ip -j -d route show table all` or `ip -j -d -6 route show table all`. */
export function parseRoutes(json: JsonDump, source: string, options: ParseRoutesOptions = {}): ParsedRoutes {
  const warnings: Warning[] = [];
  const routes = readEntries(json, source, 'route', (raw, index) => readRoute(raw, index, options, warnings));
  return { routes, warnings };
}

/** The family of a route: from its addresses, else from `pref` (the kernel sends it for IPv6 only). */
function inferFamily(e: EntryReader): IpFamily {
  for (const field of ['dst', 'gateway', 'prefsrc']) {
    const text = e.optString(field);
    if (text === undefined) continue;
    const ip = parseIp(text.split('/')[0] ?? '');
    if (ip !== undefined) return ip.family;
  }
  for (const nh of e.objectArray('nexthops')) {
    const gw = nh.optString('gateway');
    const ip = gw === undefined ? undefined : parseIp(gw);
    if (ip !== undefined) return ip.family;
  }
  return e.has('pref') ? 6 : 4;
}

/** Reads a `table` field (a number, a stock name or a site-specific name) into an id and its printed name. */
export function readTableField(
  e: EntryReader,
  field: string,
  options: { readonly tableNames?: Readonly<Record<string, number>> },
  warnings: Warning[],
): { table: number; tableName: string } {
  const text = e.optString(field) ?? (e.has(field) ? String(e.integer(field)) : undefined);
  if (text === undefined) return { table: RT_TABLE_MAIN, tableName: 'main' };
  const id = tableId(text, options.tableNames);
  if (id !== undefined) return { table: id, tableName: /^\d+$/.test(text) ? tableName(id) : text };
  warnings.push({
    code: 'unknown-table-name',
    message: `${e.entry}: table "${text}" is a site-specific name (rt_tables.d) that was not given; routes and rules naming it are matched by name only`,
    source: e.source,
  });
  return { table: unresolvedTableId(text), tableName: text };
}

function readNexthop(e: EntryReader, family: IpFamily, weight: number): RouteNexthop {
  const flags = e.stringArray('flags');
  let gateway = e.optIp('gateway', family);
  const via = e.optObject('via');
  if (gateway === undefined && via !== undefined) gateway = via.ip('host');
  return {
    ...optional('gateway', gateway),
    ...optional('dev', e.optString('dev')),
    weight,
    flags,
    onlink: flags.includes('onlink'),
    dead: flags.includes('dead'),
    linkdown: flags.includes('linkdown'),
  };
}

function readRoute(raw: EntryReader, index: number, options: ParseRoutesOptions, warnings: Warning[]): Route | undefined {
  const dstText = raw.string('dst');
  const e = raw.relabel(`${raw.entry} (${dstText})`);
  const family = options.family ?? inferFamily(e);
  const typeText = e.optString('type') ?? 'unicast';
  if (!isRouteType(typeText)) {
    warnings.push({ code: 'unknown-route-type', message: `${e.entry}: route type "${typeText}" is not known; route ignored`, source: e.source });
    return undefined;
  }
  const dst = e.prefix('dst', family);
  const fromText = e.optString('from');
  let src: IpPrefix | undefined;
  if (fromText !== undefined) {
    const srclen = e.optInteger('srclen');
    src = e.prefix('from', family);
    if (srclen !== undefined && !fromText.includes('/')) src = { ...src, length: srclen };
  }
  const tosText = e.optString('tos') ?? (e.has('tos') ? String(e.integer('tos', 255)) : undefined);
  const tos = tosText === undefined ? 0 : (dsfieldValue(tosText) ?? e.fail('tos', `unknown TOS/DS field "${tosText}"`));
  const { table, tableName } = readTableField(e, 'table', options, warnings);
  const scopeText = e.optString('scope') ?? (e.has('scope') ? String(e.integer('scope', 255)) : 'global');
  const scope = scopeId(scopeText) ?? e.fail('scope', `unknown scope "${scopeText}"`);
  const flags = e.stringArray('flags');
  const multipathEntries = e.objectArray('nexthops');
  let nexthops: RouteNexthop[];
  if (multipathEntries.length > 0) {
    nexthops = multipathEntries.map((nh) => readNexthop(nh, family, nh.optInteger('weight') ?? 1));
  } else if (e.has('gateway') || e.has('via') || e.has('dev')) {
    const single = readNexthop(e, family, 1);
    nexthops = [single];
  } else {
    nexthops = [];
  }
  let mtu: number | undefined;
  for (const m of e.objectArray('metrics')) {
    const v = m.optInteger('mtu');
    if (v !== undefined) mtu = v;
  }
  if (e.has('encap')) {
    warnings.push({
      code: 'unsupported-route-encap',
      message: `${e.entry}: lightweight tunnel encapsulation (encap) is not simulated`,
      source: e.source,
    });
  }
  return {
    family,
    type: typeText,
    dst,
    ...optional('src', src),
    tos,
    table,
    tableName,
    protocol: e.optString('protocol') ?? (e.has('protocol') ? String(e.integer('protocol')) : 'boot'),
    scope,
    metric: e.optInteger('metric', 0xffffffff) ?? 0,
    ...optional('prefsrc', e.optIp('prefsrc', family)),
    ...(multipathEntries.length === 0 ? optional('dev', nexthops[0]?.dev) : {}),
    ...(multipathEntries.length === 0 ? optional('gateway', nexthops[0]?.gateway) : {}),
    nexthops,
    multipath: multipathEntries.length > 0,
    ...optional('nhid', e.optInteger('nhid')),
    flags,
    ...optional('pref', e.optString('pref')),
    ...optional('mtu', mtu),
    index,
  };
}

/** A route in the words of `ip route`: `10.244.1.0/24 via 10.0.0.2 dev eth0 table 100 metric 5`. */
export function formatRoute(route: Route): string {
  const parts: string[] = [];
  if (route.type !== 'unicast') parts.push(route.type);
  parts.push(route.dst.length === 0 ? 'default' : formatPrefixShort(route.dst));
  if (route.src !== undefined) parts.push(`from ${formatPrefix(route.src)}`);
  if (route.tos !== 0) parts.push(`tos ${formatTos(route.tos)}`);
  if (route.multipath) {
    for (const nh of route.nexthops) parts.push(`nexthop ${formatNexthop(nh)} weight ${nh.weight}`);
  } else if (route.nexthops[0] !== undefined) {
    parts.push(formatNexthop(route.nexthops[0]));
  }
  if (route.table !== RT_TABLE_MAIN) parts.push(`table ${route.tableName}`);
  if (route.scope !== 0) parts.push(`scope ${scopeName(route.scope)}`);
  if (route.prefsrc !== undefined) parts.push(`src ${formatIp(route.prefsrc)}`);
  if (route.metric !== 0) parts.push(`metric ${route.metric}`);
  return parts.join(' ');
}

function formatNexthop(nh: RouteNexthop): string {
  const parts: string[] = [];
  if (nh.gateway !== undefined) parts.push(`via ${formatIp(nh.gateway)}`);
  if (nh.dev !== undefined) parts.push(`dev ${nh.dev}`);
  if (nh.onlink) parts.push('onlink');
  if (nh.dead) parts.push('dead');
  if (nh.linkdown) parts.push('linkdown');
  return parts.join(' ');
}

/** `10.0.0.1` for a host prefix, as iproute2 prints it; `10.0.0.0/24` otherwise. */
export function formatPrefixShort(prefix: IpPrefix): string {
  const full = prefix.family === 4 ? 32 : 128;
  return prefix.length === full ? formatIp({ family: prefix.family, value: prefix.network }) : formatPrefix(prefix);
}
