import { describe, expect, it } from '@jest/globals';
import type { NetworkDiagnosis, NetworkDiagnosisStatus } from '../api/v1alpha1/index.js';
import { decideNextStep, FINALIZER, OBJECT_RECHECK_MS, POLL_MS, SHARE_RETENTION_MS, type CollectorObservation, type Observations, type SharedObservation } from './next-step.js';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const iso = (msAgo: number): string => new Date(NOW - msAgo).toISOString();

function diagnosis(over: { status?: NetworkDiagnosisStatus; generation?: number; finalizers?: string[]; deleting?: boolean; requestedAt?: string; interval?: string } = {}): NetworkDiagnosis {
  return {
    apiVersion: 'netdiag.io/v1alpha1',
    kind: 'NetworkDiagnosis',
    metadata: {
      name: 'd',
      namespace: 'shop',
      generation: over.generation ?? 1,
      finalizers: over.finalizers ?? [FINALIZER],
      ...(over.deleting === true ? { deletionTimestamp: iso(0) } : {}),
      ...(over.requestedAt !== undefined ? { annotations: { 'netdiag.io/requested-at': over.requestedAt } } : {}),
    },
    spec: { source: { pod: { name: 'a' } }, destination: { pod: { name: 'b' } }, port: 80, protocol: 'TCP', ...(over.interval !== undefined ? { interval: over.interval } : {}) },
    ...(over.status !== undefined ? { status: over.status } : {}),
  };
}

const collector = (node: string, phase: CollectorObservation['phase'], ageMs = 1_000, problem?: string): CollectorObservation => ({ node, pod: `c-${node}`, phase, createdAt: NOW - ageMs, ...(problem !== undefined ? { problem } : {}) });

function observe(d: NetworkDiagnosis, over: Partial<Observations> = {}): Observations {
  return { diagnosis: d, plan: { kind: 'nodes', nodes: ['n1', 'n2'] }, collectors: [], snapshots: new Set(), leftovers: false, now: NOW, collectorDeadlineMs: 90_000, ...over };
}

const lent = (node: string, phase: CollectorObservation['phase'], delivered: boolean, ageMs = 1_000): ReadonlyMap<string, SharedObservation> =>
  new Map([[node, { node, pod: `other-${node}`, phase, createdAt: NOW - ageMs, owner: 'shop/other', delivered }]]);

const collecting: NetworkDiagnosisStatus = { observedGeneration: 1, phase: 'Collecting' };
const completed = (msAgo = 60_000): NetworkDiagnosisStatus => ({ observedGeneration: 1, phase: 'Completed', completionTime: iso(msAgo) });

describe('decideNextStep', () => {
  it.each<[string, Observations, ReturnType<typeof decideNextStep>]>([
    ['a new diagnosis gets the finalizer first', observe(diagnosis({ finalizers: [] })), { kind: 'add-finalizer' }],
    ['then starts its first run', observe(diagnosis()), { kind: 'start-run' }],
    ['a stalled diagnosis whose objects now exist runs again', observe(diagnosis({ status: { observedGeneration: 1, phase: 'Failed' } })), { kind: 'start-run' }],
    [
      'an unknown pod stalls it, and it looks again later',
      observe(diagnosis(), { plan: { kind: 'unresolvable', reason: 'ObjectNotFound', message: 'pod shop/a not found' } }),
      { kind: 'stall', reason: 'ObjectNotFound', message: 'pod shop/a not found', requeueAfterMs: OBJECT_RECHECK_MS },
    ],
    [
      'a forbidden namespace stalls it until the spec changes',
      observe(diagnosis(), { plan: { kind: 'unresolvable', reason: 'CrossNamespaceForbidden', message: 'pod other/a is in another namespace' } }),
      { kind: 'stall', reason: 'CrossNamespaceForbidden', message: 'pod other/a is in another namespace' },
    ],
    ['a running diagnosis creates the collectors it lacks', observe(diagnosis({ status: collecting }), { collectors: [collector('n1', 'Running')] }), { kind: 'create-collectors', nodes: ['n2'] }],
    ['and waits while they work', observe(diagnosis({ status: collecting }), { collectors: [collector('n1', 'Running'), collector('n2', 'Pending')] }), { kind: 'wait', requeueAfterMs: POLL_MS }],
    [
      'a collector near its deadline is looked at when it passes',
      observe(diagnosis({ status: collecting }), { collectors: [collector('n1', 'Running', 88_000)], snapshots: new Set(['n2']) }),
      { kind: 'wait', requeueAfterMs: 2_000 },
    ],
    ['diagnoses when every snapshot is in', observe(diagnosis({ status: collecting }), { collectors: [collector('n1', 'Succeeded'), collector('n2', 'Succeeded')], snapshots: new Set(['n1', 'n2']) }), { kind: 'diagnose', snapshots: ['n1', 'n2'], shared: [], failed: [] }],
    [
      'and with what arrived when a collector failed or timed out',
      observe(diagnosis({ status: collecting }), { collectors: [collector('n1', 'Failed', 1_000, 'OOMKilled'), collector('n2', 'Pending', 91_000, 'node n2 is NotReady')] }),
      {
        kind: 'diagnose',
        snapshots: [],
        shared: [],
        failed: [
          { node: 'n1', reason: 'collector c-n1 failed: OOMKilled' },
          { node: 'n2', reason: 'collector c-n2 did not deliver within 90s (Pending: node n2 is NotReady)' },
        ],
      },
    ],
    ['a finished diagnosis with no interval is idle', observe(diagnosis({ status: completed() })), { kind: 'idle' }],
    ['with an interval, it wakes when the interval has passed', observe(diagnosis({ status: completed(60_000), interval: '5m' })), { kind: 'idle', requeueAfterMs: 240_000 }],
    ['and runs again then', observe(diagnosis({ status: completed(300_000), interval: '5m' })), { kind: 'start-run' }],
    ['a changed spec runs again, even mid-run', observe(diagnosis({ status: collecting, generation: 2 })), { kind: 'start-run' }],
    ['a new requested-at runs again', observe(diagnosis({ status: { ...completed(), lastHandledRequestAt: 'a' }, requestedAt: 'b' })), { kind: 'start-run', requestedAt: 'b' }],
    ['a requested-at already handled does not', observe(diagnosis({ status: { ...completed(), lastHandledRequestAt: 'b' }, requestedAt: 'b' })), { kind: 'idle' }],
    ['a finished run that left pods or snapshots behind removes them', observe(diagnosis({ status: completed() }), { leftovers: true }), { kind: 'remove-leftovers' }],
    ['a node another diagnosis collects is not collected again', observe(diagnosis({ status: collecting }), { collectors: [collector('n1', 'Running')], shared: lent('n2', 'Running', false) }), { kind: 'wait', requeueAfterMs: POLL_MS }],
    [
      'its snapshot counts once delivered',
      observe(diagnosis({ status: collecting }), { collectors: [collector('n1', 'Succeeded')], snapshots: new Set(['n1']), shared: lent('n2', 'Succeeded', true) }),
      { kind: 'diagnose', snapshots: ['n1', 'n2'], shared: [{ node: 'n2', owner: 'shop/other' }], failed: [] },
    ],
    [
      'a shared collection past the deadline fails the node, naming whose it is',
      observe(diagnosis({ status: collecting }), { snapshots: new Set(['n1']), shared: lent('n2', 'Pending', false, 91_000) }),
      { kind: 'diagnose', snapshots: ['n1'], shared: [], failed: [{ node: 'n2', reason: 'collector other-n2 (of shop/other) did not deliver within 90s (Pending)' }] },
    ],
    [
      'a collector of its own wins over a shared one',
      observe(diagnosis({ status: collecting }), { collectors: [collector('n1', 'Running'), collector('n2', 'Running')], shared: lent('n2', 'Succeeded', true) }),
      { kind: 'wait', requeueAfterMs: POLL_MS },
    ],
    [
      'a finished run keeps its collection while another run may use it',
      observe(diagnosis({ status: completed(10_000) }), { leftovers: true, mayBeShared: true }),
      { kind: 'keep-for-sharing', requeueAfterMs: POLL_MS },
    ],
    ['but not past the retention', observe(diagnosis({ status: completed(SHARE_RETENTION_MS) }), { leftovers: true, mayBeShared: true }), { kind: 'remove-leftovers' }],
    ['a deleted diagnosis cleans up first', observe(diagnosis({ deleting: true }), { leftovers: true }), { kind: 'clean-up', removeFinalizer: false }],
    ['then lets go of its finalizer', observe(diagnosis({ deleting: true })), { kind: 'clean-up', removeFinalizer: true }],
    ['a deleted diagnosis without our finalizer has nothing to remove', observe(diagnosis({ deleting: true, finalizers: [] })), { kind: 'clean-up', removeFinalizer: false }],
  ])('%s', (_name, observations, expected) => {
    expect(decideNextStep(observations)).toEqual(expected);
  });
});
