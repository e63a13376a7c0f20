// One reconcile of a NetworkDiagnosis: gather the observations decideNextStep needs (the CR, its
// collector pods, the snapshots that arrived, the nodes the query needs), and carry out the one
// step it returns. Level-triggered and idempotent: every call recomputes from the API server's
// state, so a repeated or interrupted reconcile does no harm (a create that finds the name taken is
// done; a delete of nothing is done). Returns when to look again, or throws (the queue retries
// with backoff); never both, and never waits.
//
// The CR, its own collector pods and snapshots are read afresh from the API server on every
// reconcile (what a run decides on must not be a stale cache's view); the cluster's objects and the
// collections of other diagnoses (which a run may share: collection-sharing.ts) come from the
// informers' caches the composition root hands in.

import {
  buildCompletedStatus,
  buildProgressStatus,
  buildStalledStatus,
  formatEndpoint,
  REASON_CROSS_NAMESPACE_FORBIDDEN,
  REASON_INVALID_SPEC,
  REASON_OBJECT_NOT_FOUND,
  validateSpec,
  type CollectorStatus,
  type DestinationEndpoint,
  type NetworkDiagnosis,
  type NetworkDiagnosisStatus,
  type SourceEndpoint,
  type StatusContext,
  type Verdict,
} from '../api/v1alpha1/index.js';
import { buildClusterStateFromSnapshots, type SourcedSnapshot } from '../collector/snapshot-cluster.js';
import { detectPlugin, diagnose, planCollection, requestedPlugin, type ClusterObjects, type DiagnosisQuery, type QueryEndpoint, type Warning } from '../diagnosis/index.js';
import { isCollectorPod, type CollectorPodOptions, type CollectorPodRef } from '../kube/collector-pod.js';
import { SnapshotReadError } from '../kube/snapshot-configmaps.js';
import { chooseSharedCollections, type SharingSource } from './collection-sharing.js';
import {
  collectorPhaseOf,
  decideNextStep,
  FINALIZER,
  POLL_MS,
  type CollectorObservation,
  type NextStep,
  type Observations,
  type SharedObservation,
} from './next-step.js';

export interface DiagnosisRef {
  readonly namespace: string;
  readonly name: string;
}

/** A collector pod as the API server shows it. */
export interface CollectorPodView {
  readonly node: string;
  readonly pod: string;
  readonly phase: string;
  readonly problem?: string;
  /** ms since the epoch. */
  readonly createdAt: number;
  /** Being deleted (a previous run's, or a cleanup's): a leftover, no longer a collector of the run. */
  readonly terminating?: boolean;
}

/** What the reconciler reads and writes in the API server (kube/diagnosis-client.ts, collector-client.ts, cluster-reader.ts). */
export interface ReconcilerKube {
  /** The CR, or undefined when it does not exist. */
  getDiagnosis(namespace: string, name: string): Promise<NetworkDiagnosis | undefined>;
  /** Replaces metadata.finalizers (a merge patch conditional on the resourceVersion read). */
  setFinalizers(diagnosis: NetworkDiagnosis, finalizers: readonly string[]): Promise<void>;
  /** Writes the status when it differs from the one read. */
  writeStatus(diagnosis: NetworkDiagnosis, desired: NetworkDiagnosisStatus): Promise<boolean>;
  readClusterObjects(): Promise<ClusterObjects>;
  listCollectors(namespace: string, diagnosis: DiagnosisRef): Promise<readonly CollectorPodView[]>;
  /** The node's pod-list ConfigMap, then its collector pod; existing already is fine. */
  createCollector(options: CollectorPodOptions): Promise<void>;
  /** Every collector pod and pod-list ConfigMap of the diagnosis. */
  deleteCollectors(namespace: string, diagnosis: DiagnosisRef): Promise<void>;
  listSnapshots(namespace: string, diagnosis: DiagnosisRef): Promise<{ readonly complete: readonly string[]; readonly present: boolean }>;
  readSnapshot(namespace: string, diagnosis: DiagnosisRef, node: string): Promise<SourcedSnapshot>;
  deleteSnapshots(namespace: string, diagnosis: DiagnosisRef): Promise<void>;
}

/** Why a collector gave no usable snapshot. */
export type CollectorFailureKind =
  /** Its pod failed (the container exited non-zero, the pod's deadline passed). */
  | 'pod-failed'
  /** Its pod ended without a complete snapshot. */
  | 'no-snapshot'
  /** It had not delivered when the collector deadline passed (never ran, a NotReady node). */
  | 'deadline'
  /** Its snapshot arrived but cannot be read back (corrupt, another schema version). */
  | 'snapshot-unreadable';

/** One collector of a finished run: how long it took, or why it failed. */
export interface CollectorOutcome {
  readonly node: string;
  /** Another diagnosis's collector (`namespace/name`), which this run shared: not counted as this run's. */
  readonly sharedFrom?: string;
  /** From the pod's creation to the diagnosis that used (or gave up on) it. */
  readonly seconds: number;
  readonly failure?: { readonly kind: CollectorFailureKind; readonly message: string };
}

/** A phase change a reconcile made, for Events and metrics. */
export type PhaseChange =
  /** Collector pods were created for a new run, or it shares other diagnoses' (Pending → Collecting). */
  | { readonly kind: 'collecting'; readonly nodes: readonly string[]; readonly shared: readonly { readonly node: string; readonly owner: string }[] }
  /** Every collector delivered or failed; the packet is being simulated. */
  | { readonly kind: 'diagnosing'; readonly snapshots: readonly string[]; readonly failed: readonly string[] }
  /** The run finished with a verdict (once per run). */
  | { readonly kind: 'completed'; readonly verdict: Verdict; readonly suspicions: number; readonly collectors: readonly CollectorOutcome[] }
  /** The diagnosis cannot run (written once per new stall, not on every reconcile). */
  | { readonly kind: 'stalled'; readonly reason: string; readonly message: string };

/** What a reconcile did, for the log (and the operator's Events and metrics). */
export interface ReconcileEvent {
  readonly key: string;
  readonly step: NextStep['kind'] | 'gone';
  readonly message?: string;
  /** The object's uid, when the step read it (what an Event refers to). */
  readonly uid?: string;
  /** Set when this reconcile changed the phase. */
  readonly change?: PhaseChange;
}

export interface ReconcilerDeps {
  readonly kube: ReconcilerKube;
  /** Where collectors, their pod lists and the snapshots live. */
  readonly operatorNamespace: string;
  readonly collectorImage: string;
  readonly serviceAccountName: string;
  /** The agent's whole-run deadline (`netdiag collect --timeout`). */
  readonly collectorTimeoutSeconds: number;
  readonly commandTimeoutSeconds: number;
  /** A collector that has not delivered this long after its creation has failed. */
  readonly collectorDeadlineMs: number;
  /** Whether a diagnosis may name pods and services of other namespaces (DESIGN §3); default no. */
  readonly allowCrossNamespace?: boolean;
  /** Where runs find other diagnoses' collections to share; absent, every run collects its own. */
  readonly sharing?: SharingSource;
  /** ms since the epoch. */
  now(): number;
  log(event: ReconcileEvent): void;
}

export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}

type Resolved = { readonly kind: 'query'; readonly query: DiagnosisQuery } | { readonly kind: 'unresolvable'; readonly reason: string; readonly message: string };

function endpointOf(e: SourceEndpoint | DestinationEndpoint, namespace: string): QueryEndpoint {
  if (e.pod !== undefined) return { kind: 'pod', namespace: e.pod.namespace ?? namespace, name: e.pod.name };
  if (e.service !== undefined) return { kind: 'service', namespace: e.service.namespace ?? namespace, name: e.service.name };
  if (e.node !== undefined) return { kind: 'node', name: e.node.name };
  return { kind: 'ip', ip: e.ip ?? '' };
}

/** The engine's query for the spec: pods and services default to the CR's namespace; another one is refused unless allowed. */
export function resolveQuery(d: NetworkDiagnosis, allowCrossNamespace: boolean): Resolved {
  const problems = validateSpec(d.spec);
  if (problems.length > 0) return { kind: 'unresolvable', reason: REASON_INVALID_SPEC, message: problems.map((p) => `${p.field}: ${p.message}`).join('; ') };
  const own = d.metadata.namespace ?? 'default';
  const source = endpointOf(d.spec.source, own);
  const destination = endpointOf(d.spec.destination, own);
  if (!allowCrossNamespace) {
    for (const [role, e] of [['source', source], ['destination', destination]] as const) {
      if ((e.kind === 'pod' || e.kind === 'service') && e.namespace !== own) {
        return {
          kind: 'unresolvable',
          reason: REASON_CROSS_NAMESPACE_FORBIDDEN,
          message: `the ${role} ${e.kind} ${e.namespace}/${e.name} is in another namespace than the diagnosis (${own}), and the operator does not allow cross-namespace references`,
        };
      }
    }
  }
  return { kind: 'query', query: { source, destination, port: d.spec.port ?? 0, protocol: d.spec.protocol } };
}

/** The nodes to collect, or why the query cannot be placed (an object that does not exist). */
function planOf(objects: ClusterObjects | undefined, resolved: Resolved): Observations['plan'] {
  if (resolved.kind === 'unresolvable') return resolved;
  if (objects === undefined) return { kind: 'nodes', nodes: [] };
  const plan = planCollection(objects, resolved.query);
  const unknown = plan.warnings.filter((w) => w.code === 'unknown-object');
  if (unknown.length > 0) return { kind: 'unresolvable', reason: REASON_OBJECT_NOT_FOUND, message: unknown.map((w) => w.message).join('; ') };
  return { kind: 'nodes', nodes: plan.nodes.map((n) => n.name) };
}

function observation(pod: CollectorPodView): CollectorObservation {
  return { node: pod.node, pod: pod.pod, phase: collectorPhaseOf(pod.phase), createdAt: pod.createdAt, ...(pod.problem !== undefined ? { problem: pod.problem } : {}) };
}

/** The status's collectors: this run's own, and the other diagnoses' it shares (saying whose). */
function collectorStatuses(
  collectors: readonly CollectorObservation[],
  snapshots: ReadonlySet<string>,
  shared: ReadonlyMap<string, SharedObservation>,
  failed: ReadonlyMap<string, string> = new Map(),
): CollectorStatus[] {
  const own = new Set(collectors.map((c) => c.node));
  const entries: (CollectorObservation & { readonly owner?: string; readonly delivered?: boolean })[] = [...collectors, ...[...shared.values()].filter((s) => !own.has(s.node))];
  return entries
    .sort((a, b) => a.node.localeCompare(b.node))
    .map((c) => {
      const delivered = c.owner !== undefined ? c.delivered === true : snapshots.has(c.node);
      const whose = c.owner !== undefined ? `shared: collected for ${c.owner}` : undefined;
      const state = failed.get(c.node) ?? (delivered ? 'snapshot delivered' : c.problem);
      const message = whose !== undefined ? (state !== undefined ? `${whose}; ${state}` : whose) : state;
      return { node: c.node, pod: c.pod, state: c.phase, ...(message !== undefined ? { message } : {}) };
    });
}

/**
 * The pods each of `nodes` holds, as its collector is asked to find them: not netdiag's own
 * collectors (host-network, short-lived, and never on a packet's path).
 */
function podsByNode(objects: ClusterObjects | undefined, nodes: readonly string[]): Map<string, CollectorPodRef[]> {
  const byNode = new Map<string, CollectorPodRef[]>();
  for (const pod of objects?.pods ?? []) {
    const node = pod.spec.nodeName;
    if (node === undefined || !nodes.includes(node) || isCollectorPod(pod.metadata.labels)) continue;
    const ips = (pod.status?.podIPs ?? []).map((p) => p.ip);
    const podIps = ips.length > 0 ? ips : pod.status?.podIP !== undefined ? [pod.status.podIP] : [];
    const entry: CollectorPodRef = {
      namespace: pod.metadata.namespace ?? 'default',
      name: pod.metadata.name,
      ...(pod.metadata.uid !== undefined ? { uid: pod.metadata.uid } : {}),
      ips: podIps,
      ...(pod.spec.hostNetwork === true ? { hostNetwork: true } : {}),
    };
    byNode.set(node, [...(byNode.get(node) ?? []), entry]);
  }
  return byNode;
}

/** Other diagnoses' collections this run uses, for the nodes it needs and has nothing of its own on. */
function sharedCollections(
  d: NetworkDiagnosis,
  ref: DiagnosisRef,
  seen: { readonly plan: Observations['plan']; readonly own: readonly CollectorObservation[]; readonly snapshots: ReadonlySet<string>; readonly objects: ClusterObjects | undefined },
  sharing: SharingSource | undefined,
): Map<string, SharedObservation> {
  const runStart = Date.parse(d.status?.startTime ?? '');
  const phase = d.status?.phase;
  const running = d.status?.observedGeneration === d.metadata.generation && (phase === 'Pending' || phase === 'Collecting');
  if (sharing === undefined || seen.plan.kind !== 'nodes' || !running || Number.isNaN(runStart)) return new Map();
  const nodes = seen.plan.nodes.filter((n) => !seen.snapshots.has(n) && !seen.own.some((c) => c.node === n));
  if (nodes.length === 0) return new Map();
  return chooseSharedCollections({ self: ref, runStart, nodes, pods: podsByNode(seen.objects, nodes) }, sharing.collections());
}

function parseKey(key: string): DiagnosisRef | undefined {
  const slash = key.indexOf('/');
  if (slash <= 0 || slash === key.length - 1) return undefined;
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export async function reconcile(key: string, deps: ReconcilerDeps): Promise<ReconcileResult> {
  const ref = parseKey(key);
  if (ref === undefined) throw new Error(`reconcile: ${JSON.stringify(key)} is not a namespace/name key`);
  const { kube, operatorNamespace: opNs } = deps;
  const d = await kube.getDiagnosis(ref.namespace, ref.name);
  if (d === undefined) {
    deps.log({ key, step: 'gone' });
    return {};
  }

  const [pods, snapshotList] = await Promise.all([kube.listCollectors(opNs, ref), kube.listSnapshots(opNs, ref)]);
  // A terminating pod belongs to no run (its name is freed for the next one); it is a leftover until gone.
  const collectors = pods.filter((p) => p.terminating !== true).map(observation);
  const snapshots = new Set(snapshotList.complete);
  // decideNextStep consults the plan only for a finalized object not being deleted: the cluster's
  // objects are not read (and cannot block a cleanup) otherwise.
  const needsPlan = d.metadata.deletionTimestamp === undefined && (d.metadata.finalizers ?? []).includes(FINALIZER);
  const resolved = resolveQuery(d, deps.allowCrossNamespace ?? false);
  const objects = needsPlan && resolved.kind === 'query' ? await kube.readClusterObjects() : undefined;
  const plan: Observations['plan'] = needsPlan ? planOf(objects, resolved) : { kind: 'nodes', nodes: [] };
  const now = deps.now();
  const shared = sharedCollections(d, ref, { plan, own: collectors, snapshots, objects }, deps.sharing);
  const mayBeShared = (): boolean => {
    // Runs that started no later than this run's newest collector may be reading its collection.
    const newest = Math.max(...collectors.map((c) => c.createdAt));
    return deps.sharing !== undefined && collectors.length > 0 && deps.sharing.otherRunStartedBy(ref, newest);
  };
  const leftovers = pods.length > 0 || snapshotList.present;
  const step = decideNextStep({
    diagnosis: d,
    plan,
    collectors,
    snapshots,
    leftovers,
    shared,
    mayBeShared: leftovers && mayBeShared(),
    now,
    collectorDeadlineMs: deps.collectorDeadlineMs,
  });

  const ctx = (lastHandledRequestAt?: string): StatusContext => ({
    generation: d.metadata.generation ?? 0,
    now: new Date(now).toISOString(),
    source: formatEndpoint(d.spec.source, ref.namespace),
    destination: formatEndpoint(d.spec.destination, ref.namespace),
    ...(lastHandledRequestAt !== undefined ? { lastHandledRequestAt } : {}),
  });
  const removeRun = async (): Promise<void> => {
    await kube.deleteCollectors(opNs, ref);
    await kube.deleteSnapshots(opNs, ref);
  };

  switch (step.kind) {
    case 'add-finalizer':
      await kube.setFinalizers(d, [...(d.metadata.finalizers ?? []), FINALIZER]);
      deps.log({ key, step: step.kind });
      return {};
    case 'clean-up':
      if (pods.length > 0 || snapshotList.present) await removeRun();
      if (step.removeFinalizer) {
        await kube.setFinalizers(d, (d.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
        deps.log({ key, step: step.kind, message: 'finalizer removed' });
        return {};
      }
      deps.log({ key, step: step.kind, message: `deleting ${pods.length} collector pod(s) and the snapshots` });
      // Pods terminate on their nodes: their deletion events wake this key; the poll is a fallback.
      return { requeueAfterMs: POLL_MS };
    case 'stall': {
      const written = await kube.writeStatus(d, buildStalledStatus(d.status, { ...ctx(), reason: step.reason, message: step.message }));
      const change: PhaseChange | undefined = written ? { kind: 'stalled', reason: step.reason, message: step.message } : undefined;
      deps.log({ key, step: step.kind, message: `${step.reason}: ${step.message}`, ...uidOf(d), ...(change !== undefined ? { change } : {}) });
      return step.requeueAfterMs !== undefined ? { requeueAfterMs: step.requeueAfterMs } : {};
    }
    case 'start-run':
      await removeRun();
      // A new run starts now even when it replaces one in progress: other diagnoses' collections
      // are shared only if created after this moment (collection-sharing.ts).
      await kube.writeStatus(d, buildProgressStatus(d.status, 'Pending', [], ctx(step.requestedAt), { newRun: true }));
      deps.log({ key, step: step.kind });
      return {};
    case 'create-collectors': {
      const byNode = podsByNode(objects, step.nodes);
      for (const node of step.nodes) {
        await kube.createCollector({
          diagnosis: { namespace: ref.namespace, name: ref.name, uid: d.metadata.uid ?? '' },
          node,
          namespace: opNs,
          image: deps.collectorImage,
          serviceAccountName: deps.serviceAccountName,
          timeoutSeconds: deps.collectorTimeoutSeconds,
          commandTimeoutSeconds: deps.commandTimeoutSeconds,
          pods: byNode.get(node) ?? [],
          createdAt: new Date(now).toISOString(),
        });
      }
      const created = step.nodes.map((node) => ({ node, state: 'Pending' }));
      const known = collectorStatuses(collectors, snapshots, shared);
      await kube.writeStatus(d, buildProgressStatus(d.status, 'Collecting', [...known, ...created].sort((a, b) => a.node.localeCompare(b.node)), ctx()));
      const change: PhaseChange | undefined = d.status?.phase !== 'Collecting' ? { kind: 'collecting', nodes: step.nodes, shared: sharedList(shared) } : undefined;
      const sharing = shared.size > 0 ? `; sharing ${sharedList(shared).map((s) => `${s.owner}'s on ${s.node}`).join(', ')}` : '';
      deps.log({ key, step: step.kind, message: `collectors started on ${step.nodes.join(', ')}${sharing}`, ...uidOf(d), ...(change !== undefined ? { change } : {}) });
      return { requeueAfterMs: POLL_MS };
    }
    case 'wait': {
      await kube.writeStatus(d, buildProgressStatus(d.status, 'Collecting', collectorStatuses(collectors, snapshots, shared), ctx()));
      // A run that shares every node it needs creates no collector: it starts collecting here.
      if (d.status?.phase !== 'Collecting') {
        const change: PhaseChange = { kind: 'collecting', nodes: [], shared: sharedList(shared) };
        deps.log({ key, step: step.kind, message: `sharing ${change.shared.map((s) => `${s.owner}'s collection of ${s.node}`).join(', ')}`, ...uidOf(d), change });
      }
      return { requeueAfterMs: step.requeueAfterMs };
    }
    case 'diagnose': {
      deps.log({ key, step: step.kind, message: 'simulating the packet', ...uidOf(d), change: { kind: 'diagnosing', snapshots: step.snapshots, failed: step.failed.map((f) => f.node) } });
      const change = await runDiagnosis(d, ref, step, objects, collectors, snapshots, shared, ctx(), resolved, deps);
      // Reported once the status is written, before the clean-up: a failed clean-up is retried as
      // remove-leftovers, which does not diagnose (nor count the run) again.
      deps.log({ key, step: step.kind, message: `${change.verdict}, ${change.suspicions} suspicion(s)`, ...uidOf(d), change });
      // Runs of other diagnoses may be reading this run's collection: keep-for-sharing removes it later.
      if (mayBeShared()) return { requeueAfterMs: POLL_MS };
      await removeRun();
      return {};
    }
    case 'keep-for-sharing':
      return { requeueAfterMs: step.requeueAfterMs };
    case 'remove-leftovers':
      await removeRun();
      deps.log({ key, step: step.kind });
      return {};
    case 'idle':
      return step.requeueAfterMs !== undefined ? { requeueAfterMs: step.requeueAfterMs } : {};
    default: {
      const unhandled: never = step;
      throw new Error(`unhandled step: ${JSON.stringify(unhandled)}`);
    }
  }
}

function sharedList(shared: ReadonlyMap<string, SharedObservation>): { node: string; owner: string }[] {
  return [...shared.values()].map((s) => ({ node: s.node, owner: s.owner })).sort((a, b) => a.node.localeCompare(b.node));
}

function uidOf(d: NetworkDiagnosis): { readonly uid?: string } {
  return d.metadata.uid !== undefined ? { uid: d.metadata.uid } : {};
}

/** Why a collector that delivered nothing failed, from its pod's phase. */
function failureKind(c: CollectorObservation | undefined): CollectorFailureKind {
  if (c?.phase === 'Failed') return 'pod-failed';
  if (c?.phase === 'Succeeded') return 'no-snapshot';
  return 'deadline';
}

/** Reads the snapshots that arrived, simulates the packet through them and writes the verdict. */
async function runDiagnosis(
  d: NetworkDiagnosis,
  ref: DiagnosisRef,
  step: Extract<NextStep, { kind: 'diagnose' }>,
  objects: ClusterObjects | undefined,
  collectors: readonly CollectorObservation[],
  delivered: ReadonlySet<string>,
  shared: ReadonlyMap<string, SharedObservation>,
  ctx: StatusContext,
  resolved: Resolved,
  deps: ReconcilerDeps,
): Promise<Extract<PhaseChange, { kind: 'completed' }>> {
  // decideNextStep diagnoses only with a plan, which needs both the query and the objects.
  if (objects === undefined || resolved.kind !== 'query') throw new Error(`diagnose ${ref.namespace}/${ref.name}: no query or cluster objects`);
  const failed = new Map(step.failed.map((f) => [f.node, f.reason]));
  const byNode = new Map<string, CollectorObservation>([...shared.values(), ...collectors].map((c) => [c.node, c]));
  const failureKinds = new Map<string, CollectorFailureKind>(step.failed.map((f) => [f.node, failureKind(byNode.get(f.node))]));
  const sharedFrom = new Map(step.shared.map((s) => [s.node, s.owner]));
  const snapshots = new Map<string, SourcedSnapshot>();
  for (const node of step.snapshots) {
    const owner = sharedFrom.get(node);
    // Owners are keys this operator wrote (`namespace/name`); one that does not parse is a bug, never this run's own snapshot.
    const from = owner === undefined ? ref : parseKey(owner);
    if (from === undefined) throw new Error(`diagnose ${ref.namespace}/${ref.name}: the shared collection of node ${node} names no diagnosis (${JSON.stringify(owner)})`);
    try {
      snapshots.set(node, await deps.kube.readSnapshot(deps.operatorNamespace, from, node));
    } catch (error) {
      // Another diagnosis's snapshot can go (its run removed it) between seeing it and reading it:
      // not this node's failure. The retry finds it gone and starts a collector of this run's own.
      if (owner !== undefined && error instanceof SnapshotReadError && (error.problem === 'not-found' || error.problem === 'incomplete')) {
        throw new Error(`the snapshot of node ${node} shared from ${owner} is no longer complete (${error.message}); looking again`, { cause: error });
      }
      // A snapshot that cannot be read back (corrupt, another schema version) is the collector's failure.
      failed.set(node, `its snapshot cannot be read: ${error instanceof Error ? error.message : String(error)}`);
      failureKinds.set(node, 'snapshot-unreadable');
    }
  }
  const { state, warnings: snapshotWarnings } = buildClusterStateFromSnapshots(objects, snapshots, failed);
  const requested = d.spec.network?.plugin;
  const chosen = requested !== undefined && requested !== 'auto' ? requestedPlugin(requested) : undefined;
  const plugin = chosen ?? detectPlugin(state);
  const unknownPlugin: Warning[] = requested !== undefined && requested !== 'auto' && chosen === undefined ? [{ code: 'plugin-unknown', message: `spec.network.plugin ${requested} is not a plugin netdiag knows; detected ${plugin.name}` }] : [];
  const result = diagnose(state, resolved.query, { plugins: plugin.name === 'generic' ? [] : [plugin.plugin] });
  const diagnosis = { ...result, warnings: [...result.warnings, ...unknownPlugin, ...plugin.warnings, ...snapshotWarnings] };
  const previous = { ...(d.status ?? {}), collectors: collectorStatuses(collectors, delivered, shared, failed) };
  await deps.kube.writeStatus(d, buildCompletedStatus(previous, diagnosis, ctx));
  const now = Date.parse(ctx.now);
  const outcomes = [...step.snapshots, ...step.failed.map((f) => f.node)].sort().map((node): CollectorOutcome => {
    const started = byNode.get(node)?.createdAt;
    const seconds = started !== undefined && started > 0 ? Math.max(0, (now - started) / 1000) : 0;
    const message = failed.get(node);
    const kind = failureKinds.get(node);
    const owner = sharedFrom.get(node) ?? shared.get(node)?.owner;
    return { node, seconds, ...(owner !== undefined ? { sharedFrom: owner } : {}), ...(message !== undefined && kind !== undefined ? { failure: { kind, message } } : {}) };
  });
  return { kind: 'completed', verdict: diagnosis.verdict, suspicions: diagnosis.suspicions.length, collectors: outcomes };
}
