// The running operator, from parts made elsewhere (src/main.ts wires the real ones): the informers
// already filling the work queue, the workers that start once this replica leads (at once without
// leader election), the reconcile's log events turned into log lines, Kubernetes Events and
// metrics, the health and readiness checks, and the graceful shutdown.
//
// Readiness is: every informer synced (and none failing for long) AND this replica leads or does
// not elect. Liveness fails when an informer has failed without a break for `healthFailingLimitMs`:
// the kubelet then restarts the process (the ADR's "past a limit the operator exits non-zero").

import { ClusterCacheNotReadyError } from '../kube/cluster-cache.js';
import { KubeApiError } from '../kube/errors.js';
import type { EventRecorder } from '../kube/events.js';
import type { Check } from './http-server.js';
import type { Logger } from './logger.js';
import type { OperatorMetrics } from './metrics.js';
import { buildPhaseEvents, countPhaseChange } from './phase-events.js';
import type { ReconcileEvent, ReconcileResult } from './reconciler.js';
import type { Sources } from './sources.js';
import { startWorkers, type Workers } from './workers.js';
import type { WorkQueue } from './workqueue.js';

/** What the operator needs of leader election (controller/leader-election.ts). */
export interface Election {
  start(): void;
  isLeader(): boolean;
  leader(): string | undefined;
  release(): Promise<void>;
}

export interface ElectionCallbacks {
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: (reason: string) => void;
  readonly onNewLeader: (identity: string | undefined) => void;
  readonly onError: (error: unknown) => void;
}

export interface OperatorOptions {
  readonly queue: WorkQueue<string>;
  readonly sources: Sources;
  /** Makes the elector with the operator's callbacks; undefined: no leader election. */
  readonly election?: (callbacks: ElectionCallbacks) => Election;
  readonly workers: number;
  /** One reconcile of `key`; `log` receives what it did. */
  readonly reconcile: (key: string, log: (event: ReconcileEvent) => void) => Promise<ReconcileResult>;
  readonly events: EventRecorder;
  readonly metrics: OperatorMetrics;
  readonly logger: Logger;
  /** How long shutdown waits for running reconciles (default 20 s, within a pod's 30 s grace period). */
  readonly drainTimeoutMs?: number;
  /** Liveness fails after an informer has failed this long without a break (default 5 min). */
  readonly healthFailingLimitMs?: number;
  readonly now?: () => number;
}

export interface Operator {
  readonly healthChecks: readonly Check[];
  readonly readyChecks: readonly Check[];
  /**
   * Stops taking work, waits (bounded) for the running reconciles and the Events being written,
   * stops the informers, releases the Lease. Idempotent.
   */
  shutdown(): Promise<void>;
  /** Resolves with the reason when the operator must end on its own: the leadership was lost. */
  readonly lost: Promise<string>;
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const delay = (ms: number): Promise<'timeout'> =>
  new Promise((resolve) => {
    setTimeout(() => resolve('timeout'), ms).unref();
  });

export function startOperator(options: OperatorOptions): Operator {
  const { queue, sources, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const drainTimeoutMs = options.drainTimeoutMs ?? 20_000;
  const healthLimitMs = options.healthFailingLimitMs ?? 5 * 60_000;
  const pendingEvents = new Set<Promise<void>>();
  let workers: Workers | undefined;
  let stopping: Promise<void> | undefined;
  let markLost: (reason: string) => void = () => undefined;
  const lost = new Promise<string>((resolve) => (markLost = resolve));

  const onReconcileEvent = (log: Logger, event: ReconcileEvent): void => {
    log.info(event.message ?? event.step, { step: event.step, ...(event.change !== undefined ? { phase: event.change.kind } : {}) });
    countPhaseChange(metrics, event);
    for (const e of buildPhaseEvents(event)) {
      // An Event is information, never a reason to fail or retry a reconcile.
      const written = options.events.record(e).catch((error: unknown) => log.warn('could not write an Event', { reason: e.reason, error: describe(error) }));
      pendingEvents.add(written);
      void written.finally(() => pendingEvents.delete(written));
    }
  };

  const startWorking = (): void => {
    if (workers !== undefined || stopping !== undefined) return;
    metrics.setLeader(true);
    logger.info('starting workers', { workers: options.workers });
    workers = startWorkers(queue, options.workers, {
      reconcile: async (key, reconcileId) => {
        const log = logger.child({ reconcileId, key });
        const result = await options.reconcile(key, (event) => onReconcileEvent(log, event));
        log.debug('reconciled', result.requeueAfterMs !== undefined ? { requeueAfterMs: Math.round(result.requeueAfterMs) } : {});
        return result;
      },
      observe: (result, seconds) => metrics.observeReconcile(result, seconds),
      onError: (key, reconcileId, error, retries) => {
        // A 409 is a lost race with another writer: the retry reads again. A cache still filling
        // at start (readiness says so) is retried the same way. Neither is worth a warning.
        const quiet = (error instanceof KubeApiError && (error.kind === 'conflict' || error.kind === 'already-exists')) || error instanceof ClusterCacheNotReadyError;
        const fields = { reconcileId, key, retries, error: describe(error) };
        if (quiet) logger.debug('reconcile conflicted; retrying', fields);
        else logger.error('reconcile failed; retrying with backoff', fields);
      },
    });
  };

  const election = options.election?.({
    onStartedLeading: () => {
      logger.info('became the leader');
      startWorking();
    },
    onStoppedLeading: (reason) => {
      metrics.setLeader(false);
      logger.error('lost the leadership; stopping', { reason });
      // Nothing more may be reconciled here: another replica may lead already.
      queue.shutDown();
      markLost(reason);
    },
    onNewLeader: (identity) => logger.info('leader observed', { leader: identity ?? '(none)' }),
    onError: (error) => logger.warn('leader election: API error', { error: describe(error) }),
  });
  if (election === undefined) startWorking();
  else election.start();

  const informersFailingTooLong = (): string | undefined => {
    const at = now();
    const bad = sources.states().filter((s) => s.failingSince !== undefined && at - s.failingSince >= healthLimitMs);
    return bad.length > 0 ? bad.map((s) => `informer ${s.name} failing since ${new Date(s.failingSince ?? 0).toISOString()}: ${s.lastError?.message ?? 'unknown error'}`).join('; ') : undefined;
  };

  return {
    healthChecks: [
      { name: 'ping', check: () => undefined },
      { name: 'informers', check: informersFailingTooLong },
    ],
    readyChecks: [
      {
        name: 'informers',
        check: () => {
          const r = sources.readiness();
          return r.ready ? undefined : r.reasons.join('; ');
        },
      },
      { name: 'leader', check: () => (election === undefined || election.isLeader() ? undefined : `not the leader (the leader is ${election.leader() ?? 'unknown'})`) },
      { name: 'shutdown', check: () => (stopping === undefined ? undefined : 'shutting down') },
    ],
    lost,
    shutdown() {
      stopping ??= (async () => {
        logger.info('shutting down: no new work; waiting for running reconciles', { timeoutMs: drainTimeoutMs });
        queue.shutDown();
        if (workers !== undefined) {
          const finished = await Promise.race([workers.stopped.then(() => 'done' as const), delay(drainTimeoutMs)]);
          if (finished === 'timeout') logger.warn('running reconciles did not finish in time; leaving them', { timeoutMs: drainTimeoutMs });
        }
        await Promise.race([Promise.all([...pendingEvents]), delay(5000)]);
        await sources.stop();
        if (election !== undefined) {
          await election.release();
          metrics.setLeader(false);
          logger.info('released the leader Lease');
        }
      })();
      return stopping;
    },
  };
}
