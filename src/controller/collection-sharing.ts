// Which collections of other diagnoses a run may use instead of starting collectors of its own
// (docs/adr/0006-shared-collections.md). A hundred diagnoses applied at once across the same two
// nodes need two snapshots, not two hundred collector pods. Pure, but for sharingFromCaches, which
// reads the operator's informer caches.
//
// A run may use another diagnosis's collection of a node when:
//   - the operator created that collector no earlier than this run started, so its snapshot shows
//     the node as it was after this run was asked for (a re-run after a fix never reads a
//     snapshot taken before the fix);
//   - it was asked to find every pod this run needs on the node, with the same uid and addresses;
//   - it has not failed (a failed collection is not reused: this run starts its own);
//   - it is not being deleted.
// Among several, the earliest created, so that all the runs waiting on a node pick the same one.

import type { NetworkDiagnosis } from '../api/v1alpha1/index.js';
import { collectionsOf, type CollectionView } from '../kube/collections.js';
import type { CollectorPodRef } from '../kube/collector-pod.js';
import type { KubeObject } from '../kube/informer.js';
import { collectorPhaseOf, type SharedObservation } from './next-step.js';
import type { DiagnosisRef } from './reconciler.js';

/** What other diagnoses are doing, as sharing collections needs to know it. */
export interface SharingSource {
  /** Every collection in the operator's namespace. */
  collections(): readonly CollectionView[];
  /** Whether a diagnosis other than `ref` has a run that started at or before `at` (ms) and has not finished. */
  otherRunStartedBy(ref: DiagnosisRef, at: number): boolean;
}

export interface SharingQuery {
  readonly self: DiagnosisRef;
  /** When this run started (status.startTime), ms since the epoch. */
  readonly runStart: number;
  /** The nodes this run needs and has neither a collector nor a snapshot of. */
  readonly nodes: readonly string[];
  /** The pods each node's collector must find (what this run would hand its own). */
  readonly pods: ReadonlyMap<string, readonly CollectorPodRef[]>;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && [...a].sort().join(' ') === [...b].sort().join(' ');

/** Whether `list` holds every pod of `wanted` as the same object (uid) with the same addresses. */
function covers(list: readonly CollectorPodRef[], wanted: readonly CollectorPodRef[]): boolean {
  return wanted.every((w) => {
    const found = list.find((p) => p.namespace === w.namespace && p.name === w.name);
    if (found === undefined) return false;
    if (w.uid !== undefined && found.uid !== w.uid) return false;
    return (found.hostNetwork ?? false) === (w.hostNetwork ?? false) && sameSet(found.ips, w.ips);
  });
}

function usable(c: CollectionView, q: SharingQuery): boolean {
  if (c.diagnosis.namespace === q.self.namespace && c.diagnosis.name === q.self.name) return false;
  if (c.terminating || c.createdAt < q.runStart || c.pods === undefined) return false;
  if (c.phase === 'Failed' || (c.phase === 'Succeeded' && !c.delivered)) return false;
  return covers(c.pods, q.pods.get(c.node) ?? []);
}

/** The collection this run uses for each node it may share (nodes absent from the map need their own). */
export function chooseSharedCollections(q: SharingQuery, collections: readonly CollectionView[]): Map<string, SharedObservation> {
  const chosen = new Map<string, SharedObservation>();
  const needed = new Set(q.nodes);
  const order = (c: CollectionView): string => `${c.diagnosis.namespace}/${c.diagnosis.name}`;
  const candidates = collections.filter((c) => needed.has(c.node) && usable(c, q)).sort((a, b) => a.createdAt - b.createdAt || order(a).localeCompare(order(b)));
  for (const c of candidates) {
    if (chosen.has(c.node)) continue;
    chosen.set(c.node, {
      node: c.node,
      pod: c.pod,
      phase: collectorPhaseOf(c.phase),
      ...(c.problem !== undefined ? { problem: c.problem } : {}),
      createdAt: c.createdAt,
      owner: order(c),
      delivered: c.delivered,
    });
  }
  return chosen;
}

const RUNNING = new Set(['Pending', 'Collecting', 'Diagnosing']);

/** Whether one of `diagnoses` other than `ref` runs a run (of its current spec) that started at or before `at`. */
export function otherRunStartedBy(diagnoses: readonly NetworkDiagnosis[], ref: DiagnosisRef, at: number): boolean {
  return diagnoses.some((d) => {
    if (d.metadata.namespace === ref.namespace && d.metadata.name === ref.name) return false;
    const status = d.status;
    if (status?.phase === undefined || !RUNNING.has(status.phase) || status.observedGeneration !== d.metadata.generation) return false;
    const started = Date.parse(status.startTime ?? '');
    return !Number.isNaN(started) && started <= at;
  });
}

/** The operator's informer caches (NetworkDiagnosis objects; its namespace's pods and ConfigMaps) as a SharingSource. */
export function sharingFromCaches(caches: { readonly diagnoses: () => readonly KubeObject[]; readonly collectorPods: () => readonly KubeObject[]; readonly configMaps: () => readonly KubeObject[] }): SharingSource {
  return {
    collections: () => collectionsOf(caches.collectorPods(), caches.configMaps()),
    // The diagnosis informer holds NetworkDiagnosis objects as the API server sent them.
    otherRunStartedBy: (ref, at) => otherRunStartedBy(caches.diagnoses() as readonly NetworkDiagnosis[], ref, at),
  };
}
