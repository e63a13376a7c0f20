import { describe, expect, it } from '@jest/globals';
import type { InformerState, KubeObject } from '../kube/informer.js';
import { ownerKey, ownKey, readinessOf, sharersOf } from './sources.js';

describe('keys', () => {
  it.each([
    { metadata: { namespace: 'shop', name: 'web-to-db' }, key: 'shop/web-to-db' },
    { metadata: { name: 'cluster-scoped' }, key: undefined },
    { metadata: { namespace: 'shop' }, key: undefined },
    { metadata: undefined, key: undefined },
  ])('own key of $metadata is $key', ({ metadata, key }) => {
    expect(ownKey({ ...(metadata !== undefined ? { metadata } : {}) })).toBe(key);
  });

  it.each([
    { annotation: 'shop.web-to-db', key: 'shop/web-to-db' },
    // Names may have dots, namespaces may not: the first dot separates them.
    { annotation: 'shop.web.to.db', key: 'shop/web.to.db' },
    { annotation: 'nodot', key: undefined },
    { annotation: '.name', key: undefined },
    { annotation: 'shop.', key: undefined },
    { annotation: undefined, key: undefined },
  ])('owner key of annotation $annotation is $key', ({ annotation, key }) => {
    const annotations: Record<string, string> = annotation !== undefined ? { 'netdiag.io/diagnosis': annotation } : {};
    // The label may be hashed; only the annotation counts.
    expect(ownerKey({ metadata: { namespace: 'netdiag', name: 'pod', labels: { 'netdiag.io/diagnosis': 'other.thing' }, annotations } })).toBe(key);
  });
});

describe('readinessOf', () => {
  const healthy: InformerState = { name: 'networkdiagnoses', synced: true, failures: 0, restarts: 0, stopped: false };
  const forbidden = { kind: 'forbidden', status: 403, reason: 'Forbidden', message: 'pods is forbidden', retryable: false } as const;

  it.each<{ name: string; state: InformerState; ready: boolean; reason?: string }>([
    { name: 'synced and healthy', state: healthy, ready: true },
    { name: 'not synced yet', state: { ...healthy, synced: false }, ready: false, reason: 'informer networkdiagnoses has not synced' },
    { name: 'synced, failing shorter than the threshold', state: { ...healthy, failures: 2, failingSince: 1000, lastError: forbidden }, ready: true },
    {
      name: 'synced, failing for the threshold',
      state: { ...healthy, failures: 3, failingSince: 0, lastError: forbidden },
      ready: false,
      reason: 'informer networkdiagnoses failing for 30000 ms (3 failures): forbidden: pods is forbidden',
    },
    {
      name: 'never synced, failing shorter than the threshold',
      state: { ...healthy, synced: false, failures: 1, failingSince: 29_000, lastError: forbidden },
      ready: false,
      reason: 'informer networkdiagnoses has not synced: forbidden: pods is forbidden',
    },
    { name: 'stopped', state: { ...healthy, stopped: true }, ready: false, reason: 'informer networkdiagnoses is stopped' },
  ])('$name', ({ state, ready, reason }) => {
    expect(readinessOf([healthy, state], 30_000, 30_000)).toEqual({ ready, reasons: reason !== undefined ? [reason] : [] });
  });
});

const pod = (name: string, owner: string): KubeObject => ({ metadata: { name, namespace: 'netdiag-system', annotations: { 'netdiag.io/diagnosis': owner } } });
const diagnosis = (name: string, pods: string[]): KubeObject =>
  ({ metadata: { name, namespace: 'shop' }, status: { collectors: pods.map((p, i) => ({ node: `n${i}`, pod: p, state: 'Running' })) } }) as KubeObject;

describe('sharersOf', () => {
  const pods = [pod('c-lender-n1', 'shop.lender'), pod('c-lender-n2', 'shop.lender'), pod('c-other-n1', 'shop.other')];

  it('names the diagnoses whose status names a collector pod of the owner, not the owner itself', () => {
    const diagnoses = [diagnosis('lender', ['c-lender-n1', 'c-lender-n2']), diagnosis('borrower', ['c-lender-n1', 'c-borrower-n2']), diagnosis('elsewhere', ['c-other-n1']), diagnosis('new', [])];
    expect(sharersOf('shop/lender', pods, diagnoses)).toEqual(['shop/borrower']);
  });

  it('names none when the owner has no collector pod left', () => {
    expect(sharersOf('shop/gone', pods, [diagnosis('borrower', ['c-gone-n1'])])).toEqual([]);
  });
});
