import { describe, expect, it } from '@jest/globals';
import { ip, ruleOf } from './testing/helpers.js';

const first = (spec: string, v6 = false): unknown => ruleOf(spec, 'filter', 'INPUT', v6).matches[0];

describe('match parsers', () => {
  it.each([
    ['-p tcp -m tcp --dport 80', { kind: 'tcp', dport: { min: 80, max: 80, negated: false } }],
    ['-p tcp -m tcp ! --sport 1024:65535 ! --dport 22', {
      kind: 'tcp',
      sport: { min: 1024, max: 65535, negated: true },
      dport: { min: 22, max: 22, negated: true },
    }],
    ['-p tcp -m tcp --dport 0:1023', { kind: 'tcp', dport: { min: 0, max: 1023, negated: false } }],
    ['-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN', { kind: 'tcp', flags: { mask: 0x17, comp: 0x02, negated: false } }],
    ['-p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN', { kind: 'tcp', flags: { mask: 0x17, comp: 0x02, negated: true } }],
    ['-p tcp -m tcp --syn', { kind: 'tcp', flags: { mask: 0x17, comp: 0x02, negated: false } }],
    ['-p tcp -m tcp --tcp-flags ALL NONE', { kind: 'tcp', flags: { mask: 0x3f, comp: 0, negated: false } }],
    ['-p tcp -m tcp', { kind: 'tcp' }],
    ['-p udp -m udp --sport 53 --dport 1024:65535', {
      kind: 'udp',
      sport: { min: 53, max: 53, negated: false },
      dport: { min: 1024, max: 65535, negated: false },
    }],
    ['-p tcp -m multiport --dports 80,443,8000:8100', {
      kind: 'multiport',
      direction: 'destination',
      ports: [{ min: 80, max: 80 }, { min: 443, max: 443 }, { min: 8000, max: 8100 }],
      negated: false,
    }],
    ['-p tcp -m multiport ! --sports 1,2', { kind: 'multiport', direction: 'source', ports: [{ min: 1, max: 1 }, { min: 2, max: 2 }], negated: true }],
    ['-p tcp -m multiport --ports 80', { kind: 'multiport', direction: 'either', ports: [{ min: 80, max: 80 }], negated: false }],
    ['-p icmp -m icmp --icmp-type 8', { kind: 'icmp', type: 8, codeMin: 0, codeMax: 255, negated: false }],
    ['-p icmp -m icmp ! --icmp-type 3/4', { kind: 'icmp', type: 3, codeMin: 4, codeMax: 4, negated: true }],
    ['-p icmp -m icmp --icmp-type any', { kind: 'icmp', type: undefined, codeMin: 0, codeMax: 255, negated: false }],
    ['-p icmp -m icmp --icmp-type echo-reply', { kind: 'icmp', type: 0, codeMin: 0, codeMax: 255, negated: false }],
    ['-m comment --comment "default/web:http"', { kind: 'comment', comment: 'default/web:http' }],
    ['-m comment --comment ""', { kind: 'comment', comment: '' }],
    ['-m mark ! --mark 0x4000/0x4000', { kind: 'mark', value: 0x4000, mask: 0x4000, negated: true }],
    ['-m mark --mark 0x1', { kind: 'mark', value: 1, mask: 0xffffffff, negated: false }],
    ['-m connmark --mark 0x2/0xff', { kind: 'connmark', value: 2, mask: 0xff, negated: false }],
    ['-m conntrack --ctstate RELATED,ESTABLISHED', { kind: 'conntrack', state: { states: ['RELATED', 'ESTABLISHED'], negated: false } }],
    ['-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT', { kind: 'conntrack', state: { states: ['RELATED', 'ESTABLISHED', 'DNAT'], negated: true } }],
    ['-m conntrack --ctproto 6 --ctorigdstport 80 --ctdir REPLY --ctstatus SEEN_REPLY,ASSURED', {
      kind: 'conntrack',
      proto: { protocol: 6, negated: false },
      origDstPort: { min: 80, max: 80, negated: false },
      direction: 'REPLY',
      status: { statuses: ['SEEN_REPLY', 'ASSURED'], negated: false },
    }],
    ['-m state --state NEW,UNTRACKED', { kind: 'state', states: ['NEW', 'UNTRACKED'], negated: false }],
    ['-m state ! --state INVALID', { kind: 'state', states: ['INVALID'], negated: true }],
    ['-m addrtype --dst-type LOCAL', { kind: 'addrtype', dst: { types: ['LOCAL'], negated: false }, limitIfaceIn: false, limitIfaceOut: false }],
    ['-m addrtype ! --src-type LOCAL,BROADCAST --limit-iface-out', {
      kind: 'addrtype',
      src: { types: ['LOCAL', 'BROADCAST'], negated: true },
      limitIfaceIn: false,
      limitIfaceOut: true,
    }],
    ['-m set --match-set kube-ips src,dst', { kind: 'set', name: 'kube-ips', flags: ['src', 'dst'], negated: false, returnNomatch: false }],
    ['-m set ! --match-set blocked dst --return-nomatch ! --update-counters', {
      kind: 'set',
      name: 'blocked',
      flags: ['dst'],
      negated: true,
      returnNomatch: true,
    }],
    ['-m statistic --mode random --probability 0.25000000000', { kind: 'statistic', mode: 'random', probability: 0.25, negated: false }],
    ['-m statistic --mode random ! --probability 0.5', { kind: 'statistic', mode: 'random', probability: 0.5, negated: true }],
    ['-m statistic --mode nth --every 3 --packet 1', { kind: 'statistic', mode: 'nth', every: 3, packet: 1, negated: false }],
    ['-m iprange --src-range 10.0.0.1-10.0.0.9 ! --dst-range 10.1.0.1-10.1.0.2', {
      kind: 'iprange',
      src: { from: ip('10.0.0.1'), to: ip('10.0.0.9'), negated: false },
      dst: { from: ip('10.1.0.1'), to: ip('10.1.0.2'), negated: true },
    }],
    ['-m physdev --physdev-in veth+ ! --physdev-out eth0 --physdev-is-bridged', {
      kind: 'physdev',
      in: { name: 'veth', wildcard: true, negated: false },
      out: { name: 'eth0', wildcard: false, negated: true },
      isBridged: { negated: false },
    }],
    ['-m physdev ! --physdev-is-in', { kind: 'physdev', isIn: { negated: true } }],
    ['-m limit --limit 5/min --limit-burst 10', { kind: 'limit', rate: '5/min', burst: 10 }],
    ['-m pkttype ! --pkt-type multicast', { kind: 'pkttype', type: 'multicast', negated: true }],
    ['-m owner --uid-owner 1000-2000 ! --gid-owner 5', {
      kind: 'owner',
      uid: { min: 1000, max: 2000, negated: false },
      gid: { min: 5, max: 5, negated: true },
      suppGroups: false,
    }],
    ['-m owner --socket-exists', { kind: 'owner', socketExists: { negated: false }, suppGroups: false }],
    ['-m socket --transparent --nowildcard', { kind: 'socket', transparent: true, nowildcard: true, restoreSkmark: false }],
    ['-m mac --mac-source 00:11:22:33:44:AA', { kind: 'mac', address: '00:11:22:33:44:aa', negated: false }],
    ['-m length ! --length 1000:1500', { kind: 'length', min: 1000, max: 1500, negated: true }],
    ['-m ttl --ttl-lt 5', { kind: 'ttl', module: 'ttl', op: 'lt', value: 5, negated: false }],
    ['-m ttl ! --ttl-eq 64', { kind: 'ttl', module: 'ttl', op: 'eq', value: 64, negated: true }],
    ['-m dscp --dscp 0x2e', { kind: 'dscp', value: 0x2e, negated: false }],
    ['-m tos --tos 0x10/0x3f', { kind: 'tos', value: 0x10, mask: 0x3f, negated: false }],
  ])('%s', (spec, match) => {
    expect(first(spec)).toEqual(match);
  });

  it.each([
    ['-s fd00::/8 -p ipv6-icmp -m icmp6 --icmpv6-type 128', { kind: 'icmp6', type: 128, codeMin: 0, codeMax: 255, negated: false }],
    ['-p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation', { kind: 'icmp6', type: 135, codeMin: 0, codeMax: 255, negated: false }],
    ['-m hl --hl-eq 255', { kind: 'ttl', module: 'hl', op: 'eq', value: 255, negated: false }],
  ])('IPv6: %s', (spec, match) => {
    expect(first(spec, true)).toEqual(match);
  });

  it.each([
    ['-p tcp --dport 80', { kind: 'tcp', dport: { min: 80, max: 80, negated: false } }],
    ['-p tcp ! --dport 80', { kind: 'tcp', dport: { min: 80, max: 80, negated: true } }],
    ['-p udp --sport 53', { kind: 'udp', sport: { min: 53, max: 53, negated: false } }],
    ['-p icmp --icmp-type 0', { kind: 'icmp', type: 0, codeMin: 0, codeMax: 255, negated: false }],
  ])('loads the protocol match implicitly: %s', (spec, match) => {
    expect(first(spec)).toEqual(match);
  });

  it.each([
    ['-m string --string "GET /" --algo bm', 'string', 'match module "string" is not modelled', '-m string --string "GET /" --algo bm'],
    ['-m u32 --u32 "0x0>>0x16&0x3c@0x4&0xffff=0x50"', 'u32', 'match module "u32" is not modelled', '-m u32 --u32 "0x0>>0x16&0x3c@0x4&0xffff=0x50"'],
    ['-m recent --set --name SSH --rsource', 'recent', 'match module "recent" is not modelled', '-m recent --set --name SSH --rsource'],
    ['-m conntrack --ctexpire 10:20', 'conntrack', 'unsupported option --ctexpire', '-m conntrack --ctexpire 10:20'],
    ['-p tcp -m tcp --tcp-option 2', 'tcp', 'unsupported option --tcp-option', '-m tcp --tcp-option 2'],
    ['-m mark --mark nonsense', 'mark', 'cannot read --mark nonsense', '-m mark --mark nonsense'],
    ['-m set --match-set s src --packets-gt 5', 'set', 'unsupported option --packets-gt', '-m set --match-set s src --packets-gt 5'],
    ['-m statistic --mode random', 'statistic', 'statistic --mode random without its options', '-m statistic --mode random'],
  ])('keeps %s as an unknown match with its text', (spec, module, reason, text) => {
    expect(first(spec)).toEqual({ kind: 'unknown', module, reason, text });
  });
});
