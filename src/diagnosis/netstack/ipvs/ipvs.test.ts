// Table-driven tests from hand-written fixtures. There is no kernel oracle here, unlike ipset and
// iptables: the test kernel has no ip_vs module, so ipvsadm can neither build nor save a table.
// The fixtures follow ipvsadm 1.31's save format exactly (see testdata/README.md for how it was
// established from the installed binary).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { formatIp, parseIp } from '../../model/ip.js';
import { buildPacket, type Protocol } from '../../model/packet.js';
import { findVirtualService, lookupVirtualService, schedulableRealServers } from './lookup.js';
import { IpvsParseError, parseIpvsSave } from './parse.js';
import type { IpvsServiceKey, IpvsTable } from './types.js';

const fixture = (name: string): string => readFileSync(new URL(`./testdata/${name}`, import.meta.url), 'utf8');

function keyText(key: IpvsServiceKey): string {
  if (key.kind === 'fwmark') return `fwmark ${key.mark}${key.family === 6 ? ' v6' : ''}`;
  const a = formatIp(key.address);
  return `${key.protocol} ${key.address.family === 6 ? `[${a}]` : a}:${key.port}`;
}

const kube = parseIpvsSave(fixture('kube-proxy-ipvs.save'), 'node1/ipvs.save');
const lvs = parseIpvsSave(fixture('lvs-director.save'), 'director/ipvs.save');

describe('parseIpvsSave', () => {
  it('reads the virtual services of kube-proxy in IPVS mode, in order, with their real servers', () => {
    expect(kube.warnings).toEqual([]);
    expect(kube.table.services.map((s) => [keyText(s.key), s.scheduler, s.realServers.length])).toEqual([
      ['tcp 10.96.0.1:443', 'rr', 1],
      ['tcp 10.96.0.10:53', 'rr', 2],
      ['tcp 10.96.0.10:9153', 'rr', 2],
      ['tcp 10.96.45.17:80', 'rr', 2],
      ['tcp 10.96.99.99:80', 'rr', 0],
      ['tcp 172.18.0.2:30080', 'rr', 2],
      ['udp 10.96.0.10:53', 'rr', 2],
      ['tcp [fd00:10:96::1]:443', 'rr', 1],
      ['udp [fd00:10:96::a]:53', 'wrr', 1],
    ]);
  });

  it('reads real servers: address, port, forwarding method, weight and where they are', () => {
    const svc = kube.table.services[3];
    expect(svc?.realServers.map((r) => [formatIp(r.address), r.port, r.forwarding, r.weight, r.source])).toEqual([
      ['10.244.1.7', 8080, 'masquerade', 1, 'node1/ipvs.save:10'],
      ['10.244.2.9', 8080, 'masquerade', 0, 'node1/ipvs.save:11'],
    ]);
    expect(svc?.source).toBe('node1/ipvs.save:9');
  });

  it.each([
    ['tcp 10.96.45.17:80', kube, { persistence: { timeout: 10800, netmaskLength: 32 }, onePacket: false }],
    ['udp [fd00:10:96::a]:53', kube, { persistence: { timeout: 360, netmaskLength: 64 } }],
    ['tcp 192.0.2.10:80', lvs, { scheduler: 'wlc', persistence: { timeout: 300, netmaskLength: 24 } }],
    ['udp 192.0.2.10:0', lvs, { scheduler: 'sh', schedulerFlags: ['sh-fallback', 'sh-port'], persistence: { timeout: 60, netmaskLength: 32 } }],
    ['sctp 192.0.2.10:3868', lvs, { scheduler: 'mh', schedulerFlags: ['mh-fallback', 'mh-port'] }],
    ['fwmark 100', lvs, { scheduler: 'wrr', family: 4, persistence: { timeout: 300, netmaskLength: 32 } }],
    ['fwmark 7 v6', lvs, { family: 6, persistenceEngine: 'sip' }],
    ['udp 192.0.2.20:5060', lvs, { onePacket: true, schedulerFlags: [] }],
  ])('%s has the service options of its -A line', (key, parsed, expected) => {
    const service = parsed.table.services.find((s) => keyText(s.key) === key);
    expect(service).toMatchObject(expected);
  });

  it('reads tunnel options of -i real servers', () => {
    const udp = lvs.table.services.find((s) => keyText(s.key) === 'udp 192.0.2.10:0');
    expect(udp?.realServers.map((r) => r.tunnel)).toEqual([
      { type: 'gue', port: 6080, checksum: 'remcsum' },
      { type: 'ipip' },
    ]);
    const sctp = lvs.table.services.find((s) => keyText(s.key) === 'sctp 192.0.2.10:3868');
    expect(sctp?.realServers[0]).toMatchObject({ forwarding: 'tunnel', tunnel: { type: 'gre', checksum: 'csum' } });
  });

  it('reads the long option names of hand-written restore files, defaults and thresholds', () => {
    const parsed = parseIpvsSave(
      '--add-service --tcp-service 10.0.0.1:80 --persistent\n' +
        '--add-server --tcp-service 10.0.0.1:80 --real-server 10.0.1.1:80 --weight 2 --u-threshold 100 --l-threshold 50\n' +
        '-A -u 10.0.0.1:53',
    );
    expect(parsed.table.services[0]).toMatchObject({ scheduler: 'wlc', persistence: { timeout: 300, netmaskLength: 32 } });
    expect(parsed.table.services[0]?.realServers[0]).toMatchObject({ forwarding: 'gateway', weight: 2, upperThreshold: 100, lowerThreshold: 50 });
    expect(parsed.table.services[1]).toMatchObject({ scheduler: 'wlc' });
  });

  it('warns about a scheduler it does not know, without failing', () => {
    const parsed = parseIpvsSave('-A -t 10.0.0.1:80 -s fancy', 'x');
    expect(parsed.warnings).toEqual([expect.objectContaining({ code: 'ipvs-unknown-scheduler', source: 'x:1' })]);
  });

  it.each([
    ['an unknown option', '-A -t 10.0.0.1:80 -s rr --frobnicate', 1, 'unknown option "--frobnicate"'],
    ['a line without a command', '-t 10.0.0.1:80 -s rr', 1, 'must start with -A'],
    ['a real server before its service', '-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 1', 1, 'not added before'],
    ['a service added twice', '-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s rr', 2, 'added twice'],
    ['a real server added twice', '-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1:80', 3, 'added twice'],
    ['host names (saved without -n)', '-A -t kubernetes.default:https -s rr', 1, 'ipvsadm -Save -n'],
    ['a bad port', '-A -t 10.0.0.1:99999 -s rr', 1, 'port 99999 is out of range'],
    ['two service kinds', '-A -t 10.0.0.1:80 -u 10.0.0.1:80', 1, 'exactly one of -t, -u'],
    ['a zero firewall mark', '-A -f 0 -s rr', 1, 'greater than zero'],
    ['-M without -p', '-A -t 10.0.0.1:80 -M 255.255.255.0', 1, 'needs -p'],
    ['a non-contiguous netmask', '-A -t 10.0.0.1:80 -p -M 255.0.255.0', 1, 'not contiguous'],
    ['two forwarding methods', '-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -g', 2, 'more than one forwarding method'],
    ['a v6 real server behind a v4 NAT service', '-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r [fd00::1]:80 -m', 2, 'only for tunneling'],
    ['tunnel options without -i', '-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m --tun-type gue', 2, 'need -i'],
    ['gue without its port', '-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -i --tun-type gue', 2, 'needs --tun-port'],
    ['a service option on -a', '-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1:80 -s rr', 2, 'not an option of -a'],
    ['a missing value', '-A -t 10.0.0.1:80 -s', 1, 'needs a value'],
  ])('rejects %s, naming the line', (_what, text, line, message) => {
    let error: unknown;
    try {
      parseIpvsSave(text, 'ipvs.txt');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(IpvsParseError);
    expect((error as IpvsParseError).message).toContain(`ipvs.txt:${line}: `);
    expect((error as IpvsParseError).message).toContain(message);
  });
});

function pkt(protocol: Protocol, dst: string, dport: number, mark = 0) {
  const d = parseIp(dst);
  const s = parseIp(dst.includes(':') ? 'fd00::99' : '10.0.0.99');
  if (!d || !s) throw new Error(dst);
  return buildPacket({ protocol, src: s, dst: d, sport: 40000, dport, mark });
}

describe('lookupVirtualService', () => {
  it.each<[string, IpvsTable, ReturnType<typeof pkt>, string | undefined, string | undefined]>([
    ['a ClusterIP by protocol, address and port', kube.table, pkt('tcp', '10.96.0.1', 443), 'tcp 10.96.0.1:443', 'address'],
    ['the same address, UDP', kube.table, pkt('udp', '10.96.0.10', 53), 'udp 10.96.0.10:53', 'address'],
    ['the same address, another port', kube.table, pkt('tcp', '10.96.0.10', 9153), 'tcp 10.96.0.10:9153', 'address'],
    ['a port with no service', kube.table, pkt('tcp', '10.96.0.10', 80), undefined, undefined],
    ['UDP where only TCP is served', kube.table, pkt('udp', '10.96.0.1', 443), undefined, undefined],
    ['a NodePort on the node address', kube.table, pkt('tcp', '172.18.0.2', 30080), 'tcp 172.18.0.2:30080', 'address'],
    ['IPv6', kube.table, pkt('udp', 'fd00:10:96::a', 53), 'udp [fd00:10:96::a]:53', 'address'],
    ['ICMP is never scheduled', kube.table, pkt('icmp', '10.96.0.1', 0), undefined, undefined],
    ['a marked packet: the firewall-mark service first', lvs.table, pkt('tcp', '192.0.2.10', 80, 100), 'fwmark 100', 'fwmark'],
    ['a mark with no service falls back to the address', lvs.table, pkt('tcp', '192.0.2.10', 80, 5), 'tcp 192.0.2.10:80', 'address'],
    ['a firewall-mark service is per family', lvs.table, pkt('tcp', '2001:db8::1', 80, 7), 'fwmark 7 v6', 'fwmark'],
    ['a v4 packet with the v6 service mark', lvs.table, pkt('udp', '198.51.100.200', 80, 7), undefined, undefined],
    ['FTP passive data to an unprivileged port', lvs.table, pkt('tcp', '192.0.2.10', 40123), 'tcp 192.0.2.10:21', 'ftp-data'],
    ['FTP active data port 20', lvs.table, pkt('tcp', '192.0.2.10', 20), 'tcp 192.0.2.10:21', 'ftp-data'],
    ['a privileged port is not FTP data', lvs.table, pkt('tcp', '192.0.2.10', 443), undefined, undefined],
    ['UDP to any port: the port-zero service', lvs.table, pkt('udp', '192.0.2.10', 9999), 'udp 192.0.2.10:0', 'port-zero'],
    ['the exact service wins over port zero', lvs.table, pkt('udp', '192.0.2.20', 5060), 'udp 192.0.2.20:5060', 'address'],
  ])('%s', (_what, table, packet, expected, matchedBy) => {
    const match = findVirtualService(table, packet);
    expect(match && keyText(match.service.key)).toBe(expected);
    expect(match?.matchedBy).toBe(matchedBy);
    expect(lookupVirtualService(table, packet)).toBe(match?.service);
  });

  it('follows net.ipv4.ip_unprivileged_port_start for FTP data', () => {
    expect(findVirtualService(lvs.table, pkt('tcp', '192.0.2.10', 8080), { unprivilegedPortStart: 9000 })).toBeUndefined();
    expect(findVirtualService(lvs.table, pkt('tcp', '192.0.2.10', 8080), { unprivilegedPortStart: 1024 })?.matchedBy).toBe('ftp-data');
  });

  it('lists the real servers a new connection can go to: not the quiescent ones', () => {
    const service = lookupVirtualService(kube.table, pkt('tcp', '10.96.45.17', 80));
    expect(service && schedulableRealServers(service).map((r) => formatIp(r.address))).toEqual(['10.244.1.7']);
    const empty = lookupVirtualService(kube.table, pkt('tcp', '10.96.99.99', 80));
    expect(empty && schedulableRealServers(empty)).toEqual([]);
  });
});
