import { describe, expect, it } from '@jest/globals';
import { createOperatorMetrics, METRIC_NAMES } from './metrics.js';

describe('operator metrics', () => {
  it('exposes every netdiag metric by name and type, with the queue depth read at scrape time', async () => {
    let depth = 3;
    const metrics = createOperatorMetrics({ queueDepth: () => depth, processMetrics: false });
    const text = await metrics.render();
    const types: Record<string, string> = {};
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types[m[1] ?? ''] = m[2] ?? '';
    expect(types).toEqual({
      netdiag_reconcile_total: 'counter',
      netdiag_reconcile_errors_total: 'counter',
      netdiag_reconcile_duration_seconds: 'histogram',
      netdiag_diagnoses_total: 'counter',
      netdiag_collector_duration_seconds: 'histogram',
      netdiag_collector_failures_total: 'counter',
      netdiag_workqueue_depth: 'gauge',
      netdiag_leader: 'gauge',
    });
    expect(Object.keys(types).sort()).toEqual([...METRIC_NAMES].sort());
    expect(text).toContain('netdiag_workqueue_depth 3\n');
    depth = 0;
    expect(await metrics.render()).toContain('netdiag_workqueue_depth 0\n');
    expect(text).toContain('netdiag_leader 0\n');
  });

  it('counts reconciles by result, errors, verdicts, collector failures by reason, and the leadership', async () => {
    const metrics = createOperatorMetrics({ queueDepth: () => 0, processMetrics: false });
    metrics.observeReconcile('success', 0.01);
    metrics.observeReconcile('requeue', 0.02);
    metrics.observeReconcile('error', 0.5);
    metrics.countDiagnosis('Inconclusive');
    metrics.countDiagnosis('Inconclusive');
    metrics.countDiagnosis('Reachable');
    metrics.observeCollector(4);
    metrics.countCollectorFailure('deadline');
    metrics.setLeader(true);
    const text = await metrics.render();
    for (const line of [
      'netdiag_reconcile_total{result="success"} 1',
      'netdiag_reconcile_total{result="requeue"} 1',
      'netdiag_reconcile_total{result="error"} 1',
      'netdiag_reconcile_errors_total 1',
      'netdiag_reconcile_duration_seconds_count 3',
      'netdiag_diagnoses_total{verdict="Inconclusive"} 2',
      'netdiag_diagnoses_total{verdict="Reachable"} 1',
      'netdiag_collector_duration_seconds_count 1',
      'netdiag_collector_failures_total{reason="deadline"} 1',
      'netdiag_leader 1',
    ]) {
      expect(text).toContain(`${line}\n`);
    }
  });

  it('adds the process metrics by default', async () => {
    const metrics = createOperatorMetrics({ queueDepth: () => 0 });
    expect(await metrics.render()).toContain('process_resident_memory_bytes');
  });
});
