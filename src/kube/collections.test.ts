import { describe, expect, it } from '@jest/globals';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { packSnapshot } from '../collector/snapshot-pack.js';
import { buildCollectorPod, buildCollectorPodsConfigMap, type CollectorPodOptions } from './collector-pod.js';
import { collectionsOf } from './collections.js';
import { buildSnapshotConfigMaps } from './snapshot-configmaps.js';

const options = (name: string, node: string): CollectorPodOptions => ({
  diagnosis: { namespace: 'shop', name, uid: `uid-${name}` },
  node,
  namespace: 'netdiag-system',
  image: 'netdiag:1',
  serviceAccountName: 'netdiag-collector',
  timeoutSeconds: 60,
  commandTimeoutSeconds: 10,
  pods: [{ namespace: 'shop', name: 'client', uid: 'u-client', ips: ['10.244.1.5'] }],
  createdAt: '2026-11-25T12:00:00.250Z',
});

/** A snapshot's chunk ConfigMaps, as the collector writes them (`chunks` of them; `drop` left out). */
function snapshot(name: string, node: string, drop?: number): V1ConfigMap[] {
  // Text that gzip cannot shrink much, cut into chunks of 1,000 bytes: several ConfigMaps.
  const text = Array.from({ length: 6_000 }, (_, i) => ((i * 7_919 + (i >> 3) * 104_729) % 65_521).toString(36)).join(',');
  const packed = packSnapshot(text, 1_000);
  expect(packed.chunks.length).toBeGreaterThan(1);
  const all = buildSnapshotConfigMaps({ namespace: 'netdiag-system', diagnosis: { namespace: 'shop', name }, node }, packed, 'id1', new Date('2026-11-25T12:00:01Z'));
  return drop === undefined ? all : all.filter((_, i) => i !== drop);
}

describe('collectionsOf', () => {
  it('joins each collector pod with its pod list and whether its snapshot is complete', () => {
    const a = options('a', 'n1');
    const b = options('b', 'n2');
    const pods = [buildCollectorPod(a), { ...buildCollectorPod(b), status: { phase: 'Running' } }];
    const configMaps = [buildCollectorPodsConfigMap(a), ...snapshot('a', 'n1'), ...snapshot('b', 'n2', 0)];
    const views = collectionsOf(pods, configMaps);
    expect(views.map((v) => ({ owner: v.diagnosis.name, node: v.node, phase: v.phase, createdAt: v.createdAt, pods: v.pods?.map((p) => p.name), delivered: v.delivered }))).toEqual([
      // The operator's own stamp, with its milliseconds, not the API server's whole seconds.
      { owner: 'a', node: 'n1', phase: 'Pending', createdAt: Date.parse('2026-11-25T12:00:00.250Z'), pods: ['client'], delivered: true },
      // b's pod list is missing and a chunk of its snapshot too.
      { owner: 'b', node: 'n2', phase: 'Running', createdAt: Date.parse('2026-11-25T12:00:00.250Z'), pods: undefined, delivered: false },
    ]);
  });

  it('ignores pods that are not collectors or name no diagnosis', () => {
    const pod = buildCollectorPod(options('a', 'n1'));
    const other = { ...pod, metadata: { ...pod.metadata, labels: { ...pod.metadata?.labels, 'app.kubernetes.io/component': 'something-else' } } };
    const nameless = { ...pod, metadata: { ...pod.metadata, annotations: {} } };
    expect(collectionsOf([other, nameless], [])).toEqual([]);
  });
});
