// The diagnostor with CNI call records, on namespaces the real bridge and host-local plugins set up:
// the records are what the tap writes for those pods' real ADD calls (runTap on the real
// configuration and results), the conflists on disk are tapped by the install plan, and each
// fault of the records (a failed ADD, a missing ADD, another IP, another chain) is reported on the
// pod's (or node's) netnode of the path. Healthy records raise nothing. Needs root.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectSnapshot } from '../../src/collector/agent/collect.js';
import { buildClusterStateFromSnapshots, type SourcedSnapshot } from '../../src/collector/snapshot-cluster.js';
import { buildTapped } from '../../src/cni-tap/conflist-edit.js';
import { runTap } from '../../src/cni-tap/tap.js';
import { diagnose, type ClusterState, type Diagnosis } from '../../src/diagnosis/index.js';
import { bridgePlugin } from '../../src/diagnosis/plugins/bridge.js';
import { buildBridgeCniCluster, NETWORK_NAME, POD_PORT, type BridgeCniCluster } from '../support/bridge-cni-cluster.js';
import { describeAsRoot } from '../support/root.js';

const CREATED = '2026-01-01T00:00:00.000Z';

describeAsRoot('CNI call records in the diagnosis of a real bridge-CNI cluster', () => {
  let cluster: BridgeCniCluster;
  let base: ClusterState;

  beforeAll(async () => {
    cluster = await buildBridgeCniCluster('ndtapb');
    const state = cluster.dump();
    const tapped = Object.fromEntries(
      Object.entries(state.cniConfigs ?? {}).map(([node, files]) => [
        node,
        files.map((f) => {
          const out = buildTapped(f.path.slice(f.path.lastIndexOf('/') + 1), f.content ?? '');
          return 'content' in out ? { path: f.path, content: out.content } : f;
        }),
      ]),
    );
    base = {
      ...state,
      objects: { ...state.objects, pods: state.objects.pods.map((p) => ({ ...p, metadata: { ...p.metadata, creationTimestamp: new Date(Date.parse(CREATED) + 3_600_000).toISOString() } })) },
      cniConfigs: tapped,
    };
  }, 60_000);

  afterAll(async () => {
    await cluster?.teardown();
  });

  interface Call {
    readonly pod: string;
    /** Omit the tail record: a plugin between failed. */
    readonly headOnly?: boolean;
    readonly result?: unknown;
    readonly chain?: readonly string[];
  }

  /** The record lines the tap writes for a pod's ADD, at minute `i` after CREATED. */
  function lines(call: Call, i: number): string {
    const pod = cluster.pods[call.pod];
    if (pod === undefined) throw new Error(`no pod ${call.pod}`);
    const env = { CNI_CONTAINERID: pod.containerId, CNI_NETNS: `/run/netns/${pod.ns}`, CNI_IFNAME: 'eth0', CNI_ARGS: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=${call.pod}` };
    const chain = call.chain ?? ['bridge'];
    const tap = (position: string, prevResult?: unknown): string =>
      runTap({
        env: { ...env, CNI_COMMAND: 'ADD' },
        stdin: JSON.stringify({ type: 'netdiag-cni-tap', position, chain, cniVersion: '1.0.0', name: NETWORK_NAME, ...(prevResult !== undefined ? { prevResult } : {}) }),
        pid: 1000 + i,
        now: new Date(Date.parse(CREATED) + i * 60_000),
        hostname: pod.node,
      }).line ?? '';
    return tap('head') + (call.headOnly === true ? '' : tap('tail', call.result ?? pod.result));
  }

  function withRecords(calls: readonly Call[]): ClusterState {
    const byNode: Record<string, string> = {};
    calls.forEach((call, i) => {
      const node = cluster.pods[call.pod]?.node ?? '';
      byNode[node] = (byNode[node] ?? '') + lines(call, i);
    });
    const cniRecords = Object.fromEntries(Object.entries(byNode).map(([node, content]) => [node, [{ path: `/var/log/netdiag/cni-${node}.jsonl`, content }]]));
    return { ...base, cniRecords };
  }

  const query = { source: { kind: 'pod', namespace: 'default', name: 'pod1' }, destination: { kind: 'pod', namespace: 'default', name: 'pod2' }, port: POD_PORT, protocol: 'TCP' } as const;
  const cniFindings = (d: Diagnosis): { node: string; code: string }[] => d.suspicions.filter((s) => s.code.startsWith('Cni')).map((s) => ({ node: s.node, code: s.code }));
  const ALL = ['pod1', 'pod3', 'pod2', 'pod4'];

  it('reaches the diagnosis through the real collector: its snapshot carries the record files', async () => {
    const work = mkdtempSync(join(tmpdir(), 'netdiag-tap-collect-'));
    try {
      mkdirSync(join(work, 'no-proc'));
      symlinkSync('/proc/self', join(work, 'no-proc', 'self'));
      const calls: Call[] = [{ pod: 'pod1' }, { pod: 'pod3' }, { pod: 'pod2', headOnly: true }, { pod: 'pod4' }];
      const snapshots = new Map<string, SourcedSnapshot>();
      for (const node of Object.keys(cluster.nodes)) {
        const dir = join(work, node);
        mkdirSync(join(dir, 'netns'), { recursive: true });
        mkdirSync(join(dir, 'cni'));
        mkdirSync(join(dir, 'records'));
        for (const file of base.cniConfigs?.[node] ?? []) writeFileSync(join(dir, 'cni', file.path.slice(file.path.lastIndexOf('/') + 1)), file.content ?? '');
        const content = calls.map((c, i) => (cluster.pods[c.pod]?.node === node ? lines(c, i) : '')).join('');
        writeFileSync(join(dir, 'records', `cni-${node}.jsonl`), content);
        const pods = Object.values(cluster.pods).filter((p) => p.node === node);
        for (const ns of [cluster.nodes[node]?.ns ?? '', ...pods.map((p) => p.ns)]) symlinkSync(join('/run/netns', ns), join(dir, 'netns', ns));
        const snapshot = await collectSnapshot({
          version: 'test',
          nodeName: node,
          pods: pods.map((p) => ({ namespace: 'default', name: p.name, ips: [p.ip] })),
          hostNetnsPath: join(dir, 'netns', cluster.nodes[node]?.ns ?? ''),
          deadlineMs: 30_000,
          commandTimeoutMs: 10_000,
          criEndpoint: false,
          runNetnsDirs: [join(dir, 'netns')],
          procRoot: join(work, 'no-proc'),
          cniConfigDir: join(dir, 'cni'),
          cniRecordDir: join(dir, 'records'),
        });
        expect(snapshot.cni.records.map((r) => r.path)).toEqual([join(dir, 'records', `cni-${node}.jsonl`)]);
        snapshots.set(node, { snapshot, source: `${node}.json` });
      }
      const { state } = buildClusterStateFromSnapshots(base.objects, snapshots);
      const d = diagnose(state, query, { plugins: [bridgePlugin] });
      expect(cniFindings(d)).toEqual([{ node: 'default/pod2', code: 'CniAddFailed' }]);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);

  it('raises nothing from the records of healthy ADDs', () => {
    const d = diagnose(withRecords(ALL.map((pod) => ({ pod }))), query, { plugins: [bridgePlugin] });
    expect(cniFindings(d)).toEqual([]);
    expect(d.verdict).toBe('Reachable');
  });

  it.each<[string, Call[], { node: string; code: string }[]]>([
    ['a failed ADD of the destination', [{ pod: 'pod1' }, { pod: 'pod3' }, { pod: 'pod2', headOnly: true }], [{ node: 'default/pod2', code: 'CniAddFailed' }]],
    ['no ADD of the source on a tapped node', [{ pod: 'pod3' }, { pod: 'pod2' }], [{ node: 'default/pod1', code: 'CniAddMissing' }]],
    [
      'a result with another address than the pod has',
      [{ pod: 'pod1', result: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/run/netns/x' }], ips: [{ address: '10.244.0.99/24', interface: 0 }] } }, { pod: 'pod2' }],
      [
        { node: 'default/pod1', code: 'CniResultMismatch' },
        { node: 'default/pod1', code: 'CniResultMismatch' },
      ],
    ],
    ['another chain than the conflist on disk', [{ pod: 'pod1', chain: ['bridge', 'portmap'] }, { pod: 'pod2' }], [{ node: 'node1', code: 'CniChainMismatch' }]],
  ])('reports %s on the netnode at fault', (_what, calls, expected) => {
    const d = diagnose(withRecords(calls), query, { plugins: [bridgePlugin] });
    expect(cniFindings(d)).toEqual(expected);
  });
});
