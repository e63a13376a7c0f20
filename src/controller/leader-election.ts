// Leader election on a coordination.k8s.io/v1 Lease, with client-go's timing and rules: only the
// leader's workers reconcile; every replica runs its informers, so a successor starts warm.
//
// - A candidate tries every retryPeriod (plus up to 1.2 × retryPeriod of jitter). It takes the
//   Lease when nobody holds it (absent, or released: empty holder), or when the holder has not
//   renewed for a leaseDuration as seen by *this* process's clock: the time is taken from when this
//   process last saw the record change, not from the renewTime written in it, so clock skew between
//   nodes does not matter.
// - The leader renews every retryPeriod. When no renewal has succeeded for renewDeadline (shorter
//   than leaseDuration, so it gives up before anybody may take over), or a renewal finds another
//   holder, leadership is lost: onStoppedLeading fires and the process should stop its workers and
//   exit non-zero, as controller-runtime does, so that it restarts as a clean candidate.
// - release() (shutdown) writes the Lease with an empty holder, so a successor takes it on its
//   next try instead of waiting a leaseDuration.
// Every write is conditional on the resourceVersion read (LeaseStore.update), so two candidates
// can never both believe they took it.

import type { LeaseRecord, LeaseStore, ObservedLease } from '../kube/lease.js';
import { systemClock, type Clock, type TimerHandle } from './workqueue.js';

export interface LeaderElectionTiming {
  /** How long a holder's claim lasts without renewal, as other candidates see it. */
  readonly leaseDurationMs: number;
  /** How long the leader keeps trying to renew before it gives up leadership. */
  readonly renewDeadlineMs: number;
  /** Time between tries (acquire and renew). */
  readonly retryPeriodMs: number;
}

/** client-go's (and controller-runtime's) defaults: 15 s, 10 s, 2 s. */
export const DEFAULT_LEADER_ELECTION_TIMING: LeaderElectionTiming = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** client-go's jitter factor on the acquire period. */
const ACQUIRE_JITTER = 1.2;

export interface LeaderElectorOptions {
  readonly store: LeaseStore;
  /** Unique per process: hostname plus something random (see leaderIdentity). */
  readonly identity: string;
  readonly timing?: LeaderElectionTiming;
  readonly clock?: Clock;
  /** Uniform in [0, 1); injected so tests can pin the jitter. */
  readonly random?: () => number;
  /** This process became the leader: start the workers. */
  readonly onStartedLeading: () => void;
  /** This process lost the leadership it had (not called on release): stop and exit non-zero. */
  readonly onStoppedLeading: (reason: string) => void;
  /** The holder seen changed (undefined: nobody holds it). */
  readonly onNewLeader?: (identity: string | undefined) => void;
  /** A try that failed on an API error (logged; the loop goes on). */
  readonly onError?: (error: unknown) => void;
}

type State = 'idle' | 'candidate' | 'leader' | 'stopped';

/** A holder identity unique to this process: the host name (the pod's name in a cluster) and a random suffix. */
export function leaderIdentity(hostname: string, random: () => number = Math.random): string {
  const suffix = Math.floor(random() * 0xffffffff).toString(16).padStart(8, '0');
  return `${hostname}_${suffix}`;
}

export class LeaderElector {
  private readonly store: LeaseStore;
  private readonly timing: LeaderElectionTiming;
  private readonly clock: Clock;
  private readonly random: () => number;
  private state: State = 'idle';
  private timer: TimerHandle | undefined;
  private inFlight: Promise<void> | undefined;
  /** The record last read or written, and when this process saw it change. */
  private observed: ObservedLease | undefined;
  private observedAt = 0;
  private lastRenewAt = 0;
  private knownLeader: string | undefined;

  constructor(private readonly options: LeaderElectorOptions) {
    this.store = options.store;
    this.timing = options.timing ?? DEFAULT_LEADER_ELECTION_TIMING;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    if (this.timing.renewDeadlineMs >= this.timing.leaseDurationMs) throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    if (this.timing.retryPeriodMs >= this.timing.renewDeadlineMs) throw new Error('leader election: retryPeriod must be shorter than renewDeadline');
  }

  get identity(): string {
    return this.options.identity;
  }

  isLeader(): boolean {
    return this.state === 'leader';
  }

  /** The holder this process last saw (itself when leading). */
  leader(): string | undefined {
    return this.knownLeader;
  }

  /** Starts trying to acquire the Lease, at once. */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'candidate';
    this.tick();
  }

  /**
   * Stops for good; when leading, writes the Lease with an empty holder so that a successor takes
   * over at once. Never throws (a failed release only delays the successor by a leaseDuration).
   */
  async release(): Promise<void> {
    const wasLeader = this.state === 'leader';
    this.state = 'stopped';
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    // A try in flight may have taken the Lease just now: release it then too.
    if (!wasLeader && this.knownLeader !== this.identity) return;
    try {
      const current = await this.store.get();
      if (current === undefined || current.record.holderIdentity !== this.identity) return;
      const now = this.clock.now();
      await this.store.update({ leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: current.record.leaseTransitions }, current.resourceVersion);
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  private schedule(delayMs: number): void {
    if (this.state === 'stopped') return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.tick();
    }, delayMs);
  }

  private tick(): void {
    if (this.state === 'candidate') {
      this.schedule(this.timing.retryPeriodMs * (1 + ACQUIRE_JITTER * this.random()));
    } else if (this.state === 'leader') {
      if (this.clock.now() - this.lastRenewAt >= this.timing.renewDeadlineMs) {
        this.lose(`the lease was not renewed for ${this.timing.renewDeadlineMs / 1000}s (renew deadline)`);
        return;
      }
      this.schedule(this.timing.retryPeriodMs);
    } else {
      return;
    }
    // A try still running (a slow API server) is not doubled; the deadline check above still runs.
    if (this.inFlight !== undefined) return;
    this.inFlight = this.attempt().finally(() => (this.inFlight = undefined));
  }

  private async attempt(): Promise<void> {
    let outcome: 'held' | 'taken-by-other' | 'failed';
    try {
      outcome = await this.tryAcquireOrRenew();
    } catch (error) {
      this.options.onError?.(error);
      outcome = 'failed';
    }
    if (this.state === 'candidate' && outcome === 'held') {
      this.state = 'leader';
      this.lastRenewAt = this.clock.now();
      this.options.onStartedLeading();
    } else if (this.state === 'leader') {
      if (outcome === 'held') this.lastRenewAt = this.clock.now();
      else if (outcome === 'taken-by-other') this.lose(`the lease is held by ${this.knownLeader ?? 'another process'}`);
    }
  }

  private lose(reason: string): void {
    if (this.state !== 'leader') return;
    this.state = 'stopped';
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.options.onStoppedLeading(reason);
  }

  private see(holder: string | undefined): void {
    if (holder === this.knownLeader) return;
    this.knownLeader = holder;
    this.options.onNewLeader?.(holder);
  }

  private async tryAcquireOrRenew(): Promise<'held' | 'taken-by-other' | 'failed'> {
    const now = this.clock.now();
    const leaseDurationSeconds = Math.ceil(this.timing.leaseDurationMs / 1000);
    const mine: LeaseRecord = { holderIdentity: this.identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 };
    const current = await this.store.get();
    if (this.state === 'stopped') return 'failed';
    if (current === undefined) {
      if (!(await this.store.create(mine))) return 'failed';
      this.observe({ record: mine, resourceVersion: '' }, now);
      this.see(this.identity);
      return 'held';
    }
    if (this.observed === undefined || this.observed.resourceVersion !== current.resourceVersion) this.observe(current, now);
    const holder = current.record.holderIdentity;
    this.see(holder);
    if (holder !== undefined && holder !== this.identity && this.observedAt + this.timing.leaseDurationMs > now) return 'taken-by-other';
    const next: LeaseRecord =
      holder === this.identity
        ? { ...mine, acquireTime: current.record.acquireTime ?? now, leaseTransitions: current.record.leaseTransitions }
        : { ...mine, leaseTransitions: current.record.leaseTransitions + 1 };
    if (this.isStopped()) return 'failed';
    if (!(await this.store.update(next, current.resourceVersion))) return 'failed';
    this.observe({ record: next, resourceVersion: '' }, now);
    this.see(this.identity);
    return 'held';
  }

  // A method, not an inline comparison: the state changes across awaits, which narrowing ignores.
  private isStopped(): boolean {
    return this.state === 'stopped';
  }

  private observe(lease: ObservedLease, now: number): void {
    this.observed = lease;
    this.observedAt = now;
  }
}
