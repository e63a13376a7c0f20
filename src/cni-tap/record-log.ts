// Appends one record line to the node's record file, `<dir>/cni-<node>.jsonl`, under an exclusive
// lock, rotating the file by size: `cni-<node>.jsonl` → `cni-<node>.1.jsonl` → ... → `.<keep>.jsonl`
// (the oldest is removed). Rotated files keep the `.jsonl` suffix, so the collector reads them too.
//
// Node has no flock(2). The lock is a file, `cni-<node>.lock`, created with O_CREAT|O_EXCL (only
// one process can create it), holding the owner's pid; others retry every few milliseconds. A lock
// older than STALE_LOCK_MS is the leftover of a killed tap and is removed. If the lock cannot be
// had in time, the line is appended anyway without rotating: a single write(2) of a short line to
// a file opened O_APPEND lands whole at the end on a local filesystem, so only rotation needs the
// lock, and losing a record would make a successful call look failed. Synchronous on purpose: the
// tap is a short-lived process that does one thing.

import { closeSync, fstatSync, openSync, renameSync, statSync, unlinkSync, writeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** How long a tap waits for the lock before appending without it. */
const LOCK_TIMEOUT_MS = 2000;
const LOCK_RETRY_MS = 5;
/** A lock held longer than this belongs to a tap that died. */
const STALE_LOCK_MS = 30_000;

export interface AppendOptions {
  readonly dir: string;
  readonly node: string;
  readonly maxBytes: number;
  readonly keep: number;
  readonly now?: () => number;
}

export function recordFileName(node: string, rotation = 0): string {
  return rotation === 0 ? `cni-${node}.jsonl` : `cni-${node}.${rotation}.jsonl`;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error).code) : undefined;
}

/** Takes the lock; returns its releaser, or undefined after the timeout. */
function lock(path: string, now: () => number): (() => void) | undefined {
  const deadline = now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          // Removed as stale by another tap: nothing to release.
        }
      };
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
    }
    try {
      if (now() - statSync(path).mtimeMs > STALE_LOCK_MS) unlinkSync(path);
    } catch {
      // Released in between.
    }
    if (now() >= deadline) return undefined;
    sleep(LOCK_RETRY_MS);
  }
}

function rotate(dir: string, node: string, keep: number): void {
  for (let i = keep; i >= 1; i--) {
    const from = join(dir, recordFileName(node, i - 1));
    try {
      renameSync(from, join(dir, recordFileName(node, i)));
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
    }
  }
}

/**
 * Appends `line`; returns what the caller should report (a lock timeout), or throws on an I/O
 * error (the caller reports it and passes the call through).
 */
export function appendRecord(line: string, options: AppendOptions): string[] {
  const now = options.now ?? Date.now;
  const notes: string[] = [];
  mkdirSync(options.dir, { recursive: true, mode: 0o750 });
  const file = join(options.dir, recordFileName(options.node));
  const release = lock(join(options.dir, `cni-${options.node}.lock`), now);
  if (release === undefined) notes.push(`the lock ${join(options.dir, `cni-${options.node}.lock`)} was held for more than ${LOCK_TIMEOUT_MS} ms: appended without rotating`);
  try {
    const bytes = Buffer.from(line, 'utf8');
    let fd = openSync(file, 'a', 0o640);
    try {
      if (release !== undefined && fstatSync(fd).size > 0 && fstatSync(fd).size + bytes.length > options.maxBytes) {
        closeSync(fd);
        fd = -1;
        const oldest = join(options.dir, recordFileName(options.node, options.keep));
        try {
          unlinkSync(oldest);
        } catch (error) {
          if (errnoCode(error) !== 'ENOENT') throw error;
        }
        rotate(options.dir, options.node, options.keep);
        fd = openSync(file, 'a', 0o640);
      }
      writeSync(fd, bytes);
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  } finally {
    release?.();
  }
  return notes;
}
