import { describe, expect, it } from '@jest/globals';
import type { JsonItem, NetstackCapture, TextItem } from './snapshot.js';
import { buildClusterStateFromSnapshots, buildNetnsDumps } from './snapshot-cluster.js';

const text = (command: string, output: string | undefined, extra: Partial<TextItem> = {}): TextItem => ({ command: command.split(' '), exitCode: output === undefined ? 1 : 0, ...(output !== undefined ? { output } : {}), ...extra });
const json = (command: string, data: unknown, extra: Partial<JsonItem> = {}): JsonItem => ({ command: command.split(' '), exitCode: data === undefined ? 1 : 0, ...(data !== undefined ? { data } : {}), ...extra });
const RULES = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\nCOMMIT\n';

function netstack(over: Partial<NetstackCapture> = {}): NetstackCapture {
  const skipped = (command: string): TextItem => ({ command: command.split(' '), exitCode: null, skipped: 'nothing to dump' });
  return {
    links: json('ip -j -d link show', []),
    addresses: json('ip -j -d address show', []),
    routes: json('ip -j -d route show table all', []),
    rules: json('ip -j -d rule show', []),
    rules6: json('ip -6 -j -d rule show', []),
    neighbors: json('ip -j -d neighbour show', []),
    fdb: { ...skipped('bridge -j fdb show') },
    sysctls: text('sysctl net.ipv4.ip_forward', 'net.ipv4.ip_forward = 1\n'),
    iptables: { legacy: skipped('iptables-legacy-save'), nft: text('iptables-nft-save', RULES), backends: ['nft'] },
    ip6tables: { legacy: skipped('ip6tables-legacy-save'), nft: skipped('ip6tables-nft-save'), backends: [] },
    nftChains: text('nft list chains', 'table ip filter {\n}\n'),
    nftables: { command: ['nft', '-j', 'list', 'ruleset'], exitCode: null, skipped: 'only iptables-nft tables' },
    ipset: text('ipset save', ''),
    ipvs: skipped('ipvsadm -Save -n'),
    sockets: { listening: text('ss -t -u -l -n -e', ''), owners: [] },
    ...over,
  };
}

const dumpsOf = (n: NetstackCapture): ReturnType<typeof buildNetnsDumps> => buildNetnsDumps(n, 'node1.json (host)');

describe('buildNetnsDumps', () => {
  it('takes the backend that holds rules, names every dump by snapshot and command, and simulates it all', () => {
    const built = dumpsOf(netstack());
    expect(built.kind).toBe('dumps');
    if (built.kind !== 'dumps') return;
    expect(built.dumps.iptablesSave).toEqual({ text: RULES, source: 'node1.json (host): iptables-nft-save' });
    expect(built.dumps.fdb).toEqual({ text: '[]', source: 'node1.json (host): bridge -j fdb show' });
    expect(built.dumps.unsimulated).toBeUndefined();
    expect(built.warnings).toEqual([]);
  });

  it.each<[string, Partial<NetstackCapture>, string]>([
    [
      'both backends hold rules',
      { iptables: { legacy: text('iptables-legacy-save', RULES), nft: text('iptables-nft-save', RULES), backends: ['legacy', 'nft'] } },
      'both iptables backends hold rules (iptables-legacy and iptables-nft): the kernel applies both, in an order the dumps do not show',
    ],
    [
      'the iptables dump failed',
      { iptables: { legacy: { command: ['iptables-legacy-save'], exitCode: null, skipped: 'no legacy table' }, nft: text('iptables-nft-save', undefined, { error: 'exit status 4: permission denied' }), backends: [] } },
      'the iptables rules could not be read (iptables-nft-save: exit status 4: permission denied)',
    ],
  ])('%s: the namespace is not simulated, and says why', (_name, over, reason) => {
    const built = dumpsOf(netstack(over));
    expect(built.kind === 'dumps' ? built.dumps.unsimulated : built).toEqual([reason]);
  });

  it("passes native nftables chains on to the walk, without iptables-nft's own tables", () => {
    const native = [{ metainfo: {} }, { table: { family: 'ip', name: 'kube-proxy' } }, { chain: { family: 'ip', table: 'kube-proxy', name: 'filter-forward', hook: 'forward' } }];
    const iptablesNft = [{ table: { family: 'ip', name: 'nat' } }, { chain: { family: 'ip', table: 'nat', name: 'PREROUTING', hook: 'prerouting' } }];
    const built = dumpsOf(netstack({ nftables: json('nft -j list ruleset', { nftables: [...native, ...iptablesNft] }) }));
    expect(built.kind === 'dumps' ? built.dumps.nftables : built).toEqual({ text: JSON.stringify({ nftables: native }), source: 'node1.json (host): nft -j list ruleset' });
    expect(built.kind === 'dumps' ? built.dumps.unsimulated : built).toBeUndefined();
  });

  it("ignores iptables-nft's own tables and the IPv6-only families in the nftables ruleset", () => {
    const nftables = json('nft -j list ruleset', { nftables: [{ chain: { family: 'ip', table: 'nat', name: 'PREROUTING', hook: 'prerouting' } }, { chain: { family: 'ip6', table: 'fw', name: 'in', hook: 'input' } }] });
    const built = dumpsOf(netstack({ nftables }));
    expect(built.kind === 'dumps' ? built.dumps.unsimulated : built).toBeUndefined();
    expect(built.kind === 'dumps' ? built.dumps.nftables : built).toBeUndefined();
  });

  it('a namespace without its routes cannot be diagnosed at all', () => {
    expect(dumpsOf(netstack({ routes: json('ip -j -d route show table all', undefined, { error: 'killed when the run\'s deadline passed' }) }))).toEqual({
      kind: 'unusable',
      reason: "ip -j -d route show table all has no output (killed when the run's deadline passed)",
    });
  });

  it('passes the IPVS table on to the walk', () => {
    const built = dumpsOf(netstack({ ipvs: text('ipvsadm -Save -n', '-A -t 10.96.0.10:80 -s rr\n') }));
    expect(built.kind === 'dumps' ? built.dumps.ipvsSave : built).toEqual({ text: '-A -t 10.96.0.10:80 -s rr\n', source: 'node1.json (host): ipvsadm -Save -n' });
  });
});

describe('buildClusterStateFromSnapshots', () => {
  const objects = {
    nodes: [{ metadata: { name: 'node1' } }, { metadata: { name: 'node2' } }],
    pods: [
      { metadata: { name: 'a', namespace: 'ns' }, spec: { nodeName: 'node2' } },
      { metadata: { name: 'h', namespace: 'ns' }, spec: { nodeName: 'node2', hostNetwork: true } },
    ],
    services: [],
    endpointSlices: [],
    networkPolicies: [],
    daemonSets: [],
  };

  it('a node whose collector failed, and every pod on it, is missing for that reason, marked as a collector failure', () => {
    const { state } = buildClusterStateFromSnapshots(objects, new Map(), new Map([['node2', 'pod netdiag-collect-1 ended Failed']]));
    const failed = { kind: 'missing', reason: 'the collector on node2 failed: pod netdiag-collect-1 ended Failed', collectorFailed: true };
    expect(state.netns).toEqual({ nodes: { node1: { kind: 'missing', reason: 'no snapshot of node node1 was given' }, node2: failed }, pods: { 'ns/a': failed } });
  });
});

