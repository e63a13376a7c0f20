// The coordination.k8s.io/v1 Lease that leader election takes and renews: read it, create it, and
// replace it conditionally on the resourceVersion read (a concurrent writer makes the update fail
// with 409 Conflict instead of overwriting another holder). The timing lives in
// controller/leader-election.ts; this module only speaks to the API server.

import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { KubeApiError } from './errors.js';
import { callApi, type RetryOptions } from './retry.js';

/** A Lease's spec as leader election uses it; times in ms since the epoch. */
export interface LeaseRecord {
  /** Empty or absent: nobody holds it (released). */
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime?: number;
  readonly renewTime?: number;
  readonly leaseTransitions: number;
}

/** A Lease as read, with the resourceVersion that makes the next update conditional. */
export interface ObservedLease {
  readonly record: LeaseRecord;
  readonly resourceVersion: string;
}

/** The Lease API leader election needs (an in-memory implementation stands in for it in unit tests). */
export interface LeaseStore {
  /** The lease, or undefined when it does not exist. */
  get(): Promise<ObservedLease | undefined>;
  /** Creates it; resolves false when another process created it first (409 AlreadyExists). */
  create(record: LeaseRecord): Promise<boolean>;
  /** Replaces its spec if its resourceVersion is still `resourceVersion`; resolves false on a 409 Conflict. */
  update(record: LeaseRecord, resourceVersion: string): Promise<boolean>;
  /** For messages: `netdiag-system/netdiag-operator`. */
  readonly description: string;
}

function toRecord(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  const time = (value: Date | undefined): number | undefined => (value === undefined ? undefined : new Date(value).getTime());
  const acquireTime = time(spec.acquireTime);
  const renewTime = time(spec.renewTime);
  return {
    ...(spec.holderIdentity !== undefined && spec.holderIdentity !== '' ? { holderIdentity: spec.holderIdentity } : {}),
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    ...(acquireTime !== undefined ? { acquireTime } : {}),
    ...(renewTime !== undefined ? { renewTime } : {}),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

function toSpec(record: LeaseRecord): V1Lease['spec'] {
  return {
    // An empty holder is how a release is written (client-go writes the same).
    holderIdentity: record.holderIdentity ?? '',
    leaseDurationSeconds: record.leaseDurationSeconds,
    ...(record.acquireTime !== undefined ? { acquireTime: new V1MicroTime(record.acquireTime) } : {}),
    ...(record.renewTime !== undefined ? { renewTime: new V1MicroTime(record.renewTime) } : {}),
    leaseTransitions: record.leaseTransitions,
  };
}

/** The Lease `namespace/name` through the API server. */
export function createLeaseStore(config: KubeConfig, namespace: string, name: string, retry: RetryOptions = {}): LeaseStore {
  const api = config.makeApiClient(CoordinationV1Api);
  const description = `${namespace}/${name}`;
  const op = (verb: string): { description: string; verb: string; resource: string; namespace: string } => ({ description: `${verb} lease ${description}`, verb, resource: 'leases', namespace });
  return {
    description,
    async get() {
      try {
        const lease = await callApi(op('get'), () => api.readNamespacedLease({ name, namespace }), retry);
        return { record: toRecord(lease), resourceVersion: lease.metadata?.resourceVersion ?? '' };
      } catch (error) {
        if (error instanceof KubeApiError && error.kind === 'not-found') return undefined;
        throw error;
      }
    },
    async create(record) {
      try {
        await callApi(op('create'), () => api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: toSpec(record) } }), retry);
        return true;
      } catch (error) {
        if (error instanceof KubeApiError && error.kind === 'already-exists') return false;
        throw error;
      }
    },
    async update(record, resourceVersion) {
      try {
        await callApi(op('update'), () => api.replaceNamespacedLease({ name, namespace, body: { metadata: { name, namespace, resourceVersion }, spec: toSpec(record) } }), retry);
        return true;
      } catch (error) {
        if (error instanceof KubeApiError && error.kind === 'conflict') return false;
        throw error;
      }
    },
  };
}
