import { describe, expect, it } from '@jest/globals';
import { FakeClock } from '../../test/support/fake-clock.js';
import { startWorkers } from './workers.js';
import { WorkQueue } from './workqueue.js';

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('startWorkers', () => {
  it('polls on requeueAfter, retries an error with backoff, forgets on success, and stops with the queue', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue<string>({ clock, random: () => 0, backoff: { baseMs: 100, maxMs: 10_000 } });
    const runs: [string, string, number][] = [];
    const results: string[] = [];
    const errors: [string, number][] = [];
    let n = 0;
    const workers = startWorkers(queue, 2, {
      reconcile: (key, id) => {
        runs.push([key, id, clock.now()]);
        if (key === 'ns/poll' && runs.filter((r) => r[0] === key).length === 1) return Promise.resolve({ requeueAfterMs: 5000 });
        if (key === 'ns/flaky' && runs.filter((r) => r[0] === key).length <= 2) return Promise.reject(new Error('API down'));
        return Promise.resolve({});
      },
      observe: (result) => results.push(result),
      onError: (key, _id, _error, retries) => errors.push([key, retries]),
      newId: () => `id-${++n}`,
    });
    queue.add('ns/poll');
    queue.add('ns/flaky');
    await flush();
    expect(runs.map((r) => r.slice(0, 2))).toEqual([['ns/poll', 'id-1'], ['ns/flaky', 'id-2']]);
    clock.advance(100);
    await flush();
    clock.advance(200);
    await flush();
    // flaky: failed twice (backoff 100 ms, then 200 ms), then succeeded and was forgotten.
    expect(runs.filter((r) => r[0] === 'ns/flaky').map((r) => r[2])).toEqual([0, 100, 300]);
    expect(errors).toEqual([['ns/flaky', 0], ['ns/flaky', 1]]);
    expect(queue.numRequeues('ns/flaky')).toBe(0);
    clock.advance(4699);
    await flush();
    expect(runs.filter((r) => r[0] === 'ns/poll')).toHaveLength(1);
    clock.advance(1);
    await flush();
    expect(runs.filter((r) => r[0] === 'ns/poll').map((r) => r[2])).toEqual([0, 5000]);
    expect(results.sort()).toEqual(['error', 'error', 'requeue', 'success', 'success']);
    queue.shutDown();
    await workers.stopped;
  });
});
