// Route lookup: the kernel's recorded answers on the fixture node (fixtures/node-route-get.jsonl,
// from fixtures/record.sh), then table-driven cases on small hand-written namespaces, one kernel
// behaviour each. The live comparison with the kernel is test/netstack/routing-oracle.test.ts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { formatIp, parseIp, type IpAddress } from '../../model/ip.js';
import { parseAddresses } from './address.js';
import { ERRNO_MESSAGES, type RouteDecision, type RouteQuery } from './decision.js';
import { parseLinks } from './link.js';
import { lookupRoute, summarizeDecision } from './lookup.js';
import { tableName } from './names.js';
import { parseRoutes } from './route.js';
import { parseRules } from './rule.js';
import { buildRoutingState, type RoutingState } from './state.js';
import { buildRoutingSysctls, type RoutingSysctls } from './sysctls.js';

function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
}

function ip(text: string): IpAddress {
  const value = parseIp(text);
  if (value === undefined) throw new Error(`bad address ${text}`);
  return value;
}

/** `ip route get` arguments as a query. */
function queryOf(args: readonly string[]): RouteQuery {
  const get = (word: string): string | undefined => {
    const i = args.indexOf(word);
    return i < 0 ? undefined : args[i + 1];
  };
  const [dst] = args;
  const from = get('from');
  const iif = get('iif');
  const oif = get('oif');
  const mark = get('mark');
  const tos = get('tos');
  const proto = get('ipproto');
  const dport = get('dport');
  return {
    dst: ip(dst ?? ''),
    ...(from !== undefined ? { src: ip(from) } : {}),
    ...(iif !== undefined ? { iif } : {}),
    ...(oif !== undefined ? { oif } : {}),
    ...(mark !== undefined ? { mark: Number(mark) } : {}),
    ...(tos !== undefined ? { tos: Number(tos) } : {}),
    ...(proto !== undefined ? { protocol: proto === 'tcp' ? 6 : 17 } : {}),
    ...(dport !== undefined ? { dport: Number(dport) } : {}),
  };
}

/** What `ip -j -d route get` prints, reduced to what we compare: `unicast eth0 via X src Y table T` or the error. */
function kernelWords(answer: { ok: boolean; answer?: Record<string, unknown>; error?: string }): string {
  if (!answer.ok) return answer.error ?? '';
  const a = answer.answer ?? {};
  const s = (k: string): string => (typeof a[k] === 'string' ? a[k] : '-');
  return `${s('type')} ${s('dev')} via ${s('gateway')} src ${s('prefsrc')} table ${s('table')}`;
}

/** Our decision in the same words; for multipath, the next hop the kernel chose if we have it. */
function ourWords(decision: RouteDecision, kernelDev: string | undefined, givenSrc: boolean): string {
  const src = (a: IpAddress | undefined): string => (givenSrc || a === undefined ? '-' : formatIp(a));
  const table = (t: number | undefined): string => (t === undefined ? '-' : tableName(t));
  switch (decision.kind) {
    case 'unicast': {
      const nh = decision.nexthops.find((n) => n.dev === kernelDev) ?? decision.nexthops[0];
      return `unicast ${nh?.dev ?? '-'} via ${nh?.gateway ? formatIp(nh.gateway) : '-'} src ${src(nh?.src)} table ${table(decision.table)}`;
    }
    case 'local':
    case 'broadcast':
      return `${decision.kind} ${decision.dev} via - src ${src(decision.src)} table ${table(decision.table)}`;
    case 'blackhole':
    case 'unreachable':
    case 'prohibit':
    case 'no-route':
    case 'rejected':
      return ERRNO_MESSAGES[decision.error];
    case 'unsupported':
      return `unsupported: ${decision.reason}`;
    default:
      return JSON.stringify(decision);
  }
}

describe('the fixture node: our lookups give the answers the kernel recorded', () => {
  const sysctlValues: Record<string, string> = {};
  for (const line of fixture('node-sysctl.txt').split('\n')) {
    const [key, value] = line.split(' = ');
    if (key !== undefined && value !== undefined) sysctlValues[key] = value;
  }
  const state = buildRoutingState({
    links: parseLinks(fixture('node-link.json'), 'node-link.json').links,
    addresses: parseAddresses(fixture('node-addr.json'), 'node-addr.json').addresses,
    routes: parseRoutes(fixture('node-route.json'), 'node-route.json').routes,
    rules: [...parseRules(fixture('node-rule.json'), 'node-rule.json').rules, ...parseRules(fixture('node-rule6.json'), 'r6', { family: 6 }).rules],
    sysctls: buildRoutingSysctls(sysctlValues),
  });
  const recorded = fixture('node-route-get.jsonl')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { args: string[]; ok: boolean; answer?: Record<string, unknown>; error?: string })
    .map((r) => ({ ...r, command: `ip route get ${r.args.join(' ')}` }));

  it.each(recorded)('$command', (record) => {
    const decision = lookupRoute(state, queryOf(record.args));
    const kernelDev = typeof record.answer?.dev === 'string' ? record.answer.dev : undefined;
    expect(ourWords(decision, kernelDev, record.args.includes('from'))).toBe(kernelWords(record));
    expect(decision.warnings).toEqual([]);
  });

  it('explains in the kernel words', () => {
    const decision = lookupRoute(state, { dst: ip('8.8.8.8'), mark: 0x100 });
    expect(decision.explanation).toBe(
      'rule 100 from all fwmark 0x100/0xff00 lookup 100; default via 192.168.1.254 dev eth0 table 100; send via 192.168.1.254 dev eth0 src 192.168.1.10',
    );
    const multipath = lookupRoute(state, { dst: ip('10.96.0.10') });
    expect(multipath.kind === 'unicast' && multipath.nexthops.map((nh) => `${nh.dev} ${nh.gateway && formatIp(nh.gateway)} ${nh.weight}`)).toEqual([
      'eth0 192.168.1.2 2',
      'eth0 192.168.1.3 1',
    ]);
    const thrown = lookupRoute(state, { dst: ip('10.1.2.3'), mark: 0x100 });
    expect(thrown.steps.map((s) => `${s.rule.priority}:${s.outcome}`)).toEqual(['0:no-route', '100:throw', '400:suppressed', '1000:nop', '32766:matched']);
    expect(thrown.explanation).toContain('throw 10.0.0.0/8 table 100: throw, next rule');
    const none = lookupRoute(state, { dst: ip('10.81.1.1') });
    expect(none).toMatchObject({ kind: 'unreachable', error: 'ENETUNREACH', rule: { priority: 510 } });
    expect(none).not.toHaveProperty('route');
    const linkdown = lookupRoute(state, { dst: ip('10.98.1.1') });
    expect(linkdown.anomalies.map((a) => a.kind)).toEqual(['nexthop-linkdown']);
  });
});

// ---------------------------------------------------------------------------------------------
// Small namespaces, written the way `ip -j -d` prints them.

const DEFAULT_RULES = [
  { priority: 0, src: 'all', table: 'local' },
  { priority: 32766, src: 'all', table: 'main' },
  { priority: 32767, src: 'all', table: 'default' },
];

interface MiniNamespace {
  readonly links?: ReadonlyArray<string | Record<string, unknown>>;
  readonly addrs?: ReadonlyArray<[dev: string, cidr: string, extra?: Record<string, unknown>]>;
  readonly routes?: ReadonlyArray<Record<string, unknown>>;
  readonly rules?: ReadonlyArray<Record<string, unknown>>;
  readonly rules6?: ReadonlyArray<Record<string, unknown>>;
  readonly sysctls?: RoutingSysctls;
}

/** A query with addresses written as text. */
type QuerySpec = { readonly dst: string; readonly src?: string } & Omit<RouteQuery, 'dst' | 'src'>;

function queryFrom(spec: QuerySpec): RouteQuery {
  const { dst, src, ...rest } = spec;
  return { ...rest, dst: ip(dst), ...(src !== undefined ? { src: ip(src) } : {}) };
}

/** lo plus the named interfaces (up, with carrier unless told), addresses, routes and rules. */
function build(ns: MiniNamespace): RoutingState {
  const names = ['lo', ...(ns.links ?? [])];
  const links = names.map((l, i): Record<string, unknown> => {
    const base: Record<string, unknown> = typeof l === 'string' ? { ifname: l } : l;
    return { ifindex: i + 1, flags: ['UP', 'LOWER_UP'], mtu: 1500, group: 'default', ...base };
  });
  const addrInfo = (dev: string): unknown[] =>
    [['lo', '127.0.0.1/8', { scope: 'host' }] as const, ...(ns.addrs ?? [])]
      .filter(([d]) => d === dev)
      .map(([, cidr, extra]) => {
        const [local, len] = cidr.split('/');
        return { family: local?.includes(':') ? 'inet6' : 'inet', local, prefixlen: Number(len), scope: 'global', ...extra };
      });
  const addresses = links.map((l) => ({ ...l, addr_info: addrInfo(String(l.ifname)) }));
  const kernelRoutes: Record<string, unknown>[] = [];
  for (const [dev, cidr, extra] of ns.addrs ?? []) {
    if (cidr.includes(':') || extra?.scope === 'host') continue;
    const [local, len] = cidr.split('/');
    const address = ip(local ?? '');
    const bits = Number(len);
    const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(32 - bits);
    const network = formatIp({ family: 4, value: address.value & mask });
    const secondary = extra?.secondary === true;
    const primary = secondary ? (ns.addrs ?? []).find(([d, c, e]) => d === dev && e?.secondary !== true && c.endsWith(`/${len}`))?.[1].split('/')[0] : local;
    kernelRoutes.push({ type: 'local', dst: local, dev, table: 'local', protocol: 'kernel', scope: 'host', prefsrc: primary });
    if (!secondary && bits < 32) kernelRoutes.push({ type: 'unicast', dst: `${network}/${len}`, dev, table: 'main', protocol: 'kernel', scope: 'link', prefsrc: local });
  }
  kernelRoutes.push({ type: 'local', dst: '127.0.0.0/8', dev: 'lo', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '127.0.0.1' });
  return buildRoutingState({
    links: parseLinks(links, 'links').links,
    addresses: parseAddresses(addresses, 'addrs').addresses,
    routes: parseRoutes([...kernelRoutes, ...(ns.routes ?? [])], 'routes').routes,
    rules: [...parseRules(ns.rules ?? DEFAULT_RULES, 'rules').rules, ...parseRules(ns.rules6 ?? DEFAULT_RULES.slice(0, 2), 'rules6', { family: 6 }).rules],
    sysctls: ns.sysctls ?? { all: { forwarding: true, rpFilter: 0 } },
  });
}

const NODE: MiniNamespace = {
  links: ['eth0', 'eth1', { ifname: 'eth2', flags: ['NO-CARRIER', 'UP'] }, { ifname: 'eth3', flags: [] }],
  addrs: [
    ['eth0', '10.0.0.1/24'],
    ['eth0', '10.0.0.5/24', { secondary: true }],
    ['eth1', '10.1.0.1/24'],
    ['eth2', '10.2.0.1/24'],
  ],
  routes: [
    { dst: 'default', gateway: '10.0.0.254', dev: 'eth0', table: 'main' },
    { dst: '10.244.1.0/24', gateway: '10.0.0.2', dev: 'eth0', table: 'main' },
    { dst: '10.244.2.0/24', table: 'main', nexthops: [{ gateway: '10.0.0.2', dev: 'eth0', weight: 3 }, { gateway: '10.1.0.2', dev: 'eth1', weight: 1 }] },
    { dst: '10.244.3.0/24', gateway: '172.16.0.1', dev: 'eth1', table: 'main', flags: ['onlink'] },
    { dst: '10.244.4.0/24', dev: 'eth0', scope: 'link', prefsrc: '10.0.0.5', table: 'main' },
    { dst: '10.244.5.0/24', gateway: '10.2.0.2', dev: 'eth2', table: 'main', flags: ['linkdown'] },
    { dst: '10.244.6.0/24', gateway: '10.9.9.9', dev: 'eth0', table: 'main' },
    { type: 'blackhole', dst: '10.66.0.0/16', table: 'main' },
    { type: 'unreachable', dst: '10.67.0.0/16', table: 'main' },
    { type: 'prohibit', dst: '10.68.0.0/16', table: 'main' },
    { type: 'throw', dst: '10.69.0.0/16', table: '100' },
    { dst: 'default', gateway: '10.1.0.254', dev: 'eth1', table: '100' },
    { dst: '10.70.0.0/16', tos: '0x10', gateway: '10.1.0.3', dev: 'eth1', table: 'main' },
    { dst: '10.70.0.0/16', gateway: '10.0.0.3', dev: 'eth0', table: 'main', metric: 10 },
    { dst: '10.70.0.0/16', gateway: '10.0.0.4', dev: 'eth0', table: 'main', metric: 20 },
    { type: 'multicast', dst: '10.71.0.0/16', dev: 'eth0', table: 'main' },
    { dst: '10.72.0.0/16', gateway: '10.0.0.7', dev: 'eth3', table: 'main' },
  ],
};

describe('lookupRoute: route selection within a table', () => {
  const state = build(NODE);
  it.each([
    ['the longest prefix wins over default', '10.244.1.9', {}, 'unicast via 10.0.0.2 dev eth0 src 10.0.0.1'],
    ['default route', '8.8.8.8', {}, 'unicast via 10.0.0.254 dev eth0 src 10.0.0.1'],
    ['multipath: every next hop, with its own source', '10.244.2.9', {}, 'unicast via 10.0.0.2 dev eth0 src 10.0.0.1 | via 10.1.0.2 dev eth1 src 10.1.0.1'],
    ['onlink gateway outside any subnet', '10.244.3.9', {}, 'unicast via 172.16.0.1 dev eth1 src 10.1.0.1'],
    ['the route src wins over address selection', '10.244.4.9', {}, 'unicast dev eth0 src 10.0.0.5'],
    ['a linkdown next hop is used by default', '10.244.5.9', {}, 'unicast via 10.2.0.2 dev eth2 src 10.2.0.1'],
    ['a TOS route matches its TOS only (legacy bits 0x1c)', '10.70.1.1', { tos: 0x10 }, 'unicast via 10.1.0.3 dev eth1 src 10.1.0.1'],
    ['ECN and DSCP bits outside 0x1c are ignored', '10.70.1.1', { tos: 0x33 }, 'unicast via 10.1.0.3 dev eth1 src 10.1.0.1'],
    ['otherwise the lowest metric', '10.70.1.1', {}, 'unicast via 10.0.0.3 dev eth0 src 10.0.0.1'],
    ['blackhole', '10.66.0.1', {}, 'blackhole (Invalid argument)'],
    ['unreachable route: EHOSTUNREACH', '10.67.0.1', {}, 'unreachable (No route to host)'],
    ['prohibit', '10.68.0.1', {}, 'prohibit (Permission denied)'],
    ['local address', '10.0.0.1', {}, 'local dev lo src 10.0.0.1'],
    ['secondary local address: source is the primary (the local route prefsrc)', '10.0.0.5', {}, 'local dev lo src 10.0.0.1'],
    ['loopback net', '127.0.0.9', {}, 'local dev lo src 127.0.0.1'],
    ['a forced oif restricts the next hops', '10.244.2.9', { oif: 'eth1' }, 'unicast via 10.1.0.2 dev eth1 src 10.1.0.1'],
    ['a forced oif without a route: assumed on link', '10.66.0.1', { oif: 'eth1' }, 'unicast dev eth1 src 10.1.0.1'],
    ['a route through a device that is down is skipped (stale dump)', '10.72.0.1', {}, 'unicast via 10.0.0.254 dev eth0 src 10.0.0.1'],
    ['a forced oif that is down', '8.8.8.8', { oif: 'eth3' }, 'rejected: device-down (Network is unreachable)'],
    ['a forced oif that does not exist', '8.8.8.8', { oif: 'nope' }, 'rejected: device-missing (No such device)'],
    ['a source that is ours', '8.8.8.8', { src: ip('10.0.0.5') }, 'unicast via 10.0.0.254 dev eth0 src 10.0.0.5'],
    ['a source that is not ours: ENETUNREACH', '8.8.8.8', { src: ip('10.9.9.9') }, 'rejected: source-not-local (Network is unreachable)'],
    ['a loopback source cannot leave', '8.8.8.8', { src: ip('127.0.0.1') }, 'rejected: invalid-source (Invalid argument)'],
    ['limited broadcast', '255.255.255.255', {}, 'broadcast dev eth0 src 10.0.0.1'],
    ['multicast is not simulated', '224.0.0.9', {}, 'unsupported: multicast destination 224.0.0.9 is not simulated'],
    ['a multicast route is not simulated', '10.71.0.1', {}, 'unsupported: route type multicast (multicast 10.71.0.0/16 dev eth0) is not simulated'],
  ])('%s: %s', (_name, dst, extra, expected) => {
    expect(summarizeDecision(lookupRoute(state, { dst: ip(dst), ...extra }))).toBe(expected);
  });

  it('skips a linkdown next hop when ignore_routes_with_linkdown is set', () => {
    const ignoring = build({ ...NODE, sysctls: { all: { forwarding: true, ignoreRoutesWithLinkdown: true } } });
    expect(summarizeDecision(lookupRoute(ignoring, { dst: ip('10.244.5.9') }))).toBe('unicast via 10.0.0.254 dev eth0 src 10.0.0.1');
  });

  it('reports the anomalies the kernel tolerates', () => {
    expect(lookupRoute(state, { dst: ip('10.244.6.1') }).anomalies).toEqual([
      expect.objectContaining({ kind: 'gateway-not-on-link', dev: 'eth0', gateway: ip('10.9.9.9') }),
    ]);
    expect(lookupRoute(state, { dst: ip('10.244.5.1') }).anomalies.map((a) => a.kind)).toEqual(['nexthop-linkdown']);
    expect(lookupRoute(state, { dst: ip('10.244.3.1') }).anomalies).toEqual([]);
    expect(lookupRoute(state, { dst: ip('10.72.0.1') }).warnings.map((w) => w.code)).toEqual(['stale-route']);
  });
});

describe('lookupRoute: policy rules', () => {
  const rule = (priority: number, fields: Record<string, unknown>): Record<string, unknown> => ({ priority, src: 'all', ...fields });
  const withRules = (...rules: Record<string, unknown>[]): RoutingState => build({ ...NODE, rules: [DEFAULT_RULES[0] ?? {}, ...rules, ...DEFAULT_RULES.slice(1)] });
  it.each<[string, Record<string, unknown>[], QuerySpec, string]>([
    ['fwmark with mask matches', [rule(100, { fwmark: '0x100', fwmask: '0xff00', table: '100' })], { dst: '8.8.8.8', mark: 0x1ff }, 'unicast via 10.1.0.254 dev eth1 src 10.1.0.1'],
    ['fwmark with mask does not match', [rule(100, { fwmark: '0x100', fwmask: '0xff00', table: '100' })], { dst: '8.8.8.8', mark: 0x200 }, 'unicast via 10.0.0.254 dev eth0 src 10.0.0.1'],
    ['not inverts', [rule(100, { not: null, fwmark: '0x1', table: '100' })], { dst: '8.8.8.8' }, 'unicast via 10.1.0.254 dev eth1 src 10.1.0.1'],
    ['iif lo matches locally generated packets', [rule(100, { iif: 'lo', table: '100' })], { dst: '8.8.8.8' }, 'unicast via 10.1.0.254 dev eth1 src 10.1.0.1'],
    ['oif matches a forced output device', [rule(100, { oif: 'eth1', table: '100' })], { dst: '8.8.8.8', oif: 'eth1' }, 'unicast via 10.1.0.254 dev eth1 src 10.1.0.1'],
    ['from does not match an unset source', [rule(100, { src: '10.0.0.0', srclen: 8, table: '100' })], { dst: '8.8.8.8' }, 'unicast via 10.0.0.254 dev eth0 src 10.0.0.1'],
    ['from matches a given source', [rule(100, { src: '10.0.0.0', srclen: 8, table: '100' })], { dst: '8.8.8.8', src: '10.0.0.1' }, 'unicast via 10.1.0.254 dev eth1 src 10.0.0.1'],
    ['tos', [rule(100, { tos: '0x08', table: '100' })], { dst: '8.8.8.8', tos: 0x08 }, 'unicast via 10.1.0.254 dev eth1 src 10.1.0.1'],
    ['ipproto and dport', [rule(100, { ipproto: 'tcp', dport_start: 80, dport_end: 90, table: '100' })], { dst: '8.8.8.8', protocol: 6, dport: 85 }, 'unicast via 10.1.0.254 dev eth1 src 10.1.0.1'],
    ['ipproto mismatch', [rule(100, { ipproto: 'tcp', table: '100' })], { dst: '8.8.8.8', protocol: 17 }, 'unicast via 10.0.0.254 dev eth0 src 10.0.0.1'],
    ['uidrange', [rule(100, { uid_start: 1000, uid_end: 2000, table: '100' })], { dst: '8.8.8.8', uid: 1500 }, 'unicast via 10.1.0.254 dev eth1 src 10.1.0.1'],
    ['throw resumes rule evaluation', [rule(100, { table: '100' })], { dst: '10.69.0.1' }, 'unicast via 10.0.0.254 dev eth0 src 10.0.0.1'],
    ['suppress_prefixlength 0 refuses the default route', [rule(100, { table: 'main', suppress_prefixlen: 0 }), rule(200, { table: '100' })], { dst: '8.8.8.8' }, 'unicast via 10.1.0.254 dev eth1 src 10.1.0.1'],
    ['suppress_prefixlength keeps longer prefixes', [rule(100, { table: 'main', suppress_prefixlen: 0 }), rule(200, { table: '100' })], { dst: '10.244.1.1' }, 'unicast via 10.0.0.2 dev eth0 src 10.0.0.1'],
    ['suppress_ifgroup', [rule(100, { table: 'main', suppress_ifgroup: '0' }), rule(200, { table: '100' })], { dst: '10.244.1.1' }, 'unicast via 10.1.0.254 dev eth1 src 10.1.0.1'],
    ['goto skips rules', [rule(100, { goto: 300 }), rule(200, { table: '100' }), rule(300, { nop: null })], { dst: '8.8.8.8' }, 'unicast via 10.0.0.254 dev eth0 src 10.0.0.1'],
    ['an unresolved goto is skipped', [rule(100, { goto: 150, unresolved: null }), rule(200, { table: '100' })], { dst: '8.8.8.8' }, 'unicast via 10.1.0.254 dev eth1 src 10.1.0.1'],
    ['a missing table is skipped', [rule(100, { table: '555' })], { dst: '8.8.8.8' }, 'unicast via 10.0.0.254 dev eth0 src 10.0.0.1'],
    ['blackhole rule', [rule(100, { dst: '8.8.0.0', dstlen: 16, action: 'blackhole' })], { dst: '8.8.8.8' }, 'blackhole (Invalid argument)'],
    ['unreachable rule: ENETUNREACH, not EHOSTUNREACH', [rule(100, { action: 'unreachable' })], { dst: '8.8.8.8' }, 'unreachable (Network is unreachable)'],
    ['prohibit rule', [rule(100, { action: 'prohibit' })], { dst: '8.8.8.8' }, 'prohibit (Permission denied)'],
    ['a detached iif never matches', [rule(100, { iif: 'gone', iif_detached: null, table: '100' })], { dst: '8.8.8.8' }, 'unicast via 10.0.0.254 dev eth0 src 10.0.0.1'],
  ])('%s', (_name, rules, query, expected) => {
    const decision = lookupRoute(withRules(...rules), queryFrom(query));
    expect(summarizeDecision(decision)).toBe(expected);
    expect(decision.warnings).toEqual([]);
  });

  it('no rule finds a route: ENETUNREACH, naming the tables looked up', () => {
    const state = build({ links: ['eth0'], addrs: [['eth0', '10.0.0.1/24']] });
    const decision = lookupRoute(state, { dst: ip('8.8.8.8') });
    expect(decision).toMatchObject({ kind: 'no-route', error: 'ENETUNREACH', tables: [255, 254, 253] });
    expect(decision.explanation).toContain('tables looked up: local, main, default');
  });

  it('an unsupported selector makes the lookup warn instead of guessing', () => {
    const state = withRules(rule(100, { dscp: 'AF11', table: '100' }));
    const decision = lookupRoute(state, { dst: ip('8.8.8.8') });
    expect(decision.warnings.map((w) => w.code)).toEqual(['unsupported-rule']);
  });

  it('missing rules: the defaults, with a warning', () => {
    const state = buildRoutingState({
      links: parseLinks(fixture('node-link.json'), 'l').links,
      addresses: parseAddresses(fixture('node-addr.json'), 'a').addresses,
      routes: parseRoutes(fixture('node-route.json'), 'r').routes,
    });
    const decision = lookupRoute(state, { dst: ip('8.8.8.8'), mark: 0x100 });
    expect(summarizeDecision(decision)).toBe('unicast via 192.168.1.1 dev eth0 src 192.168.1.10');
    expect(decision.warnings.map((w) => w.code)).toEqual(['rules-missing']);
  });
});

describe('lookupRoute: forwarded packets (iif)', () => {
  const forwarding = (sysctls: RoutingSysctls): RoutingState => build({ ...NODE, sysctls: { ...sysctls, all: { rpFilter: 0, ...sysctls.all } } });
  it.each<[string, RoutingSysctls, QuerySpec, string]>([
    ['forwarded', { all: { forwarding: true } }, { dst: '10.244.1.9', src: '10.1.0.9', iif: 'eth1' }, 'unicast via 10.0.0.2 dev eth0'],
    ['forwarding disabled on the input device', { all: { forwarding: true }, devices: { eth1: { forwarding: false } } }, { dst: '10.244.1.9', src: '10.1.0.9', iif: 'eth1' }, 'rejected: forwarding-disabled (No route to host)'],
    ['forwarding disabled and no route: still EHOSTUNREACH', { all: { forwarding: false } }, { dst: '10.66.0.1', src: '10.1.0.9', iif: 'eth1' }, 'rejected: forwarding-disabled (No route to host)'],
    ['forwarding enabled: the route error', { all: { forwarding: true } }, { dst: '10.66.0.1', src: '10.1.0.9', iif: 'eth1' }, 'blackhole (Invalid argument)'],
    ['local delivery needs no forwarding', { all: { forwarding: false } }, { dst: '10.0.0.1', src: '10.1.0.9', iif: 'eth1' }, 'local dev lo src 10.1.0.9'],
    ['no source: martian', { all: { forwarding: true } }, { dst: '10.244.1.9', iif: 'eth1' }, 'rejected: martian-source (Invalid argument)'],
    ['a loopback destination is martian', { all: { forwarding: true } }, { dst: '127.0.0.1', src: '10.1.0.9', iif: 'eth1' }, 'rejected: martian-destination (Invalid argument)'],
    ['our own address as source is martian', { all: { forwarding: true } }, { dst: '10.244.1.9', src: '10.0.0.1', iif: 'eth1' }, 'rejected: martian-source (Invalid argument)'],
    ['accept_local allows it', { all: { forwarding: true, acceptLocal: true } }, { dst: '10.244.1.9', src: '10.0.0.1', iif: 'eth1' }, 'unicast via 10.0.0.2 dev eth0'],
    ['strict rp_filter: the way back is another device', { all: { forwarding: true, rpFilter: 1 } }, { dst: '10.244.1.9', src: '10.0.0.9', iif: 'eth1' }, 'rejected: rp-filter (Invalid argument)'],
    ['strict rp_filter: the way back is this device', { all: { forwarding: true, rpFilter: 1 } }, { dst: '10.244.1.9', src: '10.1.0.9', iif: 'eth1' }, 'unicast via 10.0.0.2 dev eth0'],
    ['loose rp_filter: any way back', { all: { forwarding: true, rpFilter: 2 } }, { dst: '10.244.1.9', src: '10.0.0.9', iif: 'eth1' }, 'unicast via 10.0.0.2 dev eth0'],
    ['loose rp_filter: no way back', { all: { forwarding: true, rpFilter: 2 } }, { dst: '10.244.1.9', src: '10.67.0.9', iif: 'eth1' }, 'rejected: rp-filter (Invalid argument)'],
    ['rp_filter is the max of all and the device', { all: { forwarding: true, rpFilter: 0 }, devices: { eth1: { rpFilter: 1 } } }, { dst: '10.244.1.9', src: '10.0.0.9', iif: 'eth1' }, 'rejected: rp-filter (Invalid argument)'],
    ['broadcast to a subnet', { all: { forwarding: true } }, { dst: '255.255.255.255', src: '10.1.0.9', iif: 'eth1' }, 'broadcast dev lo src 10.1.0.9'],
  ])('%s', (_name, sysctls, query, expected) => {
    const decision = lookupRoute(forwarding(sysctls), queryFrom(query));
    expect(summarizeDecision(decision)).toBe(expected);
    expect(decision.warnings).toEqual([]);
  });

  it('unknown sysctls take the kernel defaults, with a warning', () => {
    const state = build({ ...NODE, sysctls: {} });
    const decision = lookupRoute(state, { dst: ip('10.244.1.9'), src: ip('10.1.0.9'), iif: 'eth1' });
    expect(summarizeDecision(decision)).toBe('rejected: forwarding-disabled (No route to host)');
    expect(decision.warnings.map((w) => w.code)).toEqual(['sysctl-unknown']);
  });
});

describe('lookupRoute: IPv6', () => {
  const state = build({
    links: ['eth0', 'eth1'],
    addrs: [
      ['eth0', 'fd00:1::10/64'],
      ['eth1', 'fd00:2::10/64'],
    ],
    routes: [
      { dst: 'fd00:1::/64', dev: 'eth0', table: 'main', metric: 256, pref: 'medium' },
      { dst: 'fd00:2::/64', dev: 'eth1', table: 'main', metric: 256, pref: 'medium' },
      { dst: 'default', gateway: 'fd00:1::1', dev: 'eth0', table: 'main', metric: 1024, pref: 'medium' },
      { type: 'local', dst: 'fd00:1::10', dev: 'eth0', table: 'local', metric: 0, pref: 'medium' },
      { type: 'unreachable', dst: 'fd00:66::/64', dev: 'lo', table: 'main', metric: 1024, pref: 'medium' },
      { dst: 'fd00:77::/64', gateway: 'fd00:2::1', dev: 'eth1', table: '100', metric: 1024, pref: 'medium' },
    ],
    rules6: [
      { priority: 0, src: 'all', table: 'local' },
      { priority: 100, src: 'fd00:2::', srclen: 64, table: '100' },
      { priority: 32766, src: 'all', table: 'main' },
    ],
  });
  it.each<[string, string, string | undefined, string]>([
    ['default route', '2001:db8::1', undefined, 'unicast via fd00:1::1 dev eth0 src fd00:1::10'],
    ['on link, the source on that link', 'fd00:2::7', undefined, 'unicast dev eth1 src fd00:2::10'],
    ['local', 'fd00:1::10', undefined, 'local dev lo src fd00:1::10'],
    ['unreachable', 'fd00:66::1', undefined, 'unreachable (No route to host)'],
    ['a from rule does not match an unset source', 'fd00:77::1', undefined, 'unicast via fd00:1::1 dev eth0 src fd00:1::10'],
    ['a from rule matches a given source', 'fd00:77::1', 'fd00:2::10', 'unicast via fd00:2::1 dev eth1 src fd00:2::10'],
  ])('%s: %s', (_name, dst, src, expected) => {
    const decision = lookupRoute(state, { dst: ip(dst), ...(src !== undefined ? { src: ip(src) } : {}) });
    expect(summarizeDecision(decision)).toBe(expected);
    expect(decision.warnings).toEqual([]);
  });
});

describe('lookupRoute: what it cannot know is a warning, never a guess', () => {
  it.each<[string, MiniNamespace, QuerySpec, string]>([
    [
      'a route through a device missing from the link dump',
      { links: ['eth0'], addrs: [['eth0', '10.0.0.1/24']], routes: [{ dst: '10.9.0.0/16', dev: 'ghost', table: 'main' }] },
      { dst: '10.9.0.1' },
      'unknown-device',
    ],
    [
      'equal default routes (the kernel picks by neighbour state)',
      {
        links: ['eth0'],
        addrs: [['eth0', '10.0.0.1/24']],
        routes: [
          { dst: 'default', gateway: '10.0.0.2', dev: 'eth0', table: 'main' },
          { dst: 'default', gateway: '10.0.0.3', dev: 'eth0', table: 'main' },
        ],
      },
      { dst: '8.8.8.8' },
      'default-route-selection',
    ],
    [
      'a nat route',
      { links: ['eth0'], addrs: [['eth0', '10.0.0.1/24']], routes: [{ type: 'nat', dst: '10.9.0.0/16', table: 'main' }] },
      { dst: '10.9.0.1' },
      'unsupported-route-type',
    ],
    [
      'a VRF rule when a VRF exists',
      { links: ['eth0', { ifname: 'vrf-blue', linkinfo: { info_kind: 'vrf' } }], addrs: [['eth0', '10.0.0.1/24']], rules: [{ priority: 1000, src: 'all', l3mdev: null }, ...DEFAULT_RULES] },
      { dst: '10.0.0.9' },
      'unsupported-rule',
    ],
    [
      'equal IPv6 routes',
      {
        links: ['eth0', 'eth1'],
        addrs: [['eth0', 'fd00::1/64']],
        routes: [
          { dst: 'fd99::/64', gateway: 'fd00::2', dev: 'eth0', table: 'main', metric: 1024, pref: 'medium' },
          { dst: 'fd99::/64', dev: 'eth1', table: 'main', metric: 1024, pref: 'medium' },
        ],
      },
      { dst: 'fd99::1' },
      'ipv6-route-selection',
    ],
  ])('%s', (_name, ns, query, code) => {
    const decision = lookupRoute(build(ns), queryFrom(query));
    expect(decision.warnings.map((w) => w.code)).toContain(code);
  });

  it('a single-path route also names its device and gateway', () => {
    const route = parseRoutes([{ dst: '10.0.0.0/8', gateway: '10.1.1.1', dev: 'eth0' }], 't').routes[0];
    expect(route?.dev).toBe('eth0');
    expect(route?.gateway).toEqual(ip('10.1.1.1'));
  });
});

describe('scale', () => {
  it('indexes thousands of routes once and looks them up by longest prefix', () => {
    const routes: Record<string, unknown>[] = [];
    for (let i = 0; i < 5000; i++) routes.push({ dst: `10.${(i >> 8) & 0xff}.${i & 0xff}.0/24`, gateway: '10.255.0.2', dev: 'eth0', table: 'main' });
    const state = build({ links: ['eth0'], addrs: [['eth0', '10.255.0.1/24']], routes });
    for (let i = 0; i < 5000; i += 97) {
      const decision = lookupRoute(state, { dst: ip(`10.${(i >> 8) & 0xff}.${i & 0xff}.9`) });
      expect(decision.kind === 'unicast' && decision.route?.dst.length).toBe(24);
    }
  });
});
