// The parsers on real dumps (fixtures/, recorded by fixtures/record.sh from a kernel 6.18 with
// iproute2 6.1) and on malformed input, which must fail naming the dump, the entry and the field.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { formatIp, formatPrefix } from '../../model/ip.js';
import { parseAddresses } from './address.js';
import { parseFdb } from './fdb.js';
import { RoutingParseError } from './json-reader.js';
import { parseLinks } from './link.js';
import { parseNeighbors } from './neighbor.js';
import { formatRoute, parseRoutes } from './route.js';
import { formatRule, parseRules } from './rule.js';
import { buildRoutingSysctls } from './sysctls.js';

function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
}

const links = parseLinks(fixture('node-link.json'), 'node-link.json');
const addresses = parseAddresses(fixture('node-addr.json'), 'node-addr.json');
const routes = parseRoutes(fixture('node-route.json'), 'node-route.json');
const routes6 = parseRoutes(fixture('node-route6.json'), 'node-route6.json', { family: 6 });
const rules = parseRules(fixture('node-rule.json'), 'node-rule.json');

describe('parseLinks (ip -j -d link)', () => {
  const byName = new Map(links.links.map((l) => [l.name, l]));

  it('reads every interface without warnings', () => {
    expect(links.warnings).toEqual([]);
    expect([...byName.keys()]).toEqual(['lo', 'eth0', 'eth1', 'cni0', 'veth1234', 'flannel.1']);
  });

  it.each([
    ['lo', { up: true, lowerUp: true, mtu: 65536, linkType: 'loopback' }],
    ['eth0', { kind: 'veth', up: true, lowerUp: true, linkIndex: 2, linkNetnsid: 0, operstate: 'UP' }],
    ['eth1', { kind: 'veth', up: true, lowerUp: false, operstate: 'DOWN' }],
    ['cni0', { kind: 'bridge', bridge: { vlanFiltering: false, stpState: 0, nfCallIptables: false } }],
    ['veth1234', { kind: 'veth', slaveKind: 'bridge', master: 'cni0', bridgeSlave: expect.objectContaining({ state: 'forwarding', learning: true }) }],
    ['flannel.1', { kind: 'vxlan', mtu: 1450, vxlan: expect.objectContaining({ id: 1, dev: 'eth0', port: 8472, learning: false, external: false }) }],
  ])('%s', (name, expected) => {
    expect(byName.get(name)).toMatchObject(expected);
  });

  it('reads the vxlan local address and a same-namespace veth peer', () => {
    expect(formatIp(byName.get('flannel.1')?.vxlan?.local ?? { family: 4, value: 0n })).toBe('192.168.1.10');
    const peer = parseLinks([{ ifindex: 5, ifname: 'a', link: 'b', flags: ['UP'], group: 'default' }], 't');
    expect(peer.links[0]).toMatchObject({ link: 'b', up: true, lowerUp: false, group: 0 });
  });
});

describe('parseAddresses (ip -j -d addr)', () => {
  it.each([
    ['lo', '127.0.0.1', 8, 254, false],
    ['eth0', '192.168.1.10', 24, 0, false],
    ['eth0', '192.168.1.11', 24, 0, true],
    ['flannel.1', '10.244.1.0', 32, 0, false],
    ['eth0', 'fd00:1::10', 64, 0, false],
  ])('%s has %s/%d scope %d secondary=%s', (dev, local, prefixLength, scope, secondary) => {
    const found = addresses.addresses.find((a) => a.dev === dev && formatIp(a.local) === local);
    expect(found).toMatchObject({ prefixLength, scope, secondary });
  });

  it('keeps the kernel order per device and also returns the links', () => {
    const eth0 = addresses.addresses.filter((a) => a.dev === 'eth0' && a.family === 4).map((a) => formatIp(a.local));
    expect(eth0).toEqual(['192.168.1.10', '192.168.1.11']);
    expect(addresses.links.map((l) => l.name)).toContain('cni0');
    expect(addresses.addresses.find((a) => formatIp(a.local) === 'fd00:1::10')?.flags).toContain('nodad');
  });

  it('skips the empty objects some iproute2 versions print for a filtered family', () => {
    const parsed = parseAddresses([{ ifindex: 1, ifname: 'lo', flags: [], addr_info: [{}] }], 't');
    expect(parsed.addresses).toEqual([]);
  });
});

describe('parseRoutes (ip -j -d route show table all)', () => {
  it('reads every route of both families without warnings', () => {
    expect(routes.warnings).toEqual([]);
    expect(routes.routes.some((r) => r.family === 6)).toBe(true);
    expect(routes6.routes.every((r) => r.family === 6)).toBe(true);
  });

  it.each([
    ['default via 192.168.1.1 dev eth0'],
    ['default via 192.168.1.254 dev eth0 table 100'],
    ['10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink'],
    ['10.96.0.0/12 nexthop via 192.168.1.2 dev eth0 weight 2 nexthop via 192.168.1.3 dev eth0 weight 1'],
    ['10.97.0.0/16 dev eth0 scope link src 192.168.1.11'],
    ['10.98.0.0/16 via 172.20.0.254 dev eth1 linkdown'],
    ['10.70.0.0/16 tos 0x10 via 192.168.1.4 dev eth0'],
    ['10.70.0.0/16 via 192.168.1.5 dev eth0 metric 100'],
    ['unreachable 10.67.0.0/16'],
    ['blackhole 10.66.0.0/16'],
    ['throw 10.0.0.0/8 table 100'],
    ['prohibit 10.68.0.0/16 table 100'],
    ['local 192.168.1.11 dev eth0 table local scope host src 192.168.1.10'],
    ['broadcast 192.168.1.255 dev eth0 table local scope link src 192.168.1.10'],
    ['default via fd00:1::1 dev eth0 metric 1024'],
    ['unreachable fd00:66::/64 dev lo metric 1024'],
  ])('%s', (text) => {
    expect(routes.routes.map(formatRoute)).toContain(text);
  });

  it('resolves table names and reads multipath weights', () => {
    const local = routes.routes.filter((r) => r.tableName === 'local');
    expect(local.every((r) => r.table === 255)).toBe(true);
    const multipath = routes.routes.find((r) => r.multipath);
    expect(multipath?.nexthops.map((nh) => [nh.gateway && formatIp(nh.gateway), nh.dev, nh.weight])).toEqual([
      ['192.168.1.2', 'eth0', 2],
      ['192.168.1.3', 'eth0', 1],
    ]);
  });

  it.each([
    // Without -d, iproute2 omits the type of unicast routes and the table of main.
    [{ dst: '10.0.0.0/8', gateway: '10.1.1.1', dev: 'eth0' }, { type: 'unicast', table: 254, metric: 0, scope: 0 }],
    // A default route without any address is IPv6 when it carries `pref` (the kernel sends it for IPv6 only).
    [{ dst: 'default', dev: 'wg0', pref: 'medium', metric: 1024 }, { family: 6, metric: 1024 }],
    [{ dst: 'default', dev: 'wg0' }, { family: 4 }],
    [{ dst: '10.99.0.0/16', via: { family: 'inet6', host: 'fe80::1' }, dev: 'eth0' }, { nexthops: [expect.objectContaining({ dev: 'eth0' })] }],
    [{ dst: '10.1.0.0/16', tos: 'CS1', dev: 'eth0', table: '1000' }, { tos: 0x20, table: 1000, tableName: '1000' }],
    [{ dst: '10.1.0.0/16', dev: 'eth0', table: 'vpn' }, { tableName: 'vpn' }],
  ])('reads %j', (entry, expected) => {
    const parsed = parseRoutes([entry], 't');
    expect(parsed.routes[0]).toMatchObject(expected);
  });

  it('resolves site-specific table names when given, and warns otherwise', () => {
    expect(parseRoutes([{ dst: '10.0.0.0/8', dev: 'e', table: 'vpn' }], 't', { tableNames: { vpn: 7 } }).routes[0]?.table).toBe(7);
    const unknown = parseRoutes([{ dst: '10.0.0.0/8', dev: 'e', table: 'vpn' }], 't');
    expect(unknown.warnings.map((w) => w.code)).toEqual(['unknown-table-name']);
    const rule = parseRules([{ priority: 5, src: 'all', table: 'vpn' }], 't');
    expect(rule.rules[0]?.action).toEqual({ kind: 'lookup', table: unknown.routes[0]?.table, tableName: 'vpn' });
  });
});

describe('parseRules (ip -j -d rule)', () => {
  it('reads every rule without warnings, in the words of ip rule', () => {
    expect(rules.warnings).toEqual([]);
    expect(rules.rules.map(formatRule)).toEqual([
      'rule 0 from all lookup local',
      'rule 100 from all fwmark 0x100/0xff00 lookup 100',
      'rule 200 from 10.244.1.0/24 iif cni0 lookup 100',
      'rule 300 not from all to 10.0.0.0/8 goto 1000',
      'rule 400 from all lookup main suppress_prefixlength 0',
      'rule 500 from all to 10.80.0.0/16 blackhole',
      'rule 510 from all to 10.81.0.0/16 unreachable',
      'rule 520 from all to 10.82.0.0/16 prohibit',
      'rule 600 from all ipproto tcp dport 443 lookup 200',
      'rule 700 from all tos 0x08 lookup 100',
      'rule 800 from all oif eth1 lookup 100',
      'rule 1000 from all nop',
      'rule 32766 from all lookup main',
      'rule 32767 from all lookup default',
    ]);
  });

  it('reads ip -j rule (no -d) and ip -6 -j rule the same way', () => {
    const plain = parseRules(fixture('node-rule-plain.json'), 'node-rule-plain.json');
    expect(plain.rules.map(formatRule)).toEqual(rules.rules.map(formatRule));
    const six = parseRules(fixture('node-rule6.json'), 'node-rule6.json', { family: 6 });
    expect(six.rules.map((r) => [r.family, r.priority, r.src && formatPrefix(r.src)])).toEqual([
      [6, 0, undefined],
      [6, 100, 'fd00:1::/64'],
      [6, 32766, undefined],
    ]);
  });

  it.each([
    [{ priority: 1, src: 'all', fwmark: '0x5', table: '100' }, { fwmark: 5, fwmask: 0xffffffff }],
    [{ priority: 1, src: 'all', fwmark: '0', fwmask: '0xff', table: '100' }, { fwmark: 0, fwmask: 0xff }],
    [{ priority: 1, src: 'all', table: '100' }, { fwmark: 0, fwmask: 0 }],
    [{ priority: 2, src: 'all', goto: 999, unresolved: null }, { action: { kind: 'goto', target: 999 }, unresolved: true }],
    [{ priority: 3, src: 'all', iif: 'x', iif_detached: null, oif: 'y', oif_detached: null, table: '1' }, { iifDetached: true, oifDetached: true }],
    [{ priority: 4, src: 'all', uid_start: 100, uid_end: 200, table: '1' }, { uidRange: { start: 100, end: 200 } }],
    [{ priority: 5, src: 'all', ipproto: 'udp', sport_start: 10, sport_end: 20, dport: 53, table: '1' }, { ipproto: 17, sport: { start: 10, end: 20 }, dport: { start: 53, end: 53 } }],
    [{ priority: 6, src: 'all', ipproto: 'ipproto-200', table: '1' }, { ipproto: 200 }],
    [{ priority: 7, src: 'all', l3mdev: null }, { l3mdev: true, action: { kind: 'l3mdev' } }],
    [{ priority: 8, src: 'all', table: '100', suppress_ifgroup: '5' }, { suppressIfgroup: 5 }],
    [{ priority: 9, src: '10.1.0.5', table: '100' }, { src: { family: 4, network: 0x0a010005n, length: 32 } }],
    [{ priority: 10, src: 'all', tos: 'CS1', table: '1' }, { tos: 0x20 }],
    [{ priority: 11, src: 'all', tun_id: 5, table: '1' }, { tunId: 5 }],
  ])('reads %j', (entry, expected) => {
    const parsed = parseRules([entry], 't');
    expect(parsed.warnings).toEqual([]);
    expect(parsed.rules[0]).toMatchObject(expected);
  });

  it('flags selectors it does not know, so that lookups through them are inconclusive', () => {
    const parsed = parseRules([{ priority: 1, src: 'all', dscp: 'AF11', table: '1' }], 't');
    expect(parsed.rules[0]?.unsupportedSelectors).toEqual(['dscp']);
    expect(parsed.warnings.map((w) => w.code)).toEqual(['unsupported-rule-selector']);
  });
});

describe('parseNeighbors (ip -j neigh) and parseFdb (bridge -j fdb)', () => {
  it('reads neighbours with their states', () => {
    const parsed = parseNeighbors(fixture('node-neigh.json'), 'node-neigh.json');
    expect(parsed.warnings).toEqual([]);
    expect(parsed.neighbors.map((n) => `${formatIp(n.dst)} ${n.dev} ${n.lladdr ?? '-'} ${n.state.join(',')}${n.router ? ' router' : ''}`)).toEqual([
      '192.168.1.12 eth0 02:00:00:00:01:0c STALE',
      '172.20.0.254 eth1 - FAILED',
      '10.244.2.0 flannel.1 0a:00:00:00:02:00 PERMANENT',
      '192.168.1.1 eth0 02:00:00:00:01:01 PERMANENT',
      'fd00:1::1 eth0 02:00:00:00:01:01 PERMANENT router',
    ]);
  });

  it('reads vxlan and bridge fdb entries', () => {
    const parsed = parseFdb(fixture('node-fdb.json'), 'node-fdb.json');
    expect(parsed.warnings).toEqual([]);
    const vxlan = parsed.entries.filter((e) => e.dev === 'flannel.1');
    expect(vxlan.map((e) => [e.mac, e.dst && formatIp(e.dst), e.self, e.state])).toEqual([
      ['00:00:00:00:00:00', '192.168.1.13', true, 'permanent'],
      ['0a:00:00:00:02:00', '192.168.1.12', true, 'permanent'],
    ]);
    const port = parsed.entries.filter((e) => e.dev === 'veth1234' && e.master === 'cni0');
    expect(port.map((e) => e.state)).toEqual(['static', 'dynamic', 'permanent']);
  });

  it('accepts the older `dev` key and a vlan', () => {
    const parsed = parseFdb([{ mac: 'AA:BB:CC:DD:EE:FF', dev: 'vx0', vlan: 10, flags: ['self', 'extern_learn'] }], 't');
    expect(parsed.entries[0]).toMatchObject({ mac: 'aa:bb:cc:dd:ee:ff', dev: 'vx0', vlan: 10, externLearn: true, state: 'dynamic' });
  });
});

describe('malformed dumps fail with the source, the entry and the field', () => {
  it.each([
    ['not JSON', () => parseRoutes('[{', 'r.json'), /^r\.json: not valid JSON/],
    ['empty output', () => parseRules('', 'rules.json'), /^rules\.json: empty output/],
    ['an object instead of an array', () => parseLinks('{"ifname":"x"}', 'l.json'), /^l\.json: expected a JSON array of links, got an object/],
    ['a route without dst', () => parseRoutes([{ dev: 'eth0' }], 'r.json'), /^r\.json: route #0: field "dst": missing/],
    ['a bad gateway', () => parseRoutes([{}, { dst: '10.0.0.0/8', gateway: 'nope' }].slice(1), 'r.json'), /^r\.json: route #0 \(10\.0\.0\.0\/8\): field "gateway": expected an IP address, got "nope"/],
    ['a bad prefix', () => parseRoutes([{ dst: '10.0.0.0/40' }], 'r.json'), /route #0 \(10\.0\.0\.0\/40\): field "dst": expected a prefix/],
    ['an unknown scope', () => parseRoutes([{ dst: '10.0.0.0/8', scope: 'galaxy' }], 'r.json'), /field "scope": unknown scope "galaxy"/],
    ['a bad fwmark', () => parseRules([{ priority: 7, fwmark: 'x' }], 'ru.json'), /^ru\.json: rule #0 \(priority 7\): field "fwmark": expected a non-negative integer, got "x"/],
    ['an unknown protocol', () => parseRules([{ priority: 7, ipproto: 'xyzzy' }], 'ru.json'), /field "ipproto": unknown protocol "xyzzy"/],
    ['an address without prefixlen', () => parseAddresses([{ ifindex: 2, ifname: 'eth0', addr_info: [{ family: 'inet', local: '10.0.0.1' }] }], 'a.json'), /^a\.json: interface eth0, address #0: field "prefixlen": missing/],
    ['flags that are not strings', () => parseLinks([{ ifindex: 1, ifname: 'lo', flags: [1] }], 'l.json'), /^l\.json: link #0 \(lo\): field "flags": expected an array of strings/],
    ['a neighbour with a bad dst', () => parseNeighbors([{ dst: '1.2.3', dev: 'x' }], 'n.json'), /^n\.json: neighbor #0 \(1\.2\.3\): field "dst": expected an IP address/],
    ['an fdb entry with a bad MAC', () => parseFdb([{ mac: 'zz', ifname: 'x' }], 'f.json'), /^f\.json: fdb entry #0 \(zz\): field "mac": expected a MAC address/],
    ['an entry that is not an object', () => parseRules([1], 'ru.json'), /^ru\.json: rule #0: expected a JSON object, got number 1/],
  ])('%s', (_name, parse, message) => {
    expect(parse).toThrow(RoutingParseError);
    expect(parse).toThrow(message);
  });
});

describe('buildRoutingSysctls', () => {
  it('reads the dotted and the /proc forms, and device names with dots', () => {
    const sysctls = buildRoutingSysctls({
      'net.ipv4.conf.all.rp_filter': '2',
      'net.ipv4.conf.eth0/100.forwarding': '1',
      'net/ipv4/conf/eth1/accept_local': 1,
      'net.ipv4.conf.default.forwarding': '1',
      'net.ipv4.ip_forward': '1',
    });
    expect(sysctls).toEqual({ all: { rpFilter: 2 }, devices: { 'eth0.100': { forwarding: true }, eth1: { acceptLocal: true } } });
  });

  it('reads the fixture (sysctl net.ipv4.conf)', () => {
    const values: Record<string, string> = {};
    for (const line of fixture('node-sysctl.txt').split('\n')) {
      const [key, value] = line.split(' = ');
      if (key !== undefined && value !== undefined) values[key] = value;
    }
    const sysctls = buildRoutingSysctls(values);
    expect(sysctls.all).toMatchObject({ forwarding: true, rpFilter: 2 });
    expect(sysctls.devices?.eth1).toMatchObject({ rpFilter: 1, forwarding: true });
  });
});

