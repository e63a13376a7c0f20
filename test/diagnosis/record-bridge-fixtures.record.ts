// Re-records the golden bridge-CNI fixtures (test/diagnosis/fixtures/bridge) from live namespaces
// whose pod network the real `bridge` and `host-local` CNI plugins made, as root:
// `npm run record-fixtures`. A deliberate step, not part of `npm test` (the file name does not
// match the test pattern); review the diff before committing it. Each node's conflist is recorded
// as nodes/NAME/cni/10-bridge.conflist, with host-local's dataDir written as its default: the lab's
// nodes share one filesystem, so each had a temporary directory of its own.
import { describe, expect, it } from '@jest/globals';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBridgeCniCluster } from '../support/bridge-cni-cluster.js';
import { loadRecordedCluster, readRecordedCniConfigs, recordCluster } from '../support/recorded-cluster.js';
import { isRoot } from '../support/root.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/bridge', import.meta.url));
const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

describe('record the bridge-CNI fixtures', () => {
  it('writes every namespace and the CNI configuration, and reads them back', async () => {
    if (!isRoot) throw new Error('recording the fixtures builds network namespaces: run it as root');
    const cluster = await buildBridgeCniCluster('ndbrrec');
    try {
      rmSync(FIXTURES, { recursive: true, force: true });
      mkdirSync(FIXTURES, { recursive: true });
      recordCluster(cluster, FIXTURES);
      for (const [node, files] of Object.entries(cluster.cniConfigs())) {
        const dir = join(FIXTURES, 'nodes', node, 'cni');
        mkdirSync(dir, { recursive: true });
        for (const file of files) {
          const conf = JSON.parse(file.content ?? '{}') as { plugins?: { ipam?: { dataDir?: string } }[] };
          for (const plugin of conf.plugins ?? []) if (plugin.ipam?.dataDir !== undefined) plugin.ipam.dataDir = DEFAULT_DATA_DIR;
          writeFileSync(join(dir, file.path.slice(file.path.lastIndexOf('/') + 1)), `${JSON.stringify(conf, null, 2)}\n`);
        }
      }
    } finally {
      await cluster.teardown();
    }
    const state = loadRecordedCluster(FIXTURES);
    expect(Object.keys(state.netns.pods).sort()).toEqual(['default/pod1', 'default/pod2', 'default/pod3', 'default/pod4']);
    expect(Object.keys(readRecordedCniConfigs(FIXTURES)).sort()).toEqual(['node1', 'node2', 'node3']);
  }, 120_000);
});
