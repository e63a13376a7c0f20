import { describe, expect, it } from '@jest/globals';
import { formatIp, type IpAddress } from '../../model/ip.js';
import type { Packet } from '../../model/packet.js';
import type { TableName } from './model.js';
import { parseIptablesSave } from './ruleset-parser.js';
import { buildKubeProxyRules } from '../../../../test/support/kube-proxy-rules.js';
import { ip, packet, parseDump } from './testing/helpers.js';
import type { HostContext, Outcome, PacketDirection, NetfilterRouteQuery, TraceOptions, TraceResult } from './trace-types.js';
import { traceIptables } from './traversal.js';

// The host: eth0 192.168.1.10/24 (default route), cni0 10.244.0.1/24 (pods), lo.
const NODE_IP = ip('192.168.1.10');
const routes: NetfilterRouteQuery[] = [];
const route = (q: NetfilterRouteQuery) => {
  routes.push(q);
  const dst = q.packet.dst;
  if ([NODE_IP.value, ip('10.244.0.1').value].includes(dst.value) || formatIp(dst).startsWith('127.')) return { kind: 'local' } as const;
  if (formatIp(dst) === '203.0.113.99') return { kind: 'unreachable', reason: 'unreachable route 203.0.113.99', reject: true } as const;
  if (formatIp(dst) === '203.0.113.98') return { kind: 'unknown', reason: 'no routing table 7' } as const;
  // Policy routing on fwmark 0x1: everything marked goes out of wg0.
  if (q.packet.mark === 1) return { kind: 'unicast', outIface: 'wg0' } as const;
  if (formatIp(dst).startsWith('10.244.')) return { kind: 'unicast', outIface: 'cni0', source: ip('10.244.0.1') } as const;
  return { kind: 'unicast', outIface: 'eth0', source: NODE_IP } as const;
};

const HOST: HostContext = {
  localAddresses: [NODE_IP, ip('10.244.0.1')],
  interfaceAddresses: new Map<string, IpAddress[]>([
    ['eth0', [NODE_IP]],
    ['cni0', [ip('10.244.0.1')]],
  ]),
  route,
};

const IN_ETH0: PacketDirection = { kind: 'incoming', inIface: 'eth0' };
const IN_CNI0: PacketDirection = { kind: 'incoming', inIface: 'cni0' };
const OUT: PacketDirection = { kind: 'outgoing' };

const toNode = packet('tcp', '203.0.113.5', '192.168.1.10', 22);
const toPod = packet('tcp', '203.0.113.5', '10.244.0.7', 80);
const fromPod = packet('tcp', '10.244.0.7', '93.184.216.34', 443);
const fromHost = packet('tcp', '192.168.1.10', '93.184.216.34', 443);

function trace(
  tables: Partial<Record<TableName, string[]>>,
  p: Packet,
  direction: PacketDirection = IN_ETH0,
  options: TraceOptions = {},
  policies: Record<string, 'ACCEPT' | 'DROP'> = {},
  host: HostContext = HOST,
): TraceResult {
  return traceIptables(parseDump(tables, policies), p, direction, host, options);
}

function only(result: TraceResult): Outcome {
  expect(result.outcomes).toHaveLength(1);
  return result.outcomes[0] as Outcome;
}

/** The trace in a few words per step. */
function steps(o: Outcome): string[] {
  return o.trace.map((s) => {
    switch (s.kind) {
      case 'rule':
        return `${s.hook} ${s.table} ${s.ruleText}${s.matched ? '' : ' (not taken)'}`;
      case 'policy':
        return `${s.hook} ${s.table} ${s.chain} policy ${s.policy}`;
      case 'route':
        return `route ${s.stage} ${s.decision.kind}${s.decision.kind === 'unicast' ? ` ${s.decision.outIface}` : ''}`;
      case 'skip':
        return `${s.hook} ${s.table} skipped`;
      case 'nft':
        return `${s.hook} nft ${s.step.table} ${s.step.chain} ${s.step.kind}`;
    }
  });
}

const LOG_EVERYWHERE: Partial<Record<TableName, string[]>> = {
  raw: ['-A PREROUTING -j LOG', '-A OUTPUT -j LOG'],
  mangle: ['-A PREROUTING -j LOG', '-A INPUT -j LOG', '-A FORWARD -j LOG', '-A OUTPUT -j LOG', '-A POSTROUTING -j LOG'],
  nat: ['-A PREROUTING -j LOG', '-A INPUT -j LOG', '-A OUTPUT -j LOG', '-A POSTROUTING -j LOG'],
  filter: ['-A INPUT -j LOG', '-A FORWARD -j LOG', '-A OUTPUT -j LOG'],
  security: ['-A INPUT -j LOG', '-A FORWARD -j LOG', '-A OUTPUT -j LOG'],
};

describe('traceIptables: hooks in kernel order', () => {
  it.each([
    ['an incoming packet for the host', toNode, IN_ETH0, 'local', [
      'PREROUTING raw -A PREROUTING -j LOG',
      'PREROUTING mangle -A PREROUTING -j LOG',
      'PREROUTING nat -A PREROUTING -j LOG',
      'route input local',
      'INPUT mangle -A INPUT -j LOG',
      'INPUT filter -A INPUT -j LOG',
      'INPUT security -A INPUT -j LOG',
      'INPUT nat -A INPUT -j LOG',
    ]],
    ['an incoming packet routed on', toPod, IN_ETH0, 'transmit', [
      'PREROUTING raw -A PREROUTING -j LOG',
      'PREROUTING mangle -A PREROUTING -j LOG',
      'PREROUTING nat -A PREROUTING -j LOG',
      'route input unicast cni0',
      'FORWARD mangle -A FORWARD -j LOG',
      'FORWARD filter -A FORWARD -j LOG',
      'FORWARD security -A FORWARD -j LOG',
      'POSTROUTING mangle -A POSTROUTING -j LOG',
      'POSTROUTING nat -A POSTROUTING -j LOG',
    ]],
    ['a locally generated packet', fromHost, OUT, 'transmit', [
      'route output unicast eth0',
      'OUTPUT raw -A OUTPUT -j LOG',
      'OUTPUT mangle -A OUTPUT -j LOG',
      'OUTPUT nat -A OUTPUT -j LOG',
      'OUTPUT filter -A OUTPUT -j LOG',
      'OUTPUT security -A OUTPUT -j LOG',
      'POSTROUTING mangle -A POSTROUTING -j LOG',
      'POSTROUTING nat -A POSTROUTING -j LOG',
    ]],
  ] as const)('%s', (_name, p, direction, delivery, expected) => {
    const o = only(trace(LOG_EVERYWHERE, p, direction));
    expect(o.verdict).toBe('ACCEPT');
    expect(o.delivery?.kind).toBe(delivery);
    // Every built-in chain falls through to its ACCEPT policy after its LOG rule.
    expect(steps(o).filter((s) => !s.includes('policy'))).toEqual(expected);
  });

  it('skips tables that are not loaded', () => {
    const o = only(trace({ filter: ['-A INPUT -j LOG'] }, toNode));
    expect(steps(o)).toEqual(['route input local', 'INPUT filter -A INPUT -j LOG', 'INPUT filter INPUT policy ACCEPT']);
    expect(o.reason).toBe('delivered to a local socket');
  });
});

describe('traceIptables: chains, jumps and policies', () => {
  it.each([
    ['the policy when nothing matches', ['-A INPUT -s 10.0.0.0/8 -j ACCEPT'], { 'filter/INPUT': 'DROP' }, 'DROP', 'policy DROP of filter INPUT'],
    ['the first matching rule', ['-A INPUT -p tcp -j DROP', '-A INPUT -j ACCEPT'], {}, 'DROP', 'DROP by filter INPUT rule at line 5'],
    ['REJECT', ['-A INPUT -p tcp -j REJECT --reject-with tcp-reset'], {}, 'REJECT', 'REJECT (tcp-reset) by filter INPUT rule at line 5'],
    ['a user chain falling through back to the caller', ['-A INPUT -j A', '-A INPUT -j DROP', '-A A -s 10.0.0.0/8 -j ACCEPT'], {}, 'DROP', 'DROP by filter INPUT rule at line 7'],
    ['RETURN back to the caller', ['-A INPUT -j A', '-A INPUT -j REJECT', '-A A -p tcp -j RETURN', '-A A -j ACCEPT'], {}, 'REJECT', 'REJECT (icmp-port-unreachable) by filter INPUT rule at line 7'],
    ['RETURN in a built-in chain applies the policy', ['-A INPUT -j RETURN', '-A INPUT -j ACCEPT'], { 'filter/INPUT': 'DROP' }, 'DROP', 'policy DROP of filter INPUT'],
    ['jump: after the chain the caller goes on', ['-A INPUT -j A', '-A INPUT -j REJECT', '-A A -j B', '-A A -j DROP', '-A B -s 10.0.0.0/8 -j ACCEPT'], {}, 'DROP', 'DROP by filter A rule at line 10'],
    ['goto: the chain replaces its caller', ['-A INPUT -j A', '-A INPUT -j REJECT', '-A A -g B', '-A A -j DROP', '-A B -s 10.0.0.0/8 -j ACCEPT'], {}, 'REJECT', 'REJECT (icmp-port-unreachable) by filter INPUT rule at line 8'],
    ['goto from a built-in chain ends in its policy', ['-A INPUT -g B', '-A INPUT -j ACCEPT', '-A B -s 10.0.0.0/8 -j ACCEPT'], { 'filter/INPUT': 'DROP' }, 'DROP', 'policy DROP of filter INPUT'],
    ['ACCEPT in a user chain accepts for the table', ['-A INPUT -j A', '-A INPUT -j DROP', '-A A -j ACCEPT'], {}, 'ACCEPT', 'delivered to a local socket'],
  ])('%s', (_name, rules, policies, verdict, reason) => {
    const o = only(trace({ filter: rules }, toNode, IN_ETH0, {}, policies as Record<string, 'ACCEPT' | 'DROP'>));
    expect(o.verdict).toBe(verdict);
    expect(o.reason).toBe(reason);
  });

  it('ACCEPT ends only its table: the next table still sees the packet', () => {
    const o = only(trace({ filter: ['-A INPUT -j ACCEPT'], security: ['-A INPUT -j DROP'] }, toNode));
    expect(o.verdict).toBe('DROP');
    expect(steps(o)).toEqual(['route input local', 'INPUT filter -A INPUT -j ACCEPT', 'INPUT security -A INPUT -j DROP']);
  });

  it('DROP ends the walk', () => {
    const o = only(trace({ mangle: ['-A PREROUTING -j DROP'], filter: ['-A INPUT -j LOG'] }, toNode));
    expect(steps(o)).toEqual(['PREROUTING mangle -A PREROUTING -j DROP']);
    expect(o.delivery).toBeUndefined();
  });

  it('records a rule without target and goes on', () => {
    const o = only(trace({ filter: ['-A INPUT -p tcp', '-A INPUT -j DROP'] }, toNode));
    expect(steps(o)).toEqual(['route input local', 'INPUT filter -A INPUT -p tcp', 'INPUT filter -A INPUT -j DROP']);
  });

  it('stops a walk that loops (a dump iptables would refuse)', () => {
    const o = only(trace({ filter: ['-A INPUT -j A', '-A A -g B', '-A B -g A'] }, toNode));
    expect(o.verdict).toBe('INCONCLUSIVE');
    expect(o.warnings.map((w) => w.code)).toEqual(['iptables-loop']);
  });
});

describe('traceIptables: negation', () => {
  it.each([
    ['! -s', '! -s 203.0.113.0/24', false],
    ['! -s other', '! -s 10.0.0.0/8', true],
    ['! -d', '! -d 192.168.1.10/32', false],
    ['-d with a dotted mask', '-d 192.168.0.0/255.255.0.0', true],
    ['-s with a non-contiguous mask', '-s 203.0.0.5/255.255.0.255', true],
    ['! -i', '! -i eth0', false],
    ['! -i wildcard', '! -i cni+', true],
    ['-i wildcard', '-i eth+', true],
    ['-o in INPUT (no output device)', '-o eth0', false],
    ['! -o in INPUT', '! -o eth0', true],
    ['! -p tcp', '! -p tcp', false],
    ['! -p udp', '! -p udp', true],
    ['-p all', '-p all', true],
    ['-p 6', '-p 6', true],
    ['-f', '-f', false],
    ['! -f', '! -f', true],
    ['-p tcp ! --dport 22', '-p tcp -m tcp ! --dport 22', false],
    ['! --ctstate NEW', '-m conntrack ! --ctstate NEW', false],
    ['! --mark', '-m mark ! --mark 0x1', true],
    ['! --src-type LOCAL', '-m addrtype ! --src-type LOCAL', true],
    ['! --dst-type LOCAL', '-m addrtype ! --dst-type LOCAL', false],
    ['! --src-range', '-m iprange ! --src-range 203.0.113.1-203.0.113.9', false],
    ['multiport ! --dports', '-p tcp -m multiport ! --dports 22,80', false],
    ['! --pkt-type', '-m pkttype ! --pkt-type unicast', false],
  ])('%s', (_name, spec, matches) => {
    const o = only(trace({ filter: [`-A INPUT ${spec} -j DROP`] }, toNode));
    expect(o.verdict).toBe(matches ? 'DROP' : 'ACCEPT');
  });
});

describe('traceIptables: NAT', () => {
  it('DNATs in PREROUTING, routes the rewritten packet, and later rules see the rewrite', () => {
    routes.length = 0;
    const o = only(
      trace(
        {
          nat: ['-A PREROUTING -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.0.7:8080'],
          filter: ['-A FORWARD -d 10.244.0.7/32 -p tcp -m tcp --dport 8080 -o cni0 -m conntrack --ctstate DNAT --ctorigdst 10.96.0.10 -j ACCEPT', '-A FORWARD -j DROP'],
        },
        packet('tcp', '203.0.113.5', '10.96.0.10', 80),
      ),
    );
    expect(o.verdict).toBe('ACCEPT');
    expect(o.delivery).toEqual({ kind: 'transmit', outIface: 'cni0' });
    expect(formatIp(o.packet.dst)).toBe('10.244.0.7');
    expect(o.packet.dport).toBe(8080);
    expect(o.natApplied).toEqual([
      expect.objectContaining({ kind: 'dnat', hook: 'PREROUTING', before: { address: ip('10.96.0.10'), port: 80 }, after: { address: ip('10.244.0.7'), port: 8080 } }),
    ]);
    expect(routes.map((r) => formatIp(r.packet.dst))).toEqual(['10.244.0.7']);
  });

  it('a NAT target ends the nat chain (ACCEPT semantics)', () => {
    const o = only(trace({ nat: ['-A PREROUTING -j DNAT --to-destination 10.244.0.7', '-A PREROUTING -j DNAT --to-destination 10.244.0.8'] }, toNode));
    expect(formatIp(o.packet.dst)).toBe('10.244.0.7');
    expect(o.natApplied).toHaveLength(1);
  });

  it.each(['ESTABLISHED', 'INVALID', 'UNTRACKED'] as const)('consults nat only for the first packet of a connection, not %s', (state) => {
    const o = only(trace({ nat: ['-A PREROUTING -j DNAT --to-destination 10.244.0.7'] }, { ...toNode, ctState: state }));
    expect(o.natApplied).toEqual([]);
    expect(steps(o)[0]).toBe('PREROUTING nat skipped');
    expect(formatIp(o.packet.dst)).toBe('192.168.1.10');
  });

  it('applies NAT once per connection: not again when it is already set up', () => {
    const o = only(
      trace({ nat: ['-A PREROUTING -j DNAT --to-destination 10.244.0.7', '-A INPUT -j SNAT --to-source 1.1.1.1'] }, toNode, IN_ETH0, {
        conntrack: { natInitialized: { destination: true } },
      }),
    );
    expect(o.natApplied.map((n) => n.kind)).toEqual(['snat']);
    expect(steps(o)[0]).toBe('PREROUTING nat skipped');
  });

  it('MASQUERADE uses the route source of the output interface', () => {
    const o = only(trace({ nat: ['-A POSTROUTING -o eth0 -j MASQUERADE --random-fully'] }, fromPod, IN_CNI0));
    expect(o.natApplied).toEqual([
      expect.objectContaining({ kind: 'masquerade', outIface: 'eth0', after: { address: NODE_IP, port: 40000 }, note: 'source port randomised (--random-fully)' }),
    ]);
    expect(formatIp(o.packet.src)).toBe('192.168.1.10');
  });

  it('MASQUERADE without a known address is recorded as masquerade on the interface', () => {
    const host: HostContext = { localAddresses: [NODE_IP], route: () => ({ kind: 'unicast', outIface: 'eth9' }) };
    const o = only(trace({ nat: ['-A POSTROUTING -j MASQUERADE'] }, fromPod, IN_CNI0, {}, {}, host));
    expect(o.verdict).toBe('ACCEPT');
    expect(o.natApplied).toEqual([expect.objectContaining({ kind: 'masquerade', outIface: 'eth9', after: undefined, note: 'masquerade on eth9: its address is unknown' })]);
    expect(formatIp(o.packet.src)).toBe('10.244.0.7');
  });

  it('SNAT to an address, keeping the port', () => {
    const o = only(trace({ nat: ['-A POSTROUTING -s 10.244.0.0/16 -j SNAT --to-source 198.51.100.1'] }, fromPod, IN_CNI0));
    expect(o.packet).toMatchObject({ src: ip('198.51.100.1'), sport: 40000 });
  });

  it('REDIRECT in PREROUTING goes to the address of the input interface and is delivered locally', () => {
    const o = only(trace({ nat: ['-A PREROUTING -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 3128'] }, toPod, IN_CNI0));
    expect(o.packet).toMatchObject({ dst: ip('10.244.0.1'), dport: 3128 });
    expect(o.delivery).toEqual({ kind: 'local' });
  });

  it('REDIRECT in OUTPUT goes to loopback', () => {
    const o = only(trace({ nat: ['-A OUTPUT -p tcp -j REDIRECT --to-ports 15001'] }, fromHost, OUT));
    expect(o.packet).toMatchObject({ dst: ip('127.0.0.1'), dport: 15001 });
    expect(o.delivery).toEqual({ kind: 'transmit', outIface: 'lo' });
  });

  it('REDIRECT to an interface whose address is unknown is inconclusive', () => {
    const o = only(trace({ nat: ['-A PREROUTING -j REDIRECT'] }, toPod, { kind: 'incoming', inIface: 'eth7' }));
    expect(o.verdict).toBe('INCONCLUSIVE');
    expect(o.warnings.map((w) => w.code)).toEqual(['iptables-nat-unresolved']);
  });

  it('follows every address of a DNAT range', () => {
    const result = trace({ nat: ['-A PREROUTING -j DNAT --to-destination 10.244.0.5-10.244.0.7'] }, toNode);
    expect(result.outcomes.map((o) => [formatIp(o.packet.dst), o.probability])).toEqual([
      ['10.244.0.5', 1 / 3],
      ['10.244.0.6', 1 / 3],
      ['10.244.0.7', 1 / 3],
    ]);
  });

  it('DNAT in OUTPUT re-routes the packet', () => {
    routes.length = 0;
    const o = only(trace({ nat: ['-A OUTPUT -d 93.184.216.34 -j DNAT --to-destination 10.244.0.9'] }, fromHost, OUT));
    expect(routes.map((r) => [r.stage, formatIp(r.packet.dst)])).toEqual([
      ['output', '93.184.216.34'],
      ['reroute', '10.244.0.9'],
    ]);
    expect(o.delivery).toEqual({ kind: 'transmit', outIface: 'cni0' });
  });
});

describe('traceIptables: marks', () => {
  it('a mark set in mangle is seen by later rules and by routing', () => {
    routes.length = 0;
    const o = only(
      trace(
        {
          mangle: ['-A PREROUTING -s 203.0.113.0/24 -j MARK --set-xmark 0x1/0xffffffff'],
          filter: ['-A FORWARD -m mark --mark 0x1 -o wg0 -j DROP'],
        },
        toPod,
      ),
    );
    expect(o.verdict).toBe('DROP');
    expect(routes.map((r) => r.packet.mark)).toEqual([1]);
    expect(o.marks).toEqual({ mark: 1, connmark: 0 });
  });

  it('a mark changed in mangle OUTPUT re-routes a local packet', () => {
    routes.length = 0;
    const o = only(trace({ mangle: ['-A OUTPUT -j MARK --set-xmark 0x1/0xffffffff'] }, fromHost, OUT));
    expect(routes.map((r) => [r.stage, r.packet.mark])).toEqual([
      ['output', 0],
      ['reroute', 1],
    ]);
    expect(o.delivery).toEqual({ kind: 'transmit', outIface: 'wg0' });
  });

  it('CONNMARK saves and restores through the connection', () => {
    const o = only(
      trace(
        {
          mangle: [
            '-A PREROUTING -j MARK --set-xmark 0x20/0xff',
            '-A PREROUTING -j CONNMARK --save-mark --nfmask 0xff --ctmask 0xff',
            '-A PREROUTING -j MARK --set-xmark 0x0/0xffffffff',
            '-A PREROUTING -m connmark --mark 0x20/0xff -j CONNMARK --restore-mark --nfmask 0xf0 --ctmask 0xf0',
          ],
        },
        toNode,
      ),
    );
    expect(o.marks).toEqual({ mark: 0x20, connmark: 0x20 });
  });

  it('kube-proxy style masquerade mark: set in nat PREROUTING, cleared and masqueraded in POSTROUTING', () => {
    const o = only(
      trace(
        {
          nat: [
            '-A PREROUTING -j KUBE-MARK-MASQ',
            '-A POSTROUTING -j KUBE-POSTROUTING',
            '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
            '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
            '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0',
            '-A KUBE-POSTROUTING -j MASQUERADE --random-fully',
          ],
        },
        toPod,
      ),
    );
    expect(o.marks.mark).toBe(0);
    expect(o.natApplied.map((n) => n.kind)).toEqual(['masquerade']);
    expect(formatIp(o.packet.src)).toBe('10.244.0.1');
  });
});

describe('traceIptables: conntrack state', () => {
  it.each([
    ['NEW', 'DROP'],
    ['ESTABLISHED', 'ACCEPT'],
    ['RELATED', 'ACCEPT'],
    ['INVALID', 'REJECT'],
  ] as const)('%s', (state, verdict) => {
    const o = only(
      trace({ filter: ['-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT', '-A INPUT -m conntrack --ctstate INVALID -j REJECT', '-A INPUT -j DROP'] }, { ...toNode, ctState: state }),
    );
    expect(o.verdict).toBe(verdict);
  });

  it('NOTRACK in raw makes the packet UNTRACKED for later tables, and nat is skipped', () => {
    const o = only(
      trace(
        { raw: ['-A PREROUTING -p tcp -j CT --notrack'], nat: ['-A PREROUTING -j DNAT --to-destination 10.244.0.7'], filter: ['-A INPUT -m state --state UNTRACKED -j DROP'] },
        toNode,
      ),
    );
    expect(o.packet.ctState).toBe('UNTRACKED');
    expect(o.natApplied).toEqual([]);
    expect(o.verdict).toBe('DROP');
  });
});

describe('traceIptables: statistic branches', () => {
  const svc = [
    '-A PREROUTING -m statistic --mode random --probability 0.33333333349 -j DNAT --to-destination 10.244.0.5',
    '-A PREROUTING -m statistic --mode random --probability 0.50000000000 -j DNAT --to-destination 10.244.0.6',
    '-A PREROUTING -j DNAT --to-destination 10.244.0.7',
  ];

  it('follows every branch, with probabilities', () => {
    const result = trace({ nat: svc }, toNode);
    expect(result.capped).toBe(false);
    expect(result.outcomes.map((o) => formatIp(o.packet.dst))).toEqual(['10.244.0.5', '10.244.0.6', '10.244.0.7']);
    for (const o of result.outcomes) expect(o.probability).toBeCloseTo(1 / 3, 6);
    // The branch that did not take the first rule says so in its trace.
    expect(steps(result.outcomes[2] as Outcome).slice(0, 3)).toEqual([
      `PREROUTING nat ${svc[0]} (not taken)`,
      `PREROUTING nat ${svc[1]} (not taken)`,
      `PREROUTING nat ${svc[2]}`,
    ]);
    expect((result.outcomes[0] as Outcome).trace[0]).toMatchObject({ matched: true, note: 'statistic: taken with probability 0.333333' });
  });

  it('merges branches that end the same way', () => {
    const result = trace({ filter: ['-A INPUT -m statistic --mode random --probability 0.5 -j ACCEPT', '-A INPUT -j ACCEPT'] }, toNode);
    expect(result.outcomes).toHaveLength(1);
    expect(result.outcomes[0]?.probability).toBe(1);
  });

  it('does not branch on a rule whose target changes nothing', () => {
    const o = only(trace({ filter: ['-A INPUT -m statistic --mode nth --every 2 -j LOG'] }, toNode));
    expect(o.trace.some((s) => s.kind === 'rule' && s.note?.includes('its target changes nothing') === true)).toBe(true);
  });

  it('caps the branching and says so', () => {
    const result = trace({ nat: svc }, toNode, IN_ETH0, { maxBranches: 2 });
    expect(result.capped).toBe(true);
    expect(result.outcomes).toHaveLength(2);
    expect(result.warnings.map((w) => w.code)).toEqual(['iptables-branching-capped']);
  });
});

describe('traceIptables: what it cannot know', () => {
  const unknownMatch = '-m string --string "GET /" --algo bm';

  it('an unknown match that could change the outcome makes it inconclusive, naming the rule', () => {
    const result = trace({ filter: [`-A INPUT -p tcp ${unknownMatch} -j DROP`] }, toNode);
    expect(result.outcomes.map((o) => [o.verdict, o.candidate])).toEqual([
      ['INCONCLUSIVE', 'DROP'],
      ['INCONCLUSIVE', 'ACCEPT'],
    ]);
    for (const o of result.outcomes) {
      expect(o.warnings).toEqual([
        {
          code: 'iptables-unknown-match',
          message: `filter INPUT rule at line 5: cannot tell whether "-A INPUT -p tcp ${unknownMatch} -j DROP" matches: match module "string" is not modelled`,
          source: 'test.rules:5',
        },
      ]);
    }
  });

  it.each([
    ['its target changes nothing', [`-A INPUT ${unknownMatch} -j LOG`, '-A INPUT -j DROP'], 'DROP'],
    ['the packet does not reach it', ['-A INPUT -j DROP', `-A INPUT ${unknownMatch} -j ACCEPT`], 'DROP'],
    ['another match of the rule fails', [`-A INPUT -p udp ${unknownMatch} -j DROP`], 'ACCEPT'],
    ['both ways end the same', [`-A INPUT ${unknownMatch} -j ACCEPT`], 'ACCEPT'],
    ['both ways end the same through a chain', [`-A INPUT ${unknownMatch} -j A`, '-A A -j LOG'], 'ACCEPT'],
  ])('an unknown match changes nothing when %s', (_name, rules, verdict) => {
    const o = only(trace({ filter: rules }, toNode));
    expect(o.verdict).toBe(verdict);
    expect(o.warnings).toEqual([]);
  });

  it('an unknown target the packet reaches is inconclusive; one it does not reach is not', () => {
    const reached = only(trace({ filter: ['-A INPUT -p tcp -j NFQUEUE --queue-num 3'] }, toNode));
    expect(reached.verdict).toBe('INCONCLUSIVE');
    expect(reached.candidate).toBeUndefined();
    expect(reached.warnings).toEqual([expect.objectContaining({ code: 'iptables-unknown-target', source: 'test.rules:5' })]);
    expect(reached.warnings[0]?.message).toContain('"-A INPUT -p tcp -j NFQUEUE --queue-num 3"');
    const missed = only(trace({ filter: ['-A INPUT -p udp -j NFQUEUE --queue-num 3'] }, toNode));
    expect(missed.verdict).toBe('ACCEPT');
  });

  it('-o without a route or a forced interface is inconclusive', () => {
    const host: HostContext = { localAddresses: [NODE_IP] };
    const o = only(trace({ filter: ['-A FORWARD -o eth0 -j DROP'] }, toPod, IN_ETH0, {}, {}, host));
    expect(o.verdict).toBe('INCONCLUSIVE');
    expect(o.warnings).toEqual([
      {
        code: 'iptables-out-interface-unknown',
        message: 'filter FORWARD rule at line 5: "-A FORWARD -o eth0 -j DROP" matches on the output interface, which is unknown (no route, no forced interface)',
        source: 'test.rules:5',
      },
    ]);
  });

  it.each([
    ['eth0', 'DROP'],
    ['eth1', 'ACCEPT'],
  ])('-o with the output interface forced to %s', (outIface, verdict) => {
    const host: HostContext = { localAddresses: [NODE_IP] };
    const o = only(trace({ filter: ['-A FORWARD -o eth0 -j DROP'] }, toPod, IN_ETH0, { outIface }, {}, host));
    expect(o.verdict).toBe(verdict);
  });

  it('-o in a rule that changes nothing needs no output interface', () => {
    const o = only(trace({ filter: ['-A FORWARD -o eth0 -j LOG'] }, toPod, IN_ETH0, {}, {}, { localAddresses: [NODE_IP] }));
    expect(o.verdict).toBe('ACCEPT');
    expect(o.warnings).toEqual([]);
  });

  it('an unknown ipset is inconclusive when it matters', () => {
    const ipsets = { has: (name: string) => (name === 'allowed' ? true : undefined) };
    const host: HostContext = { ...HOST, ipsets };
    const known = only(trace({ filter: ['-A INPUT -m set --match-set allowed src -j ACCEPT', '-A INPUT -j DROP'] }, toNode, IN_ETH0, {}, {}, host));
    expect(known.verdict).toBe('ACCEPT');
    const unknown = trace({ filter: ['-A INPUT -m set --match-set other src -j ACCEPT', '-A INPUT -j DROP'] }, toNode, IN_ETH0, {}, {}, host);
    expect(unknown.outcomes.map((o) => [o.verdict, o.candidate])).toEqual([
      ['INCONCLUSIVE', 'ACCEPT'],
      ['INCONCLUSIVE', 'DROP'],
    ]);
    expect(unknown.outcomes[0]?.warnings[0]).toMatchObject({ code: 'iptables-undecidable-match', message: expect.stringContaining('ipset other is unknown') });
  });

  it('keeps to one assumption per unknown fact: the same set, the same rule text', () => {
    const host: HostContext = { ...HOST, ipsets: { has: () => undefined } };
    // Four rules on the same unknown set: two consistent ways, not sixteen.
    const rules = [
      '-A INPUT -m set --match-set pods src -j A',
      '-A INPUT -m set ! --match-set pods src -j B',
      '-A A -m set --match-set pods src -j MARK --set-xmark 0x1/0xffffffff',
      '-A B -m set ! --match-set pods src -j MARK --set-xmark 0x2/0xffffffff',
      `-A INPUT ${unknownMatch} -j MARK --set-xmark 0x10/0x10`,
      `-A INPUT ${unknownMatch} -j DROP`,
    ];
    const result = trace({ filter: rules }, toNode, IN_ETH0, {}, {}, host);
    expect(result.outcomes.map((o) => [o.candidate, o.marks.mark])).toEqual([
      ['DROP', 0x11],
      ['ACCEPT', 0x1],
      ['DROP', 0x12],
      ['ACCEPT', 0x2],
    ]);
    expect(result.outcomes.every((o) => o.verdict === 'INCONCLUSIVE')).toBe(true);
  });

  it('the owner of a local socket, when unknown, is inconclusive', () => {
    const result = trace({ filter: ['-A OUTPUT -m owner --uid-owner 0 -j DROP'] }, fromHost, OUT);
    expect(result.outcomes.map((o) => o.candidate)).toEqual(['DROP', 'ACCEPT']);
    const known = only(trace({ filter: ['-A OUTPUT -m owner --uid-owner 0 -j DROP'] }, fromHost, OUT, { socketOwner: { uid: 1000, gid: 1000 } }));
    expect(known.verdict).toBe('ACCEPT');
  });

  it('a table iptables-nft-save could not print is inconclusive', () => {
    const rs = parseIptablesSave("# Table `filter' is incompatible, use 'nft' tool.\n", 'inc');
    const o = only(traceIptables(rs, toNode, IN_ETH0, HOST));
    expect(o.verdict).toBe('INCONCLUSIVE');
    expect(o.warnings.map((w) => w.code)).toEqual(['iptables-table-incompatible']);
  });

  it('a packet of the other family is inconclusive', () => {
    const rs = parseIptablesSave('# Generated by ip6tables-save v1.8.9 on x\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n', 'v6');
    const result = traceIptables(rs, toNode, IN_ETH0, HOST);
    expect(result.outcomes.map((o) => o.verdict)).toEqual(['INCONCLUSIVE']);
    expect(result.warnings.map((w) => w.code)).toEqual(['iptables-family-mismatch']);
  });
});

describe('traceIptables: routing', () => {
  it('an unreachable route rejects, an unknown one is inconclusive', () => {
    expect(only(trace({}, packet('tcp', '203.0.113.5', '203.0.113.99', 80))).verdict).toBe('REJECT');
    const unknown = only(trace({}, packet('tcp', '203.0.113.5', '203.0.113.98', 80)));
    expect(unknown.verdict).toBe('INCONCLUSIVE');
    expect(unknown.warnings.map((w) => w.code)).toEqual(['iptables-route-unknown']);
  });

  it('without routing: local addresses are delivered, others forwarded', () => {
    const host: HostContext = { localAddresses: [NODE_IP] };
    expect(only(trace({}, toNode, IN_ETH0, {}, {}, host)).delivery).toEqual({ kind: 'local' });
    expect(only(trace({}, toPod, IN_ETH0, {}, {}, host)).delivery).toEqual({ kind: 'transmit', outIface: undefined });
  });
});

describe('traceIptables: TPROXY', () => {
  const rules = { mangle: ['-A PREROUTING -p tcp -m tcp --dport 80 -j TPROXY --on-port 15006 --tproxy-mark 0x1/0x1'], filter: ['-A INPUT -m mark --mark 0x1/0x1 -j ACCEPT', '-A INPUT -j DROP'] };
  it.each([
    [true, 'ACCEPT'],
    [false, 'DROP'],
    [undefined, 'INCONCLUSIVE'],
  ])('socket found: %p', (found, verdict) => {
    const host: HostContext = { ...HOST, route: () => ({ kind: 'local' }), socketLookup: (q) => (q.redirectTo?.port === 15006 ? found : false) };
    const o = only(trace(rules, toPod, IN_ETH0, {}, {}, host));
    expect(o.verdict).toBe(verdict);
  });
});

describe('traceIptables on a kube-proxy rule set', () => {
  // 20 services of 4 endpoints (every 5th with a NodePort, every 10th UDP) and a 21st without endpoints.
  const generated = buildKubeProxyRules({
    services: 21,
    endpointsPerService: 4,
    nodePortEvery: 5,
    emptyEvery: 21,
    udpEvery: 10,
    kubernetesService: false,
    nodeIp: formatIp(NODE_IP),
  });
  const rs = parseIptablesSave(generated.text, 'kube-proxy');
  const services = generated.services;
  const web = services[3];
  const noEndpoints = services[20];
  if (web === undefined || noEndpoints === undefined) throw new Error('services missing');

  it('generates what the tests below assume', () => {
    expect(services.filter((s) => s.endpoints.length === 4)).toHaveLength(20);
    expect(noEndpoints.endpoints).toEqual([]);
    expect(web).toMatchObject({ protocol: 'tcp', port: 80 });
  });

  it('a pod reaching a ClusterIP is DNATed to one of four endpoints, a quarter each', () => {
    const result = traceIptables(rs, packet('tcp', '10.244.0.7', web.clusterIP, 80), IN_CNI0, HOST);
    expect(result.outcomes.map((o) => `${formatIp(o.packet.dst)}:${o.packet.dport}`)).toEqual(web.endpoints.map((e) => `${e.ip}:${e.port}`));
    for (const o of result.outcomes) {
      expect(o.verdict).toBe('ACCEPT');
      expect(o.probability).toBeCloseTo(0.25, 6);
      expect(o.natApplied.map((n) => n.kind)).toEqual(['dnat']);
      expect(o.marks.mark).toBe(0); // from the cluster CIDR: no masquerade mark
    }
  });

  it('a client outside the cluster CIDR is marked and masqueraded', () => {
    const result = traceIptables(rs, packet('tcp', '192.168.1.50', web.clusterIP, 80), IN_ETH0, HOST);
    expect(result.outcomes).toHaveLength(4);
    for (const o of result.outcomes) expect(o.natApplied.map((n) => n.kind)).toEqual(['dnat', 'masquerade']);
  });

  it('a service without endpoints is rejected in filter', () => {
    const o = only(traceIptables(rs, packet('tcp', '10.244.0.7', noEndpoints.clusterIP, 80), IN_CNI0, HOST));
    expect(o.verdict).toBe('REJECT');
    expect(o.reason).toMatch(/^REJECT \(icmp-port-unreachable\) by filter KUBE-SERVICES rule at line \d+$/);
  });

  it('a NodePort on the node address goes through KUBE-NODEPORTS', () => {
    const nodePort = services.find((s) => s.nodePort !== undefined && s.endpoints.length > 0);
    if (nodePort?.nodePort === undefined) throw new Error('no NodePort service');
    const result = traceIptables(rs, packet('tcp', '203.0.113.5', '192.168.1.10', nodePort.nodePort), IN_ETH0, HOST);
    expect(result.outcomes).toHaveLength(4);
    expect(result.outcomes.map((o) => formatIp(o.packet.dst)).sort()).toEqual(nodePort.endpoints.map((e) => e.ip).sort());
    expect((result.outcomes[0] as Outcome).trace.some((s) => s.kind === 'rule' && s.chain === 'KUBE-NODEPORTS')).toBe(true);
  });

  it('an established connection skips nat and is accepted by the conntrack rule', () => {
    const o = only(traceIptables(rs, { ...packet('tcp', '10.244.0.7', '10.244.0.9', 8080), ctState: 'ESTABLISHED' }, IN_CNI0, HOST));
    expect(o.verdict).toBe('ACCEPT');
    expect(o.natApplied).toEqual([]);
  });
});
