import { describe, expect, it } from '@jest/globals';
import { parseIp, formatIp, type IpAddress } from '../model/ip.js';
import { buildPacket, type Protocol } from '../model/packet.js';
import { buildHostFromDumps, type HostDumps } from './host-dumps.js';
import { traceHost, type HostTraceResult } from './host-trace.js';

function ip(text: string): IpAddress {
  const parsed = parseIp(text);
  if (parsed === undefined) throw new Error(`bad test address ${text}`);
  return parsed;
}

function iptables(...tables: [string, string[]][]): string {
  const chains: Record<string, string[]> = {
    raw: ['PREROUTING', 'OUTPUT'],
    mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
    nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
    filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  };
  return tables
    .map(([table, rules]) => [`*${table}`, ...(chains[table] ?? []).map((c) => `:${c} ACCEPT [0:0]`), ...rules, 'COMMIT'].join('\n'))
    .join('\n')
    .concat('\n');
}

// A router: eth0 10.0.0.11/24 toward the nodes, eth1 192.168.1.5/24 toward the outside (default
// route), cni0 10.244.1.1/24 for pods; routes as `ip -j -d route show table all` prints them.
const ROUTES = JSON.stringify([
  { type: 'unicast', dst: 'default', gateway: '192.168.1.1', dev: 'eth1', table: 'main', protocol: 'boot', scope: 'global', flags: [] },
  { type: 'unicast', dst: '10.0.0.0/24', dev: 'eth0', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: '10.0.0.11', flags: [] },
  { type: 'unicast', dst: '192.168.1.0/24', dev: 'eth1', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: '192.168.1.5', flags: [] },
  { type: 'unicast', dst: '10.244.1.0/24', dev: 'cni0', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: '10.244.1.1', flags: [] },
  {
    type: 'unicast', dst: '10.9.0.0/16', table: 'main', protocol: 'static', scope: 'global', flags: [],
    nexthops: [{ gateway: '10.0.0.1', dev: 'eth0', weight: 1, flags: [] }, { gateway: '192.168.1.1', dev: 'eth1', weight: 1, flags: [] }],
  },
  { type: 'local', dst: '10.0.0.11', dev: 'eth0', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '10.0.0.11', flags: [] },
  { type: 'local', dst: '192.168.1.5', dev: 'eth1', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '192.168.1.5', flags: [] },
  { type: 'local', dst: '10.244.1.1', dev: 'cni0', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '10.244.1.1', flags: [] },
]);

function trace(
  dumps: Omit<HostDumps, 'family'>,
  packet: { src: string; dst: string; dport?: number; protocol?: Protocol; iif?: string },
): HostTraceResult {
  const host = buildHostFromDumps({ ...dumps, family: 4 }, packet.iif === undefined ? [] : [packet.iif]);
  return traceHost(host.input, {
    packet: buildPacket({ protocol: packet.protocol ?? 'tcp', src: ip(packet.src), dst: ip(packet.dst), sport: 40000, dport: packet.dport ?? 80 }),
    ...(packet.iif !== undefined ? { iif: packet.iif } : {}),
  });
}

const routes = { text: ROUTES, source: 'routes.json' };

describe('traceHost', () => {
  it('reports a random split between paths that pass and paths that are dropped, with the odds', () => {
    const result = trace(
      {
        iptablesSave: {
          source: 'rules',
          text: iptables(
            ['nat', [
              '-A PREROUTING -d 10.96.0.1/32 -p tcp -m statistic --mode random --probability 0.25000000000 -j DNAT --to-destination 10.244.1.7:80',
              '-A PREROUTING -d 10.96.0.1/32 -p tcp -j DNAT --to-destination 10.244.1.8:80',
            ]],
            ['filter', ['-A FORWARD -d 10.244.1.7/32 -j DROP']],
          ),
        },
        routes,
      },
      { src: '10.0.0.50', dst: '10.96.0.1', iif: 'eth0' },
    );
    expect(result.destinations).toEqual(['10.244.1.7:80', '10.244.1.8:80']);
    expect(result.outcomes.map((o) => [o.verdict, o.probability]).sort()).toEqual([['ACCEPT', 0.75], ['DROP', 0.25]]);
    expect(result.verdict).toBe('DROP');
    expect(result.warnings).toContainEqual(
      expect.objectContaining({ code: 'verdict-depends-on-branch', message: expect.stringMatching(/ACCEPT 75\.0%, DROP 25\.0%/) }),
    );
  });

  it('masquerades with the output interface\'s address in the next hop\'s subnet, not the packet\'s source', () => {
    const result = trace(
      { iptablesSave: { source: 'rules', text: iptables(['nat', ['-A POSTROUTING -s 10.244.0.0/16 -o eth1 -j MASQUERADE']]) }, routes },
      { src: '10.244.1.5', dst: '8.8.8.8', iif: 'cni0' },
    );
    expect(result.verdict).toBe('ACCEPT');
    expect(result.masquerade).toBe(true);
    expect(result.outcomes.map((o) => formatIp(o.packet.src))).toEqual(['192.168.1.5']);
  });

  it('is inconclusive when an -o rule meets a multipath route over two devices', () => {
    const result = trace(
      { iptablesSave: { source: 'rules', text: iptables(['filter', ['-A FORWARD -o eth1 -j DROP']]) }, routes },
      { src: '10.244.1.5', dst: '10.9.3.3', iif: 'cni0' },
    );
    expect(result.verdict).toBe('INCONCLUSIVE');
  });

  it('says the output interface of a multipath route over two devices is not known, rather than pick one', () => {
    const result = trace(
      { iptablesSave: { source: 'rules', text: iptables(['filter', ['-A FORWARD -s 10.244.1.9/32 -j DROP']]) }, routes },
      { src: '10.244.1.5', dst: '10.9.3.3', iif: 'cni0' },
    );
    // The walk cannot name the device, but nothing it meets depends on it.
    // The kernel picks a next hop per flow by a hash the dumps cannot reproduce.
    expect(result.verdict).toBe('INCONCLUSIVE');
    expect(result.outcomes.map((o) => o.reason)).toEqual([expect.stringMatching(/multipath route over eth0, eth1/)]);
  });

  it.each([
    ['forwarding off on the input device', 'net.ipv4.conf.cni0.forwarding = 0\nnet.ipv4.conf.all.forwarding = 1\n', /forwarding/],
    ['strict rp_filter on an asymmetric path', 'net.ipv4.conf.all.forwarding = 1\nnet.ipv4.conf.all.rp_filter = 1\n', /rp_filter/],
  ])('drops a forwarded packet for %s and says why', (_name, sysctls, reason) => {
    const result = trace(
      { iptablesSave: { source: 'rules', text: iptables(['filter', []]) }, routes, sysctls: { text: sysctls, source: 'sysctls' } },
      // From a pod address arriving on eth1: the route back to 10.244.1.0/24 is via cni0.
      { src: '10.244.1.5', dst: '10.0.0.12', iif: sysctls.includes('rp_filter') ? 'eth1' : 'cni0' },
    );
    expect(result.verdict).toBe('DROP');
    expect(result.outcomes[0]?.reason).toMatch(reason);
  });

  it('without routing, a rule on the output interface makes the result inconclusive', () => {
    const host = buildHostFromDumps({ iptablesSave: { source: 'rules', text: iptables(['filter', ['-A FORWARD -o eth9 -j DROP']]) }, family: 4 });
    const result = traceHost(host.input, {
      packet: buildPacket({ protocol: 'udp', src: ip('10.244.1.5'), dst: ip('10.0.0.12'), sport: 5000, dport: 53 }),
      iif: 'cni0',
    });
    expect(result.verdict).toBe('INCONCLUSIVE');
    expect(result.warnings.map((w) => w.message).join('\n')).toMatch(/-o eth9|output interface/);
  });

  it('lists each rule met once across paths, in walk order', () => {
    const text = [
      '*nat',
      ':PREROUTING ACCEPT [0:0]',
      ':INPUT ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
      ':SVC - [0:0]',
      '-A PREROUTING -d 10.96.0.1/32 -j SVC',
      '-A SVC -m statistic --mode random --probability 0.50000000000 -j DNAT --to-destination 10.244.1.7',
      '-A SVC -j DNAT --to-destination 10.244.1.8',
      'COMMIT',
      '',
    ].join('\n');
    const result = trace({ iptablesSave: { source: 'rules', text }, routes }, { src: '10.0.0.50', dst: '10.96.0.1', iif: 'eth0' });
    expect(result.hits.map((h) => [h.chain, h.line, h.target])).toEqual([
      ['PREROUTING', 7, 'SVC'],
      ['SVC', 8, 'DNAT --to-destination 10.244.1.7'],
      ['SVC', 9, 'DNAT --to-destination 10.244.1.8'],
    ]);
    expect(result.destinations).toEqual(['10.244.1.7:80', '10.244.1.8:80']);
  });
  it.each([
    ['-A INPUT -p tcp --dport 80 -j REJECT --reject-with tcp-reset', 'REJECT'],
    ['-A INPUT -p tcp --dport 81 -j REJECT --reject-with tcp-reset', 'ACCEPT'],
  ])('follows a local packet to a local address back in through lo and INPUT (%s)', (rule, verdict) => {
    const result = trace(
      { iptablesSave: { source: 'rules', text: iptables(['filter', [rule]]) }, routes },
      { src: '10.0.0.11', dst: '192.168.1.5' },
    );
    expect(result.verdict).toBe(verdict);
    const hooks = result.outcomes[0]?.trace.flatMap((step) => ('hook' in step ? [step.hook] : []));
    // Only the filter table is loaded: its OUTPUT chain on the way out, its INPUT chain on the way back in.
    expect(hooks).toEqual(['OUTPUT', 'INPUT']);
    if (verdict === 'ACCEPT') expect(result.outcomes[0]?.delivery).toEqual({ kind: 'local' });
  });

  it('does not DNAT a local packet on its way back in through lo when nat OUTPUT left it alone (the null binding)', () => {
    // nat PREROUTING would DNAT the address, but the connection was set up in OUTPUT, where nothing
    // matched: the kernel gives it a null binding there, and the looped-back packet keeps its address.
    const text = iptables(['nat', ['-A PREROUTING -d 192.168.1.5/32 -p tcp --dport 80 -j DNAT --to-destination 10.244.1.7:8080']]);
    const local = trace({ iptablesSave: { source: 'rules', text }, routes }, { src: '10.0.0.11', dst: '192.168.1.5' });
    expect({ verdict: local.verdict, delivered: local.outcomes.map((o) => `${formatIp(o.packet.dst)}:${o.packet.dport}`), dnat: local.destinations }).toEqual({
      verdict: 'ACCEPT',
      delivered: ['192.168.1.5:80'],
      dnat: [],
    });
    // The same rule does DNAT a packet arriving from outside.
    const incoming = trace({ iptablesSave: { source: 'rules', text }, routes }, { src: '10.0.0.50', dst: '192.168.1.5', iif: 'eth0' });
    expect(incoming.destinations).toEqual(['10.244.1.7:8080']);
  });
});
