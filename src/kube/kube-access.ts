// Everything the NetworkDiagnosis reconciler reads and writes in the API server, from one
// KubeConfig: the CR (diagnosis-client.ts), its collectors and snapshots (collector-client.ts) and
// the cluster's objects (cluster-reader.ts, or the operator's cache). It is the controller's ReconcilerKube, which kube/
// cannot name (kube/ does not import controller/); the composition root checks the fit.

import type { KubeConfig } from '@kubernetes/client-node';
import { createClusterReader, type ClusterReader } from './cluster-reader.js';
import { createCollectorClient, type CollectorClient } from './collector-client.js';
import { createDiagnosisClient, type DiagnosisClient } from './diagnosis-client.js';
import type { RetryOptions } from './retry.js';

export type KubeAccess = DiagnosisClient & CollectorClient & ClusterReader;

/** `cluster`: where the cluster's objects come from (the operator's caches, cluster-cache.ts); default a fresh list each time. */
export function createKubeAccess(config: KubeConfig, retry: RetryOptions = {}, cluster: ClusterReader = createClusterReader(config, retry)): KubeAccess {
  return { ...createDiagnosisClient(config, retry), ...createCollectorClient(config, retry), readClusterObjects: () => cluster.readClusterObjects() };
}
