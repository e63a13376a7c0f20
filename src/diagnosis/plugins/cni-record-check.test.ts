import { describe, expect, it } from '@jest/globals';
import { parseIp } from '../model/ip.js';
import type { KubePod } from '../model/kube-objects.js';
import { cniRecordFindings } from './cni-record-check.js';
import { parseCniRecordFiles, type CniCallRecord } from './cni-records.js';
import type { ClusterState } from './cluster-state.js';
import type { NetnsState } from './netns-state.js';

const TAP = 'netdiag-cni-tap';
const CHAIN = ['bridge'];
const TAPPED = JSON.stringify({ cniVersion: '1.0.0', name: 'net', plugins: [{ type: TAP, position: 'head', chain: CHAIN }, { type: 'bridge' }, { type: TAP, position: 'tail', chain: CHAIN }] });
const UNTAPPED = JSON.stringify({ cniVersion: '1.0.0', name: 'net', plugins: [{ type: 'bridge' }] });

function pod(name: string, ip: string, extra: Partial<{ phase: string; created: string }> = {}): KubePod {
  return {
    metadata: { name, namespace: 'default', creationTimestamp: extra.created ?? '2026-01-01T00:10:00Z' },
    spec: { nodeName: 'node1' },
    status: { podIP: ip, podIPs: [{ ip }], phase: extra.phase ?? 'Running' },
  };
}

let clock = 0;
function rec(command: string, position: 'head' | 'tail', podName: string, containerId: string, extra: Partial<CniCallRecord> = {}): CniCallRecord {
  clock += 1;
  const time = new Date(Date.parse('2026-01-01T00:00:00Z') + clock * 60_000).toISOString();
  return {
    v: 1,
    time,
    position,
    command,
    containerId,
    netns: `/run/netns/${podName}`,
    ifname: 'eth0',
    args: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=${podName}`,
    pid: 100 + clock,
    network: 'net',
    cniVersion: '1.0.0',
    ...(position === 'head' ? { config: { type: TAP, position, chain: CHAIN, name: 'net', cniVersion: '1.0.0' } } : {}),
    ...extra,
  };
}

function result(ip: string): unknown {
  return { cniVersion: '1.0.0', interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: '/run/netns/x' }], ips: [{ address: `${ip}/24`, gateway: '10.244.0.1', interface: 1 }] };
}

/** A successful ADD: head and tail. */
function add(podName: string, containerId: string, ip: string): CniCallRecord[] {
  return [rec('ADD', 'head', podName, containerId), rec('ADD', 'tail', podName, containerId, { result: result(ip) })];
}

/** Just the fields the check reads: the addresses by device. */
function netnsWith(dev: string, ips: readonly string[]): NetnsState {
  const addresses = ips.map((t) => ({ dev, family: 4, local: parseIp(t), prefixLength: 24 }));
  return { routing: { addressesByDev: new Map([[dev, addresses]]), links: new Map([[dev, { name: dev }]]) } } as unknown as NetnsState;
}

interface Case {
  readonly pods: readonly KubePod[];
  readonly records: readonly CniCallRecord[];
  readonly conf?: string;
  readonly netns?: NetnsState;
}

function findings(c: Case): { code: string; node: string; message: string }[] {
  const cluster: ClusterState = {
    objects: { nodes: [{ metadata: { name: 'node1' } }], pods: c.pods, services: [], endpointSlices: [], networkPolicies: [], daemonSets: [] },
    netns: { nodes: {}, pods: {} },
    cniConfigs: { node1: [{ path: '/etc/cni/net.d/10-net.conflist', content: c.conf ?? TAPPED }] },
    cniRecords: { node1: [{ path: '/var/log/netdiag/cni-node1.jsonl', content: c.records.map((r) => JSON.stringify(r)).join('\n') + '\n' }] },
  };
  const out = cniRecordFindings({ cluster, pods: c.pods.map((p) => `default/${p.metadata.name}`), nodes: ['node1'], netnsOf: () => c.netns });
  return out.suspicions.map((s) => ({ code: s.code, node: s.node, message: s.message }));
}

const P1 = pod('pod1', '10.244.0.2');

describe('cniRecordFindings', () => {
  it.each<[string, Case]>([
    ['a successful ADD whose result is the pod IP and on its eth0', { pods: [P1], records: add('pod1', 'c1', '10.244.0.2'), netns: netnsWith('eth0', ['10.244.0.2']) }],
    ['a failed ADD retried successfully', { pods: [P1], records: [rec('ADD', 'head', 'pod1', 'c1'), rec('DEL', 'tail', 'pod1', 'c1'), rec('DEL', 'head', 'pod1', 'c1'), ...add('pod1', 'c2', '10.244.0.2')] }],
    ['a DEL of an old sandbox after the new one is up', { pods: [P1], records: [...add('pod1', 'c1', '10.244.0.9'), ...add('pod1', 'c2', '10.244.0.2'), rec('DEL', 'tail', 'pod1', 'c1'), rec('DEL', 'head', 'pod1', 'c1')] }],
    ['CHECK calls', { pods: [P1], records: [...add('pod1', 'c1', '10.244.0.2'), rec('CHECK', 'head', 'pod1', 'c1'), rec('CHECK', 'tail', 'pod1', 'c1')] }],
    ['a pod created before the first record (the tap came later)', { pods: [pod('old', '10.244.0.3', { created: '2025-12-31T00:00:00Z' })], records: add('pod1', 'c1', '10.244.0.2') }],
    ['a pod without records on a node whose conflist is no longer tapped', { pods: [pod('p9', '10.244.0.3')], records: add('pod1', 'c1', '10.244.0.2'), conf: UNTAPPED }],
    ['a pending pod without records', { pods: [pod('p9', '', { phase: 'Pending' })], records: add('pod1', 'c1', '10.244.0.2') }],
    ['a finished pod whose network was deleted', { pods: [pod('pod1', '10.244.0.2', { phase: 'Succeeded' })], records: [...add('pod1', 'c1', '10.244.0.2'), rec('DEL', 'tail', 'pod1', 'c1')] }],
    ['records of a pod with another uid', { pods: [{ ...P1, metadata: { ...P1.metadata, uid: 'u2' } }], records: [rec('ADD', 'head', 'pod1', 'c1', { args: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod1;K8S_POD_UID=u1' }), ...add('pod1', 'c2', '10.244.0.2')] }],
  ])('raises nothing for %s', (_what, c) => {
    expect(findings(c)).toEqual([]);
  });

  it.each<[string, Case, string, RegExp]>([
    ['an ADD with a head record and no tail record', { pods: [P1], records: [rec('ADD', 'head', 'pod1', 'c1')] }, 'CniAddFailed', /default\/pod1 \(container c1, eth0\).*plugins between the head and the tail \(bridge\) failed/],
    ['an ADD whose tail saw no result', { pods: [P1], records: [rec('ADD', 'head', 'pod1', 'c1'), rec('ADD', 'tail', 'pod1', 'c1', { error: 'no prevResult: x' })] }, 'CniAddFailed', /tail of the chain recorded: no prevResult/],
    ['a failure after the last success', { pods: [P1], records: [...add('pod1', 'c1', '10.244.0.2'), rec('ADD', 'head', 'pod1', 'c2')] }, 'CniAddFailed', /container c2/],
    ['a running pod with no ADD since before it was created', { pods: [pod('ghost', '10.244.0.7', { created: '2026-01-02T00:00:00Z' })], records: add('pod1', 'c1', '10.244.0.2') }, 'CniAddMissing', /pod default\/ghost runs on node1 \(status IPs 10.244.0.7\) but no CNI ADD/],
    ['a result IP that is not the pod IP', { pods: [P1], records: add('pod1', 'c1', '10.244.0.5') }, 'CniResultMismatch', /gave 10.244.0.5, but the pod's status.podIPs says 10.244.0.2/],
    ['a result IP that is not on eth0 in the netns', { pods: [pod('pod1', '10.244.0.5')], records: add('pod1', 'c1', '10.244.0.5'), netns: netnsWith('eth0', ['10.244.0.6']) }, 'CniResultMismatch', /put 10.244.0.5 on eth0, but eth0 in the pod's netns has 10.244.0.6\/24/],
    ['a DEL of the current sandbox of a running pod', { pods: [P1], records: [...add('pod1', 'c1', '10.244.0.2'), rec('DEL', 'tail', 'pod1', 'c1'), rec('DEL', 'head', 'pod1', 'c1')] }, 'CniDelWithoutAdd', /CNI DEL of pod default\/pod1 \(container c1, eth0\)/],
  ])('raises %s', (_what, c, code, message) => {
    const out = findings(c);
    expect(out.map((s) => s.code)).toEqual([code]);
    expect(out[0]?.node).toBe(code === 'CniAddMissing' ? 'default/ghost' : 'default/pod1');
    expect(out[0]?.message).toMatch(message);
  });

  it('raises CniChainMismatch on the node when the recorded chain differs from the conflist on disk', () => {
    const disk = JSON.stringify({ cniVersion: '1.0.0', name: 'net', plugins: [{ type: TAP, position: 'head', chain: ['bridge', 'portmap'] }, { type: 'bridge' }, { type: 'portmap' }, { type: TAP, position: 'tail' }] });
    const out = findings({ pods: [P1], records: add('pod1', 'c1', '10.244.0.2'), conf: disk });
    expect(out).toEqual([{ code: 'CniChainMismatch', node: 'node1', message: expect.stringMatching(/ran network net with plugins bridge, but \/etc\/cni\/net.d\/10-net.conflist on disk holds network net with plugins bridge, portmap/) }]);
  });
});

describe('parseCniRecordFiles', () => {
  const line = (r: CniCallRecord): string => `${JSON.stringify(r)}\n`;
  it('reads rotated files oldest first and drops the records before a cut', () => {
    const [a, b, c, d] = [rec('ADD', 'head', 'p', 'a'), rec('ADD', 'tail', 'p', 'a'), rec('ADD', 'head', 'p', 'b'), rec('ADD', 'tail', 'p', 'b')] as const;
    const whole = parseCniRecordFiles([
      { path: '/l/cni-n.jsonl', content: line(d) },
      { path: '/l/cni-n.2.jsonl', content: line(a) },
      { path: '/l/cni-n.1.jsonl', content: line(b) + line(c) },
    ]);
    expect(whole.records.map((r) => `${r.containerId ?? ''}${r.position}`)).toEqual(['ahead', 'atail', 'bhead', 'btail']);
    expect(whole.completeFrom).toBe(a.time);
    const cut = parseCniRecordFiles([
      { path: '/l/cni-n.jsonl', content: line(d) },
      { path: '/l/cni-n.1.jsonl', content: line(c), truncated: true },
      { path: '/l/cni-n.2.jsonl', content: line(a) },
    ]);
    expect(cut.records.map((r) => `${r.containerId ?? ''}${r.position}`)).toEqual(['bhead', 'btail']);
    expect(cut.completeFrom).toBe(c.time);
  });

  it('names an unparsable line and keeps the others', () => {
    const r = rec('DEL', 'head', 'p', 'a');
    const out = parseCniRecordFiles([{ path: '/l/cni-n.jsonl', content: `${line(r)}{"v":1,"time":"x"\n{"v":2}\n` }]);
    expect(out.records).toEqual([r]);
    expect(out.warnings.map((w) => w.source)).toEqual(['/l/cni-n.jsonl:2', '/l/cni-n.jsonl:3']);
  });
});
