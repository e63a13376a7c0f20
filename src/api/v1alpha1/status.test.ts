import { describe, expect, it } from '@jest/globals';
import type { Diagnosis, DiagnosisVerdict } from '../../diagnosis/index.js';
import {
  REASON_COLLECTING,
  REASON_COMPLETED,
  REASON_DEGRADED,
  REASON_DIAGNOSING,
  REASON_INCONCLUSIVE,
  REASON_NOT_DIAGNOSED,
  REASON_OBJECT_NOT_FOUND,
  REASON_PENDING,
  REASON_REACHABLE,
  REASON_UNREACHABLE,
} from './conditions.js';
import {
  buildCompletedStatus,
  buildProgressStatus,
  buildStalledStatus,
  CONDITION_MESSAGE_MAX,
  findCondition,
  formatEndpoint,
  removeCondition,
  setCondition,
  type ConditionUpdate,
  type StatusContext,
} from './status.js';
import type { Condition, NetworkDiagnosisStatus } from './types.js';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:01:00Z';
const T2 = '2026-01-01T00:02:00Z';

const ready = (status: Condition['status'], extra: Partial<ConditionUpdate> = {}): ConditionUpdate => ({
  type: 'Ready',
  status,
  reason: REASON_COMPLETED,
  message: 'done',
  observedGeneration: 1,
  ...extra,
});

describe('setCondition', () => {
  const existing: Condition[] = [{ type: 'Ready', status: 'False', reason: REASON_COLLECTING, message: 'collecting', lastTransitionTime: T0, observedGeneration: 1 }];

  it.each<[string, readonly Condition[] | undefined, ConditionUpdate, string]>([
    ['a new condition takes now', undefined, ready('True'), T1],
    ['a status change takes now', existing, ready('True'), T1],
    ['the same status keeps the time, whatever the reason and message', existing, ready('False', { reason: REASON_DIAGNOSING, message: 'diagnosing' }), T0],
    ['a new generation alone is no transition', existing, ready('False', { observedGeneration: 2 }), T0],
  ])('%s', (_name, conditions, next, transition) => {
    const out = setCondition(conditions, next, T1);
    expect(out).toEqual([{ ...next, lastTransitionTime: transition }]);
  });

  it('returns a new array sorted by type and leaves the input alone', () => {
    const input: Condition[] = [
      { type: 'Stalled', status: 'False', reason: 'Completed', message: '', lastTransitionTime: T0 },
      { type: 'Ready', status: 'False', reason: 'Pending', message: '', lastTransitionTime: T0 },
    ];
    const copy = structuredClone(input);
    const out = setCondition(input, { type: 'Reconciling', status: 'True', reason: REASON_PENDING, message: 'm', observedGeneration: 3 }, T1);
    expect(out.map((c) => c.type)).toEqual(['Ready', 'Reconciling', 'Stalled']);
    expect(out).not.toBe(input);
    expect(input).toEqual(copy);
    expect(findCondition(out, 'Reconciling')).toEqual({ type: 'Reconciling', status: 'True', reason: REASON_PENDING, message: 'm', observedGeneration: 3, lastTransitionTime: T1 });
  });

  it('cuts a message longer than the CRD allows', () => {
    const out = setCondition(undefined, ready('True', { message: 'x'.repeat(CONDITION_MESSAGE_MAX + 10) }), T1);
    expect(out[0]?.message).toHaveLength(CONDITION_MESSAGE_MAX);
    expect(out[0]?.message.endsWith('...')).toBe(true);
  });

  it('removeCondition drops one type and keeps the order', () => {
    const out = removeCondition(setCondition(setCondition(undefined, ready('True'), T0), { ...ready('False'), type: 'Stalled' }, T0), 'Ready');
    expect(out.map((c) => c.type)).toEqual(['Stalled']);
  });
});

describe('formatEndpoint', () => {
  it.each([
    [{ pod: { name: 'client' } }, 'pod/team/client'],
    [{ pod: { namespace: 'other', name: 'client' } }, 'pod/other/client'],
    [{ service: { name: 'web' } }, 'service/team/web'],
    [{ node: { name: 'node-1' } }, 'node/node-1'],
    [{ ip: 'fd00::1' }, 'fd00::1'],
    [{}, '?'],
  ])('%j is %s', (endpoint, text) => {
    expect(formatEndpoint(endpoint, 'team')).toBe(text);
  });
});

const ctx = (generation: number, now: string): StatusContext => ({ generation, now, source: 'pod/team/client', destination: 'service/team/web' });

function diagnosisOf(verdict: DiagnosisVerdict, extra: Partial<Diagnosis> = {}): Diagnosis {
  return {
    verdict,
    suspicions: [],
    packetPath: {
      nodes: [
        { id: 'team/client', type: 'pod', actions: [{ kind: 'send', direction: 'request', outIface: 'eth0', verdict: 'ACCEPT' }] },
        { id: 'node-1', type: 'node', actions: [] },
      ],
      links: [
        { source: 'team/client', destination: 'node-1', type: 'veth', direction: 'request', packet: { before: 'tcp 10.244.1.5:40000 > 10.96.0.10:80', after: 'tcp 10.244.1.5:40000 > 10.96.0.10:80' }, attributes: { sourceInterface: 'eth0' } },
        { source: 'node-1', destination: 'team/client', type: 'veth', direction: 'reply', packet: { before: 'a', after: 'b' }, attributes: {} },
      ],
    },
    warnings: [],
    ...extra,
  };
}

const byType = (status: NetworkDiagnosisStatus): Record<string, Pick<Condition, 'status' | 'reason'>> =>
  Object.fromEntries((status.conditions ?? []).map((c) => [c.type, { status: c.status, reason: c.reason }]));

describe('buildCompletedStatus', () => {
  const linkDown = { level: 'fatal', node: 'node-1', code: 'LinkDown', message: 'cni0 is down (state DOWN)' } as const;
  const mtu = { level: 'warning', node: 'node-1', code: 'MTUMismatch', message: 'eth0 mtu 1400, flannel.1 mtu 1450' } as const;

  it.each<[DiagnosisVerdict, Diagnosis['suspicions'], Condition['status'], string, string]>([
    ['Reachable', [], 'True', REASON_REACHABLE, 'pod/team/client to service/team/web: reachable'],
    ['Unreachable', [mtu, linkDown], 'False', REASON_UNREACHABLE, 'pod/team/client to service/team/web: unreachable: fatal LinkDown on node-1: cni0 is down (state DOWN) (and 1 more suspicion)'],
    ['Degraded', [mtu], 'False', REASON_DEGRADED, 'pod/team/client to service/team/web: degraded: warning MTUMismatch on node-1: eth0 mtu 1400, flannel.1 mtu 1450'],
  ])('%s: Ready=True, Reachable by the verdict', (verdict, suspicions, reachable, reason, message) => {
    const status = buildCompletedStatus(undefined, diagnosisOf(verdict, { suspicions }), ctx(4, T1));
    expect(byType(status)).toEqual({
      Ready: { status: 'True', reason: REASON_COMPLETED },
      Reachable: { status: reachable, reason },
      Reconciling: { status: 'False', reason: REASON_COMPLETED },
      Stalled: { status: 'False', reason: REASON_COMPLETED },
    });
    expect(findCondition(status.conditions, 'Reachable')?.message).toBe(message);
    expect(status).toMatchObject({ observedGeneration: 4, phase: 'Completed', verdict, suspicionCount: suspicions.length, suspicions, source: 'pod/team/client', destination: 'service/team/web', completionTime: T1, startTime: T1 });
    expect(status.conditions?.every((c) => c.observedGeneration === 4)).toBe(true);
  });

  it('counts suspicions of level warning and above; info-level notes are listed but not counted', () => {
    const note = { level: 'info', node: 'node-1', code: 'LeavesCluster', message: 'node-1 sends it out of eth0 to 10.0.0.1, outside the cluster' } as const;
    const status = buildCompletedStatus(undefined, diagnosisOf('Reachable', { suspicions: [note] }), ctx(1, T1));
    expect({ count: status.suspicionCount, listed: status.suspicions?.length }).toEqual({ count: 0, listed: 1 });
    expect(findCondition(status.conditions, 'Ready')?.message).toBe('diagnosis finished: Reachable, 0 suspicions and 1 note');
    const both = buildCompletedStatus(undefined, diagnosisOf('Degraded', { suspicions: [note, mtu] }), ctx(1, T1));
    expect(both.suspicionCount).toBe(1);
  });

  it('Inconclusive: Reachable=Unknown naming the warnings', () => {
    const warnings = Array.from({ length: 7 }, (_, i) => ({ code: 'unknown-match', message: `unknown match -m foo${i}`, ...(i === 0 ? { source: 'filter FORWARD' } : {}) }));
    const status = buildCompletedStatus(undefined, diagnosisOf('Inconclusive', { warnings }), ctx(1, T1));
    const reachable = findCondition(status.conditions, 'Reachable');
    expect(reachable).toMatchObject({ status: 'Unknown', reason: REASON_INCONCLUSIVE });
    expect(reachable?.message).toBe(
      'pod/team/client to service/team/web: inconclusive: unknown match -m foo0 (filter FORWARD); unknown match -m foo1; unknown match -m foo2; unknown match -m foo3; unknown match -m foo4 (and 2 more warnings)',
    );
    expect(findCondition(status.conditions, 'Ready')?.status).toBe('True');
  });

  it('stores the packet path as the CRD has it (empty attribute maps left out)', () => {
    const status = buildCompletedStatus(undefined, diagnosisOf('Reachable'), ctx(1, T1));
    expect(status.packetPath).toEqual({
      nodes: [
        { id: 'team/client', type: 'pod', actions: [{ kind: 'send', direction: 'request', outIface: 'eth0', verdict: 'ACCEPT' }] },
        { id: 'node-1', type: 'node', actions: [] },
      ],
      links: [
        { source: 'team/client', destination: 'node-1', type: 'veth', direction: 'request', packet: { before: 'tcp 10.244.1.5:40000 > 10.96.0.10:80', after: 'tcp 10.244.1.5:40000 > 10.96.0.10:80' }, attributes: { sourceInterface: 'eth0' } },
        { source: 'node-1', destination: 'team/client', type: 'veth', direction: 'reply', packet: { before: 'a', after: 'b' } },
      ],
    });
  });

  it('after progress: keeps startTime and collectors, Ready and Reconciling transition, Stalled keeps its time', () => {
    const collecting = buildProgressStatus(undefined, 'Collecting', [{ node: 'node-1', pod: 'netdiag-collect-1', state: 'Succeeded' }], ctx(2, T0));
    const done = buildCompletedStatus(collecting, diagnosisOf('Reachable'), ctx(2, T1));
    expect(done.startTime).toBe(T0);
    expect(done.collectors).toEqual([{ node: 'node-1', pod: 'netdiag-collect-1', state: 'Succeeded' }]);
    const times = Object.fromEntries((done.conditions ?? []).map((c) => [c.type, c.lastTransitionTime]));
    expect(times).toEqual({ Ready: T1, Reachable: T1, Reconciling: T1, Stalled: T0 });
  });
});

describe('buildProgressStatus', () => {
  it.each([
    ['Pending', REASON_PENDING],
    ['Collecting', REASON_COLLECTING],
    ['Diagnosing', REASON_DIAGNOSING],
  ] as const)('%s: Ready=False and Reconciling=True with reason %s', (phase, reason) => {
    const status = buildProgressStatus(undefined, phase, [], ctx(1, T0));
    expect(byType(status)).toEqual({
      Ready: { status: 'False', reason },
      Reachable: { status: 'Unknown', reason: REASON_NOT_DIAGNOSED },
      Reconciling: { status: 'True', reason },
      Stalled: { status: 'False', reason },
    });
    expect(status).toMatchObject({ phase, observedGeneration: 1, startTime: T0, collectors: [], source: 'pod/team/client', destination: 'service/team/web' });
    expect(status.verdict).toBeUndefined();
  });

  it('a run going on keeps its startTime and the transition times', () => {
    const pending = buildProgressStatus(undefined, 'Pending', [], ctx(1, T0));
    const collecting = buildProgressStatus(pending, 'Collecting', [{ node: 'node-1', state: 'Running' }], ctx(1, T1));
    expect(collecting.startTime).toBe(T0);
    expect(collecting.collectors).toEqual([{ node: 'node-1', state: 'Running' }]);
    expect(collecting.conditions?.every((c) => c.lastTransitionTime === T0)).toBe(true);
    expect(findCondition(collecting.conditions, 'Reconciling')?.reason).toBe(REASON_COLLECTING);
  });

  const completed = buildCompletedStatus(buildProgressStatus(undefined, 'Collecting', [], ctx(1, T0)), diagnosisOf('Unreachable', { suspicions: [{ level: 'fatal', node: 'n', code: 'LinkDown', message: 'eth0 down' }] }), ctx(1, T1));

  it('a re-run of the same generation keeps the last verdict until the new one is in', () => {
    const rerun = buildProgressStatus(completed, 'Collecting', [], ctx(1, T2));
    expect(rerun).toMatchObject({ phase: 'Collecting', verdict: 'Unreachable', suspicionCount: 1, startTime: T2, completionTime: T1 });
    expect(findCondition(rerun.conditions, 'Reachable')).toMatchObject({ status: 'False', reason: REASON_UNREACHABLE, lastTransitionTime: T1 });
    expect(findCondition(rerun.conditions, 'Ready')).toMatchObject({ status: 'False', lastTransitionTime: T2 });
  });

  it('a new generation drops the verdict of the old spec', () => {
    const changed = buildProgressStatus(completed, 'Pending', [], ctx(2, T2));
    for (const field of ['verdict', 'suspicions', 'suspicionCount', 'packetPath', 'completionTime'] as const) expect(changed[field]).toBeUndefined();
    expect(findCondition(changed.conditions, 'Reachable')).toEqual({ type: 'Reachable', status: 'Unknown', reason: REASON_NOT_DIAGNOSED, message: 'no verdict yet for this spec', observedGeneration: 2, lastTransitionTime: T2 });
    expect(changed).toMatchObject({ observedGeneration: 2, startTime: T2 });
  });
});

describe('buildStalledStatus', () => {
  it('Stalled=True and Ready=False with the reason, Reconciling=False, no verdict, phase Failed', () => {
    const collecting = buildProgressStatus(undefined, 'Collecting', [{ node: 'node-1', state: 'Failed', message: 'deadline exceeded' }], ctx(1, T0));
    const done = buildCompletedStatus(collecting, diagnosisOf('Reachable'), ctx(1, T1));
    const stalled = buildStalledStatus(done, { ...ctx(1, T2), reason: REASON_OBJECT_NOT_FOUND, message: 'pod team/client not found' });
    expect(byType(stalled)).toEqual({
      Ready: { status: 'False', reason: REASON_OBJECT_NOT_FOUND },
      Reachable: { status: 'Unknown', reason: REASON_OBJECT_NOT_FOUND },
      Reconciling: { status: 'False', reason: REASON_OBJECT_NOT_FOUND },
      Stalled: { status: 'True', reason: REASON_OBJECT_NOT_FOUND },
    });
    expect(findCondition(stalled.conditions, 'Stalled')?.message).toBe('pod team/client not found');
    expect(findCondition(stalled.conditions, 'Reachable')?.message).toBe('no verdict: pod team/client not found');
    expect(stalled).toMatchObject({ phase: 'Failed', observedGeneration: 1, collectors: [{ node: 'node-1', state: 'Failed', message: 'deadline exceeded' }], startTime: T0 });
    for (const field of ['verdict', 'suspicions', 'suspicionCount', 'packetPath', 'completionTime'] as const) expect(stalled[field]).toBeUndefined();
    // Reconciling was already False (Completed): no transition.
    expect(findCondition(stalled.conditions, 'Reconciling')?.lastTransitionTime).toBe(T1);
  });

  it('keeps lastHandledRequestAt unless told otherwise', () => {
    const previous: NetworkDiagnosisStatus = { lastHandledRequestAt: 'r1' };
    expect(buildStalledStatus(previous, { ...ctx(1, T0), reason: 'Failed', message: 'x' }).lastHandledRequestAt).toBe('r1');
    expect(buildStalledStatus(previous, { ...ctx(1, T0), lastHandledRequestAt: 'r2', reason: 'Failed', message: 'x' }).lastHandledRequestAt).toBe('r2');
  });
});
