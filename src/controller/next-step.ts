// What a reconcile of one NetworkDiagnosis does next, decided from observed state alone: the CR,
// its collector pods, the snapshots that arrived, and the nodes the diagnosis needs. Pure and
// level-triggered: the same observations always give the same step, whatever happened before, so
// a restarted operator resumes a diagnosis where it stands (no duplicate, no orphan), and the
// reconciler only carries the step out and requeues.

import { ANNOTATION_REQUESTED_AT, parseIntervalSeconds, REASON_OBJECT_NOT_FOUND, type NetworkDiagnosis } from '../api/v1alpha1/index.js';

/** Guarantees no collector pod or snapshot outlives its NetworkDiagnosis (they live in another namespace, so no ownerReferences). */
export const FINALIZER = 'netdiag.io/cleanup';

/** How often a running diagnosis is looked at when nothing else wakes it (collector events do). */
export const POLL_MS = 5_000;

/**
 * How often a diagnosis stalled on an object that does not exist looks again: the pod or service
 * may be created after it (a GitOps sync applies in no set order), and its creation is no event
 * of the diagnosis's.
 */
export const OBJECT_RECHECK_MS = 30_000;

export type CollectorPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

const PHASES: readonly CollectorPhase[] = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];

/** A pod's status.phase as a collector phase (Unknown for anything else). */
export function collectorPhaseOf(phase: string): CollectorPhase {
  return PHASES.find((p) => p === phase) ?? 'Unknown';
}

/**
 * How long a finished run keeps its collection for runs of other diagnoses that may share it
 * (controller/collection-sharing.ts), at most: they started before its collectors, so they are
 * well under way by then; one that is not reads nothing and starts collectors of its own.
 */
export const SHARE_RETENTION_MS = 60_000;

/** A collector pod of this diagnosis, as the pod informer shows it. */
export interface CollectorObservation {
  readonly node: string;
  readonly pod: string;
  readonly phase: CollectorPhase;
  /** Why it failed or is stuck (the pod's reason and message, a NotReady node). */
  readonly problem?: string;
  /** When the pod was created (ms since the epoch). */
  readonly createdAt: number;
}

/** Another diagnosis's collection of a node that this run uses (controller/collection-sharing.ts chose it). */
export interface SharedObservation extends CollectorObservation {
  /** The diagnosis whose collector it is, `namespace/name`. */
  readonly owner: string;
  /** Its snapshot is complete. */
  readonly delivered: boolean;
}

export interface Observations {
  readonly diagnosis: NetworkDiagnosis;
  /** The nodes the diagnosis needs (planCollection), or why they cannot be known. */
  readonly plan: { readonly kind: 'nodes'; readonly nodes: readonly string[] } | { readonly kind: 'unresolvable'; readonly reason: string; readonly message: string };
  readonly collectors: readonly CollectorObservation[];
  /** Nodes whose snapshot of the current run is complete in the API server. */
  readonly snapshots: ReadonlySet<string>;
  /** Any snapshots or collector pods of this diagnosis exist (cleanup left to do). */
  readonly leftovers: boolean;
  /** By node: other diagnoses' collections this run uses, for nodes it has no collector or snapshot of. */
  readonly shared?: ReadonlyMap<string, SharedObservation>;
  /**
   * A run of another diagnosis started no later than this one's collectors and has not finished:
   * it may be using this run's collection, which a finished run then keeps (SHARE_RETENTION_MS).
   */
  readonly mayBeShared?: boolean;
  readonly now: number;
  /** A collector that has not delivered by then (from its creation) has failed. */
  readonly collectorDeadlineMs: number;
}

export type NextStep =
  /** Put the finalizer on first, so that nothing is created that a deletion could orphan. */
  | { readonly kind: 'add-finalizer' }
  /** Being deleted: delete collectors and snapshots; remove the finalizer once none is left. */
  | { readonly kind: 'clean-up'; readonly removeFinalizer: boolean }
  /**
   * The diagnosis cannot run as specified (an unknown pod, a forbidden namespace...): say so. Only
   * a missing object is looked at again (`requeueAfterMs`); the rest wait for a change of the spec.
   */
  | { readonly kind: 'stall'; readonly reason: string; readonly message: string; readonly requeueAfterMs?: number }
  /** A run is due: remove the previous run's collectors and snapshots, mark the status Pending. */
  | { readonly kind: 'start-run'; readonly requestedAt?: string }
  /** Start the collectors still missing. */
  | { readonly kind: 'create-collectors'; readonly nodes: readonly string[] }
  /** Collectors are at work: look again later (their events also wake the reconcile). */
  | { readonly kind: 'wait'; readonly requeueAfterMs: number }
  /** Finished, and runs of other diagnoses may still read this one's collection: keep it, look again later. */
  | { readonly kind: 'keep-for-sharing'; readonly requeueAfterMs: number }
  /**
   * Every collector has delivered or failed: run the diagnostor on what arrived (a failed node is
   * CollectorFailed), write the result, then delete the run's collectors and snapshots.
   */
  | {
      readonly kind: 'diagnose';
      /** Nodes whose snapshot arrived: this run's own, or (`shared`) another diagnosis's. */
      readonly snapshots: readonly string[];
      readonly shared: readonly { readonly node: string; readonly owner: string }[];
      readonly failed: readonly { readonly node: string; readonly reason: string }[];
    }
  /** A finished run left collectors or snapshots behind (a deletion failed): delete them. */
  | { readonly kind: 'remove-leftovers' }
  /** Nothing to do until the next interval, if any. */
  | { readonly kind: 'idle'; readonly requeueAfterMs?: number };

const RUNNING_PHASES = new Set(['Pending', 'Collecting', 'Diagnosing']);

function intervalMs(d: NetworkDiagnosis): number | undefined {
  const seconds = d.spec.interval === undefined ? undefined : parseIntervalSeconds(d.spec.interval);
  return seconds === undefined ? undefined : seconds * 1000;
}

function requestOf(d: NetworkDiagnosis): { readonly requestedAt?: string } {
  const requestedAt = d.metadata.annotations?.[ANNOTATION_REQUESTED_AT];
  return requestedAt !== undefined ? { requestedAt } : {};
}

/** Why a new run is due, or undefined: the spec changed, a re-run was requested, or the interval passed. */
function runDue(d: NetworkDiagnosis, now: number): { readonly requestedAt?: string } | undefined {
  const status = d.status;
  const withRequest = requestOf(d);
  const requestedAt = withRequest.requestedAt;
  if (status?.observedGeneration !== d.metadata.generation || status?.phase === undefined) return withRequest;
  if (requestedAt !== undefined && requestedAt !== status.lastHandledRequestAt) return withRequest;
  const interval = intervalMs(d);
  const completed = status.completionTime === undefined ? undefined : Date.parse(status.completionTime);
  if (interval !== undefined && completed !== undefined && !RUNNING_PHASES.has(status.phase) && completed + interval <= now) return withRequest;
  return undefined;
}

export function decideNextStep(o: Observations): NextStep {
  const d = o.diagnosis;
  const finalized = (d.metadata.finalizers ?? []).includes(FINALIZER);
  if (d.metadata.deletionTimestamp !== undefined) return { kind: 'clean-up', removeFinalizer: finalized && !o.leftovers };
  if (!finalized) return { kind: 'add-finalizer' };
  if (o.plan.kind === 'unresolvable') {
    const recheck = o.plan.reason === REASON_OBJECT_NOT_FOUND ? { requeueAfterMs: OBJECT_RECHECK_MS } : {};
    return { kind: 'stall', reason: o.plan.reason, message: o.plan.message, ...recheck };
  }

  // Stalled before (an object missing, say), and resolvable now: run again.
  const due = d.status?.phase === 'Failed' && d.status.observedGeneration === d.metadata.generation ? { ...requestOf(d) } : runDue(d, o.now);
  const phase = d.status?.phase;
  const running = phase !== undefined && RUNNING_PHASES.has(phase) && d.status?.observedGeneration === d.metadata.generation;
  // A spec change or a new request during a run starts the run again (runDue sees both).
  if (due !== undefined) return { kind: 'start-run', ...due };
  if (!running) {
    if (o.leftovers) {
      const completed = d.status?.completionTime === undefined ? undefined : Date.parse(d.status.completionTime);
      const keepUntil = completed === undefined ? undefined : completed + SHARE_RETENTION_MS;
      if (o.mayBeShared === true && keepUntil !== undefined && keepUntil > o.now) return { kind: 'keep-for-sharing', requeueAfterMs: Math.min(POLL_MS, keepUntil - o.now) };
      return { kind: 'remove-leftovers' };
    }
    const interval = intervalMs(d);
    const completed = d.status?.completionTime === undefined ? undefined : Date.parse(d.status.completionTime);
    return interval !== undefined && completed !== undefined ? { kind: 'idle', requeueAfterMs: Math.max(0, completed + interval - o.now) } : { kind: 'idle' };
  }

  const byNode = new Map(o.collectors.map((c) => [c.node, c]));
  const shared = o.shared ?? new Map<string, SharedObservation>();
  const missing = o.plan.nodes.filter((n) => !byNode.has(n) && !o.snapshots.has(n) && !shared.has(n));
  if (missing.length > 0) return { kind: 'create-collectors', nodes: missing };

  const failed: { node: string; reason: string }[] = [];
  const sharedDelivered: { node: string; owner: string }[] = [];
  let soonestDeadline = Number.POSITIVE_INFINITY;
  for (const node of o.plan.nodes) {
    if (o.snapshots.has(node)) continue;
    const other = byNode.has(node) ? undefined : shared.get(node);
    if (other?.delivered === true) {
      sharedDelivered.push({ node, owner: other.owner });
      continue;
    }
    const c = byNode.get(node) ?? other;
    if (c === undefined) continue;
    const whose = other !== undefined ? ` (of ${other.owner})` : '';
    const deadline = c.createdAt + o.collectorDeadlineMs;
    if (c.phase === 'Failed') failed.push({ node, reason: `collector ${c.pod}${whose} failed${c.problem !== undefined ? `: ${c.problem}` : ''}` });
    else if (c.phase === 'Succeeded') failed.push({ node, reason: `collector ${c.pod}${whose} ended without a complete snapshot` });
    else if (deadline <= o.now) failed.push({ node, reason: `collector ${c.pod}${whose} did not deliver within ${Math.round(o.collectorDeadlineMs / 1000)}s (${c.phase}${c.problem !== undefined ? `: ${c.problem}` : ''})` });
    else soonestDeadline = Math.min(soonestDeadline, deadline);
  }
  if (soonestDeadline !== Number.POSITIVE_INFINITY) return { kind: 'wait', requeueAfterMs: Math.min(POLL_MS, soonestDeadline - o.now) };
  return { kind: 'diagnose', snapshots: o.plan.nodes.filter((n) => o.snapshots.has(n) || sharedDelivered.some((s) => s.node === n)), shared: sharedDelivered, failed };
}
