// The collection of one node: discover its network namespaces, capture the host's and every
// other one's stack in bounded parallel, match namespaces to the caller's pods, find the owners
// of listening sockets, and assemble the snapshot. Read-only on the node. Nothing the node does
// (a missing tool, a namespace that vanished, the deadline) aborts the run: it is recorded where
// it happened, and `complete` says whether anything is missing.

import { availableParallelism } from 'node:os';
import { buildNetstackPlan, buildToolVersionSteps } from '../capture-plan.js';
import type { CaptureStep, StepResult } from '../capture-script.js';
import { buildNetstackCapture, buildToolItems } from '../netstack-items.js';
import { globalAddressesOf } from '../parsers/ip-addresses.js';
import { parseSocketInodes } from '../parsers/ss.js';
import { parseCniRecordFiles } from '../../diagnosis/index.js';
import { matchPods, recordedNetns, type MatchCandidate } from '../pod-match.js';
import {
  SNAPSHOT_KIND,
  SNAPSHOT_SCHEMA_VERSION,
  type DiscoveryRecord,
  type NamespaceKind,
  type NamespaceSnapshot,
  type NetnsRef,
  type NetstackCapture,
  type PodRef,
  type Snapshot,
  type SnapshotWarning,
  type UnmatchedNamespace,
} from '../snapshot.js';
import { createCapturePool, runCaptureSteps, type CaptureTarget, type RunnerOptions } from './capture-runner.js';
import { discoverCri, findCriEndpoint, type CriResult } from './cri.js';
import { createDeadline } from './deadline.js';
import { discoverNamespaces, type FoundNetns } from './discovery.js';
import { readCni, readNodeIdentity } from './node-info.js';
import { findSocketOwners } from './socket-owners.js';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from './errno.js';

export interface CollectOptions {
  /** The netdiag version, recorded in the snapshot. */
  readonly version: string;
  /** The Kubernetes node name; default NODE_NAME, else the hostname. */
  readonly nodeName?: string;
  /** The node's pods, to match namespaces to; undefined: every namespace found is kept. */
  readonly pods?: readonly PodRef[];
  /** The host's namespace; default the agent's own (it runs with hostNetwork). */
  readonly hostNetnsPath?: string;
  /** Whole-run deadline. */
  readonly deadlineMs: number;
  readonly commandTimeoutMs: number;
  /** Capture processes at once; default cores × 2 (2 to 16). */
  readonly parallelism?: number;
  /** The CRI endpoint; undefined: look for the usual sockets; false: do not ask the runtime. */
  readonly criEndpoint?: string | false;
  /** Directories of named namespaces to search; default /run/netns and /var/run/netns. */
  readonly runNetnsDirs?: readonly string[];
  /**
   * Whether every process's namespace (/proc/PID/ns/net) is searched; default true. False where
   * not every namespace of the machine is the node's (a lab): only `runNetnsDirs` are searched.
   */
  readonly procNetns?: boolean;
  readonly procRoot?: string;
  readonly cniConfigDir?: string;
  readonly cniRecordDir?: string;
  /** Standard output kept per capture process (default 64 MiB). */
  readonly maxOutputBytes?: number;
  /** Progress, one line per phase. */
  readonly log?: (message: string) => void;
}

export const DEFAULT_CNI_CONFIG_DIR = '/etc/cni/net.d';
export const DEFAULT_CNI_RECORD_DIR = '/var/log/netdiag';
const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
/** Time given to finding socket owners, at most (they are a nicety next to the dumps). */
const OWNER_SEARCH_MS = 1000;
const PIDS_RECORDED = 20;

export function defaultParallelism(): number {
  return Math.min(16, Math.max(2, availableParallelism() * 2));
}

type Results = Map<string, StepResult>;

/** Runs each lane of a plan as its own capture job (the pool bounds how many run at once) and merges the results. */
async function captureLanes(lanes: readonly (readonly CaptureStep[])[], target: CaptureTarget, runner: RunnerOptions): Promise<Results> {
  const perLane = await Promise.all(lanes.map((lane) => runCaptureSteps(lane, target, runner)));
  return new Map(perLane.flatMap((results) => [...results]));
}

interface Failures {
  /** Commands not run or killed because the deadline passed. */
  readonly deadline: number;
  readonly timedOut: number;
  /** Set when the namespace could not be entered at all. */
  readonly notEntered?: string;
}

function failuresOf(results: Results): Failures {
  let deadline = 0;
  let timedOut = 0;
  for (const r of results.values()) {
    if (r.failureKind === 'deadline') deadline++;
    if (r.failureKind === 'timeout') timedOut++;
  }
  const why = notEntered(results);
  return { deadline, timedOut, ...(why !== undefined ? { notEntered: why } : {}) };
}

interface CapturedNamespace {
  readonly netstack: NetstackCapture;
  readonly failures: Failures;
}

/**
 * Captures one namespace and builds its items at once, so that the raw output of its commands can
 * be freed while the other namespaces are still being captured.
 */
async function captureNamespace(lanes: readonly (readonly CaptureStep[])[], target: CaptureTarget, runner: RunnerOptions): Promise<CapturedNamespace> {
  const results = await captureLanes(lanes, target, runner);
  return { netstack: buildNetstackCapture(lanes, results), failures: failuresOf(results) };
}

function netnsRef(found: FoundNetns): NetnsRef {
  const pids = [...found.pids].sort((a, b) => a - b);
  return {
    inode: found.inode,
    path: found.path,
    foundBy: [...found.foundBy].sort(),
    ...(found.names.length > 0 ? { names: [...found.names].sort() } : {}),
    ...(pids.length > 0 ? { pids: pids.slice(0, PIDS_RECORDED), processCount: pids.length } : {}),
  };
}

/** Why none of a namespace's commands could start (the namespace could not be entered), if so. */
function notEntered(results: Results): string | undefined {
  const all = [...results.values()];
  return all.length > 0 && all.every((r) => r.failureKind === 'not-started') ? all[0]?.failure : undefined;
}

/** Resolves the runtime's sandboxes to namespaces found (or newly stat'ed), recording problems as warnings. */
async function applyCri(cri: CriResult, found: Map<number, FoundNetns>, hostInode: number, warnings: SnapshotWarning[]): Promise<{ criPods: Map<number, PodRef>; hostPods: PodRef[] }> {
  const criPods = new Map<number, PodRef>();
  const hostPods: PodRef[] = [];
  for (const { sandbox, detail } of cri.pods) {
    const pod: PodRef = { namespace: sandbox.namespace, name: sandbox.name, ...(sandbox.uid !== '' ? { uid: sandbox.uid } : {}), ips: detail?.ips ?? [] };
    if (detail?.hostNetwork === true) {
      hostPods.push({ ...pod, hostNetwork: true });
      continue;
    }
    const paths = [detail?.netnsPath, detail?.pid !== undefined ? `/proc/${detail.pid}/ns/net` : undefined].filter((p): p is string => p !== undefined);
    let resolved = false;
    for (const path of paths) {
      let inode: number;
      try {
        inode = (await stat(path)).ino;
      } catch {
        continue;
      }
      resolved = true;
      if (inode === hostInode) {
        hostPods.push({ ...pod, hostNetwork: true });
        break;
      }
      let entry = found.get(inode);
      if (entry === undefined) {
        entry = { inode, path, foundBy: new Set(), names: [], pids: [] };
        found.set(inode, entry);
      }
      entry.foundBy.add('cri');
      criPods.set(inode, pod);
      break;
    }
    if (!resolved) {
      warnings.push({
        code: 'cri-netns-missing',
        message: `the runtime names no reachable network namespace for sandbox ${sandbox.id} of pod ${pod.namespace}/${pod.name} (${paths.join(', ') || 'no path, no pid'}); it is matched by IP instead`,
      });
    }
  }
  return { criPods, hostPods };
}

/** The run cannot start at all: no /proc, or the host namespace given does not exist. */
export class CollectSetupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CollectSetupError';
  }
}

export async function collectSnapshot(options: CollectOptions): Promise<Snapshot> {
  const started = Date.now();
  const hostPath = options.hostNetnsPath ?? join(options.procRoot ?? '/proc', 'self', 'ns', 'net');
  try {
    await stat(hostPath);
  } catch (error) {
    throw new CollectSetupError(`the host network namespace ${hostPath} cannot be opened: ${errnoCode(error)}`, { cause: error });
  }
  const deadline = createDeadline(options.deadlineMs, started);
  const parallelism = options.parallelism ?? defaultParallelism();
  const pool = createCapturePool(parallelism);
  try {
    return await collectWith(options, { pool, commandTimeoutMs: options.commandTimeoutMs, deadline, maxOutputBytes: options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES }, started);
  } finally {
    await pool.close();
  }
}

async function collectWith(options: CollectOptions, runner: RunnerOptions, started: number): Promise<Snapshot> {
  const log = options.log ?? ((): void => undefined);
  const deadline = runner.deadline;
  const parallelism = runner.pool.size;
  const warnings: SnapshotWarning[] = [];

  // The host first: its dumps are the largest, and it needs no discovery.
  const hostPlan = buildNetstackPlan('parallel');
  const hostTarget: CaptureTarget = options.hostNetnsPath === undefined ? {} : { netnsPath: options.hostNetnsPath };
  const hostCapture = captureNamespace(hostPlan, hostTarget, runner).then((captured) => {
    log(`host namespace captured in ${Date.now() - started} ms`);
    return captured;
  });
  const toolSteps = buildToolVersionSteps();
  const toolsCapture = runCaptureSteps(toolSteps, {}, runner).then((results) => ({ tools: buildToolItems(toolSteps, results), failures: failuresOf(results) }));
  const identity = readNodeIdentity(options.nodeName);
  const cni = readCni(options.cniConfigDir ?? DEFAULT_CNI_CONFIG_DIR, options.cniRecordDir ?? DEFAULT_CNI_RECORD_DIR);

  const discoveryStarted = Date.now();
  let discovered: Awaited<ReturnType<typeof discoverNamespaces>>;
  try {
    discovered = await discoverNamespaces({
      ...(options.hostNetnsPath !== undefined ? { hostNetnsPath: options.hostNetnsPath } : {}),
      ...(options.procRoot !== undefined ? { procRoot: options.procRoot } : {}),
      ...(options.runNetnsDirs !== undefined ? { runNetnsDirs: options.runNetnsDirs } : {}),
      ...(options.procNetns !== undefined ? { procNetns: options.procNetns } : {}),
    });
  } catch (error) {
    // Let the captures already running finish (the pool closes after them), then fail the run.
    await Promise.allSettled([hostCapture, toolsCapture]);
    throw new CollectSetupError(error instanceof Error ? error.message : String(error), { cause: error });
  }
  warnings.push(...discovered.warnings);

  let cri: CriResult | undefined;
  let criPods = new Map<number, PodRef>();
  let criHostPods: PodRef[] = [];
  const endpoint = options.criEndpoint === false ? undefined : await findCriEndpoint(options.criEndpoint);
  if (endpoint !== undefined) {
    cri = await discoverCri(endpoint, runner);
    ({ criPods, hostPods: criHostPods } = await applyCri(cri, discovered.namespaces, discovered.host.inode, warnings));
    if (cri.error !== undefined) warnings.push({ code: 'cri-failed', message: `${cri.error}; pods are matched to namespaces by IP instead` });
  } else if (options.criEndpoint !== false) {
    warnings.push({ code: 'cri-unavailable', message: 'no container runtime socket found (containerd, CRI-O, cri-dockerd): pods are matched to namespaces by IP' });
  }
  const method = cri !== undefined && cri.error === undefined ? 'cri' : 'proc';
  const candidates = [...discovered.namespaces.values()].sort((a, b) => a.path.localeCompare(b.path));
  log(`found ${candidates.length + 1} network namespaces (${discovered.processesScanned} processes scanned${method === 'cri' ? `, ${criPods.size} pod sandboxes from the runtime` : ''}) in ${Date.now() - discoveryStarted} ms`);
  const discoveryMs = Date.now() - discoveryStarted;

  const podPlan = buildNetstackPlan('single');
  const captured = await Promise.all(candidates.map((ns) => captureNamespace(podPlan, { netnsPath: ns.path }, runner)));
  const host = await hostCapture;
  const tools = await toolsCapture;
  log(`${candidates.length + 1} namespaces captured in ${Date.now() - started} ms`);

  const hostNetstack = host.netstack;
  const netstacks = captured.map((c) => c.netstack);
  const allFailures = [host.failures, tools.failures, ...captured.map((c) => c.failures)];
  const addressesOf = (n: NetstackCapture): string[] | undefined => (n.addresses.error === undefined ? globalAddressesOf(n.addresses.data) : undefined);
  const lostToDeadline = allFailures.reduce((n, f) => n + f.deadline, 0);
  const deadlineHit = deadline.expired() || lostToDeadline > 0;
  const cniCapture = await cni;
  const cniRecords = options.pods === undefined || cniCapture.records.length === 0 ? [] : parseCniRecordFiles(cniCapture.records).records;
  const match = matchPods({
    pods: options.pods,
    ...(cniRecords.length > 0 && options.pods !== undefined ? { recordedNetns: recordedNetns(cniRecords, options.pods) } : {}),
    hostAddresses: addressesOf(hostNetstack) ?? [],
    criHostNetworkPods: criHostPods,
    ...(deadlineHit ? { incompleteReason: "namespaces not read before the run's deadline" } : {}),
    candidates: candidates.map((ns, i): MatchCandidate => {
      const criPod = criPods.get(ns.inode);
      return { inode: ns.inode, path: ns.path, addresses: addressesOf(netstacks[i] as NetstackCapture), ...(criPod !== undefined ? { criPod } : {}) };
    }),
  });

  // Keep the host, the pods, and (only without a pod list) every other namespace.
  const kept: Array<{ found: FoundNetns; kind: NamespaceKind; netstack: NetstackCapture; failures: Failures }> = [
    { found: discovered.host, kind: 'host', netstack: hostNetstack, failures: host.failures },
  ];
  const unmatchedNamespaces: UnmatchedNamespace[] = [];
  candidates.forEach((ns, i) => {
    const { netstack, failures } = captured[i] as CapturedNamespace;
    if (match.podByInode.has(ns.inode)) kept.push({ found: ns, kind: 'pod', netstack, failures });
    else if (options.pods === undefined) kept.push({ found: ns, kind: 'other', netstack, failures });
    else unmatchedNamespaces.push({ netns: netnsRef(ns), addresses: addressesOf(netstack) ?? [] });
  });

  const ownersUntil = Math.min(deadline.at, Date.now() + OWNER_SEARCH_MS);
  const namespaces: NamespaceSnapshot[] = await Promise.all(
    kept.map(async ({ found, kind, netstack }) => {
      const listening = netstack.sockets.listening;
      const search = await findSocketOwners(parseSocketInodes(listening.output ?? ''), found.pids, ownersUntil, options.procRoot);
      const podMatch = match.podByInode.get(found.inode);
      return {
        kind,
        netns: netnsRef(found),
        ...(podMatch !== undefined ? { pod: podMatch.pod, matchedBy: podMatch.matchedBy } : {}),
        netstack: { ...netstack, sockets: { listening, owners: search.owners, ...(search.incomplete !== undefined ? { ownersIncomplete: search.incomplete } : {}) } },
      };
    }),
  );
  const rank = { host: 0, pod: 1, other: 2 } as const;
  const podName = (n: NamespaceSnapshot): string => (n.pod === undefined ? '' : `${n.pod.namespace}/${n.pod.name}`);
  namespaces.sort((a, b) => rank[a.kind] - rank[b.kind] || podName(a).localeCompare(podName(b)) || a.netns.path.localeCompare(b.netns.path));

  const enterFailures = kept.filter((k) => k.failures.notEntered !== undefined);
  for (const k of enterFailures) warnings.push({ code: 'netns-not-entered', message: `${k.found.path}: ${k.failures.notEntered}` });
  if (deadlineHit) {
    warnings.push({ code: 'deadline-exceeded', message: `the run's deadline (${options.deadlineMs / 1000}s) passed: ${lostToDeadline} command(s) did not run or were killed` });
  }
  const timedOut = allFailures.reduce((n, f) => n + f.timedOut, 0);
  if (timedOut > 0) warnings.push({ code: 'command-timeout', message: `${timedOut} command(s) timed out after ${options.commandTimeoutMs / 1000}s and were killed` });

  const completed = Date.now();
  const discovery: DiscoveryRecord = {
    method,
    ...(cri !== undefined ? { cri: cri.record } : {}),
    namespacesFound: candidates.length + 1,
    processesScanned: discovered.processesScanned,
    durationMs: discoveryMs,
  };
  log(`matched ${match.podByInode.size} pod namespaces, ${match.hostNetworkPods.length} hostNetwork pods, ${match.podsNotFound.length} pods not found`);
  return {
    schemaVersion: SNAPSHOT_SCHEMA_VERSION,
    kind: SNAPSHOT_KIND,
    node: await identity,
    agent: { version: options.version, deadlineMs: options.deadlineMs, commandTimeoutMs: options.commandTimeoutMs, parallelism },
    startedAt: new Date(started).toISOString(),
    completedAt: new Date(completed).toISOString(),
    durationMs: completed - started,
    complete: !deadlineHit && match.podsNotFound.length === 0 && enterFailures.length === 0,
    discovery,
    tools: tools.tools,
    cni: cniCapture,
    namespaces,
    podsNotFound: match.podsNotFound,
    hostNetworkPods: match.hostNetworkPods,
    unmatchedNamespaces,
    warnings,
  };
}
