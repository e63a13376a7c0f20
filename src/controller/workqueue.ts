// The controller's work queue: reconcile requests are keys (`namespace/name`), not events, so the
// queue only has to answer "which key needs a run next" (docs/adr/0004-own-controller-core.md).
//
// A key is in at most one of these states at a time, plus an optional "running" mark:
//   delayed  — due at a time (addAfter, addRateLimited); one timer per key, the earliest due wins;
//   dirty    — needs a run; when not running it also sits in the FIFO `ready` list;
//   running  — handed out by get() and not yet done(); a dirty running key is queued again at done().
// This gives the client-go / controller-runtime guarantees: one worker per key at a time, a key
// added many times before it runs runs once, a key added while running runs once more afterwards.

/** An opaque timer handle: Node's timer object or a fake clock's number. */
export type TimerHandle = ReturnType<typeof globalThis.setTimeout> | number;

/** Time as the queue sees it; injected so tests drive time without sleeping. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** The process's clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => globalThis.setTimeout(callback, delayMs),
  clearTimeout: (handle) => globalThis.clearTimeout(handle),
};

export interface BackoffOptions {
  /** Delay after the first failure. Default 5 ms (controller-runtime's default). */
  baseMs?: number;
  /** Longest delay. Default 1000 s (controller-runtime's default). */
  maxMs?: number;
  /**
   * Fraction of each delay taken off at random, in [0, 1]. Default 0.2: keys that failed together
   * (an API server outage fails every reconcile at once) come back spread out, not in lockstep.
   * Jitter only shortens, so `maxMs` stays a true ceiling.
   */
  jitter?: number;
}

export interface WorkQueueOptions {
  clock?: Clock;
  backoff?: BackoffOptions;
  /** Uniform in [0, 1); injected so tests can pin the jitter. */
  random?: () => number;
}

interface Delayed {
  readonly dueAt: number;
  readonly timer: TimerHandle;
}

type State = 'open' | 'draining' | 'closed';

/**
 * A deduplicating, delaying, per-key rate-limited queue of reconcile keys.
 *
 * No overall token bucket (controller-runtime also caps all retries at 10/s, burst 100): netdiag
 * reconciles few objects, each API call already retries with its own backoff (kube/retry.ts), and
 * per-key jittered backoff spreads a mass failure. Add one in front of `addRateLimited` if the
 * operator ever needs to protect the API server from its own retries.
 */
export class WorkQueue<K extends string> {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly jitter: number;

  private readonly ready: K[] = [];
  private readonly dirty = new Set<K>();
  private readonly running = new Set<K>();
  private readonly delayed = new Map<K, Delayed>();
  private readonly failures = new Map<K, number>();
  private readonly waiters: ((key: K | undefined) => void)[] = [];
  private readonly drained: (() => void)[] = [];
  private state: State = 'open';

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.baseMs = options.backoff?.baseMs ?? 5;
    this.maxMs = options.backoff?.maxMs ?? 1_000_000;
    this.jitter = Math.min(1, Math.max(0, options.backoff?.jitter ?? 0.2));
  }

  /** Asks for a run of `key` as soon as a worker is free. Ignored once shutting down. */
  add(key: K): void {
    if (this.state !== 'open') return;
    // A run now also serves any later run that was scheduled: reconcile is level-triggered and
    // re-derives its own polling (requeueAfter) when it runs.
    this.cancelDelayed(key);
    if (this.dirty.has(key)) return;
    this.dirty.add(key);
    // A running key is queued again by done(), never handed to a second worker.
    if (this.running.has(key)) return;
    this.ready.push(key);
    this.dispatch();
  }

  /** Asks for a run of `key` in `delayMs`; of several pending requests the earliest wins. */
  addAfter(key: K, delayMs: number): void {
    if (this.state !== 'open') return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    // Already due now (queued, or queued again after its current run): nothing is earlier.
    if (this.dirty.has(key)) return;
    const dueAt = this.clock.now() + delayMs;
    const pending = this.delayed.get(key);
    if (pending !== undefined) {
      if (pending.dueAt <= dueAt) return;
      this.clock.clearTimeout(pending.timer);
    }
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.delayed.set(key, { dueAt, timer });
  }

  /** Schedules a retry of a failed `key` after its exponential, jittered backoff. */
  addRateLimited(key: K): void {
    if (this.state !== 'open') return;
    this.addAfter(key, this.nextBackoff(key));
  }

  /** Ends the backoff of `key` (call after a successful reconcile); a pending run stays. */
  forget(key: K): void {
    this.failures.delete(key);
  }

  /** How many times `key` was retried by `addRateLimited` since it was last forgotten. */
  numRequeues(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * The next key to work on, marked running until `done(key)`. Waits while nothing is ready;
   * resolves `undefined` once the queue is shut down (after draining, for `shutDownWithDrain`).
   */
  get(): Promise<K | undefined> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.dispatch();
    });
  }

  /** Ends the run of `key`; if it was added meanwhile, it is queued again. */
  done(key: K): void {
    // Calling done for a key that is not running is a worker bug; queuing it twice would break
    // the one-worker-per-key guarantee, so fail loudly.
    if (!this.running.delete(key)) throw new Error(`workqueue: done(${key}) for a key that is not running`);
    if (this.dirty.has(key)) {
      if (this.state === 'closed') this.dirty.delete(key);
      else this.ready.push(key);
    }
    this.dispatch();
  }

  /** Stops at once: queued and delayed keys are dropped, every get() resolves `undefined`. */
  shutDown(): void {
    this.state = 'closed';
    this.cancelAllDelayed();
    for (const key of this.ready) this.dirty.delete(key);
    this.ready.length = 0;
    this.dispatch();
  }

  /**
   * Stops taking keys, drops the delayed ones, lets workers finish what is queued and running
   * (including re-runs already asked for), then get() resolves `undefined`. Resolves when nothing
   * is queued or running.
   */
  shutDownWithDrain(): Promise<void> {
    if (this.state === 'open') this.state = 'draining';
    this.cancelAllDelayed();
    const drained = new Promise<void>((resolve) => this.drained.push(resolve));
    this.dispatch();
    return drained;
  }

  /** Keys ready to be handed out (not the running or delayed ones). */
  len(): number {
    return this.ready.length;
  }

  /** Whether shutDown or shutDownWithDrain was called. */
  isShuttingDown(): boolean {
    return this.state !== 'open';
  }

  // Hands ready keys to waiting workers, and ends waits and drains that shutdown has made final.
  // Keys are marked running here, synchronously, so no second get() can see them.
  private dispatch(): void {
    while (this.waiters.length > 0 && this.ready.length > 0) {
      const key = this.ready.shift() as K;
      const waiter = this.waiters.shift() as (key: K | undefined) => void;
      this.dirty.delete(key);
      this.running.add(key);
      waiter(key);
    }
    if (this.state === 'open' || this.ready.length > 0) return;
    // Shutting down with nothing ready: no key can become ready except a running dirty key at
    // done() while draining, and that calls dispatch again.
    const runsPending = this.state === 'draining' && [...this.running].some((key) => this.dirty.has(key));
    if (!runsPending) for (const waiter of this.waiters.splice(0)) waiter(undefined);
    if (this.running.size === 0) for (const resolve of this.drained.splice(0)) resolve();
  }

  private nextBackoff(key: K): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    // 2 ** failures overflows to Infinity long after it passed maxMs; min() handles both.
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** failures);
    return delay * (1 - this.jitter * this.random());
  }

  private cancelDelayed(key: K): void {
    const pending = this.delayed.get(key);
    if (pending === undefined) return;
    this.clock.clearTimeout(pending.timer);
    this.delayed.delete(key);
  }

  private cancelAllDelayed(): void {
    for (const key of [...this.delayed.keys()]) this.cancelDelayed(key);
  }
}
