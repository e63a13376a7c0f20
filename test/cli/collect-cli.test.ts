// `netdiag collect` on bad input, as a user runs it: the built command must stop before collecting
// anything, with one line naming the flag or file and what is wrong, and no stack trace.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

function netdiag(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, 'collect', ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/nonexistent', HOME: '/nonexistent' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

let scratch = '';
beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
  scratch = mkdtempSync(join(tmpdir(), 'netdiag-collect-cli-'));
  writeFileSync(join(scratch, 'not-json'), '{ nope');
  writeFileSync(join(scratch, 'bad-pods.json'), JSON.stringify([{ namespace: 'a', name: 'p', ips: ['10.0.0.300'] }]));
});
afterAll(() => {
  if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
});

describe('netdiag collect: usage errors (exit 2, usage printed)', () => {
  it.each([
    [['--diagnosis', 'default.web'], '--diagnosis only makes sense with --configmaps'],
    [['--configmaps'], '--configmaps needs --diagnosis NS.NAME'],
    [['--configmaps', '--diagnosis', 'web'], '--diagnosis "web": expected NAMESPACE.NAME of a NetworkDiagnosis'],
    [['--configmaps', '--diagnosis', 'Default.web'], '--diagnosis "Default.web": expected NAMESPACE.NAME'],
    [['--timeout', '0'], '--timeout "0": expected a number of seconds'],
    [['--command-timeout', 'soon'], '--command-timeout "soon": expected a number of seconds'],
    [['--parallelism', '0'], '--parallelism "0": expected an integer from 1 to 256'],
    [['--no-cri', '--cri-endpoint', 'unix:///x'], '--no-cri and --cri-endpoint exclude each other'],
    [['--frobnicate'], "Unknown option '--frobnicate'"],
  ])('%j', (args, message) => {
    const { status, stderr, stdout } = netdiag(...args);
    expect(status).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toContain(`netdiag collect: ${message}`);
    expect(stderr).toContain('usage: netdiag collect');
  });
});

describe('netdiag collect: bad input files and settings (exit 1, one line)', () => {
  it.each([
    ['a pod list that does not exist', () => ['--pods', join(scratch, 'absent.json')], /^netdiag collect: --pods .*absent\.json: cannot read: no such file$/],
    ['a pod list that is not JSON', () => ['--pods', join(scratch, 'not-json')], /^netdiag collect: --pods .*not-json: not JSON: /],
    ['a pod with a bad IP', () => ['--pods', join(scratch, 'bad-pods.json')], /^netdiag collect: --pods .*bad-pods\.json: \[0\]\.ips\[0\]: "10\.0\.0\.300" is not an IP address$/],
    ['no Kubernetes credentials', () => ['--configmaps', '--diagnosis', 'default.web', '--namespace', 'netdiag'], /^netdiag collect: --configmaps: no Kubernetes credentials: /],
    ['a kubeconfig that does not exist', () => ['--configmaps', '--diagnosis', 'default.web', '--kubeconfig', join(scratch, 'none')], /^netdiag collect: --configmaps: kubeconfig .*none: no such file$/],
    ['a host namespace that does not exist', () => ['--host-netns', join(scratch, 'no-such-netns'), '--out', join(scratch, 'x.json')], /^netdiag collect: the host network namespace .*no-such-netns cannot be opened: ENOENT$/],
  ])('%s', (_, args, message) => {
    const { status, stderr } = netdiag('--quiet', ...args());
    expect(status).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(existsSync(join(scratch, 'x.json'))).toBe(false);
  });
});
