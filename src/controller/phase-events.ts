// What a reconcile's phase change means for the outside: the Kubernetes Events on the
// NetworkDiagnosis (`kubectl describe` shows them) and the metrics counted once per run. Pure:
// the operator writes the Events (kube/events.ts) and updates the metrics.

import { REASON_COLLECTING, REASON_COLLECTOR_FAILED, REASON_COMPLETED, REASON_DIAGNOSING } from '../api/v1alpha1/index.js';
import type { DiagnosisEvent } from '../kube/events.js';
import type { OperatorMetrics } from './metrics.js';
import type { ReconcileEvent } from './reconciler.js';

function list(items: readonly string[]): string {
  return items.length > 0 ? items.join(', ') : 'none';
}

/** The Events a reconcile's phase change is worth (none when it changed nothing). */
export function buildPhaseEvents(event: ReconcileEvent): DiagnosisEvent[] {
  const change = event.change;
  if (change === undefined) return [];
  const slash = event.key.indexOf('/');
  const regarding = { namespace: event.key.slice(0, slash), name: event.key.slice(slash + 1), ...(event.uid !== undefined ? { uid: event.uid } : {}) };
  switch (change.kind) {
    case 'collecting': {
      const started = change.nodes.length > 0 || change.shared.length === 0 ? [`collector pods started on ${list(change.nodes)}`] : [];
      const shared = change.shared.map((s) => `sharing the collection of ${s.owner} on ${s.node}`);
      return [{ regarding, type: 'Normal', reason: REASON_COLLECTING, action: 'Collect', note: [...started, ...shared].join('; ') }];
    }
    case 'diagnosing': {
      const failed = change.failed.length > 0 ? `; no snapshot from ${list(change.failed)}` : '';
      return [{ regarding, type: 'Normal', reason: REASON_DIAGNOSING, action: 'Diagnose', note: `snapshots from ${list(change.snapshots)}${failed}; simulating the packet` }];
    }
    case 'completed': {
      const failures = change.collectors.flatMap((c): DiagnosisEvent[] =>
        c.failure !== undefined ? [{ regarding, type: 'Warning', reason: REASON_COLLECTOR_FAILED, action: 'Collect', note: `node ${c.node}: ${c.failure.message}` }] : [],
      );
      const suspicions = `${change.suspicions} suspicion${change.suspicions === 1 ? '' : 's'}`;
      return [
        ...failures,
        { regarding, type: change.verdict === 'Reachable' ? 'Normal' : 'Warning', reason: REASON_COMPLETED, action: 'Diagnose', note: `verdict ${change.verdict}, ${suspicions}` },
      ];
    }
    case 'stalled':
      return [{ regarding, type: 'Warning', reason: change.reason, action: 'Stall', note: change.message }];
  }
}

/** Counts a finished run (its verdict and collectors) in the metrics. */
export function countPhaseChange(metrics: OperatorMetrics, event: ReconcileEvent): void {
  const change = event.change;
  if (change?.kind !== 'completed') return;
  metrics.countDiagnosis(change.verdict);
  for (const c of change.collectors) {
    // Another diagnosis's collector is counted by that diagnosis's run.
    if (c.sharedFrom !== undefined) continue;
    if (c.failure !== undefined) metrics.countCollectorFailure(c.failure.kind);
    else metrics.observeCollector(c.seconds);
  }
}
