// Re-records the golden mini-cluster fixtures (test/diagnosis/fixtures/mini-cluster) from live
// namespaces, as root: `npm run record-fixtures`. A deliberate step, not part of `npm test`
// (the file name does not match the test pattern); review the diff before committing it.
import { describe, expect, it } from '@jest/globals';
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildMiniCluster } from '../support/mini-cluster.js';
import { loadRecordedCluster, recordCluster } from '../support/recorded-cluster.js';
import { isRoot } from '../support/root.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/mini-cluster', import.meta.url));
describe('record the mini-cluster fixtures', () => {
  it('writes every namespace and reads them back', async () => {
    if (!isRoot) throw new Error('recording the fixtures builds network namespaces: run it as root');
    const cluster = await buildMiniCluster('ndrec');
    try {
      rmSync(FIXTURES, { recursive: true, force: true });
      mkdirSync(FIXTURES, { recursive: true });
      recordCluster(cluster, FIXTURES);
    } finally {
      await cluster.teardown();
    }
    const state = loadRecordedCluster(FIXTURES);
    expect(Object.keys(state.netns.pods).sort()).toEqual(['default/pod1', 'default/pod2', 'default/pod3']);
  }, 60_000);
});
