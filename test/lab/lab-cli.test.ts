// `netdiag lab up|status|down` through the built CLI (npm run build first), as a person runs it:
// a detached lab that outlives `up`, a status that sees it, a down that removes everything; Ctrl-C
// during `up`; and `down` after the lab's process was killed (cleaned from the state file).
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { destroyNetnsWithPrefix, tryRun } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function netdiag(args: readonly string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 240_000 });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** What of the lab named PREFIX in DIR exists now: namespaces, links, processes. */
function leftovers(prefix: string, dir: string): string[] {
  const netns = tryRun('ip', ['netns', 'list']).stdout.split('\n').filter((l) => l.startsWith(prefix));
  const links = tryRun('ip', ['-o', 'link']).stdout.split('\n').filter((l) => l.includes(prefix));
  const processes = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
        return cmdline.includes(dir) || cmdline.includes(`"who"`) && cmdline.includes(prefix) ? [`${pid} ${cmdline.slice(0, 120)}`] : [];
      } catch {
        return [];
      }
    });
  return [...netns, ...links, ...processes];
}

function recordedPids(dir: string): number[] {
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { pid: number; processes: { pid: number }[] };
  return [state.pid, ...state.processes.map((p) => p.pid)];
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

describeAsRoot('netdiag lab up, status, down', () => {
  const prefix = `ndl1${randomBytes(2).toString('hex')}`;
  let base: string;

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: npm run build first`);
    base = mkdtempSync(join(tmpdir(), 'netdiag-lab-cli-'));
  });

  afterAll(() => {
    for (const name of existsSync(base) ? readdirSync(base) : []) netdiag(['lab', 'down', '--dir', join(base, name)]);
    destroyNetnsWithPrefix(prefix);
    rmSync(base, { recursive: true, force: true });
  }, 240_000);

  it('refuses to run without root, saying so', () => {
    const result = spawnSync(process.execPath, [CLI, 'lab', 'up', '--dir', join(base, 'nobody')], { encoding: 'utf8', uid: 65534, gid: 65534, timeout: 60_000 });
    expect({ status: result.status, stderr: result.stderr.trim() }).toEqual({ status: 1, stderr: 'netdiag lab: the lab needs root: it creates network namespaces, a bridge and iptables rules (run it with sudo)' });
  });

  it('comes up in the background, answers status, and goes down leaving nothing', () => {
    const dir = join(base, 'a');
    const up = netdiag(['lab', 'up', '--dir', dir, '--prefix', prefix, '--nodes', '2', '--no-operator']);
    expect(up.stderr).toBe('');
    expect(up.status).toBe(0);
    expect(up.stdout).toContain(`kubeconfig: ${join(dir, 'kubeconfig')}`);
    expect(up.stdout).toMatch(/lab ready in [\d.]+ s: 2 node\(s\), network bridge/);
    const pids = recordedPids(dir);
    expect(pids.every(alive)).toBe(true);

    const nodes = tryRun(join(dir, 'bin', 'kubectl'), ['--kubeconfig', join(dir, 'kubeconfig'), 'get', 'nodes', '-o', 'name']);
    expect(nodes.stdout.split('\n').filter((l) => l !== '').sort()).toEqual(['node/node1', 'node/node2']);

    const status = netdiag(['lab', 'status', '--dir', dir]);
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(/: ready, network bridge/);
    expect(status.stdout).toContain('answers (readyz ok)');
    expect(status.stdout).toMatch(new RegExp(`node1 +10\\.99\\.\\d+\\.11 +10\\.244\\.\\d+\\.0/24 +netns ${prefix}-node1`));

    const down = netdiag(['lab', 'down', '--dir', dir]);
    expect(down.status).toBe(0);
    expect(down.stdout).toContain(`removed network namespace ${prefix}-node1`);
    expect(down.stdout).toContain(`removed link ${prefix}0`);
    expect(leftovers(prefix, dir)).toEqual([]);
    expect(pids.filter(alive)).toEqual([]);
    const again = netdiag(['lab', 'down', '--dir', dir]);
    expect({ status: again.status, stdout: again.stdout.trim() }).toEqual({ status: 0, stdout: `no lab running in ${dir}: nothing to remove` });
    const statusAfter = netdiag(['lab', 'status', '--dir', dir]);
    expect(statusAfter.stdout).toMatch(/: stopped, network bridge/);
  }, 240_000);

  it('cleans up when up is interrupted (Ctrl-C)', async () => {
    const dir = join(base, 'b');
    const child = spawn(process.execPath, [CLI, 'lab', 'up', '--dir', dir, '--prefix', prefix, '--nodes', '1', '--no-operator'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
    const deadline = Date.now() + 60_000;
    while (!output.includes('kube-apiserver at') && Date.now() < deadline) await sleep(50);
    expect(output).toContain('kube-apiserver at');
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(output).toContain('interrupted: stopping the lab');
    expect(leftovers(prefix, dir)).toEqual([]);
  }, 240_000);

  it('removes a lab whose process was killed, from its state file', async () => {
    const dir = join(base, 'c');
    expect(netdiag(['lab', 'up', '--dir', dir, '--prefix', prefix, '--nodes', '1', '--no-operator']).status).toBe(0);
    const [daemon = -1, ...children] = recordedPids(dir);
    process.kill(daemon, 'SIGKILL');
    while (alive(daemon)) await sleep(50);
    expect(children.filter(alive).length).toBeGreaterThan(0);
    const status = netdiag(['lab', 'status', '--dir', dir]);
    expect(status.stdout).toContain('its process is gone');
    const down = netdiag(['lab', 'down', '--dir', dir]);
    expect(down.status).toBe(0);
    expect(down.stdout).toContain('is gone: removing what it recorded');
    expect(down.stdout).toContain(`removed network namespace ${prefix}-node1`);
    expect(leftovers(prefix, dir)).toEqual([]);
    expect(children.filter(alive)).toEqual([]);
  }, 240_000);
});
