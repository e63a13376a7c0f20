// The diagnosis input: the cluster's Kubernetes objects and the network namespaces of its nodes
// and pods, parsed. Not the collector's snapshot: an adapter builds this from it.

import type { ClusterObjects } from '../model/kube-objects.js';
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
  | { readonly kind: 'missing'; readonly reason: string };

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
}
