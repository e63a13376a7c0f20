// Re-records the golden flannel fixtures (test/diagnosis/fixtures/flannel-vxlan and
// flannel-host-gw) from namespaces programmed by the real flanneld and the real flannel CNI plugin
// (test/support/flannel-cluster.ts), as root: `npm run record-fixtures`. A deliberate step, not part
// of `npm test` (the file name does not match the test pattern); review the diff before committing
// it. Each node's conflist is recorded as nodes/NAME/cni/10-flannel.conflist with flannel's default
// paths (the lab's nodes share one filesystem, so each ran with directories of its own).
import { describe, expect, it } from '@jest/globals';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFlannelCluster, type FlannelBackend } from '../support/flannel-cluster.js';
import { loadRecordedCluster, recordCluster } from '../support/recorded-cluster.js';
import { isRoot } from '../support/root.js';

describe('record the flannel fixtures', () => {
  it.each<[FlannelBackend]>([['vxlan'], ['host-gw']])('flannel-%s: every namespace, the Node objects with their leases, the CNI configuration', async (backend) => {
    if (!isRoot) throw new Error('recording the fixtures builds network namespaces: run it as root');
    const fixtures = fileURLToPath(new URL(`./fixtures/flannel-${backend}`, import.meta.url));
    const cluster = await buildFlannelCluster({ backend, prefix: 'ndflrec' });
    try {
      rmSync(fixtures, { recursive: true, force: true });
      mkdirSync(fixtures, { recursive: true });
      recordCluster(cluster, fixtures);
      for (const [node, files] of Object.entries(cluster.cniConfigs)) {
        const dir = join(fixtures, 'nodes', node, 'cni');
        mkdirSync(dir, { recursive: true });
        for (const file of files) writeFileSync(join(dir, file.path.slice(file.path.lastIndexOf('/') + 1)), file.content ?? '');
      }
    } finally {
      await cluster.teardown();
    }
    const state = loadRecordedCluster(fixtures);
    expect(Object.keys(state.netns.pods).sort()).toEqual(['default/pod1', 'default/pod2', 'default/pod3', 'default/pod4']);
    expect(state.objects.nodes.map((n) => n.metadata.annotations?.['flannel.alpha.coreos.com/backend-type'])).toEqual([backend, backend, backend]);
  }, 180_000);
});
