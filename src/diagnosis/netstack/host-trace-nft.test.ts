import { describe, expect, it } from '@jest/globals';
import { formatIp, parseIp, type IpAddress } from '../model/ip.js';
import { buildPacket } from '../model/packet.js';
import { buildHostFromDumps } from './host-dumps.js';
import { traceHost, type HostTraceResult } from './host-trace.js';
import type { Outcome } from './netfilter/index.js';

function ip(text: string): IpAddress {
  const parsed = parseIp(text);
  if (parsed === undefined) throw new Error(`bad test address ${text}`);
  return parsed;
}

// A node: eth0 10.0.0.11/24 toward the other nodes, cni0 10.244.1.1/24 for its pods; routes as
// `ip -j -d route show table all` prints them.
const ROUTES = JSON.stringify([
  { type: 'unicast', dst: '10.0.0.0/24', dev: 'eth0', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: '10.0.0.11', flags: [] },
  { type: 'unicast', dst: '10.244.1.0/24', dev: 'cni0', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: '10.244.1.1', flags: [] },
  { type: 'local', dst: '10.0.0.11', dev: 'eth0', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '10.0.0.11', flags: [] },
  { type: 'local', dst: '10.244.1.1', dev: 'cni0', table: 'local', protocol: 'kernel', scope: 'host', prefsrc: '10.244.1.1', flags: [] },
]);

const T = { family: 'ip', table: 'kube-proxy' };
const chain = (name: string, base?: { type: string; hook: string; prio: number | string }): object => ({
  chain: { ...T, name, ...(base ? { policy: 'accept', ...base } : {}) },
});
let handle = 10;
const rule = (name: string, ...expr: object[]): object => ({ rule: { ...T, chain: name, handle: handle++, expr } });
const match = (op: string, left: object, right: unknown): object => ({ match: { op, left, right } });
const payload = (protocol: string, field: string): object => ({ payload: { protocol, field } });
const meta = (key: string): object => ({ meta: { key } });
const mark = meta('mark');

// kube-proxy's nftables mode, as `nft -j list ruleset` prints it: one ClusterIP service with two
// endpoints, masquerade of traffic from outside the pod network, and a forward filter chain.
const KUBE_PROXY = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.9', json_schema_version: 1 } },
    { table: { family: 'ip', name: 'kube-proxy' } },
    {
      map: {
        ...T,
        name: 'service-ips',
        type: ['ipv4_addr', 'inet_proto', 'inet_service'],
        map: 'verdict',
        elem: [[{ concat: ['10.96.0.10', 'tcp', 80] }, { goto: { target: 'service-web' } }]],
      },
    },
    chain('nat-prerouting', { type: 'nat', hook: 'prerouting', prio: 'dstnat' }),
    chain('nat-postrouting', { type: 'nat', hook: 'postrouting', prio: 'srcnat' }),
    chain('filter-forward', { type: 'filter', hook: 'forward', prio: 'filter' }),
    chain('services'),
    chain('service-web'),
    chain('endpoint-1'),
    chain('endpoint-2'),
    chain('mark-for-masquerade'),
    chain('masquerading'),
    rule('nat-prerouting', { jump: { target: 'services' } }),
    rule('services', { vmap: { key: { concat: [payload('ip', 'daddr'), meta('l4proto'), payload('th', 'dport')] }, data: '@service-ips' } }),
    rule('service-web', match('!=', payload('ip', 'saddr'), { prefix: { addr: '10.244.0.0', len: 16 } }), { jump: { target: 'mark-for-masquerade' } }),
    rule('service-web', { vmap: { key: { numgen: { mode: 'random', mod: 2, offset: 0 } }, data: { set: [[0, { goto: { target: 'endpoint-1' } }], [1, { goto: { target: 'endpoint-2' } }]] } } }),
    rule('endpoint-1', match('==', meta('l4proto'), 'tcp'), { dnat: { addr: '10.244.1.3', port: 8080 } }),
    rule('endpoint-2', match('==', meta('l4proto'), 'tcp'), { dnat: { addr: '10.244.1.4', port: 8080 } }),
    rule('mark-for-masquerade', { mangle: { key: mark, value: { '|': [mark, 16384] } } }),
    rule('nat-postrouting', { jump: { target: 'masquerading' } }),
    rule('masquerading', match('==', { '&': [mark, 16384] }, 0), { return: null }),
    rule('masquerading', { mangle: { key: mark, value: { '^': [mark, 16384] } } }),
    rule('masquerading', { masquerade: { flags: 'fully-random' } }),
    rule('filter-forward', match('==', payload('tcp', 'dport'), 9000), { drop: null }),
    rule('filter-forward', match('==', payload('tcp', 'dport'), 9100), { quota: { val: 10, val_unit: 'mbytes' } }),
  ],
});

/** A node with no iptables rules at all and the kube-proxy rule set above. */
function trace(src: string, iif: string, dst: string, dport: number): HostTraceResult {
  const host = buildHostFromDumps({
    iptablesSave: { text: '', source: 'iptables-save' },
    routes: { text: ROUTES, source: 'routes.json' },
    nftables: { text: KUBE_PROXY, source: 'nft.json' },
    family: 4,
  });
  return traceHost(host.input, { packet: buildPacket({ protocol: 'tcp', src: ip(src), dst: ip(dst), sport: 40000, dport }), iif });
}

function lastStep(o: Outcome): Outcome['trace'][number] | undefined {
  return o.trace[o.trace.length - 1];
}

describe('traceHost with native nftables (kube-proxy nftables mode)', () => {
  it('DNATs a ClusterIP to either endpoint with probability 1/2, and masquerades what the mark asks for', () => {
    const result = trace('10.0.0.50', 'eth0', '10.96.0.10', 80);
    expect(result.verdict).toBe('ACCEPT');
    expect(result.destinations).toEqual(['10.244.1.3:8080', '10.244.1.4:8080']);
    expect(result.masquerade).toBe(true);
    // The nftables rules met, by hook, table, chain and handle.
    expect(result.hits.map((h) => `${h.hook} ${h.table} ${h.chain} ${h.line}`)).toEqual(
      expect.arrayContaining(['PREROUTING ip kube-proxy endpoint-1 14', 'PREROUTING ip kube-proxy endpoint-2 15', 'POSTROUTING ip kube-proxy masquerading 20']),
    );
    const paths = result.outcomes.map((o) => ({
      probability: o.probability,
      dst: `${formatIp(o.packet.dst)}:${o.packet.dport}`,
      src: formatIp(o.packet.src),
      mark: o.marks.mark,
      out: o.delivery,
      nat: o.natApplied.map((n) => `${n.hook} ${n.kind} ${n.chain} handle ${n.line}`),
    }));
    expect(paths.sort((a, b) => a.dst.localeCompare(b.dst))).toEqual(
      ['10.244.1.3:8080', '10.244.1.4:8080'].map((dst, i) => ({
        probability: 0.5,
        dst,
        src: '10.244.1.1',
        mark: 0,
        out: { kind: 'transmit', outIface: 'cni0' },
        nat: [`PREROUTING dnat ip kube-proxy endpoint-${i + 1} handle ${i === 0 ? 14 : 15}`, 'POSTROUTING masquerade ip kube-proxy masquerading handle 20'],
      })),
    );
  });

  it('does not masquerade a pod of the pod network: the mark is not set', () => {
    const result = trace('10.244.1.9', 'cni0', '10.96.0.10', 80);
    expect(result.verdict).toBe('ACCEPT');
    expect(result.masquerade).toBe(false);
    expect(result.outcomes.map((o) => formatIp(o.packet.src))).toEqual(['10.244.1.9', '10.244.1.9']);
  });

  it('a drop by port: DROP, with the nftables rule as the last step', () => {
    const result = trace('10.0.0.50', 'eth0', '10.244.1.3', 9000);
    expect(result.verdict).toBe('DROP');
    const [outcome] = result.outcomes;
    expect(outcome && lastStep(outcome)).toEqual({
      kind: 'nft',
      hook: 'FORWARD',
      step: { kind: 'rule', hook: 'forward', family: 'ip', table: 'kube-proxy', chain: 'filter-forward', handle: 21, ruleText: expect.any(String), action: 'drop' },
    });
  });

  it('an unknown statement: INCONCLUSIVE, with a warning naming the rule', () => {
    const result = trace('10.0.0.50', 'eth0', '10.244.1.3', 9100);
    expect(result.verdict).toBe('INCONCLUSIVE');
    expect(result.warnings.map((w) => w.message).join('\n')).toMatch(/filter-forward handle 22/);
  });

  it('a packet the rule set does not touch goes through unchanged', () => {
    const result = trace('10.0.0.50', 'eth0', '10.244.1.3', 8080);
    expect(result.verdict).toBe('ACCEPT');
    expect(result.destinations).toEqual([]);
    expect(result.outcomes.map((o) => o.probability)).toEqual([1]);
  });
});
