// The collector pods of a diagnosis and their pod-list ConfigMaps, and the snapshots they send
// back, as the controller handles them in the operator's namespace: list (by the diagnosis's label,
// checked against the full value in the annotation), create (ConfigMap, then pod; a name already
// taken counts as created, so a repeated reconcile is harmless), and delete by label.

import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Pod } from '@kubernetes/client-node';
import type { Snapshot } from '../collector/snapshot.js';
import { buildCollectorPod, buildCollectorPodsConfigMap, COLLECTOR_COMPONENT, type CollectorPodOptions } from './collector-pod.js';
import { KubeApiError } from './errors.js';
import { ANNOTATION_CHUNK, ANNOTATION_CHUNKS, ANNOTATION_CREATED_AT, ANNOTATION_DIAGNOSIS, ANNOTATION_NODE, diagnosisKey, LABEL_COMPONENT, LABEL_DIAGNOSIS, LABEL_MANAGED_BY, LABEL_SNAPSHOT, labelValueOf, MANAGED_BY } from './labels.js';
import { callApi, type RetryOptions } from './retry.js';
import { deleteSnapshotConfigMaps, listConfigMaps, readSnapshotConfigMaps, snapshotSelector } from './snapshot-configmaps.js';

export interface DiagnosisRef {
  readonly namespace: string;
  readonly name: string;
}

/** A collector pod as the API server shows it. */
export interface CollectorPodInfo {
  readonly node: string;
  readonly pod: string;
  /** status.phase (Pending when not set yet). */
  readonly phase: string;
  /** Why it failed or waits: the pod's reason and message, a container's waiting or terminated reason. */
  readonly problem?: string;
  /** When the operator created it (its created-at annotation), else metadata.creationTimestamp; ms since the epoch. */
  readonly createdAt: number;
  readonly terminating: boolean;
}

export interface SnapshotInventory {
  /** Nodes with a snapshot whose chunks are all there. */
  readonly complete: readonly string[];
  /** Any snapshot ConfigMap of the diagnosis exists. */
  readonly present: boolean;
}

export interface CollectorClient {
  listCollectors(namespace: string, diagnosis: DiagnosisRef): Promise<CollectorPodInfo[]>;
  /** Creates the node's pod-list ConfigMap, then its collector pod; either existing already is fine. */
  createCollector(options: CollectorPodOptions): Promise<void>;
  /** Deletes every collector pod and pod-list ConfigMap of the diagnosis. */
  deleteCollectors(namespace: string, diagnosis: DiagnosisRef): Promise<void>;
  listSnapshots(namespace: string, diagnosis: DiagnosisRef): Promise<SnapshotInventory>;
  readSnapshot(namespace: string, diagnosis: DiagnosisRef, node: string): Promise<{ snapshot: Snapshot; source: string }>;
  deleteSnapshots(namespace: string, diagnosis: DiagnosisRef): Promise<void>;
}

/** The label selector of the collector pods (and pod-list ConfigMaps) of a diagnosis. */
export function collectorSelector(diagnosis: DiagnosisRef): string {
  return [`${LABEL_MANAGED_BY}=${MANAGED_BY}`, `${LABEL_COMPONENT}=${COLLECTOR_COMPONENT}`, `${LABEL_DIAGNOSIS}=${labelValueOf(diagnosisKey(diagnosis))}`].join(',');
}

function problemOf(pod: V1Pod): string | undefined {
  const parts: string[] = [];
  const status = pod.status;
  if (status?.reason !== undefined) parts.push(status.message !== undefined ? `${status.reason}: ${status.message}` : status.reason);
  else if (status?.message !== undefined) parts.push(status.message);
  for (const c of status?.containerStatuses ?? []) {
    const waiting = c.state?.waiting;
    const terminated = c.state?.terminated;
    if (waiting?.reason !== undefined && waiting.reason !== 'ContainerCreating') parts.push(`container ${c.name} ${waiting.reason}${waiting.message !== undefined ? `: ${waiting.message}` : ''}`);
    if (terminated !== undefined && terminated.exitCode !== 0) parts.push(`container ${c.name} exited ${terminated.exitCode}${terminated.reason !== undefined ? ` (${terminated.reason})` : ''}${terminated.message !== undefined ? `: ${terminated.message.trim()}` : ''}`);
  }
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/** What the controller reads of a collector pod: its node, phase, problem, age. */
export function collectorPodInfo(pod: V1Pod): CollectorPodInfo {
  const problem = problemOf(pod);
  // The operator's own stamp (its clock, milliseconds) when it has one, so that the deadline and
  // the sharing rule compare times of one clock; else the API server's creationTimestamp (watch
  // events carry it as RFC 3339 text where lists carry a Date: new Date() takes both).
  const stamped = Date.parse(pod.metadata?.annotations?.[ANNOTATION_CREATED_AT] ?? '');
  const created = pod.metadata?.creationTimestamp;
  return {
    node: pod.metadata?.annotations?.[ANNOTATION_NODE] ?? pod.spec?.nodeName ?? '',
    pod: pod.metadata?.name ?? '',
    phase: pod.status?.phase ?? 'Pending',
    ...(problem !== undefined ? { problem } : {}),
    createdAt: !Number.isNaN(stamped) ? stamped : created !== undefined ? new Date(created).getTime() : 0,
    terminating: pod.metadata?.deletionTimestamp !== undefined,
  };
}

/**
 * The nodes whose snapshot is complete, by diagnosis key (`<namespace>.<name>`), from snapshot
 * ConfigMaps: a snapshot (one id) is complete when every chunk index its chunks announce is there.
 */
export function completeSnapshots(configMaps: readonly V1ConfigMap[]): Map<string, Set<string>> {
  const chunks = new Map<string, { diagnosis: string; node: string; expected: number; seen: Set<string> }>();
  for (const cm of configMaps) {
    const annotations = cm.metadata?.annotations ?? {};
    const diagnosis = annotations[ANNOTATION_DIAGNOSIS] ?? '';
    const node = annotations[ANNOTATION_NODE] ?? '';
    const key = `${diagnosis}\n${node}\n${cm.metadata?.labels?.[LABEL_SNAPSHOT] ?? ''}`;
    const entry = chunks.get(key) ?? { diagnosis, node, expected: Number(annotations[ANNOTATION_CHUNKS]), seen: new Set<string>() };
    entry.seen.add(annotations[ANNOTATION_CHUNK] ?? '');
    chunks.set(key, entry);
  }
  const complete = new Map<string, Set<string>>();
  for (const { diagnosis, node, expected, seen } of chunks.values()) {
    if (!Number.isInteger(expected) || expected <= 0 || ![...Array(expected).keys()].every((i) => seen.has(String(i)))) continue;
    complete.set(diagnosis, (complete.get(diagnosis) ?? new Set<string>()).add(node));
  }
  return complete;
}

const mine = (diagnosis: DiagnosisRef) => (obj: V1Pod | V1ConfigMap): boolean => obj.metadata?.annotations?.[ANNOTATION_DIAGNOSIS] === diagnosisKey(diagnosis);

async function createIgnoringExisting(description: string, resource: string, namespace: string, create: () => Promise<unknown>, retry: RetryOptions): Promise<void> {
  try {
    await callApi({ description, verb: 'create', resource, namespace }, create, retry);
  } catch (error) {
    if (!(error instanceof KubeApiError && error.kind === 'already-exists')) throw error;
  }
}

export function createCollectorClient(config: KubeConfig, retry: RetryOptions = {}): CollectorClient {
  const core = config.makeApiClient(CoreV1Api);
  return {
    async listCollectors(namespace: string, diagnosis: DiagnosisRef): Promise<CollectorPodInfo[]> {
      const labelSelector = collectorSelector(diagnosis);
      const list = await callApi({ description: `list pods in ${namespace} (${labelSelector})`, verb: 'list', resource: 'pods', namespace }, () => core.listNamespacedPod({ namespace, labelSelector }), retry);
      return list.items.filter(mine(diagnosis)).map(collectorPodInfo);
    },

    async createCollector(options: CollectorPodOptions): Promise<void> {
      const ns = options.namespace;
      const configMap = buildCollectorPodsConfigMap(options);
      const pod = buildCollectorPod(options);
      await createIgnoringExisting(`create configmap ${ns}/${configMap.metadata?.name ?? ''}`, 'configmaps', ns, () => core.createNamespacedConfigMap({ namespace: ns, body: configMap }), retry);
      await createIgnoringExisting(`create pod ${ns}/${pod.metadata?.name ?? ''}`, 'pods', ns, () => core.createNamespacedPod({ namespace: ns, body: pod }), retry);
    },

    async deleteCollectors(namespace: string, diagnosis: DiagnosisRef): Promise<void> {
      const labelSelector = collectorSelector(diagnosis);
      await callApi({ description: `delete pods in ${namespace} (${labelSelector})`, verb: 'deletecollection', resource: 'pods', namespace }, () => core.deleteCollectionNamespacedPod({ namespace, labelSelector }), retry);
      await callApi(
        { description: `delete configmaps in ${namespace} (${labelSelector})`, verb: 'deletecollection', resource: 'configmaps', namespace },
        () => core.deleteCollectionNamespacedConfigMap({ namespace, labelSelector }),
        retry,
      );
    },

    async listSnapshots(namespace: string, diagnosis: DiagnosisRef): Promise<SnapshotInventory> {
      const labelSelector = snapshotSelector(diagnosis);
      const items = (await listConfigMaps(core, namespace, labelSelector, retry, 100)).filter(mine(diagnosis));
      return { complete: [...(completeSnapshots(items).get(diagnosisKey(diagnosis)) ?? [])].sort(), present: items.length > 0 };
    },

    async readSnapshot(namespace: string, diagnosis: DiagnosisRef, node: string): Promise<{ snapshot: Snapshot; source: string }> {
      const read = await readSnapshotConfigMaps(core, { namespace, diagnosis, node }, retry);
      return { snapshot: read.snapshot, source: `snapshot ${read.snapshotId} of node ${node}` };
    },

    deleteSnapshots(namespace: string, diagnosis: DiagnosisRef): Promise<void> {
      return deleteSnapshotConfigMaps(core, namespace, diagnosis, undefined, retry);
    },
  };
}
