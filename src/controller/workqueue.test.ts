import { describe, it, expect } from '@jest/globals';
import { FakeClock } from '../../test/support/fake-clock.js';
import { WorkQueue, type WorkQueueOptions } from './workqueue.js';

const PENDING = Symbol('pending');

/** What a promise has settled to by now, or PENDING. */
async function peek<T>(promise: Promise<T>): Promise<T | typeof PENDING> {
  return Promise.race([promise, Promise.resolve(PENDING)]);
}

function setup(options: WorkQueueOptions = {}): { queue: WorkQueue<string>; clock: FakeClock } {
  const clock = new FakeClock();
  return { queue: new WorkQueue<string>({ clock, random: () => 0, ...options }), clock };
}

/** Takes every ready key, marking each done, and returns them in order. */
async function takeAll(queue: WorkQueue<string>): Promise<string[]> {
  const keys: string[] = [];
  while (queue.len() > 0) {
    const key = await queue.get();
    if (key === undefined) break;
    keys.push(key);
    queue.done(key);
  }
  return keys;
}

describe('WorkQueue deduplication', () => {
  it.each([
    { adds: ['a', 'a', 'a'], runs: ['a'] },
    { adds: ['a', 'b', 'a', 'c', 'b'], runs: ['a', 'b', 'c'] },
    { adds: ['b', 'a'], runs: ['b', 'a'] },
  ])('runs $adds as $runs: once per key, first-added first', async ({ adds, runs }) => {
    const { queue } = setup();
    for (const key of adds) queue.add(key);
    expect(queue.len()).toBe(runs.length);
    expect(await takeAll(queue)).toEqual(runs);
  });

  it('runs a key added while running once more, after done, however often it was added', async () => {
    const { queue } = setup();
    queue.add('a');
    expect(await queue.get()).toBe('a');
    queue.add('a');
    queue.add('a');
    expect(queue.len()).toBe(0);
    const second = queue.get();
    expect(await peek(second)).toBe(PENDING);
    queue.done('a');
    expect(await peek(second)).toBe('a');
    queue.done('a');
    expect(await peek(queue.get())).toBe(PENDING);
  });

  it('does not run a key again when nothing re-added it during its run', async () => {
    const { queue } = setup();
    queue.add('a');
    expect(await queue.get()).toBe('a');
    queue.done('a');
    expect(queue.len()).toBe(0);
    expect(await peek(queue.get())).toBe(PENDING);
  });

  it('refuses done for a key that is not running', () => {
    const { queue } = setup();
    queue.add('a');
    expect(() => queue.done('a')).toThrow('done(a) for a key that is not running');
  });
});

describe('WorkQueue with several workers', () => {
  it('hands a key re-added while running to a second worker only after done', async () => {
    const { queue } = setup();
    const first = queue.get();
    const second = queue.get();
    queue.add('a');
    expect(await peek(first)).toBe('a');
    queue.add('a');
    queue.add('b');
    expect(await peek(second)).toBe('b');
    const third = queue.get();
    expect(await peek(third)).toBe(PENDING);
    queue.done('a');
    expect(await peek(third)).toBe('a');
  });

  it('never runs one key on two workers at once', async () => {
    const { queue } = setup();
    // A fixed pseudo-random schedule (LCG): the interleaving varies, the test does not.
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pause = async (): Promise<void> => {
      for (let i = random(5); i > 0; i--) await Promise.resolve();
    };
    const keys = ['a', 'b', 'c'];
    const running = new Set<string>();
    const overlaps: string[] = [];
    const runs: string[] = [];
    const worker = async (): Promise<void> => {
      for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
        if (running.has(key)) overlaps.push(key);
        running.add(key);
        runs.push(key);
        await pause();
        running.delete(key);
        queue.done(key);
      }
    };
    const workers = [worker(), worker(), worker(), worker()];
    const lastAdd = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const key = keys[random(keys.length)] as string;
      queue.add(key);
      lastAdd.set(key, runs.length);
      await pause();
    }
    await queue.shutDownWithDrain();
    await Promise.all(workers);

    expect(overlaps).toEqual([]);
    expect(runs.length).toBeLessThan(300); // deduplicated
    // Every key ran after its last add (the run that started at or after that point).
    for (const [key, runsBefore] of lastAdd) expect(runs.slice(runsBefore)).toContain(key);
  });
});

describe('WorkQueue.addAfter', () => {
  it('makes a key ready at its due time, not before', async () => {
    const { queue, clock } = setup();
    queue.addAfter('a', 100);
    clock.advance(99);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe('a');
  });

  it.each([
    { first: 100, second: 50, due: 50 },
    { first: 50, second: 100, due: 50 },
    { first: 70, second: 70, due: 70 },
  ])('keeps the earliest due time: after $first then $second, due at $due and run once', async ({ first, second, due }) => {
    const { queue, clock } = setup();
    queue.addAfter('a', first);
    queue.addAfter('a', second);
    expect(clock.pending()).toBe(1);
    clock.advance(due - 1);
    expect(queue.len()).toBe(0);
    clock.advance(1);
    expect(await takeAll(queue)).toEqual(['a']);
    clock.advance(1000);
    expect(queue.len()).toBe(0);
  });

  it('is cancelled by an immediate add: one run now, none later', async () => {
    const { queue, clock } = setup();
    queue.addAfter('a', 100);
    queue.add('a');
    expect(clock.pending()).toBe(0);
    expect(await takeAll(queue)).toEqual(['a']);
    clock.advance(1000);
    expect(queue.len()).toBe(0);
  });

  it.each([0, -5])('adds at once for a delay of %d ms', (delay) => {
    const { queue, clock } = setup();
    queue.addAfter('a', delay);
    expect(queue.len()).toBe(1);
    expect(clock.pending()).toBe(0);
  });

  it('does nothing for a key already queued, whose run comes first', () => {
    const { queue, clock } = setup();
    queue.add('a');
    queue.addAfter('a', 100);
    expect(clock.pending()).toBe(0);
    expect(queue.len()).toBe(1);
  });

  it('schedules a run of a running key (polling from reconcile), handed out only after done', async () => {
    const { queue, clock } = setup();
    queue.add('a');
    expect(await queue.get()).toBe('a');
    queue.addAfter('a', 100);
    clock.advance(100);
    const next = queue.get();
    expect(await peek(next)).toBe(PENDING);
    queue.done('a');
    expect(await peek(next)).toBe('a');
  });
});

describe('WorkQueue backoff', () => {
  /** The delays of successive addRateLimited calls, letting each retry run in between. */
  async function retryDelays(options: WorkQueueOptions, times: number): Promise<number[]> {
    const { queue, clock } = setup(options);
    for (let i = 0; i < times; i++) {
      queue.addRateLimited('a');
      clock.advance(clock.delays.at(-1) ?? 0);
      expect(await takeAll(queue)).toEqual(['a']);
    }
    expect(queue.numRequeues('a')).toBe(times);
    return clock.delays;
  }

  it.each([
    { name: 'controller-runtime defaults', backoff: {}, delays: [5, 10, 20, 40, 80, 160] },
    { name: 'capped', backoff: { baseMs: 100, maxMs: 1000 }, delays: [100, 200, 400, 800, 1000, 1000] },
    { name: 'base above cap', backoff: { baseMs: 50, maxMs: 30 }, delays: [30, 30] },
  ])('doubles per failure from the base up to the cap ($name)', async ({ backoff, delays }) => {
    expect(await retryDelays({ backoff }, delays.length)).toEqual(delays);
  });

  it('stays at the cap after very many failures, and starts again from the base after forget', async () => {
    const { queue, clock } = setup();
    // While a retry is pending, further failures only count (the earlier retry stands).
    for (let i = 0; i < 1100; i++) queue.addRateLimited('a');
    expect(clock.delays).toEqual([5]);
    queue.add('a');
    expect(await takeAll(queue)).toEqual(['a']);
    queue.addRateLimited('a'); // 5 ms * 2^1100 overflows: still the cap
    expect(clock.delays).toEqual([5, 1_000_000]);
    queue.add('a');
    await takeAll(queue);
    queue.forget('a');
    queue.addRateLimited('a');
    expect(clock.delays).toEqual([5, 1_000_000, 5]);
  });

  it.each([
    { random: 0, jitter: 0.2, delay: 100 },
    { random: 0.5, jitter: 0.2, delay: 90 },
    { random: 0.999, jitter: 0.2, delay: 80.02 },
    { random: 0.5, jitter: 0, delay: 100 },
    { random: 0.5, jitter: 1, delay: 50 },
  ])('takes a random fraction off the delay (random $random, jitter $jitter: $delay ms)', ({ random, jitter, delay }) => {
    const { queue, clock } = setup({ random: () => random, backoff: { baseMs: 100, jitter } });
    queue.addRateLimited('a');
    expect(clock.delays[0]).toBeCloseTo(delay, 6);
  });

  it('resets on forget, and forget keeps a retry already scheduled', async () => {
    const { queue, clock } = setup({ backoff: { baseMs: 10 } });
    queue.addRateLimited('a');
    clock.advance(10);
    await takeAll(queue);
    queue.addRateLimited('a');
    expect(queue.numRequeues('a')).toBe(2);
    queue.forget('a');
    expect(queue.numRequeues('a')).toBe(0);
    clock.advance(20);
    expect(await takeAll(queue)).toEqual(['a']);
    queue.addRateLimited('a');
    expect(clock.delays).toEqual([10, 20, 10]);
  });

  it('backs off each key on its own', async () => {
    const { queue, clock } = setup({ backoff: { baseMs: 10 } });
    queue.addRateLimited('a');
    clock.advance(10);
    await takeAll(queue);
    queue.addRateLimited('a');
    queue.addRateLimited('b');
    expect(queue.numRequeues('a')).toBe(2);
    expect(queue.numRequeues('b')).toBe(1);
    expect(clock.delays).toEqual([10, 20, 10]);
  });
});

describe('WorkQueue shutdown', () => {
  it('shutDown resolves every waiting get() with undefined', async () => {
    const { queue } = setup();
    const waiters = [queue.get(), queue.get()];
    expect(await peek(waiters[0] as Promise<string | undefined>)).toBe(PENDING);
    queue.shutDown();
    expect(await Promise.all(waiters)).toEqual([undefined, undefined]);
    expect(queue.isShuttingDown()).toBe(true);
  });

  it('shutDown drops queued and delayed keys and ignores adds', async () => {
    const { queue, clock } = setup();
    queue.add('a');
    queue.add('b');
    expect(await queue.get()).toBe('a');
    queue.add('a');
    queue.addAfter('c', 100);
    queue.shutDown();
    expect(queue.len()).toBe(0);
    expect(clock.pending()).toBe(0);
    queue.add('d');
    queue.addAfter('d', 10);
    queue.addRateLimited('d');
    expect(queue.len()).toBe(0);
    expect(clock.pending()).toBe(0);
    expect(queue.numRequeues('d')).toBe(0);
    expect(await queue.get()).toBeUndefined();
    // The run in progress ends normally and is not repeated, although 'a' was re-added.
    queue.done('a');
    expect(queue.len()).toBe(0);
    expect(await queue.get()).toBeUndefined();
  });

  it('shutDownWithDrain hands out what is queued, re-runs what was asked, then ends', async () => {
    const { queue, clock } = setup();
    queue.add('a');
    expect(await queue.get()).toBe('a');
    queue.add('a'); // re-run asked during the run: still owed
    queue.add('b');
    queue.addAfter('c', 100); // not due yet: dropped
    const drained = queue.shutDownWithDrain();
    let isDrained = false;
    void drained.then(() => {
      isDrained = true;
    });
    queue.add('d'); // refused
    expect(clock.pending()).toBe(0);

    expect(await queue.get()).toBe('b');
    const waiter = queue.get(); // 'a' is owed a run after done: keep waiting
    expect(await peek(waiter)).toBe(PENDING);
    queue.done('b');
    queue.done('a');
    expect(await peek(waiter)).toBe('a');
    const last = queue.get();
    expect(await peek(last)).toBeUndefined();
    await Promise.resolve();
    expect(isDrained).toBe(false); // 'a' is still running
    queue.done('a');
    await drained;
    expect(isDrained).toBe(true);
    expect(await queue.get()).toBeUndefined();
  });

  it('shutDownWithDrain resolves at once when nothing is queued or running', async () => {
    const { queue } = setup();
    const waiter = queue.get();
    await queue.shutDownWithDrain();
    expect(await waiter).toBeUndefined();
  });
});
