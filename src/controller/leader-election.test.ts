// Leader election's timing with a fake clock and an in-memory Lease (a double of kube/lease.ts's
// LeaseStore, with the API server's optimistic concurrency: an update with a stale resourceVersion
// is refused). Each test drives time in steps and lets the store's promises settle between them.
import { describe, expect, it } from '@jest/globals';
import type { LeaseRecord, LeaseStore, ObservedLease } from '../kube/lease.js';
import { FakeClock } from '../../test/support/fake-clock.js';
import { DEFAULT_LEADER_ELECTION_TIMING, LeaderElector, leaderIdentity } from './leader-election.js';

class MemoryLease {
  lease: ObservedLease | undefined;
  private version = 0;
  writes = 0;

  /** A store for one process; `down()` makes its calls fail (a partition from the API server). */
  storeFor(): LeaseStore & { down(): void; up(): void } {
    let reachable = true;
    const check = (): void => {
      if (!reachable) throw new Error('connect ECONNREFUSED');
    };
    return {
      description: 'test/lease',
      down: () => (reachable = false),
      up: () => (reachable = true),
      get: () => Promise.resolve().then(() => (check(), this.lease)),
      create: (record: LeaseRecord) =>
        Promise.resolve().then(() => {
          check();
          if (this.lease !== undefined) return false;
          this.write(record);
          return true;
        }),
      update: (record: LeaseRecord, resourceVersion: string) =>
        Promise.resolve().then(() => {
          check();
          if (this.lease?.resourceVersion !== resourceVersion) return false;
          this.write(record);
          return true;
        }),
    };
  }

  holder(): string | undefined {
    return this.lease?.record.holderIdentity;
  }

  private write(record: LeaseRecord): void {
    this.version += 1;
    this.writes += 1;
    this.lease = { record, resourceVersion: String(this.version) };
  }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Candidate {
  elector: LeaderElector;
  store: ReturnType<MemoryLease['storeFor']>;
  started: number[];
  lost: { at: number; reason: string }[];
}

function setup(names: readonly string[]): { clock: FakeClock; lease: MemoryLease; run: (ms: number) => Promise<void>; candidates: Candidate[] } {
  const clock = new FakeClock(1_000_000);
  const lease = new MemoryLease();
  const candidates = names.map((identity): Candidate => {
    const store = lease.storeFor();
    const started: number[] = [];
    const lost: { at: number; reason: string }[] = [];
    const elector = new LeaderElector({
      store,
      identity,
      clock,
      random: () => 0,
      onStartedLeading: () => started.push(clock.now()),
      onStoppedLeading: (reason) => lost.push({ at: clock.now(), reason }),
    });
    return { elector, store, started, lost };
  });
  const run = async (ms: number): Promise<void> => {
    await flush();
    for (let t = 0; t < ms; t += 100) {
      clock.advance(100);
      await flush();
    }
  };
  return { clock, lease, run, candidates };
}

const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = DEFAULT_LEADER_ELECTION_TIMING;

describe('LeaderElector', () => {
  it('takes a Lease nobody holds at once and keeps renewing it', async () => {
    const { lease, run, candidates, clock } = setup(['a']);
    const [a] = candidates as [Candidate];
    const t0 = clock.now();
    a.elector.start();
    await run(0);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.started).toEqual([t0]);
    expect(lease.lease?.record).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: t0, renewTime: t0, leaseTransitions: 0 });
    await run(10 * retryPeriodMs);
    expect(lease.lease?.record.renewTime).toBeGreaterThan(t0);
    expect(lease.lease?.record.acquireTime).toBe(t0);
    expect(a.lost).toEqual([]);
  });

  it('lets only one of two candidates lead while the leader renews', async () => {
    const { lease, run, candidates } = setup(['a', 'b']);
    const [a, b] = candidates as [Candidate, Candidate];
    a.elector.start();
    b.elector.start();
    await run(5 * leaseDurationMs);
    expect([a.elector.isLeader(), b.elector.isLeader()]).toEqual([true, false]);
    expect(b.started).toEqual([]);
    expect(lease.holder()).toBe('a');
    expect(b.elector.leader()).toBe('a');
  });

  it('gives up leadership after the renew deadline when it cannot reach the Lease, before anyone may take over', async () => {
    const { lease, run, candidates, clock } = setup(['a', 'b']);
    const [a, b] = candidates as [Candidate, Candidate];
    a.elector.start();
    await run(0);
    b.elector.start();
    await run(retryPeriodMs);
    const lastRenew = lease.lease?.record.renewTime ?? 0;
    a.store.down();
    await run(renewDeadlineMs + 2 * retryPeriodMs);
    expect(a.lost).toHaveLength(1);
    const lostAt = a.lost[0]?.at ?? 0;
    expect(lostAt - lastRenew).toBeGreaterThanOrEqual(renewDeadlineMs);
    expect(lostAt - lastRenew).toBeLessThan(leaseDurationMs);
    expect(a.lost[0]?.reason).toContain('renew deadline');
    expect(a.elector.isLeader()).toBe(false);
    // b saw the record last change at a's last renewal: it waits a full lease duration from then.
    await run(leaseDurationMs);
    expect(b.elector.isLeader()).toBe(true);
    const takenAt = b.started[0] ?? 0;
    expect(takenAt - lastRenew).toBeGreaterThanOrEqual(leaseDurationMs);
    expect(takenAt - lastRenew).toBeLessThanOrEqual(leaseDurationMs + retryPeriodMs * 2.2 + 100);
    expect(lease.lease?.record).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1, acquireTime: takenAt });
    expect(clock.now()).toBeGreaterThan(takenAt);
  });

  it('hands over at once on release: the Lease is left with no holder and the next try takes it', async () => {
    const { lease, run, candidates } = setup(['a', 'b']);
    const [a, b] = candidates as [Candidate, Candidate];
    a.elector.start();
    await run(0);
    b.elector.start();
    await run(3 * retryPeriodMs);
    await a.elector.release();
    expect(lease.holder()).toBeUndefined();
    expect(a.lost).toEqual([]);
    expect(a.elector.isLeader()).toBe(false);
    const releasedAt = lease.lease?.record.renewTime ?? 0;
    await run(retryPeriodMs * 2.2 + 100);
    expect(b.elector.isLeader()).toBe(true);
    expect((b.started[0] ?? 0) - releasedAt).toBeLessThan(leaseDurationMs);
    expect(lease.holder()).toBe('b');
  });

  it('a leader that finds another holder in the Lease stops leading at once', async () => {
    const { lease, run, candidates, clock } = setup(['a']);
    const [a] = candidates as [Candidate];
    a.elector.start();
    await run(0);
    const current = lease.lease as ObservedLease;
    // Someone else wrote the Lease (as if a had been partitioned for longer than a lease duration).
    lease.lease = { record: { ...current.record, holderIdentity: 'intruder', renewTime: clock.now() }, resourceVersion: '999' };
    await run(retryPeriodMs + 100);
    expect(a.lost).toEqual([{ at: expect.any(Number), reason: 'the lease is held by intruder' }]);
    expect(a.elector.isLeader()).toBe(false);
  });

  it('does not release a Lease it does not hold', async () => {
    const { lease, run, candidates } = setup(['a', 'b']);
    const [a, b] = candidates as [Candidate, Candidate];
    a.elector.start();
    await run(0);
    b.elector.start();
    await run(retryPeriodMs);
    const writes = lease.writes;
    await b.elector.release();
    expect(lease.holder()).toBe('a');
    expect(lease.writes).toBe(writes);
  });

  it.each([
    ['renewDeadline not below leaseDuration', { leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }],
    ['retryPeriod not below renewDeadline', { leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 }],
  ])('refuses timing with %s', (_what, timing) => {
    const lease = new MemoryLease();
    expect(() => new LeaderElector({ store: lease.storeFor(), identity: 'a', timing, onStartedLeading: () => undefined, onStoppedLeading: () => undefined })).toThrow('leader election');
  });

  it('makes identities unique per process from the host name', () => {
    expect(leaderIdentity('operator-0', () => 0.5)).toBe('operator-0_7fffffff');
    expect(leaderIdentity('h')).not.toBe(leaderIdentity('h'));
  });
});
