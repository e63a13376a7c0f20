import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parseIp } from '../../model/ip.js';
import { buildPacket, type Packet, type Protocol } from '../../model/packet.js';
import { IpsetTable } from './lookup.js';
import { IpsetParseError, parseIpsetSave } from './parse.js';
import type { IpsetSet } from './types.js';

const fixture = (name: string): string => readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8');

function setOf(text: string, name: string): IpsetSet {
  const set = parseIpsetSave(text).sets.get(name);
  if (!set) throw new Error(`no set ${name}`);
  return set;
}

describe('parseIpsetSave on real ipset save output', () => {
  const dump = parseIpsetSave(fixture('kube-and-calico.save'), 'node1/ipset.save');

  it('reads every set, in dump order, with its type and family', () => {
    expect([...dump.sets.values()].map((s) => [s.name, s.type, s.family])).toEqual([
      ['ndt-ips-cluster-ip', 'hash:ip,port', 4],
      ['ndt-ips-loopback', 'hash:ip,port,ip', 4],
      ['ndt-ips-load-balancer-src', 'hash:ip,port,net', 4],
      ['ndt-ips-node-port-tcp', 'bitmap:port', undefined],
      ['ndt-ips-node-port-local-tcp', 'bitmap:port', undefined],
      ['ndt-ips-external', 'hash:net', 4],
      ['ndt-ips-all-pools', 'hash:net', 6],
      ['ndt-ips-ports6', 'hash:net,port', 6],
      ['ndt-ips-hosts', 'hash:ip', 4],
      ['ndt-ips-subnets', 'hash:ip', 4],
      ['ndt-ips-icmp', 'hash:ip,port', 4],
      ['ndt-ips-pods', 'bitmap:ip', 4],
      ['ndt-ips-blocks', 'bitmap:ip', 4],
      ['ndt-ips-iface', 'unsupported', 4],
      ['ndt-ips-macs', 'unsupported', 4],
      ['ndt-ips-any', 'list:set', undefined],
    ]);
  });

  it('keeps the source and line of each set and entry', () => {
    const set = dump.sets.get('ndt-ips-external');
    expect(set?.source).toBe('node1/ipset.save:25');
    expect(set?.type === 'hash:net' && set.entries[0]?.line).toBe(26);
  });

  it('reads element extensions: comment, timeout, nomatch', () => {
    const cluster = dump.sets.get('ndt-ips-cluster-ip');
    expect(cluster?.type === 'hash:ip,port' && cluster.entries.find((e) => e.comment !== undefined)?.comment).toBe(
      'default/kubernetes:https cluster IP',
    );
    const hosts = dump.sets.get('ndt-ips-hosts');
    expect(hosts?.options.timeout).toBe(300);
    expect(hosts?.type === 'hash:ip' && hosts.entries.map((e) => e.timeout)).toEqual([299, 99, 99, 0, 99, 99]);
    const external = dump.sets.get('ndt-ips-external');
    expect(external?.type === 'hash:net' && external.entries.filter((e) => e.nomatch).length).toBe(2);
  });

  it('reads ports with their protocol, ICMP as type << 8 | code', () => {
    const icmp = dump.sets.get('ndt-ips-icmp');
    expect(icmp?.type === 'hash:ip,port' && icmp.entries.map((e) => e.parts[1])).toEqual([
      { kind: 'port', protocol: 47, port: 0 },
      { kind: 'port', protocol: 1, port: (3 << 8) | 4 },
      { kind: 'port', protocol: 1, port: 8 << 8 },
    ]);
  });

  it('reads bitmap ranges, netmasks and list:set members', () => {
    const blocks = dump.sets.get('ndt-ips-blocks');
    expect(blocks?.type === 'bitmap:ip' && [blocks.first, blocks.last, blocks.netmask]).toEqual([0x0a000000n, 0x0a00ffffn, 24]);
    const ports = dump.sets.get('ndt-ips-node-port-local-tcp');
    expect(ports?.type === 'bitmap:port' && [ports.first, ports.last, ports.entries.length]).toEqual([30000, 32767, 2]);
    const any = dump.sets.get('ndt-ips-any');
    expect(any?.type === 'list:set' && [any.size, any.entries.map((e) => e.name)]).toEqual([
      8,
      ['ndt-ips-external', 'ndt-ips-hosts', 'ndt-ips-cluster-ip'],
    ]);
  });

  it('warns about the sets it cannot evaluate, naming where they are', () => {
    expect(dump.warnings).toEqual([
      expect.objectContaining({ code: 'ipset-unsupported', source: 'node1/ipset.save:64', message: expect.stringContaining('hash:net,iface') }),
      expect.objectContaining({ code: 'ipset-unsupported', source: 'node1/ipset.save:66', message: expect.stringContaining('bitmap:ip,mac') }),
    ]);
  });

  it('reads counters, skbinfo, bitmask and ICMPv6 names', () => {
    const ext = parseIpsetSave(fixture('extensions.save'));
    expect(ext.warnings).toEqual([]);
    const counted = ext.sets.get('ndt-ips-counted');
    expect(counted?.options.counters).toBe(true);
    expect(counted?.type === 'hash:net' && counted.entries.map((e) => [e.packets, e.bytes, e.comment])).toEqual([
      [5n, 420n, undefined],
      [0n, 0n, 'pod network'],
    ]);
    const skb = ext.sets.get('ndt-ips-skb');
    expect(skb?.type === 'hash:ip' && skb.entries[0]).toMatchObject({ skbmark: '0x10/0xff', skbprio: '1:10', skbqueue: 3 });
    const masked = ext.sets.get('ndt-ips-masked');
    expect(masked?.type === 'hash:ip' && masked.mask).toBe(0xffff00ffn);
    const icmp6 = ext.sets.get('ndt-ips-icmp6');
    expect(icmp6?.type === 'hash:ip,port' && icmp6.entries.map((e) => e.parts[1])).toEqual([
      { kind: 'port', protocol: 58, port: (200 << 8) | 7 },
      { kind: 'port', protocol: 136, port: 7 },
      { kind: 'port', protocol: 58, port: 1 << 8 },
      { kind: 'port', protocol: 58, port: 128 << 8 },
    ]);
  });
});

describe('what people write and what ipset save prints parse to the same sets', () => {
  it.each(['kube-and-calico', 'extensions'])('%s.restore and %s.save answer alike', (name) => {
    const written = new IpsetTable(parseIpsetSave(fixture(`${name}.restore`)));
    const saved = new IpsetTable(parseIpsetSave(fixture(`${name}.save`)));
    const addresses = [
      '10.96.0.1', '10.96.0.10', '10.96.12.4', '10.244.1.5', '10.244.1.6', '10.244.1.7', '10.244.1.9', '192.0.2.10',
      '198.51.100.7', '198.51.100.129', '198.51.100.200', '10.1.2.3', '10.244.0.9', '10.244.7.9', '10.244.7.200',
      '172.16.0.1', '172.16.0.5', '172.16.0.7', '10.244.2.3', '10.244.2.4', '10.244.3.2', '10.244.9.1', '10.244.11.200',
      '10.244.2.11', '10.0.3.77', '10.0.0.1', '10.1.9.3',
    ];
    const addresses6 = ['fd00:10:244::1', 'fd00:10:244:5::1', 'fd00:10:244:5::7', 'fd00:10:96::5', 'fd00:10:96::105', 'fd00::1', 'fd00::2'];
    const packets: Packet[] = [];
    const add = (protocol: Protocol, src: string, dst: string, sport: number, dport: number, icmpType?: number): void => {
      const s = parseIp(src);
      const d = parseIp(dst);
      if (s && d) packets.push(buildPacket({ protocol, src: s, dst: d, sport, dport, ...(icmpType === undefined ? {} : { icmpType }) }));
    };
    for (const [list, peer] of [[addresses, '10.244.1.9'], [addresses6, 'fd00::9']] as const) {
      for (const a of list) {
        for (const port of [53, 80, 443, 5001, 8080, 9153, 30080, 30443, 31001]) {
          add('tcp', peer, a, 40000, port);
          add('udp', a, peer, port, 53);
        }
        add('icmp', peer, a, 0, 0, list === addresses ? 8 : 128);
      }
    }
    let compared = 0;
    for (const setName of saved.names()) {
      for (const flags of [['dst', 'dst', 'dst'], ['src', 'src', 'src'], ['dst', 'dst', 'src']] as const) {
        for (const packet of packets) {
          expect([setName, written.has(setName, packet, flags)]).toEqual([setName, saved.has(setName, packet, flags)]);
          compared++;
        }
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });
});

describe('parse errors name the source and line', () => {
  it.each([
    ['a command it does not know', 'flush foo', 1, 'unexpected command "flush"'],
    ['an add before the create', 'add s 10.0.0.1', 1, 'was not created before'],
    ['a set created twice', 'create s hash:ip\ncreate s hash:ip', 2, 'created twice'],
    ['a bad address', 'create s hash:ip\nadd s 10.0.0.300', 2, 'invalid address "10.0.0.300"'],
    ['an address of the other family', 'create s hash:ip family inet6\nadd s 10.0.0.1', 2, 'IPv4 address in a family inet6 set'],
    ['too few parts', 'create s hash:ip,port\nadd s 10.0.0.1', 2, 'has 1 part(s), the set type has 2'],
    ['a bad port', 'create s hash:ip,port\nadd s 10.0.0.1,tcp:70000', 2, 'port out of range'],
    ['an unknown protocol', 'create s hash:ip,port\nadd s 10.0.0.1,foo:80', 2, 'unknown protocol "foo"'],
    ['an unknown ICMP name', 'create s hash:ip,port\nadd s 10.0.0.1,icmp:bogus', 2, 'ICMP type/code'],
    ['a port for a portless protocol', 'create s hash:ip,port\nadd s 10.0.0.1,gre:5', 2, 'must be 0'],
    ['nomatch where the type has none', 'create s hash:ip\nadd s 10.0.0.1 nomatch', 2, '"nomatch" is not an option of hash:ip'],
    ['an unbalanced comment', 'create s hash:ip comment\nadd s 10.0.0.1 comment "oops', 2, 'unbalanced quotes'],
    ['a bitmap element out of range', 'create s bitmap:port range 1-100\nadd s 101', 2, 'outside the range'],
    ['a bitmap:ip without range', '\n\ncreate s bitmap:ip', 3, 'needs a range'],
    ['a missing timeout value', 'create s hash:ip timeout', 1, '"timeout" needs a value'],
    ['a /0 in hash:net', 'create s hash:net\nadd s 0.0.0.0/0', 2, '/0 network is not allowed'],
  ])('%s', (_what, text, line, message) => {
    let error: unknown;
    try {
      parseIpsetSave(text, 'dump.txt');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(IpsetParseError);
    expect((error as IpsetParseError).line).toBe(line);
    expect((error as IpsetParseError).message).toContain(`dump.txt:${line}: `);
    expect((error as IpsetParseError).message).toContain(message);
  });

  it('treats an unknown create option as unsupported, with a warning, not as an error', () => {
    const dump = parseIpsetSave('create s hash:ip wildcard 7\nadd s 10.0.0.1', 'x');
    expect(dump.sets.get('s')).toMatchObject({ type: 'unsupported', reason: 'unknown create option "wildcard"', entryCount: 1 });
    expect(dump.warnings[0]).toMatchObject({ code: 'ipset-unsupported', source: 'x:1' });
  });

  it('warns about a list:set member that is not in the dump', () => {
    const dump = parseIpsetSave('create l list:set\nadd l gone', 'x');
    expect(dump.warnings).toEqual([expect.objectContaining({ code: 'ipset-missing-member', source: 'x:2' })]);
  });
});

describe('element expansion', () => {
  it.each([
    ['hash:ip', '10.0.0.0/30', 4],
    ['hash:ip', '10.0.0.9-10.0.0.7', 3],
    ['hash:ip netmask 24', '10.0.0.0-10.0.2.255', 3],
    ['hash:net', '10.0.0.1-10.0.0.6', 4],
    ['hash:net,port', '10.0.0.0-10.0.0.5,80-81', 4],
    ['hash:ip,port', '10.0.0.1-10.0.0.2,udp:53-55', 6],
    ['bitmap:port range 0-1000', '100-105', 6],
    ['bitmap:ip range 10.0.0.0/16 netmask 24', '10.0.1.0-10.0.3.255', 3],
  ])('create s %s / add s %s gives %i elements', (create, element, count) => {
    const set = setOf(`create s ${create}\nadd s ${element}`, 's');
    expect(set.type !== 'unsupported' && set.entries.length).toBe(count);
  });

  it('turns an address range in hash:net into the CIDRs ipset prints', () => {
    const set = setOf('create s hash:net\nadd s 192.168.0.1-192.168.0.10', 's');
    const prefixes = set.type === 'hash:net' ? set.entries.map((e) => e.parts[0]) : [];
    const printed = prefixes.map((p) => (p?.kind === 'net' ? `${p.prefix.network & 0xffn}/${p.prefix.length}` : ''));
    // What `ipset save` printed for the same add (order aside): .1, .2/31, .4/30, .8/31, .10
    expect(printed).toEqual(['1/32', '2/31', '4/30', '8/31', '10/32']);
  });

  it('refuses a range that would allocate without bound', () => {
    expect(() => parseIpsetSave('create s hash:ip family inet6\nadd s fd00::/64', 'x')).toThrow(/x:2: .*expands to/);
  });
});
