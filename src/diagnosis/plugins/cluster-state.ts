// The diagnosis input: the cluster's Kubernetes objects and the network namespaces of its nodes
// and pods, parsed. Not the collector's snapshot: an adapter builds this from it.

import type { ClusterObjects } from '../model/kube-objects.js';
import type { CniRecordFile } from './cni-records.js';
import type { NetnsState } from './netns-state.js';

/**
 * A namespace's state; or its state parsed on first use (a diagnosis reads only the namespaces on
 * its path, so a large cluster's dumps are never all parsed); or why it is not there (its collector
 * failed, the pod has no netns yet...). A `deferred` load throws the parsers' error (naming the
 * dump and line) when the dumps cannot be read.
 */
export type NetnsRecord =
  | { readonly kind: 'present'; readonly state: NetnsState }
  | { readonly kind: 'deferred'; load(): NetnsState }
  | {
      readonly kind: 'missing';
      readonly reason: string;
      /** The collector of its node failed (rather than the namespace not being found or not asked for). */
      readonly collectorFailed?: boolean;
    };

/** A file of a node's CNI configuration directory, as its collector read it. */
export interface CniConfigFile {
  readonly path: string;
  /** The file's text; absent when it could not be read (see `error`). */
  readonly content?: string;
  readonly error?: string;
}

export interface ClusterState {
  readonly objects: ClusterObjects;
  readonly netns: {
    /** By node name: the host network namespace. */
    readonly nodes: Readonly<Record<string, NetnsRecord>>;
    /** By `namespace/name` of the pod (pods on the host network have none). */
    readonly pods: Readonly<Record<string, NetnsRecord>>;
  };
  /** By node name: the files of its CNI configuration directory, in lexical order, when collected. */
  readonly cniConfigs?: Readonly<Record<string, readonly CniConfigFile[]>>;
  /** By node name: netdiag's CNI call record files (`netdiag-cni-tap`), when collected and any exist. */
  readonly cniRecords?: Readonly<Record<string, readonly CniRecordFile[]>>;
}

type DeferredRecord = Extract<NetnsRecord, { kind: 'deferred' }>;

/** Each deferred record's outcome, so that the engine and every plugin parse it once. */
const loads = new WeakMap<DeferredRecord, { readonly state: NetnsState } | { readonly error: unknown }>();

/** The state of a deferred record, parsed on the first call; throws the parser's error (every time). */
export function loadDeferredNetns(record: DeferredRecord): NetnsState {
  let outcome = loads.get(record);
  if (outcome === undefined) {
    try {
      outcome = { state: record.load() };
    } catch (error) {
      outcome = { error };
    }
    loads.set(record, outcome);
  }
  if ('error' in outcome) throw outcome.error;
  return outcome.state;
}

/**
 * The state of a namespace a plugin reads beside the path (a pod's node, a subject pod): undefined
 * when missing or unreadable (the engine reports unreadable dumps where the walk meets them).
 */
export function netnsStateOf(record: NetnsRecord | undefined): NetnsState | undefined {
  switch (record?.kind) {
    case undefined:
    case 'missing':
      return undefined;
    case 'present':
      return record.state;
    case 'deferred':
      try {
        return loadDeferredNetns(record);
      } catch {
        return undefined;
      }
  }
}

