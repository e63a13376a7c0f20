import { describe, expect, it } from '@jest/globals';
import { buildPhaseEvents, countPhaseChange } from './phase-events.js';
import { createOperatorMetrics } from './metrics.js';
import type { ReconcileEvent } from './reconciler.js';

const base = { key: 'shop/web-to-db', uid: 'u-1' } as const;
const regarding = { namespace: 'shop', name: 'web-to-db', uid: 'u-1' };

describe('buildPhaseEvents', () => {
  it.each<[string, ReconcileEvent, { type: string; reason: string; action: string; note: string }[]]>([
    ['no phase change', { ...base, step: 'wait' }, []],
    ['collecting', { ...base, step: 'create-collectors', change: { kind: 'collecting', nodes: ['node-1', 'node-2'], shared: [] } }, [{ type: 'Normal', reason: 'Collecting', action: 'Collect', note: 'collector pods started on node-1, node-2' }]],
    [
      'collecting, partly shared',
      { ...base, step: 'create-collectors', change: { kind: 'collecting', nodes: ['node-1'], shared: [{ node: 'node-2', owner: 'shop/other' }] } },
      [{ type: 'Normal', reason: 'Collecting', action: 'Collect', note: 'collector pods started on node-1; sharing the collection of shop/other on node-2' }],
    ],
    [
      'collecting, all shared',
      { ...base, step: 'wait', change: { kind: 'collecting', nodes: [], shared: [{ node: 'node-1', owner: 'shop/other' }] } },
      [{ type: 'Normal', reason: 'Collecting', action: 'Collect', note: 'sharing the collection of shop/other on node-1' }],
    ],
    [
      'diagnosing',
      { ...base, step: 'diagnose', change: { kind: 'diagnosing', snapshots: ['node-2'], failed: ['node-1'] } },
      [{ type: 'Normal', reason: 'Diagnosing', action: 'Diagnose', note: 'snapshots from node-2; no snapshot from node-1; simulating the packet' }],
    ],
    [
      'completed with a failed collector',
      {
        ...base,
        step: 'diagnose',
        change: { kind: 'completed', verdict: 'Inconclusive', suspicions: 1, collectors: [{ node: 'node-1', seconds: 3, failure: { kind: 'deadline', message: 'collector c1 did not deliver within 3s (Pending)' } }, { node: 'node-2', seconds: 2 }] },
      },
      [
        { type: 'Warning', reason: 'CollectorFailed', action: 'Collect', note: 'node node-1: collector c1 did not deliver within 3s (Pending)' },
        { type: 'Warning', reason: 'Completed', action: 'Diagnose', note: 'verdict Inconclusive, 1 suspicion' },
      ],
    ],
    ['completed reachable', { ...base, step: 'diagnose', change: { kind: 'completed', verdict: 'Reachable', suspicions: 0, collectors: [] } }, [{ type: 'Normal', reason: 'Completed', action: 'Diagnose', note: 'verdict Reachable, 0 suspicions' }]],
    ['stalled', { ...base, step: 'stall', change: { kind: 'stalled', reason: 'ObjectNotFound', message: 'the source pod shop/nobody does not exist' } }, [{ type: 'Warning', reason: 'ObjectNotFound', action: 'Stall', note: 'the source pod shop/nobody does not exist' }]],
  ])('%s', (_what, event, expected) => {
    expect(buildPhaseEvents(event)).toEqual(expected.map((e) => ({ regarding, ...e })));
  });
});

describe('countPhaseChange', () => {
  it('counts a completed run once: its verdict, its own delivered collectors\' durations and failures by reason (not the ones it shared)', async () => {
    const metrics = createOperatorMetrics({ queueDepth: () => 0, processMetrics: false });
    countPhaseChange(metrics, { ...base, step: 'diagnose', change: { kind: 'diagnosing', snapshots: [], failed: [] } });
    countPhaseChange(metrics, { ...base, step: 'diagnose', change: { kind: 'completed', verdict: 'Unreachable', suspicions: 2, collectors: [{ node: 'a', seconds: 1.5 }, { node: 'b', seconds: 9, failure: { kind: 'pod-failed', message: 'x' } }, { node: 'c', seconds: 4, sharedFrom: 'shop/other' }] } });
    const text = await metrics.render();
    expect(text).toContain('netdiag_diagnoses_total{verdict="Unreachable"} 1\n');
    expect(text).toContain('netdiag_collector_duration_seconds_count 1\n');
    expect(text).toContain('netdiag_collector_duration_seconds_sum 1.5\n');
    expect(text).toContain('netdiag_collector_failures_total{reason="pod-failed"} 1\n');
  });
});
