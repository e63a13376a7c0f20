// The diagnosis input: the cluster's Kubernetes objects and the network namespaces of its nodes
// and pods, parsed. Not the collector's snapshot: an adapter builds this from it.

import type { ClusterObjects } from '../model/kube-objects.js';
import type { NetnsState } from './netns-state.js';

/** A namespace's state, or why it is not there (its collector failed, the pod has no netns yet...). */
export type NetnsRecord = { readonly kind: 'present'; readonly state: NetnsState } | { readonly kind: 'missing'; readonly reason: string };

export interface ClusterState {
  readonly objects: ClusterObjects;
  readonly netns: {
    /** By node name: the host network namespace. */
    readonly nodes: Readonly<Record<string, NetnsRecord>>;
    /** By `namespace/name` of the pod (pods on the host network have none). */
    readonly pods: Readonly<Record<string, NetnsRecord>>;
  };
}
