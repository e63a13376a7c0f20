// What every bench shares: its shape for bench/main.ts, percentiles, rounding, a seeded random
// source, and running the measured part in a fresh Node process (a CLI invocation starts cold:
// no JIT, no warm caches, its own memory peak).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Prng } from '../test/support/prng.js';

export interface BenchOptions {
  /** Write a V8 CPU profile of the measured process into this directory (`node --cpu-prof`). */
  readonly profileDir?: string;
}

export interface BenchResult {
  /** The one JSON object `--json` prints: figures and what they were taken on. */
  readonly figures: Readonly<Record<string, unknown>>;
  /** A few lines for a person. */
  readonly text: string;
}

export interface Bench {
  /** One line for the list of benches. */
  readonly summary: string;
  run(options: BenchOptions): BenchResult;
}

/** The `p`-th percentile (0-100) of `values` by nearest rank; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Peak resident set size of this process so far, MiB (getrusage ru_maxrss). */
export function peakRssMb(): number {
  return round(process.resourceUsage().maxRSS / 1024, 1);
}

/** A seeded random source, so every run measures the same inputs. */
export function seededRandom(seed: number): () => number {
  const prng = new Prng(seed);
  return () => prng.next();
}

/** A uniformly chosen element of a non-empty list. */
export function pick<T>(random: () => number, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/**
 * Runs `script` (a module next to this one, e.g. `trace-process.js`) in a fresh `node` with
 * `args`, and returns the one JSON value it prints on stdout. Throws with its stderr if it fails.
 */
export function runFreshProcess(script: string, args: readonly string[], options: BenchOptions): unknown {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const nodeArgs = options.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.profileDir];
  const child = spawnSync(process.execPath, [...nodeArgs, path, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (child.error !== undefined) throw new Error(`cannot run ${script}: ${child.error.message}`, { cause: child.error });
  if (child.status !== 0) {
    const why = child.signal !== null ? `killed by ${child.signal}` : `exit status ${child.status}`;
    throw new Error(`${script} failed (${why}):\n${child.stderr.trim()}`);
  }
  try {
    return JSON.parse(child.stdout) as unknown;
  } catch (error) {
    throw new Error(`${script} printed no JSON: ${child.stdout.slice(0, 200)}`, { cause: error });
  }
}

/**
 * Writes `inputs` (file name → content) into a fresh temporary directory, runs `script` in a fresh
 * process with that directory as its argument, removes the directory, and returns the output.
 */
export function runFreshProcessOn(script: string, inputs: Readonly<Record<string, string>>, options: BenchOptions): unknown {
  const dir = mkdtempSync(join(tmpdir(), 'netdiag-bench-'));
  try {
    for (const [name, content] of Object.entries(inputs)) writeFileSync(join(dir, name), content);
    return runFreshProcess(script, [dir], options);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The field `key` of a measured process's output, which must be a number. */
export function numberField(output: unknown, key: string): number {
  const value = typeof output === 'object' && output !== null ? (output as Record<string, unknown>)[key] : undefined;
  if (typeof value !== 'number') throw new Error(`measured process output has no number "${key}"`);
  return value;
}

/** `value unit (target <= t unit: ok|MISSED)`, one line of a human summary. */
export function figureLine(label: string, value: number, unit: string, target?: number): string {
  const verdict = target === undefined ? '' : `   (target <= ${target} ${unit}: ${value <= target ? 'ok' : 'MISSED'})`;
  return `  ${label.padEnd(22)} ${String(value).padStart(9)} ${unit}${verdict}`;
}
