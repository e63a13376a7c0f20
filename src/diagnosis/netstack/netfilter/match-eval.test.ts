import { describe, expect, it } from '@jest/globals';
import type { IpAddress } from '../../model/ip.js';
import type { Packet, TcpFlag } from '../../model/packet.js';
import { addressType, evaluateMatch, ipv4Number, NO, RANDOM, tcpFlagBits, UNDECIDED, YES, type MatchEnv, type MatchResult, type WalkContext } from './match-eval.js';
import type { HookName } from './model.js';
import { ip, packet, ruleOf } from './testing/helpers.js';
import type { HostContext, PacketDirection, TraceOptions } from './trace-types.js';

interface EnvPatch {
  host?: Partial<HostContext>;
  options?: TraceOptions;
  direction?: PacketDirection;
  hook?: HookName;
  inIface?: string;
  outIface?: string | undefined;
  dnat?: boolean | undefined;
  snat?: boolean | undefined;
  noOriginal?: boolean;
}

const LOCAL = [ip('192.168.1.10'), ip('10.244.0.1'), ip('fd00::10')];

function context(patch: EnvPatch): WalkContext {
  const host: HostContext = { localAddresses: LOCAL, ...patch.host };
  const set4 = (as: readonly IpAddress[] | undefined): Set<number> => new Set((as ?? []).filter((a) => a.family === 4).map((a) => Number(a.value)));
  const set6 = (as: readonly IpAddress[] | undefined): Set<bigint> => new Set((as ?? []).filter((a) => a.family === 6).map((a) => a.value));
  return {
    host,
    options: patch.options ?? {},
    direction: patch.direction ?? { kind: 'incoming', inIface: 'eth0' },
    local4: set4(host.localAddresses),
    local6: set6(host.localAddresses),
    broadcast4: set4(host.broadcastAddresses),
    broadcast6: set6(host.broadcastAddresses),
  };
}

function env(p: Packet, patch: EnvPatch = {}): MatchEnv {
  return {
    packet: p,
    src4: ipv4Number(p.src),
    dst4: ipv4Number(p.dst),
    flagBits: tcpFlagBits(p),
    hook: patch.hook ?? 'INPUT',
    inIface: patch.inIface ?? 'eth0',
    outIface: 'outIface' in patch ? patch.outIface : '',
    original: patch.noOriginal ? undefined : { src: p.src, dst: p.dst, sport: p.sport, dport: p.dport },
    dnat: 'dnat' in patch ? patch.dnat : false,
    snat: 'snat' in patch ? patch.snat : false,
    ctx: context(patch),
    reason: '',
    factKey: '',
    factNegated: false,
    probability: 0,
  };
}

const flags = (p: Packet, f: TcpFlag[]): Packet => ({ ...p, tcpFlags: new Set(f) });
const tcp80 = packet('tcp', '10.244.1.5', '192.168.1.10', 80);
const udp53 = packet('udp', '10.244.1.5', '10.96.0.10', 53);
const ping = packet('icmp', '10.244.1.5', '192.168.1.10');
const established = { ...tcp80, ctState: 'ESTABLISHED' as const, tcpFlags: new Set<TcpFlag>(['ACK']) };

function evaluate(spec: string, p: Packet, patch: EnvPatch = {}, v6 = false): { result: MatchResult; e: MatchEnv } {
  const rule = ruleOf(spec, 'filter', 'INPUT', v6);
  const match = rule.matches[0];
  if (match === undefined) throw new Error(`no match in ${spec}`);
  const e = env(p, patch);
  return { result: evaluateMatch(match, e), e };
}

type Case = [string, string, Packet, EnvPatch, MatchResult];

const cases: Case[] = [
  // tcp / udp
  ['tcp dport hit', '-p tcp -m tcp --dport 80', tcp80, {}, YES],
  ['tcp dport miss', '-p tcp -m tcp --dport 81', tcp80, {}, NO],
  ['tcp on a udp packet', '-p tcp -m tcp --dport 53', udp53, {}, NO],
  ['tcp negated dport', '-p tcp -m tcp ! --dport 80', tcp80, {}, NO],
  ['tcp negated dport, other port', '-p tcp -m tcp ! --dport 22', tcp80, {}, YES],
  ['tcp dport range', '-p tcp -m tcp --dport 0:1023', tcp80, {}, YES],
  ['tcp sport range', '-p tcp -m tcp --sport 1024:65535', tcp80, {}, YES],
  ['tcp negated sport range', '-p tcp -m tcp ! --sport 1024:65535', tcp80, {}, NO],
  ['--syn on a SYN', '-p tcp -m tcp --syn', tcp80, {}, YES],
  ['--syn on an ACK', '-p tcp -m tcp --syn', established, {}, NO],
  ['! --syn on an ACK', '-p tcp -m tcp ! --syn', established, {}, YES],
  ['--syn on a SYN-ACK', '-p tcp -m tcp --syn', flags(tcp80, ['SYN', 'ACK']), {}, NO],
  ['--tcp-flags ALL NONE on a SYN', '-p tcp -m tcp --tcp-flags ALL NONE', tcp80, {}, NO],
  ['--tcp-flags ALL NONE on a null packet', '-p tcp -m tcp --tcp-flags ALL NONE', flags(tcp80, []), {}, YES],
  ['--tcp-flags SYN,RST SYN', '-p tcp -m tcp --tcp-flags SYN,RST SYN', tcp80, {}, YES],
  ['udp dport', '-p udp -m udp --dport 53', udp53, {}, YES],
  ['udp on a tcp packet', '-p udp -m udp', tcp80, {}, NO],
  // multiport
  ['multiport dports in a range', '-p tcp -m multiport --dports 80,443,8000:8100', packet('tcp', '1.1.1.1', '2.2.2.2', 8050), {}, YES],
  ['multiport dports outside', '-p tcp -m multiport --dports 80,443,8000:8100', packet('tcp', '1.1.1.1', '2.2.2.2', 9000), {}, NO],
  ['multiport negated sports', '-p tcp -m multiport ! --sports 1,2', packet('tcp', '1.1.1.1', '2.2.2.2', 9, { sport: 1 }), {}, NO],
  ['multiport ports on the source', '-p tcp -m multiport --ports 80', packet('tcp', '1.1.1.1', '2.2.2.2', 1, { sport: 80 }), {}, YES],
  ['multiport on icmp', '-p tcp -m multiport --ports 80', ping, {}, NO],
  // icmp
  ['icmp echo request', '-p icmp -m icmp --icmp-type 8', ping, {}, YES],
  ['icmp echo reply', '-p icmp -m icmp --icmp-type 0', ping, {}, NO],
  ['icmp type/code', '-p icmp -m icmp --icmp-type 3/4', packet('icmp', '1.1.1.1', '2.2.2.2', 0, { icmpType: 3, icmpCode: 4 }), {}, YES],
  ['icmp other code', '-p icmp -m icmp --icmp-type 3/4', packet('icmp', '1.1.1.1', '2.2.2.2', 0, { icmpType: 3, icmpCode: 3 }), {}, NO],
  ['icmp negated', '-p icmp -m icmp ! --icmp-type 3/4', ping, {}, YES],
  ['icmp any', '-p icmp -m icmp --icmp-type any', ping, {}, YES],
  ['icmp on tcp', '-p icmp -m icmp --icmp-type any', tcp80, {}, NO],
  ['icmp on an IPv6 packet', '-p icmp -m icmp --icmp-type any', packet('icmp', 'fd00::1', 'fd00::10'), {}, NO],
  // comment, limit
  ['comment', '-m comment --comment "x"', tcp80, {}, YES],
  ['limit (a single packet is within the burst)', '-m limit --limit 1/hour', tcp80, {}, YES],
  // mark / connmark
  ['mark under mask', '-m mark --mark 0x4000/0x4000', { ...tcp80, mark: 0x4001 }, {}, YES],
  ['mark not set', '-m mark --mark 0x4000/0x4000', tcp80, {}, NO],
  ['negated mark not set', '-m mark ! --mark 0x4000/0x4000', tcp80, {}, YES],
  ['mark value outside its mask never matches', '-m mark --mark 0x3/0x1', { ...tcp80, mark: 1 }, {}, NO],
  ['connmark', '-m connmark --mark 0x2/0xff', { ...tcp80, connmark: 0x102 }, {}, YES],
  ['connmark without conntrack, even negated', '-m connmark ! --mark 0x2', { ...tcp80, ctState: 'UNTRACKED' }, {}, NO],
  // conntrack
  ['ctstate NEW', '-m conntrack --ctstate NEW', tcp80, {}, YES],
  ['ctstate NEW on ESTABLISHED', '-m conntrack --ctstate NEW', established, {}, NO],
  ['ctstate RELATED,ESTABLISHED', '-m conntrack --ctstate RELATED,ESTABLISHED', established, {}, YES],
  ['ctstate INVALID', '-m conntrack --ctstate INVALID', { ...tcp80, ctState: 'INVALID' }, {}, YES],
  ['ctstate UNTRACKED', '-m conntrack --ctstate UNTRACKED', { ...tcp80, ctState: 'UNTRACKED' }, {}, YES],
  ['! ctstate RELATED,ESTABLISHED,DNAT before DNAT', '-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT', tcp80, {}, YES],
  ['! ctstate RELATED,ESTABLISHED,DNAT after DNAT', '-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT', tcp80, { dnat: true }, NO],
  ['ctstate SNAT after SNAT', '-m conntrack --ctstate SNAT', tcp80, { snat: true }, YES],
  ['ctstate DNAT on a connection whose NAT is unknown', '-m conntrack --ctstate DNAT', established, { dnat: undefined }, UNDECIDED],
  ['ctorigdst inside', '-m conntrack --ctorigdst 192.168.0.0/16', tcp80, {}, YES],
  ['negated ctorigdst', '-m conntrack ! --ctorigdst 192.168.0.0/16', tcp80, {}, NO],
  ['ctorigsrc of an established connection with unknown tuple', '-m conntrack --ctorigsrc 10.0.0.0/8', established, { noOriginal: true }, UNDECIDED],
  ['ctorigdstport', '-m conntrack --ctproto 6 --ctorigdstport 80', tcp80, {}, YES],
  ['ctproto mismatch', '-m conntrack --ctproto 17', tcp80, {}, NO],
  ['ctreplsrc is the current destination', '-m conntrack --ctreplsrc 192.168.1.10', tcp80, {}, YES],
  ['ctdir ORIGINAL by default', '-m conntrack --ctdir ORIGINAL', tcp80, {}, YES],
  ['ctdir REPLY', '-m conntrack --ctdir REPLY', established, { options: { conntrack: { direction: 'REPLY' } } }, YES],
  ['ctstatus of a NEW connection', '-m conntrack --ctstatus SEEN_REPLY', tcp80, {}, NO],
  ['ctstatus of an ESTABLISHED connection, unknown', '-m conntrack --ctstatus ASSURED', established, {}, UNDECIDED],
  ['ctstatus given', '-m conntrack --ctstatus ASSURED', established, { options: { conntrack: { statuses: ['ASSURED', 'SEEN_REPLY'] } } }, YES],
  ['conntrack options without an entry', '-m conntrack --ctorigsrc 10.0.0.0/8', { ...tcp80, ctState: 'UNTRACKED' }, {}, NO],
  ['ctstate without an entry, with other options', '-m conntrack --ctstate UNTRACKED --ctorigsrc 1.1.1.1', { ...tcp80, ctState: 'UNTRACKED' }, {}, YES],
  // state
  ['state NEW', '-m state --state NEW,UNTRACKED', tcp80, {}, YES],
  ['negated state', '-m state ! --state INVALID', established, {}, YES],
  // addrtype
  ['dst-type LOCAL', '-m addrtype --dst-type LOCAL', tcp80, {}, YES],
  ['dst-type LOCAL of a remote address', '-m addrtype --dst-type LOCAL', udp53, {}, NO],
  ['loopback is LOCAL', '-m addrtype --dst-type LOCAL', packet('tcp', '1.1.1.1', '127.0.0.53', 53), {}, YES],
  ['negated src-type', '-m addrtype ! --src-type LOCAL', tcp80, {}, YES],
  ['limited broadcast', '-m addrtype --dst-type BROADCAST', packet('udp', '0.0.0.0', '255.255.255.255', 67), {}, YES],
  ['subnet broadcast', '-m addrtype --dst-type BROADCAST', packet('udp', '10.0.0.1', '10.0.0.255', 67), { host: { broadcastAddresses: [ip('10.0.0.255')] } }, YES],
  ['multicast', '-m addrtype --dst-type MULTICAST', packet('udp', '10.0.0.1', '224.0.0.251', 5353), {}, YES],
  ['IPv6 LOCAL', '-m addrtype --dst-type LOCAL', packet('tcp', 'fd00::1', 'fd00::10', 80), {}, YES],
  ['LOCAL on the input interface', '-m addrtype --dst-type LOCAL --limit-iface-in', tcp80, { host: { interfaceAddresses: new Map([['eth0', [ip('192.168.1.10')]]]) } }, YES],
  ['LOCAL of another interface is UNICAST', '-m addrtype --dst-type UNICAST --limit-iface-in', tcp80, { inIface: 'eth1', host: { interfaceAddresses: new Map([['eth0', [ip('192.168.1.10')]]]) } }, YES],
  ['limit-iface without interface addresses', '-m addrtype --dst-type LOCAL --limit-iface-in', tcp80, {}, UNDECIDED],
  ['limit-iface-out with an unknown output interface', '-m addrtype --dst-type LOCAL --limit-iface-out', tcp80, { outIface: undefined }, UNDECIDED],
  // statistic (RANDOM cases are checked below with their probability)
  ['statistic with probability 1', '-m statistic --mode random --probability 1', tcp80, {}, YES],
  ['statistic with probability 0', '-m statistic --mode random --probability 0', tcp80, {}, NO],
  // iprange
  ['src-range inside', '-m iprange --src-range 10.244.0.0-10.244.255.255', tcp80, {}, YES],
  ['src-range outside', '-m iprange --src-range 10.0.0.1-10.0.0.9', tcp80, {}, NO],
  ['negated dst-range', '-m iprange ! --dst-range 192.168.1.1-192.168.1.20', tcp80, {}, NO],
  // physdev
  ['physdev-is-bridged, not bridged', '-m physdev --physdev-is-bridged', tcp80, {}, NO],
  ['! physdev-is-in, not bridged', '-m physdev ! --physdev-is-in', tcp80, {}, YES],
  ['physdev-in, not bridged', '-m physdev --physdev-in veth+', tcp80, {}, NO],
  ['physdev ports of a bridged packet', '-m physdev --physdev-in veth+ ! --physdev-out eth0 --physdev-is-bridged', tcp80, { options: { bridge: { inPort: 'veth1', outPort: 'eth1' } } }, YES],
  ['physdev negated out port', '-m physdev --physdev-in veth+ ! --physdev-out eth0 --physdev-is-bridged', tcp80, { options: { bridge: { inPort: 'veth1', outPort: 'eth0' } } }, NO],
  ['physdev-out before the bridge decided', '-m physdev --physdev-out eth0', tcp80, { options: { bridge: { inPort: 'veth1' } } }, YES],
  // pkttype
  ['pkttype broadcast', '-m pkttype --pkt-type broadcast', packet('udp', '0.0.0.0', '255.255.255.255', 67), {}, YES],
  ['pkttype unicast', '-m pkttype --pkt-type unicast', tcp80, {}, YES],
  ['negated pkttype multicast', '-m pkttype ! --pkt-type multicast', tcp80, {}, YES],
  ['pkttype multicast', '-m pkttype --pkt-type multicast', packet('udp', '10.0.0.1', '239.1.1.1', 1), {}, YES],
  // owner
  ['owner on an incoming packet', '-m owner --uid-owner 1000', tcp80, {}, NO],
  ['negated owner on an incoming packet', '-m owner ! --uid-owner 1000', tcp80, {}, YES],
  ['owner without the socket', '-m owner --uid-owner 1000-2000', tcp80, { direction: { kind: 'outgoing' } }, UNDECIDED],
  ['owner uid in range', '-m owner --uid-owner 1000-2000', tcp80, { direction: { kind: 'outgoing' }, options: { socketOwner: { uid: 1500, gid: 5 } } }, YES],
  ['owner negated gid', '-m owner --uid-owner 1000-2000 ! --gid-owner 5', tcp80, { direction: { kind: 'outgoing' }, options: { socketOwner: { uid: 1500, gid: 5 } } }, NO],
  ['owner socket-exists on a local packet', '-m owner --socket-exists', tcp80, { direction: { kind: 'outgoing' } }, YES],
  // socket
  ['socket without socket data', '-m socket --transparent', tcp80, {}, UNDECIDED],
  ['socket found', '-m socket --transparent', tcp80, { host: { socketLookup: (q) => q.transparent } }, YES],
  ['socket not found', '-m socket', tcp80, { host: { socketLookup: () => false } }, NO],
  // mac, length, ttl
  ['mac unknown', '-m mac --mac-source 00:11:22:33:44:55', tcp80, {}, UNDECIDED],
  ['mac equal', '-m mac --mac-source 00:11:22:33:44:55', tcp80, { options: { sourceMac: '00:11:22:33:44:55' } }, YES],
  ['mac negated', '-m mac ! --mac-source 00:11:22:33:44:55', tcp80, { options: { sourceMac: '00:11:22:33:44:55' } }, NO],
  ['length unknown', '-m length --length 1000:1500', tcp80, {}, UNDECIDED],
  ['length in range', '-m length --length 1000:1500', tcp80, { options: { packetLength: 1200 } }, YES],
  ['ttl less than', '-m ttl --ttl-lt 5', tcp80, { options: { ttl: 3 } }, YES],
  ['negated ttl-eq', '-m ttl ! --ttl-eq 64', tcp80, { options: { ttl: 64 } }, NO],
  ['ttl unknown', '-m ttl --ttl-gt 1', tcp80, {}, UNDECIDED],
  // dscp, tos
  ['dscp EF', '-m dscp --dscp 0x2e', { ...tcp80, tos: 0xb8 }, {}, YES],
  ['negated dscp', '-m dscp ! --dscp 0x2e', tcp80, {}, YES],
  ['tos under mask', '-m tos --tos 0x10/0x3f', { ...tcp80, tos: 0xd0 }, {}, YES],
  // unknown
  ['an unmodelled module', '-m string --string "GET /" --algo bm', tcp80, {}, UNDECIDED],
];

describe('evaluateMatch', () => {
  it.each(cases)('%s: %s', (_name, spec, p, patch, expected) => {
    expect(evaluate(spec, p, patch).result).toBe(expected);
  });

  it.each([
    ['-m statistic --mode random --probability 0.25000000000', 0.25],
    ['-m statistic --mode random ! --probability 0.25', 0.75],
    ['-m statistic --mode nth --every 4 --packet 0', 0.25],
  ])('%s is random with probability %d', (spec, probability) => {
    const { result, e } = evaluate(spec, tcp80);
    expect(result).toBe(RANDOM);
    expect(e.probability).toBeCloseTo(probability, 10);
  });

  it('IPv6: icmp6 and hl', () => {
    const ping6 = packet('icmp', 'fd00::1', 'fd00::10', 0, { icmpType: 128 });
    expect(evaluate('-p ipv6-icmp -m icmp6 --icmpv6-type echo-request', ping6, {}, true).result).toBe(YES);
    expect(evaluate('-p ipv6-icmp -m icmp6 --icmpv6-type 129', ping6, {}, true).result).toBe(NO);
    expect(evaluate('-m hl --hl-eq 255', ping6, { options: { ttl: 255 } }, true).result).toBe(YES);
  });

  it('names the fact a set match depends on, so that a walk can keep to one assumption', () => {
    const { result, e } = evaluate('-m set ! --match-set blocked src,dst', tcp80);
    expect(result).toBe(UNDECIDED);
    expect([e.factKey, e.factNegated]).toEqual(['set blocked src,dst', true]);
    expect(evaluate('-m string --string x --algo bm', tcp80).e.factKey).toBe('');
  });

  it('says why a match is undecidable', () => {
    expect(evaluate('-m string --string x --algo bm', tcp80).e.reason).toBe('match module "string" is not modelled');
    expect(evaluate('-m owner --uid-owner 0', tcp80, { direction: { kind: 'outgoing' } }).e.reason).toBe(
      'owner needs the uid/gid of the sending socket, which are unknown',
    );
  });

  describe('-m set', () => {
    const calls: unknown[] = [];
    const ipsets = {
      has: (name: string, p: Packet, f: readonly string[]): boolean | undefined => {
        calls.push([name, p.dport, f]);
        return name === 'known-yes' ? true : name === 'known-no' ? false : undefined;
      },
    };

    it.each([
      ['-m set --match-set known-yes src,dst', YES],
      ['-m set --match-set known-no dst', NO],
      ['-m set ! --match-set known-yes dst', NO],
      ['-m set ! --match-set known-no dst', YES],
      ['-m set --match-set missing dst', UNDECIDED],
      ['-m set --match-set known-yes dst --return-nomatch', UNDECIDED],
    ])('%s', (spec, expected) => {
      expect(evaluate(spec, tcp80, { host: { ipsets } }).result).toBe(expected);
    });

    it('asks the lookup with the set name, the packet and the flags', () => {
      calls.length = 0;
      evaluate('-m set --match-set known-yes src,dst', tcp80, { host: { ipsets } });
      expect(calls).toEqual([['known-yes', 80, ['src', 'dst']]]);
    });

    it('is undecidable without ipset data', () => {
      expect(evaluate('-m set --match-set known-yes dst', tcp80).result).toBe(UNDECIDED);
    });

    it('reads --return-nomatch through a nomatch-aware lookup', () => {
      const lookup = (name: string): 'match' | 'nomatch' | 'none' | undefined => (name === 'n' ? 'nomatch' : 'match');
      const host = { ipsets: { has: () => true, lookup } };
      expect(evaluate('-m set --match-set n dst --return-nomatch', tcp80, { host }).result).toBe(YES);
      expect(evaluate('-m set --match-set m dst --return-nomatch', tcp80, { host }).result).toBe(NO);
    });
  });
});

describe('addressType', () => {
  const ctx = context({ host: { broadcastAddresses: [ip('10.0.0.255')] } });
  it.each([
    ['192.168.1.10', 'LOCAL'],
    ['127.0.0.1', 'LOCAL'],
    ['0.0.0.0', 'BROADCAST'],
    ['255.255.255.255', 'BROADCAST'],
    ['10.0.0.255', 'BROADCAST'],
    ['224.0.0.1', 'MULTICAST'],
    ['8.8.8.8', 'UNICAST'],
    ['::1', 'LOCAL'],
    ['ff02::1', 'MULTICAST'],
    ['2001:db8::1', 'UNICAST'],
  ])('%s is %s', (address, type) => {
    expect(addressType(ctx, ip(address), undefined)).toBe(type);
  });
});
