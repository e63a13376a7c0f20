import { describe, expect, it } from '@jest/globals';
import { formatIp, parseIp, type IpAddress } from '../../model/ip.js';
import { buildPacket, type ConntrackState, type Packet, type Protocol } from '../../model/packet.js';
import { evaluateNftHook, nftHookChains, type NftEvalContext, type NftOutcome } from './evaluate.js';
import type { NftHook } from './model.js';
import { parseNftRuleset } from './parse.js';

function ip(text: string): IpAddress {
  const a = parseIp(text);
  if (!a) throw new Error(text);
  return a;
}

const T = { family: 'ip', table: 'kp' };
const chain = (name: string, base?: { type: string; hook: string; prio: number | string; policy?: string }): object => ({
  chain: { ...T, name, ...(base ? { policy: 'accept', ...base } : {}) },
});
let handle = 100;
const rule = (name: string, ...expr: object[]): object => ({ rule: { ...T, chain: name, handle: handle++, expr } });
const match = (op: string, left: object, right: unknown): object => ({ match: { op, left, right } });
const payload = (protocol: string, field: string): object => ({ payload: { protocol, field } });
const meta = (key: string): object => ({ meta: { key } });

// A kube-proxy (nftables mode) shaped table plus a small firewall, as `nft -j list ruleset` prints it.
const RULESET = parseNftRuleset(
  {
    nftables: [
      { table: { family: 'ip', name: 'kp' } },
      {
        map: {
          ...T,
          name: 'service-ips',
          type: ['ipv4_addr', 'inet_proto', 'inet_service'],
          map: 'verdict',
          elem: [
            [{ concat: ['10.96.0.10', 'tcp', 80] }, { goto: { target: 'service-a' } }],
            [{ concat: ['10.96.0.11', 'udp', 53] }, { goto: { target: 'service-b' } }],
          ],
        },
      },
      { map: { ...T, name: 'no-endpoint-services', type: ['ipv4_addr', 'inet_proto', 'inet_service'], map: 'verdict', elem: [[{ concat: ['10.96.0.12', 'tcp', 80] }, { goto: { target: 'reject-chain' } }]] } },
      { set: { ...T, name: 'blocked', type: 'ipv4_addr', flags: ['interval'], elem: [{ prefix: { addr: '198.51.100.0', len: 24 } }, { range: ['203.0.113.5', '203.0.113.9'] }] } },
      chain('nat-prerouting', { type: 'nat', hook: 'prerouting', prio: 'dstnat' }),
      chain('filter-prerouting', { type: 'filter', hook: 'prerouting', prio: 'dstnat - 10' }),
      chain('nat-postrouting', { type: 'nat', hook: 'postrouting', prio: 'srcnat' }),
      chain('filter-input', { type: 'filter', hook: 'input', prio: 0, policy: 'drop' }),
      chain('late-input', { type: 'filter', hook: 'input', prio: 10 }),
      chain('services'),
      chain('service-a'),
      chain('service-b'),
      chain('endpoint-a1'),
      chain('endpoint-a2'),
      chain('endpoint-b1'),
      chain('mark-for-masquerade'),
      chain('masquerading'),
      chain('firewall-check'),
      chain('reject-chain'),
      chain('sub'),
      rule('nat-prerouting', { jump: { target: 'services' } }),
      rule('filter-prerouting', match('in', { ct: { key: 'state' } }, 'new'), { jump: { target: 'firewall-check' } }),
      rule('firewall-check', { vmap: { key: { concat: [payload('ip', 'daddr'), meta('l4proto'), payload('th', 'dport')] }, data: '@no-endpoint-services' } }),
      rule('firewall-check', match('==', payload('ip', 'saddr'), '@blocked'), { drop: null }),
      rule('services', { vmap: { key: { concat: [payload('ip', 'daddr'), meta('l4proto'), payload('th', 'dport')] }, data: '@service-ips' } }),
      rule('service-a', match('!=', payload('ip', 'saddr'), { prefix: { addr: '10.244.0.0', len: 16 } }), { jump: { target: 'mark-for-masquerade' } }),
      rule('service-a', { vmap: { key: { numgen: { mode: 'random', mod: 2, offset: 0 } }, data: { set: [[0, { goto: { target: 'endpoint-a1' } }], [1, { goto: { target: 'endpoint-a2' } }]] } } }),
      rule('service-b', { vmap: { key: { numgen: { mode: 'random', mod: 1, offset: 0 } }, data: { set: [[0, { goto: { target: 'endpoint-b1' } }]] } } }),
      rule('endpoint-a1', match('==', meta('l4proto'), 'tcp'), { dnat: { addr: '10.244.1.3', port: 8080 } }),
      rule('endpoint-a2', match('==', meta('l4proto'), 'tcp'), { dnat: { addr: '10.244.2.4', port: 8080 } }),
      rule('endpoint-b1', match('==', meta('l4proto'), 'udp'), { dnat: { addr: '10.244.1.5' } }),
      rule('mark-for-masquerade', { mangle: { key: meta('mark'), value: { '|': [meta('mark'), 16384] } } }),
      rule('nat-postrouting', { jump: { target: 'masquerading' } }),
      rule('masquerading', match('==', { '&': [meta('mark'), 16384] }, 0), { return: null }),
      rule('masquerading', { mangle: { key: meta('mark'), value: { '^': [meta('mark'), 16384] } } }),
      rule('masquerading', { masquerade: { flags: 'fully-random' } }),
      rule('reject-chain', { reject: { type: 'icmp', expr: 'port-unreachable' } }),
      rule('filter-input', match('in', { ct: { key: 'state' } }, ['established', 'related']), { accept: null }),
      rule('filter-input', match('==', payload('tcp', 'dport'), 9999), { drop: null }),
      rule('filter-input', match('==', payload('tcp', 'dport'), { range: [1000, 2000] }), { reject: { type: 'tcp reset' } }),
      rule('filter-input', match('==', meta('iifname'), 'lo'), { accept: null }),
      rule('filter-input', match('==', meta('iifname'), 'eth*'), { jump: { target: 'sub' } }),
      rule('filter-input', match('==', { fib: { result: 'type', flags: ['daddr'] } }, 'local'), match('==', payload('udp', 'dport'), { set: [53, 5353] }), { counter: { packets: 0, bytes: 0 } }, { accept: null }),
      rule('filter-input', match('==', meta('l4proto'), 'icmp'), { limit: { rate: 1, per: 'second' } }, { accept: null }),
      rule('sub', match('==', payload('ip6', 'saddr'), '::1'), { drop: null }),
      rule('sub', match('==', meta('nfproto'), 'ipv6'), { drop: null }),
      rule('sub', match('==', payload('tcp', 'dport'), 22), { accept: null }),
      rule('sub', { mangle: { key: meta('mark'), value: 7 } }),
      rule('late-input', match('==', meta('mark'), 7), { drop: null }),
    ],
  },
  'test',
);

function packet(protocol: Protocol, src: string, dst: string, dport: number, ctState: ConntrackState = 'NEW', mark = 0): Packet {
  return buildPacket({ protocol, src: ip(src), dst: ip(dst), sport: 40000, dport, ctState, mark });
}

/** Outcomes as short strings: verdict, destination after NAT, mark, probability. */
function summary(outcomes: readonly NftOutcome[]): string[] {
  return outcomes
    .map((o) => `${o.verdict} ${formatIp(o.packet.src)}:${o.packet.sport}>${formatIp(o.packet.dst)}:${o.packet.dport} mark=0x${o.marks.mark.toString(16)} p=${o.probability}`)
    .sort();
}

const CTX: NftEvalContext = {
  inIface: 'eth0',
  outIface: 'eth1',
  fibDaddrType: (p) => (formatIp(p.dst) === '192.168.1.1' ? 'local' : 'unicast'),
  masqueradeAddress: () => ip('192.168.9.1'),
};

describe('evaluateNftHook', () => {
  it.each<[string, NftHook, Packet, NftEvalContext, string[]]>([
    [
      'a ClusterIP from outside the pod CIDR: two endpoints at 1/2, masquerade mark set',
      'prerouting',
      packet('tcp', '192.168.5.5', '10.96.0.10', 80),
      CTX,
      ['ACCEPT 192.168.5.5:40000>10.244.1.3:8080 mark=0x4000 p=0.5', 'ACCEPT 192.168.5.5:40000>10.244.2.4:8080 mark=0x4000 p=0.5'],
    ],
    [
      'a ClusterIP from a pod: no masquerade mark',
      'prerouting',
      packet('tcp', '10.244.1.9', '10.96.0.10', 80),
      CTX,
      ['ACCEPT 10.244.1.9:40000>10.244.1.3:8080 mark=0x0 p=0.5', 'ACCEPT 10.244.1.9:40000>10.244.2.4:8080 mark=0x0 p=0.5'],
    ],
    ['a UDP service with one endpoint, port kept', 'prerouting', packet('udp', '10.244.1.9', '10.96.0.11', 53), CTX, ['ACCEPT 10.244.1.9:40000>10.244.1.5:53 mark=0x0 p=1']],
    ['a service port not in the map: untouched', 'prerouting', packet('tcp', '10.244.1.9', '10.96.0.10', 81), CTX, ['ACCEPT 10.244.1.9:40000>10.96.0.10:81 mark=0x0 p=1']],
    ['ICMP to a service IP: no map element can match', 'prerouting', packet('icmp', '10.244.1.9', '10.96.0.10', 0), CTX, ['ACCEPT 10.244.1.9:0>10.96.0.10:0 mark=0x0 p=1']],
    ['a service without endpoints is rejected before nat', 'prerouting', packet('tcp', '10.244.1.9', '10.96.0.12', 80), CTX, ['REJECT 10.244.1.9:40000>10.96.0.12:80 mark=0x0 p=1']],
    ['a source in an interval set (prefix) is dropped', 'prerouting', packet('tcp', '198.51.100.7', '10.96.0.10', 80), CTX, ['DROP 198.51.100.7:40000>10.96.0.10:80 mark=0x0 p=1']],
    ['a source in an interval set (range) is dropped', 'prerouting', packet('tcp', '203.0.113.9', '10.96.0.10', 80), CTX, ['DROP 203.0.113.9:40000>10.96.0.10:80 mark=0x0 p=1']],
    ['established: filter skips the check, nat is not consulted', 'prerouting', packet('tcp', '203.0.113.9', '10.96.0.10', 80, 'ESTABLISHED'), CTX, [
      'ACCEPT 203.0.113.9:40000>10.96.0.10:80 mark=0x0 p=1',
    ]],
    ['masquerading: marked packet masqueraded, mark cleared', 'postrouting', packet('tcp', '192.168.5.5', '10.244.1.3', 8080, 'NEW', 0x4001), CTX, [
      'ACCEPT 192.168.9.1:40000>10.244.1.3:8080 mark=0x1 p=1',
    ]],
    ['masquerading: unmarked packet returns', 'postrouting', packet('tcp', '192.168.5.5', '10.244.1.3', 8080, 'NEW', 0x1), CTX, ['ACCEPT 192.168.5.5:40000>10.244.1.3:8080 mark=0x1 p=1']],
    ['input: established accepted', 'input', packet('tcp', '1.1.1.1', '192.168.1.1', 9999, 'ESTABLISHED'), CTX, ['ACCEPT 1.1.1.1:40000>192.168.1.1:9999 mark=0x0 p=1']],
    ['input: port 9999 dropped', 'input', packet('tcp', '1.1.1.1', '192.168.1.1', 9999), CTX, ['DROP 1.1.1.1:40000>192.168.1.1:9999 mark=0x0 p=1']],
    ['input: tcp port range rejected', 'input', packet('tcp', '1.1.1.1', '192.168.1.1', 1500), CTX, ['REJECT 1.1.1.1:40000>192.168.1.1:1500 mark=0x0 p=1']],
    ['input: udp 9999 is not tcp dport 9999: policy drop', 'input', packet('udp', '1.1.1.1', '192.168.1.1', 9999), { ...CTX, inIface: 'tun0' }, ['DROP 1.1.1.1:40000>192.168.1.1:9999 mark=0x0 p=1']],
    ['input: fib local + udp anonymous set accepted', 'input', packet('udp', '1.1.1.1', '192.168.1.1', 5353), { ...CTX, inIface: 'tun0' }, ['ACCEPT 1.1.1.1:40000>192.168.1.1:5353 mark=0x0 p=1']],
    ['input: iifname wildcard, jump, accept in the sub chain', 'input', packet('tcp', '1.1.1.1', '192.168.1.1', 22), CTX, ['ACCEPT 1.1.1.1:40000>192.168.1.1:22 mark=0x0 p=1']],
    [
      'input: sub chain returns with a mark, filter-input policy drop',
      'input',
      packet('tcp', '1.1.1.1', '192.168.1.1', 23),
      CTX,
      ['DROP 1.1.1.1:40000>192.168.1.1:23 mark=0x7 p=1'],
    ],
    ['input: the sub chain marks, filter-input accepts, the later chain drops by mark', 'input', packet('udp', '1.1.1.1', '192.168.1.1', 5353), CTX, [
      'DROP 1.1.1.1:40000>192.168.1.1:5353 mark=0x7 p=1',
    ]],
    ['input: lo accepted by filter-input, the later chain still runs', 'input', packet('tcp', '127.0.0.1', '127.0.0.1', 80, 'NEW', 7), { ...CTX, inIface: 'lo' }, [
      'DROP 127.0.0.1:40000>127.0.0.1:80 mark=0x7 p=1',
    ]],
    ['input: a rule with limit is inconclusive', 'input', packet('icmp', '1.1.1.1', '192.168.1.1', 0), { ...CTX, inIface: 'tun0' }, ['INCONCLUSIVE 1.1.1.1:0>192.168.1.1:0 mark=0x0 p=1']],
    ['input: unknown input interface is inconclusive', 'input', packet('tcp', '1.1.1.1', '192.168.1.1', 80), { fibDaddrType: () => 'local' }, [
      'INCONCLUSIVE 1.1.1.1:40000>192.168.1.1:80 mark=0x0 p=1',
    ]],
    ['forward: no base chain', 'forward', packet('tcp', '1.1.1.1', '10.0.0.1', 80), CTX, ['ACCEPT 1.1.1.1:40000>10.0.0.1:80 mark=0x0 p=1']],
  ])('%s', (_name, hook, p, ctx, expected) => {
    expect(summary(evaluateNftHook(RULESET, 'ip', hook, p, ctx))).toEqual(expected);
  });

  it('records the NAT and the trace by table, chain and handle', () => {
    const [first] = evaluateNftHook(RULESET, 'ip', 'prerouting', packet('tcp', '192.168.5.5', '10.96.0.10', 80), CTX);
    expect(first?.natApplied).toEqual([
      expect.objectContaining({ kind: 'dnat', hook: 'prerouting', table: 'kp', chain: 'endpoint-a1', before: { address: ip('10.96.0.10'), port: 80 }, after: { address: ip('10.244.1.3'), port: 8080 } }),
    ]);
    expect(first?.trace.map((s) => (s.kind === 'rule' ? `${s.chain}#${s.handle}: ${s.action}` : `${s.kind} ${s.chain}`))).toEqual([
      expect.stringMatching(/^filter-prerouting#\d+: jump firewall-check$/),
      'policy filter-prerouting',
      expect.stringMatching(/^nat-prerouting#\d+: jump services$/),
      expect.stringMatching(/^services#\d+: goto service-a$/),
      expect.stringMatching(/^service-a#\d+: jump mark-for-masquerade$/),
      expect.stringMatching(/^mark-for-masquerade#\d+: meta mark set 0x4000$/),
      expect.stringMatching(/^service-a#\d+: goto endpoint-a1$/),
      expect.stringMatching(/^endpoint-a1#\d+: dnat to 10.244.1.3:8080$/),
    ]);
  });

  it('names the table, chain, handle and expression of what it cannot evaluate', () => {
    const [o] = evaluateNftHook(RULESET, 'ip', 'input', packet('icmp', '1.1.1.1', '192.168.1.1', 0), { ...CTX, inIface: 'tun0' });
    expect(o?.reason).toMatch(/^table ip kp chain filter-input handle \d+: \{"limit":\{"rate":1,"per":"second"\}\}: statement not modelled$/);
    expect(o?.warnings.map((w) => w.code)).toEqual(['nft-unsupported']);
  });

  it('masquerade without a known address is inconclusive with an ACCEPT candidate', () => {
    const [o] = evaluateNftHook(RULESET, 'ip', 'postrouting', packet('tcp', '192.168.5.5', '10.244.1.3', 8080, 'NEW', 0x4000), { outIface: 'eth1' });
    expect([o?.verdict, o?.candidate, o?.natApplied[0]?.after]).toEqual(['INCONCLUSIVE', 'ACCEPT', undefined]);
  });

  it('orders base chains by priority, nat chains at the nat core slot', () => {
    expect(nftHookChains(RULESET, 'ip', 'prerouting').map((c) => [c.chain.name, c.effectivePriority])).toEqual([
      ['filter-prerouting', -110],
      ['nat-prerouting', -100],
    ]);
    expect(nftHookChains(RULESET, 'ip', 'input').map((c) => c.chain.name)).toEqual(['filter-input', 'late-input']);
  });

  it('skips later nat chains of the hook once one set up the mapping', () => {
    const twoNat = parseNftRuleset(
      {
        nftables: [
          { table: { family: 'ip', name: 'a' } },
          { chain: { family: 'ip', table: 'a', name: 'n1', type: 'nat', hook: 'prerouting', prio: -200, policy: 'accept' } },
          { chain: { family: 'ip', table: 'a', name: 'n2', type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' } },
          { rule: { family: 'ip', table: 'a', chain: 'n1', handle: 1, expr: [{ dnat: { addr: '10.0.0.1' } }] } },
          { rule: { family: 'ip', table: 'a', chain: 'n2', handle: 2, expr: [{ dnat: { addr: '10.0.0.2' } }] } },
        ],
      },
      't',
    );
    const outcomes = evaluateNftHook(twoNat, 'ip', 'prerouting', packet('tcp', '1.1.1.1', '2.2.2.2', 80), {});
    expect(summary(outcomes)).toEqual(['ACCEPT 1.1.1.1:40000>10.0.0.1:80 mark=0x0 p=1']);
    expect(outcomes[0]?.trace.at(-1)).toMatchObject({ kind: 'skip', chain: 'n2' });
  });
});
