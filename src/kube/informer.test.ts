import { describe, expect, it } from '@jest/globals';
import { ApiException, KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { createServer } from 'node:net';
import { FakeClock } from '../../test/support/fake-clock.js';
import { restartDelay, startInformer, type InformerBackoff, type RunningInformer } from './informer.js';

const BACKOFF: InformerBackoff = { baseMs: 100, maxMs: 1000, jitter: 0.2 };

/** A configuration for `server`; by default one never dialled (fetch refuses port 1): these informers fail at their list. */
function config(server = 'https://127.0.0.1:1'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

/** A local port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Lets pending promise callbacks run until `done()` holds (the list's rejection is asynchronous). */
async function settle(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((resolve) => setImmediate(resolve));
  if (!done()) throw new Error('condition not reached');
}

describe('restartDelay', () => {
  it.each([
    { failures: 0, random: 0, delay: 100 },
    { failures: 1, random: 0, delay: 200 },
    { failures: 2, random: 0, delay: 400 },
    { failures: 3, random: 0, delay: 800 },
    { failures: 4, random: 0, delay: 1000 },
    { failures: 2000, random: 0, delay: 1000 },
    { failures: 0, random: 0.5, delay: 90 },
    { failures: 4, random: 0.999999, delay: 800.0002 },
  ])('after $failures failures (random $random) waits $delay ms', ({ failures, random, delay }) => {
    expect(restartDelay(failures, BACKOFF, () => random)).toBeCloseTo(delay, 3);
  });

  it('clamps the jitter to [0, 1], so a delay is never negative nor longer than maxMs', () => {
    expect(restartDelay(10, { baseMs: 100, maxMs: 1000, jitter: 5 }, () => 0.5)).toBe(500);
    expect(restartDelay(10, { baseMs: 100, maxMs: 1000, jitter: -1 }, () => 0.5)).toBe(1000);
  });
});

describe('startInformer with a list that keeps failing', () => {
  function failing(clock: FakeClock): { calls: () => number; informer: ReturnType<typeof startInformer> } {
    let calls = 0;
    const informer = startInformer<KubernetesObject>({
      name: 'things',
      config: config(),
      path: '/api/v1/namespaces/x/things',
      list: (): Promise<KubernetesListObject<KubernetesObject>> => {
        calls += 1;
        return Promise.reject(new ApiException<string>(503, 'unavailable', '{"reason":"ServiceUnavailable","message":"etcd is down"}', {}));
      },
      onEvent: () => undefined,
      backoff: BACKOFF,
      clock,
      random: () => 0,
    });
    return { calls: () => calls, informer };
  }

  it('restarts after delays that double up to the maximum, and reports failing since the first failure', async () => {
    const clock = new FakeClock(5000);
    const { calls, informer } = failing(clock);
    await settle(() => clock.pending() === 1);
    expect(informer.state()).toEqual({
      name: 'things',
      synced: false,
      failures: 1,
      restarts: 0,
      stopped: false,
      failingSince: 5000,
      lastError: { kind: 'transient', status: 503, reason: 'ServiceUnavailable', message: 'etcd is down', retryable: true },
    });
    for (let n = 1; n <= 5; n++) {
      clock.advance(clock.delays[clock.delays.length - 1] ?? 0);
      await settle(() => clock.delays.length === n + 1);
    }
    expect(clock.delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(calls()).toBe(6);
    expect(informer.state()).toMatchObject({ failures: 6, restarts: 5, failingSince: 5000, synced: false });
    await informer.stop();
  });

  it('stop() cancels the pending restart and nothing is listed again', async () => {
    const clock = new FakeClock();
    const { calls, informer } = failing(clock);
    await settle(() => clock.pending() === 1);
    await informer.stop();
    expect(clock.pending()).toBe(0);
    clock.advance(10_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls()).toBe(1);
    expect(informer.state()).toMatchObject({ stopped: true, restarts: 0 });
  });
});

describe('startInformer whose list succeeds but whose watch fails', () => {
  it.each([
    { name: 'no current cluster (the watch cannot be sent)', config: (): Promise<KubeConfig> => Promise.resolve(new KubeConfig()), kind: 'unknown', message: 'No currently active cluster' },
    { name: 'connection refused', config: async (): Promise<KubeConfig> => config(`https://127.0.0.1:${await closedPort()}`), kind: 'transient', message: expect.stringContaining('ECONNREFUSED') },
  ])('$name: synced, failing, and backing off without a reset in between', async ({ config: makeConfig, kind, message }) => {
    const clock = new FakeClock();
    const events: string[] = [];
    let lists = 0;
    const informer = startInformer<KubernetesObject>({
      name: 'things',
      config: await makeConfig(),
      path: '/api/v1/namespaces/x/things',
      list: () => {
        lists += 1;
        return Promise.resolve({ metadata: { resourceVersion: '7' }, items: [{ metadata: { namespace: 'x', name: 'a', resourceVersion: '7' } }] });
      },
      onEvent: (type, obj) => events.push(`${type} ${obj.metadata?.name ?? ''}`),
      backoff: BACKOFF,
      clock,
      random: () => 0,
    });
    try {
      await settle(() => clock.pending() === 1);
      expect(informer.state()).toMatchObject({ synced: true, failures: 1, failingSince: 0, lastError: { kind, message } });
      expect(events).toEqual(['add a']);
      expect(informer.get('a', 'x')?.metadata?.resourceVersion).toBe('7');
      clock.advance(100);
      await settle(() => clock.delays.length === 2);
      // The restart resumes from the listed resourceVersion: no second list, no second event.
      expect({ delays: clock.delays, lists, events }).toEqual({ delays: [100, 200], lists: 1, events: ['add a'] });
    } finally {
      await informer.stop();
    }
  });
});

describe('startInformer while its list fills the cache', () => {
  it('is synced only once the whole list is in the cache, not while the items arrive', async () => {
    const clock = new FakeClock();
    const seen: { synced: boolean; cached: number }[] = [];
    const items = ['a', 'b', 'c'].map((name) => ({ metadata: { namespace: 'x', name, resourceVersion: '7' } }));
    const informer: RunningInformer<KubernetesObject> = startInformer<KubernetesObject>({
      name: 'things',
      config: config(),
      path: '/api/v1/namespaces/x/things',
      list: () => Promise.resolve({ metadata: { resourceVersion: '7' }, items }),
      onEvent: () => seen.push({ synced: informer.state().synced, cached: informer.list().length }),
      backoff: BACKOFF,
      clock,
      random: () => 0,
    });
    try {
      // The watch that follows the list fails (nothing listens): the cache stays, synced.
      await settle(() => clock.pending() === 1);
      expect(seen).toEqual([
        { synced: false, cached: 1 },
        { synced: false, cached: 2 },
        { synced: false, cached: 3 },
      ]);
      expect({ synced: informer.state().synced, cached: informer.list().length }).toEqual({ synced: true, cached: 3 });
    } finally {
      await informer.stop();
    }
  });
});
