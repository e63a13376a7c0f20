// `netdiag lab run` through the built CLI (npm run build first): a scenario file with a mistake is
// refused by file, line and field before any lab is built; a scenario runs end to end on a lab of
// its own with the operator and prints DESIGN §5's JSON result, leaving nothing behind.
import { afterAll, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeLabLeftovers, tryRun } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const PREFIX = `ndlr${randomBytes(3).toString('hex')}`;

function netdiag(args: readonly string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 240_000, cwd: ROOT });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

const leftovers = (): string[] => [
  ...tryRun('ip', ['netns', 'list']).stdout.split('\n').filter((l) => l.startsWith(PREFIX)),
  ...tryRun('ip', ['-o', 'link']).stdout.split('\n').filter((l) => l.includes(PREFIX)),
];

describeAsRoot('netdiag lab run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netdiag-lab-run-cli-'));

  afterAll(() => {
    removeLabLeftovers(PREFIX, dir);
  });

  it('refuses a scenario with a mistake, naming file, line and field, before building anything', () => {
    const file = join(dir, 'typo.yaml');
    writeFileSync(file, 'name: typo\nnetwork: bridge\nnodes:\n  - name: node1\n    pod: [{name: a}]\ndiagnose: {source: node1, destination: 10.0.0.1, protocol: ICMP}\nexpect: {}\n');
    const run = netdiag(['lab', 'run', '--prefix', PREFIX, file]);
    expect({ status: run.status, stderr: run.stderr.trim() }).toEqual({ status: 1, stderr: `netdiag lab: ${file}:5: nodes[0].pod: unknown field (expected name, faults, listen or pods)` });
    expect(leftovers()).toEqual([]);
  });

  it('runs a scenario through the operator and prints the JSON result; the lab is gone afterwards', () => {
    const run = netdiag(['lab', 'run', '--json', '--prefix', PREFIX, '--dir', join(dir, 'labs'), 'test/scenarios/bridge-pod-to-pod.yaml']);
    expect(run.status).toBe(0);
    const results = JSON.parse(run.stdout) as Record<string, unknown>[];
    expect(results).toHaveLength(1);
    expect(Object.keys(results[0] ?? {}).sort()).toEqual(['completed', 'mismatches', 'name', 'passed', 'path', 'suspicions', 'verdict']);
    expect(results[0]).toMatchObject({ name: 'pod to pod across nodes, bridge with static routes, healthy', passed: true, completed: true, verdict: 'Reachable', path: ['pod1', 'node1', 'node2', 'pod2'], mismatches: [] });
    expect(leftovers()).toEqual([]);
  });
});
