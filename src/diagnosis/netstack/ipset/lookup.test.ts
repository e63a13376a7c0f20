import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { formatIp, formatPrefix, parseIp, prefixContains, type IpPrefix } from '../../model/ip.js';
import { buildPacket, type Packet, type Protocol } from '../../model/packet.js';
import { IpsetTable, ipsetHas } from './lookup.js';
import { parseIpsetSave } from './parse.js';
import type { IpsetFlag } from './types.js';

const fixture = (name: string): string => readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8');

function ip(text: string): NonNullable<ReturnType<typeof parseIp>> {
  const a = parseIp(text);
  if (!a) throw new Error(`bad address ${text}`);
  return a;
}

/** `tcp 10.0.0.1:1234 > 10.0.0.2:80`, `icmp 10.0.0.1 > 10.0.0.2 8/0` */
function pkt(text: string): Packet {
  const m = /^(tcp|udp|icmp) (\S+?)(?::(\d+))? > (\S+?)(?::(\d+))?(?: (\d+)\/(\d+))?$/.exec(text.replace(/\[|\]/g, ''));
  if (!m) throw new Error(`bad packet ${text}`);
  const [, protocol, src, sport, dst, dport, type, code] = m;
  return buildPacket({
    protocol: protocol as Protocol,
    src: ip(src ?? ''),
    dst: ip(dst ?? ''),
    sport: Number(sport ?? 0),
    dport: Number(dport ?? 0),
    ...(type === undefined ? {} : { icmpType: Number(type), icmpCode: Number(code) }),
  });
}

// A v6 packet is written with its addresses in brackets: `udp [fd00::1]:53 > [fd00::2]:53`.
function pkt6(text: string): Packet {
  const m = /^(tcp|udp|icmp) \[(.+?)\](?::(\d+))? > \[(.+?)\](?::(\d+))?(?: (\d+)\/(\d+))?$/.exec(text);
  if (!m) throw new Error(`bad packet ${text}`);
  const [, protocol, src, sport, dst, dport, type, code] = m;
  return buildPacket({
    protocol: protocol as Protocol,
    src: ip(src ?? ''),
    dst: ip(dst ?? ''),
    sport: Number(sport ?? 0),
    dport: Number(dport ?? 0),
    ...(type === undefined ? {} : { icmpType: Number(type), icmpCode: Number(code) }),
  });
}

const table = new IpsetTable(parseIpsetSave(fixture('kube-and-calico.save'), 'fixture'));
const D: IpsetFlag[] = ['dst', 'dst', 'dst'];

describe('IpsetTable.has on the kube-and-calico fixture', () => {
  it.each<[string, string, IpsetFlag[], string, boolean | undefined]>([
    // hash:net: the most specific prefix decides, and a nomatch there excludes.
    ['hash:net /8 covers', 'ndt-ips-external', D, 'tcp 192.0.2.1:1 > 10.1.2.3:80', true],
    ['hash:net nomatch /16 excludes', 'ndt-ips-external', D, 'tcp 192.0.2.1:1 > 10.244.1.1:80', false],
    ['hash:net /24 inside the nomatch /16 includes again', 'ndt-ips-external', D, 'tcp 192.0.2.1:1 > 10.244.7.5:80', true],
    ['hash:net nomatch /25 inside that /24 excludes again', 'ndt-ips-external', D, 'tcp 192.0.2.1:1 > 10.244.7.200:80', false],
    ['hash:net from a range, inside', 'ndt-ips-external', D, 'tcp 192.0.2.1:1 > 172.16.0.3:80', true],
    ['hash:net from a range, just past its end', 'ndt-ips-external', D, 'tcp 192.0.2.1:1 > 172.16.0.7:80', false],
    ['hash:net outside every prefix', 'ndt-ips-external', D, 'tcp 192.0.2.1:1 > 11.0.0.1:80', false],
    ['hash:net with the src flag reads the source', 'ndt-ips-external', ['src'], 'tcp 10.1.2.3:1 > 11.0.0.1:80', true],
    ['hash:net IPv6 /48', 'ndt-ips-all-pools', D, 'udp [fd00::1]:5 > [fd00:10:244:9::1]:53', true],
    ['hash:net IPv6 nomatch /64', 'ndt-ips-all-pools', D, 'udp [fd00::1]:5 > [fd00:10:244:5::1]:53', false],
    ['hash:net IPv6 host inside the nomatch /64', 'ndt-ips-all-pools', D, 'udp [fd00::1]:5 > [fd00:10:244:5::7]:53', true],
    // hash:ip,port: the protocol is part of the element; a bare port in the dump means tcp.
    ['hash:ip,port tcp 443', 'ndt-ips-cluster-ip', D, 'tcp 10.244.1.5:40000 > 10.96.0.1:443', true],
    ['hash:ip,port wrong protocol', 'ndt-ips-cluster-ip', D, 'udp 10.244.1.5:40000 > 10.96.0.1:443', false],
    ['hash:ip,port udp 53', 'ndt-ips-cluster-ip', D, 'udp 10.244.1.5:40000 > 10.96.0.10:53', true],
    ['hash:ip,port bare 9153 is tcp', 'ndt-ips-cluster-ip', D, 'tcp 10.244.1.5:40000 > 10.96.0.10:9153', true],
    ['hash:ip,port bare 9153 is not udp', 'ndt-ips-cluster-ip', D, 'udp 10.244.1.5:40000 > 10.96.0.10:9153', false],
    ['hash:ip,port with dst,src reads the source port', 'ndt-ips-cluster-ip', ['dst', 'src'], 'tcp 10.244.1.5:443 > 10.96.0.1:1', true],
    ['hash:ip,port with one flag does not match (dimension 2)', 'ndt-ips-cluster-ip', ['dst'], 'tcp 10.244.1.5:40000 > 10.96.0.1:443', false],
    ['hash:ip,port IPv6 packet against an inet set', 'ndt-ips-cluster-ip', D, 'tcp [fd00::1]:1 > [fd00::2]:443', false],
    // ICMP: type << 8 | code in the port field, whatever the flag.
    ['hash:ip,port icmp echo-request', 'ndt-ips-icmp', D, 'icmp 10.0.0.1 > 10.244.2.3 8/0', true],
    ['hash:ip,port icmp echo-request, src flag for the port', 'ndt-ips-icmp', ['dst', 'src'], 'icmp 10.0.0.1 > 10.244.2.3 8/0', true],
    ['hash:ip,port icmp echo-reply is not there', 'ndt-ips-icmp', D, 'icmp 10.0.0.1 > 10.244.2.3 0/0', false],
    ['hash:ip,port icmp 3/4', 'ndt-ips-icmp', D, 'icmp 10.0.0.1 > 10.244.2.3 3/4', true],
    ['hash:ip,port tcp port 0 is not gre:0', 'ndt-ips-icmp', D, 'tcp 10.0.0.1:1 > 10.244.2.3:0', false],
    // hash:ip,port,ip and hash:ip,port,net
    ['hash:ip,port,ip hairpin', 'ndt-ips-loopback', ['dst', 'dst', 'src'], 'tcp 10.244.1.5:3 > 10.244.1.5:8080', true],
    ['hash:ip,port,ip third dimension differs', 'ndt-ips-loopback', ['dst', 'dst', 'src'], 'tcp 10.244.1.4:3 > 10.244.1.5:8080', false],
    ['hash:ip,port,ip from a range', 'ndt-ips-loopback', ['dst', 'dst', 'src'], 'udp 10.244.1.9:3 > 10.244.1.7:53', true],
    ['hash:ip,port,net /24', 'ndt-ips-load-balancer-src', ['dst', 'dst', 'src'], 'tcp 198.51.100.5:9 > 192.0.2.10:80', true],
    ['hash:ip,port,net nomatch /25', 'ndt-ips-load-balancer-src', ['dst', 'dst', 'src'], 'tcp 198.51.100.129:9 > 192.0.2.10:80', false],
    ['hash:ip,port,net host inside nomatch', 'ndt-ips-load-balancer-src', ['dst', 'dst', 'src'], 'tcp 198.51.100.200:9 > 192.0.2.10:80', true],
    ['hash:ip,port,net other port', 'ndt-ips-load-balancer-src', ['dst', 'dst', 'src'], 'tcp 198.51.100.5:9 > 192.0.2.10:81', false],
    // hash:net,port IPv6
    ['hash:net,port /112', 'ndt-ips-ports6', D, 'udp [fd00::1]:9 > [fd00:10:96::105]:53', true],
    ['hash:net,port nomatch /120', 'ndt-ips-ports6', D, 'udp [fd00::1]:9 > [fd00:10:96::5]:53', false],
    ['hash:net,port ICMPv6 echo', 'ndt-ips-ports6', D, 'icmp [fd00::1] > [fd00:10:96::] 128/0', true],
    // hash:ip with netmask: the packet's address is masked before lookup.
    ['hash:ip netmask 24', 'ndt-ips-subnets', D, 'tcp 10.0.0.1:1 > 10.244.10.99:80', true],
    ['hash:ip netmask 24, other /24', 'ndt-ips-subnets', D, 'tcp 10.0.0.1:1 > 10.244.12.1:80', false],
    ['hash:ip with a timeout of 0 (permanent)', 'ndt-ips-hosts', D, 'tcp 10.0.0.1:1 > 10.244.2.3:80', true],
    // bitmap types
    ['bitmap:port tcp', 'ndt-ips-node-port-tcp', D, 'tcp 10.0.0.1:1 > 10.0.0.2:31001', true],
    ['bitmap:port udp', 'ndt-ips-node-port-tcp', D, 'udp 10.0.0.1:1 > 10.0.0.2:31001', true],
    ['bitmap:port IPv6 (no family)', 'ndt-ips-node-port-tcp', D, 'udp [fd00::1]:1 > [fd00::2]:30080', true],
    ['bitmap:port not ICMP', 'ndt-ips-node-port-tcp', D, 'icmp 10.0.0.1 > 10.0.0.2 0/0', false],
    ['bitmap:port src', 'ndt-ips-node-port-tcp', ['src'], 'tcp 10.0.0.1:30080 > 10.0.0.2:1', true],
    ['bitmap:port outside the range', 'ndt-ips-node-port-local-tcp', D, 'tcp 10.0.0.1:1 > 10.0.0.2:80', false],
    ['bitmap:ip', 'ndt-ips-pods', D, 'tcp 10.0.0.1:1 > 10.244.2.11:80', true],
    ['bitmap:ip not set', 'ndt-ips-pods', D, 'tcp 10.0.0.1:1 > 10.244.2.13:80', false],
    ['bitmap:ip outside the range', 'ndt-ips-pods', D, 'tcp 10.0.0.1:1 > 10.244.3.1:80', false],
    ['bitmap:ip netmask 24', 'ndt-ips-blocks', D, 'tcp 10.0.0.1:1 > 10.0.3.250:80', true],
    // list:set: members in order; a nomatch in one member does not stop the next.
    ['list:set first member', 'ndt-ips-any', D, 'tcp 10.0.0.1:1 > 10.1.2.3:80', true],
    ['list:set nomatch in external, then found in hosts', 'ndt-ips-any', D, 'tcp 10.0.0.1:1 > 10.244.2.3:80', true],
    ['list:set third member (dimension 2 with 2 flags)', 'ndt-ips-any', ['dst', 'dst'], 'udp 10.0.0.1:1 > 10.96.0.10:53', true],
    ['list:set nowhere', 'ndt-ips-any', D, 'udp 10.0.0.1:1 > 11.0.0.1:53', false],
    // what we cannot know
    ['an unsupported type', 'ndt-ips-iface', D, 'tcp 10.0.0.1:1 > 10.244.0.1:80', undefined],
    ['a set that does not exist', 'no-such-set', D, 'tcp 10.0.0.1:1 > 10.244.0.1:80', undefined],
  ])('%s', (_what, name, flags, packet, expected) => {
    expect(table.has(name, packet.includes('[') ? pkt6(packet) : pkt(packet), flags)).toBe(expected);
  });

  it('tells nomatch from no element (for --return-nomatch)', () => {
    expect(table.test('ndt-ips-external', pkt('tcp 1.1.1.1:1 > 10.244.1.1:80'), D)).toBe('nomatch');
    expect(table.test('ndt-ips-external', pkt('tcp 1.1.1.1:1 > 11.0.0.1:80'), D)).toBe('miss');
    expect(table.test('ndt-ips-external', pkt('tcp 1.1.1.1:1 > 10.0.0.1:80'), D)).toBe('match');
  });

  it('expires elements whose timeout has run out by the time asked', () => {
    const later = new IpsetTable(parseIpsetSave(fixture('kube-and-calico.save')), { elapsedSeconds: 100 });
    expect(later.has('ndt-ips-hosts', pkt('tcp 10.0.0.1:1 > 10.244.3.1:80'), D)).toBe(false); // timeout 99
    expect(later.has('ndt-ips-hosts', pkt('tcp 10.0.0.1:1 > 10.244.2.4:80'), D)).toBe(true); // timeout 299
    expect(later.has('ndt-ips-hosts', pkt('tcp 10.0.0.1:1 > 10.244.2.3:80'), D)).toBe(true); // timeout 0
    expect(table.has('ndt-ips-hosts', pkt('tcp 10.0.0.1:1 > 10.244.3.1:80'), D)).toBe(true);
  });

  it('passes its flags to the member sets: a two-dimension member needs two flags', () => {
    const t = new IpsetTable(parseIpsetSave('create p hash:ip,port\nadd p 10.0.0.1,udp:53\ncreate l list:set\nadd l p'));
    expect(t.has('l', pkt('udp 1.1.1.1:1 > 10.0.0.1:53'), ['dst', 'dst'])).toBe(true);
    expect(t.has('l', pkt('udp 1.1.1.1:1 > 10.0.0.1:53'), ['dst'])).toBe(false);
  });

  it('answers unknown for a list:set with a missing member unless another member matches', () => {
    const dump = parseIpsetSave('create a hash:ip\nadd a 10.0.0.1\ncreate l list:set\nadd l a\nadd l gone');
    const t = new IpsetTable(dump);
    expect(t.has('l', pkt('tcp 1.1.1.1:1 > 10.0.0.1:80'), D)).toBe(true);
    expect(t.has('l', pkt('tcp 1.1.1.1:1 > 10.0.0.2:80'), D)).toBeUndefined();
    const set = dump.sets.get('l');
    expect(set && ipsetHas(set, pkt('tcp 1.1.1.1:1 > 10.0.0.1:80'), D)).toBeUndefined(); // no resolver given
  });
});

// A seeded generator, so a failure can be replayed.
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('large sets', () => {
  it('hash:net with 40 000 nested prefixes and nomatch agrees with a brute-force most-specific search', () => {
    const rand = mulberry32(42);
    const prefixes: { prefix: IpPrefix; nomatch: boolean; net: number; mask: number }[] = [];
    const lines = ['create big hash:net family inet hashsize 65536 maxelem 100000'];
    const seen = new Set<string>();
    while (prefixes.length < 40_000) {
      const length = 8 + Math.floor(rand() * 25); // /8 .. /32
      const value = BigInt(0x0a000000 + Math.floor(rand() * 0x00ffffff)); // inside 10/8, so prefixes nest
      const network = value & (0xffffffffn << BigInt(32 - length)) & 0xffffffffn;
      const prefix: IpPrefix = { family: 4, network, length };
      const text = formatPrefix(prefix);
      if (seen.has(text)) continue;
      seen.add(text);
      const nomatch = rand() < 0.3;
      // Plain numbers for the brute force: 3000 x 40 000 bigint comparisons would take a minute.
      prefixes.push({ prefix, nomatch, net: Number(network), mask: length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0 });
      lines.push(`add big ${text}${nomatch ? ' nomatch' : ''}`);
    }
    const t = new IpsetTable(parseIpsetSave(lines.join('\n')));
    for (let i = 0; i < 3000; i++) {
      const dst = { family: 4 as const, value: BigInt(0x0a000000 + Math.floor(rand() * 0x00ffffff)) };
      const d = Number(dst.value);
      let best: { prefix: IpPrefix; nomatch: boolean } | undefined;
      for (const p of prefixes) if ((d & p.mask) >>> 0 === p.net && (!best || p.prefix.length > best.prefix.length)) best = p;
      if (i === 0 && best) expect(prefixContains(best.prefix, dst)).toBe(true);
      const packet = buildPacket({ protocol: 'udp', src: ip('192.0.2.1'), dst, sport: 1, dport: 2 });
      expect([formatIp(dst), t.has('big', packet, ['dst'])]).toEqual([formatIp(dst), best !== undefined && !best.nomatch]);
    }
  });

  it('hash:ip,port with 50 000 entries answers exact membership', () => {
    const lines = ['create svc hash:ip,port family inet hashsize 65536 maxelem 100000'];
    for (let i = 0; i < 50_000; i++) lines.push(`add svc 10.96.${(i >> 8) & 0xff}.${i & 0xff},${i % 2 ? 'udp' : 'tcp'}:${1000 + (i % 7)}`);
    const t = new IpsetTable(parseIpsetSave(lines.join('\n')));
    for (let i = 0; i < 50_000; i += 997) {
      const dst = `10.96.${(i >> 8) & 0xff}.${i & 0xff}`;
      const proto = i % 2 ? 'udp' : 'tcp';
      expect(t.has('svc', pkt(`${proto} 10.0.0.1:5 > ${dst}:${1000 + (i % 7)}`), D)).toBe(true);
      expect(t.has('svc', pkt(`${proto} 10.0.0.1:5 > ${dst}:${1001 + (i % 7)}`), D)).toBe(false);
      expect(t.has('svc', pkt(`${i % 2 ? 'tcp' : 'udp'} 10.0.0.1:5 > ${dst}:${1000 + (i % 7)}`), D)).toBe(false);
    }
  });
});
