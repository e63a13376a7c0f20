import { describe, expect, it } from '@jest/globals';
import type { NetworkDiagnosis, NetworkDiagnosisStatus } from '../api/v1alpha1/index.js';
import type { CollectionView } from '../kube/collections.js';
import type { CollectorPodRef } from '../kube/collector-pod.js';
import { chooseSharedCollections, otherRunStartedBy, type SharingQuery } from './collection-sharing.js';

const T = Date.parse('2026-11-25T12:00:00Z');
const client: CollectorPodRef = { namespace: 'shop', name: 'client', uid: 'u-client', ips: ['10.244.1.5'] };
const server: CollectorPodRef = { namespace: 'shop', name: 'server', uid: 'u-server', ips: ['10.244.2.7'] };

const query: SharingQuery = {
  self: { namespace: 'shop', name: 'mine' },
  runStart: T,
  nodes: ['n1', 'n2'],
  pods: new Map([
    ['n1', [client]],
    ['n2', [server]],
  ]),
};

function collection(over: Partial<CollectionView> & { owner?: string } = {}): CollectionView {
  const { owner = 'other', ...rest } = over;
  return {
    diagnosis: { namespace: 'shop', name: owner },
    node: 'n1',
    pod: `netdiag-${owner}-${over.node ?? 'n1'}`,
    phase: 'Running',
    createdAt: T + 100,
    terminating: false,
    pods: [client],
    delivered: false,
    ...rest,
  };
}

const chosen = (collections: CollectionView[], q: SharingQuery = query): Record<string, string> =>
  Object.fromEntries([...chooseSharedCollections(q, collections)].map(([node, c]) => [node, `${c.owner}:${c.pod}`]));

describe('chooseSharedCollections', () => {
  it('uses a collection of the node created after the run started, running or delivered', () => {
    expect(chosen([collection(), collection({ owner: 'third', node: 'n2', pods: [server], phase: 'Succeeded', delivered: true })])).toEqual({
      n1: 'shop/other:netdiag-other-n1',
      n2: 'shop/third:netdiag-third-n2',
    });
  });

  it.each<[string, Partial<CollectionView> & { owner?: string }]>([
    ['created before the run started (it may predate a fix the run was asked after)', { createdAt: T - 1 }],
    ['of this very diagnosis (its own are observed apart)', { owner: 'mine' }],
    ['being deleted', { terminating: true }],
    ['failed', { phase: 'Failed' }],
    ['ended without a snapshot', { phase: 'Succeeded', delivered: false }],
    ['whose pod list is unknown', { pods: undefined }],
    ['asked for another pod', { pods: [{ ...client, name: 'someone' }] }],
    ['asked for a pod of the same name but another uid (re-created)', { pods: [{ ...client, uid: 'u-old' }] }],
    ['asked for the pod at another address', { pods: [{ ...client, ips: ['10.244.1.99'] }] }],
    ['of a node the run does not need', { node: 'n3' }],
  ])('does not use a collection %s', (_why, over) => {
    expect(chosen([collection(over)])).toEqual({});
  });

  it('takes a list with more pods than the run needs', () => {
    expect(chosen([collection({ pods: [client, { namespace: 'kube-system', name: 'dns', ips: ['10.244.1.2'] }] })])).toEqual({ n1: 'shop/other:netdiag-other-n1' });
  });

  it('picks the earliest of several, so that every waiting run picks the same one', () => {
    const later = collection({ owner: 'b-later', createdAt: T + 500 });
    const earlier = collection({ owner: 'z-earlier', createdAt: T + 200 });
    const tie = collection({ owner: 'a-tie', createdAt: T + 200 });
    expect(chosen([later, earlier, tie])).toEqual({ n1: 'shop/a-tie:netdiag-a-tie-n1' });
  });
});

describe('otherRunStartedBy', () => {
  const d = (name: string, status?: NetworkDiagnosisStatus, generation = 1): NetworkDiagnosis => ({
    apiVersion: 'netdiag.io/v1alpha1',
    kind: 'NetworkDiagnosis',
    metadata: { namespace: 'shop', name, generation },
    spec: { source: { pod: { name: 'client' } }, destination: { pod: { name: 'server' } }, port: 80, protocol: 'TCP' },
    ...(status !== undefined ? { status } : {}),
  });
  const running = (startMs: number, phase: NetworkDiagnosisStatus['phase'] = 'Collecting'): NetworkDiagnosisStatus => ({ observedGeneration: 1, phase, startTime: new Date(startMs).toISOString() });
  const me = { namespace: 'shop', name: 'lender' };

  it.each<[string, NetworkDiagnosis[], boolean]>([
    ['another run started before the collector', [d('b', running(T - 10))], true],
    ['one started at the same millisecond', [d('b', running(T, 'Pending'))], true],
    ['only runs started after it', [d('b', running(T + 10))], false],
    ['only finished runs', [d('b', { ...running(T - 10), phase: 'Completed' })], false],
    ['a run of a spec since changed (its status is of an older generation)', [d('b', running(T - 10), 2)], false],
    ['a diagnosis with no status yet', [d('b')], false],
    ['only its own run', [d('lender', running(T - 10))], false],
  ])('%s: %s', (_what, diagnoses, expected) => {
    expect(otherRunStartedBy(diagnoses, me, T)).toBe(expected);
  });
});
