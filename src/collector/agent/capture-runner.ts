// Runs capture steps in one capture job (the capture script, started by a driver of the pool, in a
// network namespace when one is given) and reports what became of every step. Enforces the
// per-command timeout (the script's stderr markers say which command runs; on expiry the job's
// process group is killed, the command recorded as timed out, and the remaining steps run in a
// fresh job), the run's deadline (what has not run is recorded as such) and an output limit.
// Never throws for anything the node does: every failure becomes a step result.

import { randomBytes } from 'node:crypto';
import { CaptureProgress, encodeCaptureArgs, splitCaptureStdout, type CaptureStep, type StepFailureKind, type StepResult } from '../capture-script.js';
import { CapturePool, type Job } from './capture-pool.js';
import type { Deadline } from './deadline.js';

export interface RunnerOptions {
  readonly pool: CapturePool;
  readonly commandTimeoutMs: number;
  readonly deadline: Deadline;
  /** Standard output kept per job; beyond it the job is killed and its command truncated. */
  readonly maxOutputBytes: number;
}

/** Where to run: a network namespace to enter, or the agent's own (undefined). */
export interface CaptureTarget {
  readonly netnsPath?: string;
}

type KillReason = { readonly kind: 'timeout'; readonly id: string } | { readonly kind: 'deadline' } | { readonly kind: 'output-limit' };

interface Round {
  readonly results: StepResult[];
  /** Run the steps without a result again, in a fresh job (after a per-command timeout). */
  readonly again: boolean;
  /** Why the steps without a result have none. */
  readonly reason: string;
  readonly reasonKind: StepFailureKind;
}

/** The PATH the tools are looked up in: the agent's own, plus the sbin directories they live in. */
function toolPath(): string {
  const dirs = (process.env.PATH ?? '').split(':').filter((d) => d !== '');
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) if (!dirs.includes(dir)) dirs.push(dir);
  return dirs.join(':');
}

/** A pool of `size` capture drivers, with the agent's environment and the tools' PATH. Close it after the run. */
export function createCapturePool(size: number): CapturePool {
  return new CapturePool(size, { ...process.env, PATH: toolPath() });
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

async function runOnce(steps: readonly CaptureStep[], target: CaptureTarget, options: RunnerOptions): Promise<Round> {
  const boundary = `--netdiag-${randomBytes(12).toString('hex')}`;
  const progress = new CaptureProgress(boundary);
  const observedStart = new Map<string, number>();
  const chunks: Buffer[] = [];
  let stdoutBytes = 0;
  let killed: KillReason | undefined;
  let commandTimer: NodeJS.Timeout | undefined;
  const started: { job?: Job } = {};
  const kill = (reason: KillReason): void => {
    if (killed !== undefined) return;
    killed = reason;
    started.job?.kill();
  };

  const callbacks = {
    onStdout(chunk: Buffer): void {
      stdoutBytes += chunk.length;
      if (stdoutBytes > options.maxOutputBytes) kill({ kind: 'output-limit' });
      else chunks.push(chunk);
    },
    onStderr(text: string): void {
      for (const event of progress.push(text)) {
        clearTimeout(commandTimer);
        if (event.kind === 'started') {
          observedStart.set(event.id, Date.now());
          const id = event.id;
          commandTimer = setTimeout(() => kill({ kind: 'timeout', id }), options.commandTimeoutMs);
        }
      }
    },
  };
  const job = await options.pool.run(target.netnsPath, encodeCaptureArgs(boundary, steps), callbacks, () => options.deadline.expired());
  if (job === undefined) return { results: [], again: false, reason: "not run: the run's deadline passed", reasonKind: 'deadline' };
  started.job = job;
  // (The callbacks only run once the job has started, after this point; a kill asked for before is applied now.)
  if (killed !== undefined) job.kill();
  const deadlineTimer = setTimeout(() => kill({ kind: 'deadline' }), Math.max(0, options.deadline.remainingMs()));
  const exit = await job.done;
  clearTimeout(commandTimer);
  clearTimeout(deadlineTimer);
  progress.end();

  const now = Date.now();
  const ended = exit.status === null ? exit.driverError ?? 'the capture driver died' : exit.status > 128 ? `signal ${exit.status - 128}` : `exit status ${exit.status}`;
  const outputs = splitCaptureStdout(boundary, Buffer.concat(chunks));
  chunks.length = 0;
  const results: StepResult[] = [];
  for (const id of progress.order) {
    const step = progress.steps.get(id);
    if (step === undefined) continue;
    if (step.state === 'skipped') {
      results.push({ id, exitCode: null, skipped: true });
      continue;
    }
    const startedAt = step.startedAt ?? observedStart.get(id) ?? now;
    const stderr = step.stderr + (step.stderrTruncated ? '\n[stderr cut]' : '');
    if (step.state === 'ended') {
      const endedAt = step.endedAt ?? now;
      const out = outputs.get(id);
      results.push({
        id,
        startedAt,
        durationMs: endedAt - startedAt,
        exitCode: step.exitCode ?? null,
        stdout: out?.output ?? Buffer.alloc(0),
        stderr,
        ...(out === undefined ? { failure: 'its output was lost (no output markers)', failureKind: 'lost' as const } : {}),
      });
      continue;
    }
    // Started and never ended: the job was killed (or died) while it ran.
    let failure: string;
    let failureKind: StepFailureKind;
    if (killed?.kind === 'timeout') [failure, failureKind] = [`timed out after ${seconds(options.commandTimeoutMs)} (killed)`, 'timeout'];
    else if (killed?.kind === 'deadline') [failure, failureKind] = ["killed when the run's deadline passed", 'deadline'];
    else if (killed?.kind === 'output-limit') [failure, failureKind] = [`its output exceeded ${Math.round(options.maxOutputBytes / 1048576)} MiB (killed)`, 'output-limit'];
    else [failure, failureKind] = [`the capture process ended while it ran (${ended})`, 'lost'];
    results.push({ id, startedAt, durationMs: now - startedAt, exitCode: null, stderr, failure, failureKind, ...(failureKind === 'output-limit' ? { truncated: true } : {}) });
  }
  let reason: string;
  let reasonKind: StepFailureKind;
  if (killed?.kind === 'deadline') [reason, reasonKind] = ["not run: the run's deadline passed", 'deadline'];
  else if (killed?.kind === 'timeout') [reason, reasonKind] = ['not run: an earlier command timed out', 'aborted'];
  else if (killed?.kind === 'output-limit') [reason, reasonKind] = ['not run: an earlier command printed too much', 'aborted'];
  else if (exit.driverError !== undefined) [reason, reasonKind] = [`not run: ${exit.driverError}`, 'lost'];
  else if (progress.order.length === 0) {
    const why = progress.preamble.trim().split('\n')[0] ?? '';
    const detail = why !== '' ? why : ended;
    reason = target.netnsPath === undefined ? `the capture shell failed: ${detail}` : `cannot enter the network namespace ${target.netnsPath}: ${detail}`;
    reasonKind = 'not-started';
  } else [reason, reasonKind] = [`not run: the capture process ended early (${ended})`, 'lost'];
  return { results, again: killed?.kind === 'timeout', reason, reasonKind };
}

/**
 * Runs `steps` in order in `target` and returns a result for every step, in order. Steps that
 * never ran carry a `failure` that says why (deadline, namespace gone, an earlier timeout).
 */
export async function runCaptureSteps(steps: readonly CaptureStep[], target: CaptureTarget, options: RunnerOptions): Promise<Map<string, StepResult>> {
  const results = new Map<string, StepResult>();
  let remaining = [...steps];
  while (remaining.length > 0) {
    if (options.deadline.expired()) {
      for (const step of remaining) results.set(step.id, { id: step.id, exitCode: null, failure: "not run: the run's deadline passed", failureKind: 'deadline' });
      break;
    }
    const round = await runOnce(remaining, target, options);
    for (const result of round.results) results.set(result.id, result);
    const left = remaining.filter((step) => !results.has(step.id));
    if (round.again && left.length > 0 && left.length < remaining.length) {
      remaining = left;
      continue;
    }
    for (const step of left) results.set(step.id, { id: step.id, exitCode: null, failure: round.reason, failureKind: round.reasonKind });
    break;
  }
  return new Map(steps.map((step) => [step.id, results.get(step.id) ?? { id: step.id, exitCode: null, failure: 'not run', failureKind: 'lost' }]));
}
