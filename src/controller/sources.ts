// The controller's event sources: informers on NetworkDiagnosis objects, collector pods and
// snapshot ConfigMaps, whose handlers only enqueue the `namespace/name` key of the diagnosis
// concerned (STYLE "Controllers"); and the readiness those informers imply.

import { ANNOTATION_DIAGNOSIS, parseDiagnosisKey } from '../kube/labels.js';
import {
  startInformer,
  type InformerBackoff,
  type InformerClock,
  type InformerObject,
  type InformerSpec,
  type KubeObject,
  type InformerState,
  type RunningInformer,
} from '../kube/informer.js';
import type { WorkQueue } from './workqueue.js';

/** Whose key an object's events enqueue: its own (a NetworkDiagnosis), or its diagnosis's (annotation). */
export type KeyOf = 'self' | 'owner';

/** The `namespace/name` key of a NetworkDiagnosis itself. */
export function ownKey(obj: InformerObject): string | undefined {
  const name = obj.metadata?.name;
  const namespace = obj.metadata?.namespace;
  if (name === undefined || name === '' || namespace === undefined || namespace === '') return undefined;
  return `${namespace}/${name}`;
}

/**
 * The key of the diagnosis an object netdiag created belongs to, from its `netdiag.io/diagnosis`
 * annotation (`<namespace>.<name>`; the label may be hashed).
 */
export function ownerKey(obj: InformerObject): string | undefined {
  const ref = parseDiagnosisKey(obj.metadata?.annotations?.[ANNOTATION_DIAGNOSIS]);
  return ref === undefined ? undefined : `${ref.namespace}/${ref.name}`;
}

function keyFor(keyOf: KeyOf, obj: InformerObject): string | undefined {
  switch (keyOf) {
    case 'self':
      return ownKey(obj);
    case 'owner':
      return ownerKey(obj);
  }
}

export interface Readiness {
  readonly ready: boolean;
  /** Why not, one line per informer at fault (empty when ready). */
  readonly reasons: readonly string[];
}

/**
 * Ready when every informer has synced and none has been failing for `thresholdMs` or more: a
 * short blip of the API server does not flip readiness, an outage does.
 */
export function readinessOf(states: readonly InformerState[], now: number, thresholdMs: number): Readiness {
  const reasons: string[] = [];
  for (const state of states) {
    const error = state.lastError !== undefined ? `: ${state.lastError.kind}: ${state.lastError.message}` : '';
    if (state.stopped) reasons.push(`informer ${state.name} is stopped`);
    else if (state.failingSince !== undefined && now - state.failingSince >= thresholdMs) {
      reasons.push(`informer ${state.name} failing for ${now - state.failingSince} ms (${state.failures} failures)${error}`);
    } else if (!state.synced) reasons.push(`informer ${state.name} has not synced${error}`);
  }
  return { ready: reasons.length === 0, reasons };
}

export interface SourceSpecs {
  readonly diagnoses: InformerSpec<KubeObject>;
  readonly collectorPods: InformerSpec<KubeObject>;
  readonly snapshots: InformerSpec<KubeObject>;
}

export interface SourcesOptions {
  /** kube/informer.ts: diagnosisInformerSpec, collectorPodInformerSpec, snapshotConfigMapInformerSpec. */
  readonly specs: SourceSpecs;
  readonly queue: WorkQueue<string>;
  readonly backoff?: InformerBackoff;
  readonly clock?: InformerClock;
  readonly random?: () => number;
  /** How long an informer may fail before readiness goes false; default 30 s. */
  readonly failingThresholdMs?: number;
  /** Informers that enqueue nothing but whose caches the reconciles read (kube/cluster-cache.ts): part of readiness, stopped with the rest. */
  readonly caches?: readonly { states(): InformerState[]; stop(): Promise<void> }[];
}

export interface Sources {
  /** What an informer's cache holds now. */
  cached(spec: keyof SourceSpecs): readonly KubeObject[];
  readiness(): Readiness;
  states(): InformerState[];
  /** Stops every informer for good. */
  stop(): Promise<void>;
}

const SOURCES: readonly { readonly spec: keyof SourceSpecs; readonly keyOf: KeyOf }[] = [
  { spec: 'diagnoses', keyOf: 'self' },
  { spec: 'collectorPods', keyOf: 'owner' },
  { spec: 'snapshots', keyOf: 'owner' },
];

/**
 * The keys of the diagnoses whose status names a collector pod of `owner` (a key): runs that share
 * its collections (docs/adr/0006-shared-collections.md), which its collectors' and snapshots'
 * events concern too.
 */
export function sharersOf(owner: string, collectorPods: readonly KubeObject[], diagnoses: readonly KubeObject[]): string[] {
  const pods = new Set(collectorPods.filter((p) => ownerKey(p) === owner).map((p) => p.metadata?.name));
  if (pods.size === 0) return [];
  return diagnoses.flatMap((d) => {
    const key = ownKey(d);
    const collectors = (d as { readonly status?: { readonly collectors?: readonly { readonly pod?: string }[] } }).status?.collectors ?? [];
    return key !== undefined && key !== owner && collectors.some((c) => pods.has(c.pod)) ? [key] : [];
  });
}

/**
 * Starts the informers; each event enqueues keys, nothing else: a NetworkDiagnosis's own; a
 * collector pod's or snapshot's diagnosis, and the diagnoses sharing its collections.
 */
export function startSources(options: SourcesOptions): Sources {
  const threshold = options.failingThresholdMs ?? 30_000;
  const now = (): number => (options.clock ?? { now: () => Date.now() }).now();
  const cached = (spec: keyof SourceSpecs): readonly KubeObject[] => informers[SOURCES.findIndex((s) => s.spec === spec)]?.list() ?? [];
  const informers: RunningInformer<KubeObject>[] = SOURCES.map(({ spec, keyOf }) =>
    startInformer({
      ...options.specs[spec],
      onEvent: (_type, obj) => {
        const key = keyFor(keyOf, obj);
        if (key === undefined) return;
        options.queue.add(key);
        if (keyOf === 'owner') for (const sharer of sharersOf(key, cached('collectorPods'), cached('diagnoses'))) options.queue.add(sharer);
      },
      ...(options.backoff !== undefined ? { backoff: options.backoff } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      ...(options.random !== undefined ? { random: options.random } : {}),
    }),
  );
  const caches = options.caches ?? [];
  const states = (): InformerState[] => [...informers.map((informer) => informer.state()), ...caches.flatMap((cache) => cache.states())];
  return {
    cached,
    states,
    readiness: () => readinessOf(states(), now(), threshold),
    async stop() {
      await Promise.all([...informers.map((informer) => informer.stop()), ...caches.map((cache) => cache.stop())]);
    },
  };
}
