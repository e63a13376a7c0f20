// N workers taking keys from the work queue: each runs one reconcile at a time, with a fresh
// reconcile id for its log lines, and tells the queue what comes next — `requeueAfter` polls
// (addAfter), an error retries with the key's backoff (addRateLimited), success forgets the
// backoff. The queue guarantees no two workers hold the same key.

import { randomBytes } from 'node:crypto';
import type { ReconcileResultLabel } from './metrics.js';
import type { WorkQueue } from './workqueue.js';

export interface WorkerHooks {
  /** Runs one reconcile of `key`; `reconcileId` tags everything it logs. */
  readonly reconcile: (key: string, reconcileId: string) => Promise<{ readonly requeueAfterMs?: number }>;
  /** After each reconcile: how it ended and how long it took. */
  readonly observe?: (result: ReconcileResultLabel, seconds: number) => void;
  /** A reconcile threw; it is retried after `retryInMs` or so (the backoff is jittered). */
  readonly onError?: (key: string, reconcileId: string, error: unknown, retries: number) => void;
  /** Monotonic seconds, for durations; injected in tests. */
  readonly seconds?: () => number;
  readonly newId?: () => string;
}

export interface Workers {
  /** Resolves when every worker has stopped (after the queue shut down). */
  readonly stopped: Promise<void>;
}

const monotonicSeconds = (): number => Number(process.hrtime.bigint()) / 1e9;
const randomId = (): string => randomBytes(6).toString('hex');

/** Starts `count` workers on `queue`; they stop when the queue is shut down and hands out no more keys. */
export function startWorkers(queue: WorkQueue<string>, count: number, hooks: WorkerHooks): Workers {
  const seconds = hooks.seconds ?? monotonicSeconds;
  const newId = hooks.newId ?? randomId;
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const id = newId();
      const started = seconds();
      try {
        const result = await hooks.reconcile(key, id);
        queue.forget(key);
        if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
        hooks.observe?.(result.requeueAfterMs !== undefined ? 'requeue' : 'success', seconds() - started);
      } catch (error) {
        hooks.observe?.('error', seconds() - started);
        hooks.onError?.(key, id, error, queue.numRequeues(key));
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  };
  const all = Array.from({ length: count }, () => worker());
  return { stopped: Promise.all(all).then(() => undefined) };
}
