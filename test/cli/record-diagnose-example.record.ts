// Re-records examples/diagnose from a live two-node cluster of namespaces (mini-cluster, host-gw):
// the real collector's snapshot of each node and the cluster's objects, so that `netdiag diagnose`
// can be tried without a cluster. Run as root with `npm run record-fixtures`; review the diff.
// The snapshots' identity fields (host name, machine and boot ids, kernel) and the scratch paths the
// collector was pointed at (namespaces, CNI directory) describe the machine that recorded them: they
// are replaced by neutral values and the usual paths before writing.
import { describe, expect, it } from '@jest/globals';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { Snapshot } from '../../src/collector/snapshot.js';
import { createClusterSnapshotter, objectsList } from '../support/cluster-snapshots.js';
import { buildMiniCluster } from '../support/mini-cluster.js';
import { isRoot } from '../support/root.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/diagnose', import.meta.url));

function neutral(snapshot: Snapshot): Snapshot {
  const { machineId: _machineId, bootId: _bootId, ...node } = snapshot.node;
  return {
    ...snapshot,
    node: { ...node, hostname: node.name, kernel: { ...node.kernel, release: 'example', version: 'example' } },
    agent: { ...snapshot.agent, version: 'example' },
    namespaces: snapshot.namespaces.map((ns) => ({ ...ns, netns: { ...ns.netns, path: `/run/netns/${basename(ns.netns.path)}` } })),
    cni: { ...snapshot.cni, configDir: '/etc/cni/net.d' },
  };
}

describe('record examples/diagnose', () => {
  it('writes the objects and one snapshot per node, and nothing of the recording machine', async () => {
    if (!isRoot) throw new Error('recording the example builds network namespaces: run it as root');
    const cluster = await buildMiniCluster('ndex');
    const snapshots = createClusterSnapshotter(cluster);
    try {
      rmSync(EXAMPLE, { recursive: true, force: true });
      mkdirSync(EXAMPLE, { recursive: true });
      writeFileSync(join(EXAMPLE, 'objects.yaml'), stringify(objectsList(cluster.objects)));
      for (const node of Object.keys(cluster.nodes)) writeFileSync(join(EXAMPLE, `${node}.json`), `${JSON.stringify(neutral(await snapshots.snapshotNode(node)))}\n`);
    } finally {
      snapshots.close();
      await cluster.teardown();
    }
    for (const node of Object.keys(cluster.nodes)) expect(readFileSync(join(EXAMPLE, `${node}.json`), 'utf8')).not.toMatch(/\/tmp\/|netdiag-snapshots-/);
  }, 60_000);
});
