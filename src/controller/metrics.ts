// The operator's Prometheus metrics, on a registry of its own (no global state): reconciles,
// errors and durations, diagnoses by verdict (once per completed run), collectors' durations and
// failures, the work queue's depth and whether this replica leads. Plus prom-client's default
// process metrics (CPU, memory, event loop lag, file descriptors).

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CollectorFailureKind } from './reconciler.js';

/** How a reconcile ended, as `netdiag_reconcile_total{result}` counts it. */
export type ReconcileResultLabel = 'success' | 'requeue' | 'error';

/** Why a collector gave no usable snapshot, as `netdiag_collector_failures_total{reason}` counts it. */
export type CollectorFailureReason = CollectorFailureKind;

export interface OperatorMetrics {
  readonly registry: Registry;
  observeReconcile(result: ReconcileResultLabel, seconds: number): void;
  countDiagnosis(verdict: string): void;
  observeCollector(seconds: number): void;
  countCollectorFailure(reason: CollectorFailureReason): void;
  setLeader(leader: boolean): void;
  /** The Prometheus text exposition. */
  render(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsOptions {
  /** Read at each scrape. */
  readonly queueDepth: () => number;
  /** Also register prom-client's default process metrics; default true. */
  readonly processMetrics?: boolean;
}

/** Metric names, for docs and tests. */
export const METRIC_NAMES = [
  'netdiag_reconcile_total',
  'netdiag_reconcile_errors_total',
  'netdiag_reconcile_duration_seconds',
  'netdiag_diagnoses_total',
  'netdiag_collector_duration_seconds',
  'netdiag_collector_failures_total',
  'netdiag_workqueue_depth',
  'netdiag_leader',
] as const;

export function createOperatorMetrics(options: MetricsOptions): OperatorMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const reconciles = new Counter({ name: 'netdiag_reconcile_total', help: 'Reconciles of NetworkDiagnosis objects, by result (success, requeue, error).', labelNames: ['result'], registers: [registry] });
  const errors = new Counter({ name: 'netdiag_reconcile_errors_total', help: 'Reconciles that failed (retried with backoff).', registers: [registry] });
  const durations = new Histogram({
    name: 'netdiag_reconcile_duration_seconds',
    help: 'Time one reconcile took.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const diagnoses = new Counter({ name: 'netdiag_diagnoses_total', help: 'Diagnosis runs completed, by verdict.', labelNames: ['verdict'], registers: [registry] });
  const collectorDurations = new Histogram({
    name: 'netdiag_collector_duration_seconds',
    help: 'From a collector pod\'s creation to the diagnosis that used its snapshot.',
    buckets: [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
    registers: [registry],
  });
  const collectorFailures = new Counter({
    name: 'netdiag_collector_failures_total',
    help: 'Collectors that gave no usable snapshot, by reason (pod-failed, no-snapshot, deadline, snapshot-unreadable).',
    labelNames: ['reason'],
    registers: [registry],
  });
  new Gauge({
    name: 'netdiag_workqueue_depth',
    help: 'Keys waiting in the work queue for a worker.',
    registers: [registry],
    collect() {
      this.set(options.queueDepth());
    },
  });
  const leader = new Gauge({ name: 'netdiag_leader', help: '1 when this replica holds the leader Lease (or leader election is off), else 0.', registers: [registry] });
  leader.set(0);
  return {
    registry,
    contentType: registry.contentType,
    observeReconcile(result, seconds) {
      reconciles.inc({ result });
      if (result === 'error') errors.inc();
      durations.observe(seconds);
    },
    countDiagnosis: (verdict) => diagnoses.inc({ verdict }),
    observeCollector: (seconds) => collectorDurations.observe(seconds),
    countCollectorFailure: (reason) => collectorFailures.inc({ reason }),
    setLeader: (value) => leader.set(value ? 1 : 0),
    render: () => registry.metrics(),
  };
}
