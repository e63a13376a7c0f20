import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearPreviousLab } from './state.js';

describe('clearPreviousLab', () => {
  it("removes a stopped lab's control plane and node roots, keeps the binaries' links", () => {
    const dir = mkdtempSync(join(tmpdir(), 'netdiag-state-test-'));
    try {
      mkdirSync(join(dir, 'control-plane', 'etcd', 'member'), { recursive: true });
      writeFileSync(join(dir, 'control-plane', 'etcd', 'member', 'wal'), 'old cluster');
      mkdirSync(join(dir, 'nodes', 'node1', 'root', 'var', 'lib', 'cni'), { recursive: true });
      mkdirSync(join(dir, 'bin'));
      writeFileSync(join(dir, 'bin', 'kubectl'), '');
      expect(clearPreviousLab(dir)).toEqual(['control-plane', 'nodes']);
      expect([existsSync(join(dir, 'control-plane')), existsSync(join(dir, 'nodes')), existsSync(join(dir, 'bin', 'kubectl'))]).toEqual([false, false, true]);
      // A fresh directory has nothing to remove.
      expect(clearPreviousLab(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
