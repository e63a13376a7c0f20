// The collections in the operator's namespace as one view: every collector pod (whose diagnosis,
// on which node, when the operator created it, its phase), the pods it was asked to find (its
// pod-list ConfigMap) and whether its node's snapshot is complete. Built from the objects the
// operator's informers cache, for a diagnosis that may share another's collection
// (controller/collection-sharing.ts); a hint that the reading of the snapshot checks again.

import type { V1ConfigMap, V1Pod } from '@kubernetes/client-node';
import { collectorPodInfo, completeSnapshots, type CollectorPodInfo, type DiagnosisRef } from './collector-client.js';
import type { KubeObject } from './informer.js';
import { COLLECTOR_COMPONENT, PODS_KEY, podListConfigMapName, type CollectorPodRef } from './collector-pod.js';
import { ANNOTATION_DIAGNOSIS, diagnosisKey, LABEL_COMPONENT, parseDiagnosisKey } from './labels.js';

export interface CollectionView extends CollectorPodInfo {
  /** The diagnosis the collector pod was created for. */
  readonly diagnosis: DiagnosisRef;
  /** The pods it was asked to find; undefined when its pod-list ConfigMap is not (or no longer) there or unreadable. */
  readonly pods?: readonly CollectorPodRef[];
  /** Its node's snapshot is complete. */
  readonly delivered: boolean;
}

function podListOf(configMap: V1ConfigMap | undefined): readonly CollectorPodRef[] | undefined {
  const text = configMap?.data?.[PODS_KEY];
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return Array.isArray(parsed) ? (parsed as CollectorPodRef[]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The collections that `objects` (the operator namespace's managed pods and ConfigMaps, as its
 * informers cache them: the API server's objects of those kinds) show.
 */
export function collectionsOf(podObjects: readonly KubeObject[], configMapObjects: readonly KubeObject[]): CollectionView[] {
  const pods = podObjects as readonly V1Pod[];
  const configMaps = configMapObjects as readonly V1ConfigMap[];
  const podLists = new Map(configMaps.filter((cm) => cm.metadata?.labels?.[LABEL_COMPONENT] === COLLECTOR_COMPONENT).map((cm) => [cm.metadata?.name ?? '', cm]));
  const delivered = completeSnapshots(configMaps.filter((cm) => cm.metadata?.labels?.[LABEL_COMPONENT] !== COLLECTOR_COMPONENT));
  const views: CollectionView[] = [];
  for (const pod of pods) {
    if (pod.metadata?.labels?.[LABEL_COMPONENT] !== COLLECTOR_COMPONENT) continue;
    const diagnosis = parseDiagnosisKey(pod.metadata.annotations?.[ANNOTATION_DIAGNOSIS]);
    if (diagnosis === undefined) continue;
    const info = collectorPodInfo(pod);
    const list = podListOf(podLists.get(podListConfigMapName(info.pod)));
    views.push({
      ...info,
      diagnosis,
      ...(list !== undefined ? { pods: list } : {}),
      delivered: delivered.get(diagnosisKey(diagnosis))?.has(info.node) ?? false,
    });
  }
  return views;
}
