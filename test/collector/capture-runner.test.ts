// The capture script and its runner against real processes (in the test's own network namespace:
// no root needed): framing, guards, stdin, sysctl reading, missing tools, the per-command timeout
// (the rest runs on in a fresh process), the run's deadline, the output limit, a namespace that
// cannot be entered, and arguments that would be shell code if anything ever parsed them.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CapturePool } from '../../src/collector/agent/capture-pool.js';
import { createCapturePool, runCaptureSteps, type RunnerOptions } from '../../src/collector/agent/capture-runner.js';
import { createDeadline } from '../../src/collector/agent/deadline.js';
import type { CaptureStep, StepResult } from '../../src/collector/capture-script.js';

let dir = '';
let pool: CapturePool;
beforeAll(() => {
  pool = createCapturePool(2);
  dir = mkdtempSync(join(tmpdir(), 'netdiag-runner-'));
  writeFileSync(join(dir, 'empty'), '');
  writeFileSync(join(dir, 'full'), 'filter\n');
});
afterAll(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

const options = (overrides: Partial<RunnerOptions> = {}): RunnerOptions => ({
  pool,
  commandTimeoutMs: 10_000,
  deadline: createDeadline(30_000),
  maxOutputBytes: 1024 * 1024,
  ...overrides,
});
const exec = (id: string, argv: string[], extra: Partial<CaptureStep> = {}): CaptureStep => ({ ...extra, id, action: { kind: 'exec', argv } });
const out = (r: StepResult | undefined): string | undefined => r?.stdout?.toString('utf8');

describe('capture script and runner', () => {
  it('runs each step and frames its output, stderr, exit status and timing', async () => {
    const results = await runCaptureSteps(
      [
        exec('one', ['printf', 'a\nb']),
        exec('two', ['sh', '-c', 'echo to-stderr >&2; echo out; exit 3']),
        { id: 'three', action: { kind: 'exec', argv: ['cat'], stdin: 'from stdin' } },
      ],
      {},
      options(),
    );
    expect(out(results.get('one'))).toBe('a\nb');
    expect(results.get('one')?.exitCode).toBe(0);
    expect(results.get('two')).toMatchObject({ exitCode: 3, stderr: 'to-stderr' });
    expect(out(results.get('two'))).toBe('out\n');
    expect(out(results.get('three'))).toBe('from stdin\n');
    for (const r of results.values()) {
      expect(r.startedAt).toBeGreaterThan(Date.now() - 60_000);
      expect(r.durationMs).toBeGreaterThanOrEqual(0);
    }
  });

  it('passes arguments literally: nothing is ever shell code', async () => {
    const marker = join(dir, 'pwned');
    const tricky = `$(touch ${marker}); \`touch ${marker}\` "'; touch ${marker}`;
    const results = await runCaptureSteps([exec('echo', ['printf', '%s', tricky]), exec('glob', ['printf', '%s', '/*'])], {}, options());
    expect(out(results.get('echo'))).toBe(tricky);
    expect(out(results.get('glob'))).toBe('/*');
    expect(existsSync(marker)).toBe(false);
  });

  it('skips a step whose guard says there is nothing to dump', async () => {
    const results = await runCaptureSteps(
      [
        exec('empty', ['echo', 'ran'], { guard: { kind: 'file-has-content', path: join(dir, 'empty'), skipped: 'empty' } }),
        exec('absent', ['echo', 'ran'], { guard: { kind: 'file-has-content', path: join(dir, 'absent'), skipped: 'absent' } }),
        exec('full', ['echo', 'ran'], { guard: { kind: 'file-has-content', path: join(dir, 'full'), skipped: 'full' } }),
        exec('src', ['echo', '{"family": "ip6"}'], { capture: true }),
        exec('hit', ['echo', 'ran'], { guard: { kind: 'output-contains', step: 'src', anyOf: ['"family": "ip"', '"family": "ip6"'], skipped: 'no' } }),
        exec('miss', ['echo', 'ran'], { guard: { kind: 'output-contains', step: 'src', anyOf: ['"family": "inet"'], skipped: 'no' } }),
        exec('failed-src', ['false'], { capture: true }),
        exec('open', ['echo', 'ran'], { guard: { kind: 'output-contains', step: 'failed-src', anyOf: ['x'], skipped: 'no' } }),
      ],
      {},
      options(),
    );
    const skipped = [...results.values()].filter((r) => r.skipped === true).map((r) => r.id);
    expect(skipped).toEqual(['empty', 'absent', 'miss']);
    expect(out(results.get('src'))).toBe('{"family": "ip6"}\n');
    for (const id of ['full', 'hit', 'open']) expect(out(results.get(id))).toBe('ran\n');
  });

  it('reads sysctls with builtins, naming what it cannot read', async () => {
    const results = await runCaptureSteps(
      [{ id: 'sysctls', action: { kind: 'read-sysctls', groups: [{ dir: '/proc/sys/net/ipv4', keys: ['ip_forward', 'no_such_key'] }, { dir: '/proc/sys/net/ipv4/conf/*', keys: ['rp_filter'] }, { dir: '/proc/sys/nope/*', keys: ['x'] }] } }],
      {},
      options(),
    );
    const r = results.get('sysctls');
    expect(r?.exitCode).toBe(0);
    expect(out(r)).toMatch(/^\/proc\/sys\/net\/ipv4\/ip_forward\t[01]\n/);
    expect(out(r)).toMatch(/\/proc\/sys\/net\/ipv4\/conf\/lo\/rp_filter\t\d\n/);
    expect(r?.stderr).toBe('cannot read /proc/sys/net/ipv4/no_such_key\nnothing matches /proc/sys/nope/*');
  });

  it('records a missing tool and goes on', async () => {
    const results = await runCaptureSteps([exec('missing', ['netdiag-no-such-tool', '-V']), exec('after', ['echo', 'ok'])], {}, options());
    expect(results.get('missing')?.exitCode).toBe(127);
    expect(results.get('missing')?.stderr).toMatch(/netdiag-no-such-tool: command not found/);
    expect(out(results.get('after'))).toBe('ok\n');
  });

  it('kills a command at its timeout and runs the rest in a fresh process', async () => {
    const results = await runCaptureSteps([exec('before', ['echo', 'b']), exec('slow', ['sleep', '30']), exec('after', ['echo', 'a'])], {}, options({ commandTimeoutMs: 300 }));
    expect(out(results.get('before'))).toBe('b\n');
    expect(results.get('slow')).toMatchObject({ exitCode: null, failureKind: 'timeout', failure: 'timed out after 0.3s (killed)' });
    expect(out(results.get('after'))).toBe('a\n');
  });

  it('at the deadline, kills what runs and records what never ran', async () => {
    const results = await runCaptureSteps([exec('slow', ['sleep', '30']), exec('never', ['echo', 'x'])], {}, options({ deadline: createDeadline(400) }));
    expect(results.get('slow')).toMatchObject({ failureKind: 'deadline', failure: "killed when the run's deadline passed" });
    expect(results.get('never')).toMatchObject({ failureKind: 'deadline', failure: "not run: the run's deadline passed", exitCode: null });
  });

  it('stops a command that prints more than the limit', async () => {
    const results = await runCaptureSteps([exec('flood', ['head', '-c', '5000000', '/dev/zero'])], {}, options({ maxOutputBytes: 100_000 }));
    expect(results.get('flood')).toMatchObject({ failureKind: 'output-limit', truncated: true });
  });

  it('says so when the namespace cannot be entered', async () => {
    const results = await runCaptureSteps([exec('a', ['echo']), exec('b', ['echo'])], { netnsPath: join(dir, 'no-such-netns') }, options());
    for (const id of ['a', 'b']) {
      expect(results.get(id)).toMatchObject({ failureKind: 'not-started', exitCode: null });
      expect(results.get(id)?.failure).toMatch(new RegExp(`^cannot enter the network namespace ${dir}/no-such-netns: nsenter: `));
    }
  });
});
