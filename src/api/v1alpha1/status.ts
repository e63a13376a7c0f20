// Builders of a NetworkDiagnosis's status (pure): the conditions with metav1.Condition semantics,
// and the whole status of a diagnosis in progress, finished, or unable to run. The status writer
// (kube/status-writer.ts) compares what they return with what the API server holds and writes the
// difference only.
//
// The conditions follow kstatus (the Kubernetes status conventions that `kubectl wait`, Flux and
// Argo CD read):
// - Ready is the normal-true condition: True once the diagnosis finished, whatever the verdict (a
//   broken network is a verdict, Reachable=False, never Ready=False); False while it runs and when
//   it cannot run.
// - Reconciling and Stalled are abnormal-true: Reconciling=True while the operator works on the
//   current spec; Stalled=True when it cannot go on until something changes. kstatus reads Ready as
//   "neither reconciling nor stalled", so a stalled diagnosis is Ready=False with the same reason
//   as Stalled, and Reconciling=False. Both are kept as False (rather than removed) when they do
//   not hold, which kstatus reads the same as absent and which keeps their transition times.
// - Reachable is the verdict: True, False (Unreachable, Degraded) or Unknown (Inconclusive, or no
//   verdict for this spec yet).

import type { Diagnosis, DiagnosisVerdict, Suspicion } from '../../diagnosis/index.js';
import {
  CONDITION_READY,
  CONDITION_REACHABLE,
  CONDITION_RECONCILING,
  CONDITION_STALLED,
  REASON_COLLECTING,
  REASON_COMPLETED,
  REASON_DEGRADED,
  REASON_DIAGNOSING,
  REASON_INCONCLUSIVE,
  REASON_NOT_DIAGNOSED,
  REASON_PENDING,
  REASON_REACHABLE,
  REASON_UNREACHABLE,
  type ConditionType,
} from './conditions.js';
import type {
  CollectorStatus,
  Condition,
  ConditionStatus,
  DestinationEndpoint,
  NetworkDiagnosisStatus,
  SourceEndpoint,
  StatusPacketPath,
  StatusSuspicion,
} from './types.js';

/** The most a condition's message may hold (the CRD's maxLength). */
export const CONDITION_MESSAGE_MAX = 32768;

/** A condition to set: everything but lastTransitionTime, which `setCondition` decides. */
export interface ConditionUpdate {
  readonly type: ConditionType;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
  /** The spec generation the condition describes. */
  readonly observedGeneration: number;
}

function truncate(message: string, max = CONDITION_MESSAGE_MAX): string {
  if (message.length <= max) return message;
  const ellipsis = '...';
  return message.slice(0, max - ellipsis.length) + ellipsis;
}

/**
 * Sets one condition (metav1.Condition semantics): lastTransitionTime is `now` when the condition
 * is new or its status changes, and kept otherwise (a new reason, message or generation alone is
 * no transition). Returns a new array sorted by type; the input is not changed.
 */
export function setCondition(conditions: readonly Condition[] | undefined, next: ConditionUpdate, now: string): Condition[] {
  const existing = conditions?.find((c) => c.type === next.type);
  const lastTransitionTime = existing !== undefined && existing.status === next.status ? existing.lastTransitionTime : now;
  const condition: Condition = {
    type: next.type,
    status: next.status,
    observedGeneration: next.observedGeneration,
    lastTransitionTime,
    reason: next.reason,
    message: truncate(next.message),
  };
  const others = (conditions ?? []).filter((c) => c.type !== next.type);
  return sortConditions([...others, condition]);
}

/** The conditions without the one of `type` (a new, sorted array). */
export function removeCondition(conditions: readonly Condition[] | undefined, type: ConditionType): Condition[] {
  return sortConditions((conditions ?? []).filter((c) => c.type !== type));
}

/** Sorted by type, stably (the order of conditions of one type is kept). */
function sortConditions(conditions: Condition[]): Condition[] {
  return conditions.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

/** The condition of `type`, if set. */
export function findCondition(conditions: readonly Condition[] | undefined, type: ConditionType): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * An endpoint of the spec as the printer columns show it: `pod/NAMESPACE/NAME`,
 * `service/NAMESPACE/NAME` (the namespace defaults to the diagnosis's own), `node/NAME`, or the IP.
 * An endpoint that names nothing (refused by the CRD) shows as `?`.
 */
export function formatEndpoint(endpoint: SourceEndpoint | DestinationEndpoint, namespace: string): string {
  if (endpoint.pod !== undefined) return `pod/${endpoint.pod.namespace ?? namespace}/${endpoint.pod.name}`;
  if (endpoint.service !== undefined) return `service/${endpoint.service.namespace ?? namespace}/${endpoint.service.name}`;
  if (endpoint.node !== undefined) return `node/${endpoint.node.name}`;
  if (endpoint.ip !== undefined) return endpoint.ip;
  return '?';
}

/** What every builder needs: the generation the status describes, the time, and the endpoints for display. */
export interface StatusContext {
  /** metadata.generation of the object the status describes. */
  readonly generation: number;
  /** RFC 3339. */
  readonly now: string;
  /** The source as `formatEndpoint` shows it. */
  readonly source: string;
  /** The destination as `formatEndpoint` shows it. */
  readonly destination: string;
  /** The netdiag.io/requested-at value acted on; default: the previous status's. */
  readonly lastHandledRequestAt?: string;
}

/** The status fields that hold a verdict: dropped when the verdict no longer describes the spec. */
type ResultFields = 'verdict' | 'suspicions' | 'suspicionCount' | 'packetPath' | 'completionTime';

function withoutResult(status: NetworkDiagnosisStatus): Omit<NetworkDiagnosisStatus, ResultFields> {
  const { verdict: _v, suspicions: _s, suspicionCount: _c, packetPath: _p, completionTime: _t, ...rest } = status;
  return rest;
}

function common(previous: NetworkDiagnosisStatus | undefined, ctx: StatusContext): Pick<NetworkDiagnosisStatus, 'observedGeneration' | 'source' | 'destination' | 'lastHandledRequestAt'> {
  const requestedAt = ctx.lastHandledRequestAt ?? previous?.lastHandledRequestAt;
  return {
    observedGeneration: ctx.generation,
    source: ctx.source,
    destination: ctx.destination,
    ...(requestedAt !== undefined ? { lastHandledRequestAt: requestedAt } : {}),
  };
}

/** A run is starting (rather than going on) when the previous status is of another generation or of a finished run. */
function startsRun(previous: NetworkDiagnosisStatus | undefined, generation: number): boolean {
  return previous?.observedGeneration !== generation || previous.phase === 'Completed' || previous.phase === 'Failed' || previous.startTime === undefined;
}

const PROGRESS_REASONS = { Pending: REASON_PENDING, Collecting: REASON_COLLECTING, Diagnosing: REASON_DIAGNOSING } as const;
const PROGRESS_MESSAGES = {
  Pending: 'waiting to be picked up',
  Collecting: 'collecting the network state of the nodes on the path',
  Diagnosing: 'simulating the packet through the collected network state',
} as const;

export type ProgressPhase = keyof typeof PROGRESS_REASONS;

/**
 * The status of a diagnosis in progress: Ready=False and Reconciling=True with the phase as the
 * reason, Stalled=False. A re-run of the same generation (interval, requested-at) keeps the last
 * verdict and Reachable until the new one is in; a new generation drops them (Reachable=Unknown),
 * as they answered another question. `startTime` is set when a run starts.
 */
export function buildProgressStatus(
  previous: NetworkDiagnosisStatus | undefined,
  phase: ProgressPhase,
  collectors: readonly CollectorStatus[],
  ctx: StatusContext,
  options: { readonly newRun?: boolean } = {},
): NetworkDiagnosisStatus {
  const sameGeneration = previous?.observedGeneration === ctx.generation;
  const base = previous === undefined ? {} : sameGeneration ? previous : withoutResult(previous);
  const reason = PROGRESS_REASONS[phase];
  const message = PROGRESS_MESSAGES[phase];
  const g = ctx.generation;
  let conditions = previous?.conditions;
  conditions = setCondition(conditions, { type: CONDITION_READY, status: 'False', reason, message, observedGeneration: g }, ctx.now);
  conditions = setCondition(conditions, { type: CONDITION_RECONCILING, status: 'True', reason, message, observedGeneration: g }, ctx.now);
  conditions = setCondition(conditions, { type: CONDITION_STALLED, status: 'False', reason, message, observedGeneration: g }, ctx.now);
  const keepsVerdict = sameGeneration && previous?.verdict !== undefined && findCondition(conditions, CONDITION_REACHABLE) !== undefined;
  if (!keepsVerdict) {
    conditions = setCondition(conditions, { type: CONDITION_REACHABLE, status: 'Unknown', reason: REASON_NOT_DIAGNOSED, message: 'no verdict yet for this spec', observedGeneration: g }, ctx.now);
  }
  return {
    ...base,
    ...common(previous, ctx),
    phase,
    conditions,
    collectors: [...collectors],
    startTime: options.newRun === true || startsRun(previous, ctx.generation) ? ctx.now : (previous?.startTime ?? ctx.now),
  };
}

const LEVEL_RANK: Readonly<Record<Suspicion['level'], number>> = { fatal: 0, critical: 1, warning: 2, info: 3 };

/** The most severe suspicion (the first of equals), for a condition's message. */
function worstSuspicion(suspicions: readonly Suspicion[]): Suspicion | undefined {
  let worst: Suspicion | undefined;
  for (const s of suspicions) if (worst === undefined || LEVEL_RANK[s.level] < LEVEL_RANK[worst.level]) worst = s;
  return worst;
}

function suspicionText(suspicions: readonly Suspicion[]): string {
  const worst = worstSuspicion(suspicions);
  if (worst === undefined) return '';
  const more = suspicions.length - 1;
  return `: ${worst.level} ${worst.code} on ${worst.node}: ${worst.message}${more > 0 ? ` (and ${more} more suspicion${more === 1 ? '' : 's'})` : ''}`;
}

/** At most this many warnings are named in the Reachable message of an inconclusive diagnosis. */
const WARNINGS_IN_MESSAGE = 5;

/** Reachable for a verdict: status, reason and a message naming the worst suspicion or the warnings. */
function reachableFor(diagnosis: Diagnosis, ctx: StatusContext): { status: ConditionStatus; reason: string; message: string } {
  const verdict: DiagnosisVerdict = diagnosis.verdict;
  const route = `${ctx.source} to ${ctx.destination}`;
  switch (verdict) {
    case 'Reachable':
      return { status: 'True', reason: REASON_REACHABLE, message: `${route}: reachable${suspicionText(diagnosis.suspicions)}` };
    case 'Unreachable':
      return { status: 'False', reason: REASON_UNREACHABLE, message: `${route}: unreachable${suspicionText(diagnosis.suspicions)}` };
    case 'Degraded':
      return { status: 'False', reason: REASON_DEGRADED, message: `${route}: degraded${suspicionText(diagnosis.suspicions)}` };
    case 'Inconclusive': {
      const named = diagnosis.warnings.slice(0, WARNINGS_IN_MESSAGE).map((w) => `${w.message}${w.source !== undefined ? ` (${w.source})` : ''}`);
      const more = diagnosis.warnings.length - named.length;
      const why = named.length > 0 ? `: ${named.join('; ')}${more > 0 ? ` (and ${more} more warning${more === 1 ? '' : 's'})` : ''}` : suspicionText(diagnosis.suspicions);
      return { status: 'Unknown', reason: REASON_INCONCLUSIVE, message: `${route}: inconclusive${why}` };
    }
    default: {
      const unhandled: never = verdict;
      throw new Error(`unhandled verdict: ${JSON.stringify(unhandled)}`);
    }
  }
}

function statusSuspicions(suspicions: readonly Suspicion[]): StatusSuspicion[] {
  return suspicions.map((s) => ({ level: s.level, node: s.node, code: s.code, message: s.message }));
}

/** The packet path as the CRD stores it (empty attribute maps left out). */
function statusPacketPath(path: Diagnosis['packetPath']): StatusPacketPath {
  return {
    nodes: path.nodes.map((n) => ({ id: n.id, type: n.type, actions: n.actions.map((a) => ({ ...a })) })),
    links: path.links.map((l) => ({
      source: l.source,
      destination: l.destination,
      type: l.type,
      direction: l.direction,
      packet: { before: l.packet.before, after: l.packet.after },
      ...(Object.keys(l.attributes).length > 0 ? { attributes: { ...l.attributes } } : {}),
    })),
  };
}

/**
 * The status of a finished diagnosis: phase Completed, the verdict, suspicions and packet path,
 * Ready=True (whatever the verdict), Reachable by the verdict, Reconciling=False, Stalled=False.
 * The collectors and startTime of the run are kept.
 */
export function buildCompletedStatus(previous: NetworkDiagnosisStatus | undefined, diagnosis: Diagnosis, ctx: StatusContext): NetworkDiagnosisStatus {
  const g = ctx.generation;
  // Info-level findings (a path leaving the cluster, what the provider cannot check) are notes,
  // not suspicions of a fault: a healthy path counts 0 in the printer column.
  const count = diagnosis.suspicions.filter((s) => s.level !== 'info').length;
  const notes = diagnosis.suspicions.length - count;
  const finished = `diagnosis finished: ${diagnosis.verdict}, ${count} suspicion${count === 1 ? '' : 's'}${notes > 0 ? ` and ${notes} note${notes === 1 ? '' : 's'}` : ''}`;
  const reachable = reachableFor(diagnosis, ctx);
  let conditions = previous?.conditions;
  conditions = setCondition(conditions, { type: CONDITION_READY, status: 'True', reason: REASON_COMPLETED, message: finished, observedGeneration: g }, ctx.now);
  conditions = setCondition(conditions, { type: CONDITION_REACHABLE, ...reachable, observedGeneration: g }, ctx.now);
  conditions = setCondition(conditions, { type: CONDITION_RECONCILING, status: 'False', reason: REASON_COMPLETED, message: finished, observedGeneration: g }, ctx.now);
  conditions = setCondition(conditions, { type: CONDITION_STALLED, status: 'False', reason: REASON_COMPLETED, message: finished, observedGeneration: g }, ctx.now);
  return {
    ...(previous ?? {}),
    ...common(previous, ctx),
    phase: 'Completed',
    verdict: diagnosis.verdict,
    suspicions: statusSuspicions(diagnosis.suspicions),
    suspicionCount: count,
    packetPath: statusPacketPath(diagnosis.packetPath),
    conditions,
    startTime: previous?.startTime ?? ctx.now,
    completionTime: ctx.now,
  };
}

export interface StalledInput extends StatusContext {
  /** A reason of conditions.ts: InvalidSpec, ObjectNotFound, CrossNamespaceForbidden, CollectorFailed, Failed. */
  readonly reason: string;
  /** What is wrong and what would unblock it. */
  readonly message: string;
}

/**
 * The status of a diagnosis that cannot run until something changes: phase Failed, Stalled=True
 * and Ready=False with the reason and message, Reconciling=False, and no verdict (Reachable=Unknown
 * with the same reason): what an earlier run found no longer stands beside a failure. The
 * collectors are kept (they say which failed and why).
 */
export function buildStalledStatus(previous: NetworkDiagnosisStatus | undefined, input: StalledInput): NetworkDiagnosisStatus {
  const { reason, message, generation: g, now } = input;
  let conditions = previous?.conditions;
  conditions = setCondition(conditions, { type: CONDITION_READY, status: 'False', reason, message, observedGeneration: g }, now);
  conditions = setCondition(conditions, { type: CONDITION_STALLED, status: 'True', reason, message, observedGeneration: g }, now);
  conditions = setCondition(conditions, { type: CONDITION_RECONCILING, status: 'False', reason, message, observedGeneration: g }, now);
  conditions = setCondition(conditions, { type: CONDITION_REACHABLE, status: 'Unknown', reason, message: `no verdict: ${message}`, observedGeneration: g }, now);
  return {
    ...(previous !== undefined ? withoutResult(previous) : {}),
    ...common(previous, input),
    phase: 'Failed',
    conditions,
  };
}
