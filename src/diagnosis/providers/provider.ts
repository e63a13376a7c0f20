// What a cloud or infrastructure provider contributes to a diagnosis: the network between the
// nodes and beyond them, which no node's dumps show (security groups, VPC route tables, firewall
// rules, source/destination checks). A provider's InfraShim judges each underlay crossing.

import type { PathLink, Suspicion } from '../model/diagnosis.js';
import type { ClusterState } from '../plugins/cluster-state.js';

/** A packet crossing the infrastructure: between two nodes, or from a node to outside the cluster. */
export interface UnderlayCrossing {
  readonly link: PathLink;
  /** The receiving end: a node of the cluster, or an address outside it. */
  readonly to: { readonly kind: 'node'; readonly name: string } | { readonly kind: 'external'; readonly address: string };
}

export interface InfraShim {
  /** Suspicions about the infrastructure carrying these crossings (all of one diagnosis). */
  checkCrossings(cluster: ClusterState, crossings: readonly UnderlayCrossing[]): readonly Suspicion[];
}

export interface Provider {
  readonly name: string;
  readonly infra: InfraShim;
}
