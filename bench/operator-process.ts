// The measured part of the `operator` bench, run by bench/operator.ts in a fresh Node process, on
// a lab of 2 nodes (bridge, pod network BENCH_CLUSTER_CIDR) with the operator (startLab operator: true):
//   - two pods in namespace `bench`: `client` on node1, `server` on node2 listening on 80/TCP;
//   - one warm-up NetworkDiagnosis client → server:80/TCP, reported apart (the operator's first);
//   - SEQUENTIAL more, created one after the other, each timed from its create call until the
//     operator set Ready=True with observedGeneration equal to its generation;
//   - CONCURRENT more created at once (distinct names, the same pods), timed until all are Ready;
//   - then NetworkDiagnosis objects that name a pod that does not exist (`absent` → server) until
//     TOTAL objects are present: the operator stalls them (Stalled=True, ObjectNotFound) without a
//     collector; once every object has a status for its generation (Ready or Stalled), the
//     operator's VmRSS (its pid from the lab's state file, /proc/PID/status).
// The times come from a watch on NetworkDiagnosis objects (src/kube/informer.ts): an object's
// time is when this process saw the update that made it Ready or Stalled.
// Prints one JSON object of raw figures (OperatorProcessOutput). Argument: one JSON OperatorProcessInput.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, CONDITION_READY, CONDITION_STALLED, KIND, type NetworkDiagnosis, type NetworkDiagnosisSpec } from '../src/api/v1alpha1/index.js';
import { loadKubeConfig } from '../src/kube/client.js';
import { diagnosisInformerSpec, startInformer } from '../src/kube/informer.js';
import { createScenarioClient, type ScenarioClient } from '../src/kube/scenario-client.js';
import { readState } from '../src/lab/state.js';
import { LAB_POD_IMAGE } from '../src/lab/scenario-manifests.js';
import { sleep } from '../src/lab/process.js';
import { benchBridgeNetwork, createWorkspace, startBenchLab, stopBenchLab, stopLabsOnSignal } from './lab-harness.js';

export interface OperatorProcessInput {
  readonly sequential: number;
  readonly concurrent: number;
  readonly total: number;
}

export interface MemorySample {
  /** NetworkDiagnosis objects present. */
  readonly objects: number;
  /** The operator's VmRSS, KiB. */
  readonly rssKb: number;
  /** The operator's VmHWM (peak resident set so far), KiB. */
  readonly hwmKb: number;
  readonly metrics: OperatorMetrics;
}

/** What the operator's /metrics says at a moment (prom-client's process metrics and ours). */
export interface OperatorMetrics {
  readonly heapUsedBytes?: number;
  readonly heapTotalBytes?: number;
  readonly externalBytes?: number;
  readonly reconciles?: number;
  readonly reconcileSeconds?: number;
  readonly collectors?: number;
  readonly collectorSeconds?: number;
}

export interface OperatorProcessOutput {
  readonly labUpMs: number;
  readonly warmupMs: number;
  /** Create → Ready of each sequential diagnosis, ms. */
  readonly sequentialMs: readonly number[];
  /** Their verdicts (status.verdict). */
  readonly sequentialVerdicts: readonly string[];
  /** From the first create call of the concurrent ones until the last is Ready. */
  readonly concurrentMs: number;
  /** From the first create call until every create call returned. */
  readonly concurrentCreateMs: number;
  /** Each concurrent diagnosis: from the first create call until it is Ready, ms. */
  readonly concurrentEachMs: readonly number[];
  readonly concurrentVerdicts: Readonly<Record<string, number>>;
  /** Objects created to reach TOTAL, naming a pod that does not exist. */
  readonly stalledCreated: number;
  /** From the first of them created until every object has a status for its generation. */
  readonly stalledMs: number;
  readonly stalledReasons: Readonly<Record<string, number>>;
  /** Memory after the warm-up (12 objects or fewer: the idle operator). */
  readonly memoryIdle: MemorySample;
  /** Memory and metrics after the sequential ones. */
  readonly afterSequential: MemorySample;
  /** Memory once the concurrent ones are Ready. */
  readonly memoryAfterConcurrent: MemorySample;
  /** Memory the moment every one of TOTAL objects has a status. */
  readonly memoryAtTotal: MemorySample;
  /** The same 10 s later. */
  readonly memoryAtTotalSettled: MemorySample;
  readonly operatorPid: number;
  /** Collector pods the lab's kubelets could not start, or whose collector failed (their log lines). */
  readonly collectorPodFailures: readonly string[];
  readonly peakRssKb: number;
}

const NAMESPACE = 'bench';
/**
 * How long a diagnosis may take before the bench gives up: beyond the operator's collector
 * deadline (180 s: a collector pod that never delivers fails the diagnosis's collection then,
 * and the diagnosis still ends Ready, Inconclusive), with room for a loaded machine.
 */
const TIMEOUT_MS = 600_000;

/** The port of the operator's /metrics, from its log line `serving /metrics`. */
function metricsPort(logFile: string): number | undefined {
  const line = readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('"msg":"serving /metrics"'));
  const port = line === undefined ? undefined : (JSON.parse(line) as { port?: unknown }).port;
  return typeof port === 'number' ? port : undefined;
}

/** A few of the operator's metrics (nothing when it does not answer). */
async function scrapeMetrics(port: number | undefined): Promise<OperatorMetrics> {
  if (port === undefined) return {};
  let text: string;
  try {
    text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  } catch {
    return {};
  }
  const sum = (name: string): number | undefined => {
    const values = text
      .split('\n')
      .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
      .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)));
    return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
  };
  const metrics: Record<string, number | undefined> = {
    heapUsedBytes: sum('nodejs_heap_size_used_bytes'),
    heapTotalBytes: sum('nodejs_heap_size_total_bytes'),
    externalBytes: sum('nodejs_external_memory_bytes'),
    reconciles: sum('netdiag_reconcile_duration_seconds_count'),
    reconcileSeconds: sum('netdiag_reconcile_duration_seconds_sum'),
    collectors: sum('netdiag_collector_duration_seconds_count'),
    collectorSeconds: sum('netdiag_collector_duration_seconds_sum'),
  };
  return Object.fromEntries(Object.entries(metrics).filter(([, v]) => v !== undefined));
}

/** The operator's VmRSS and VmHWM (KiB) from /proc, and its metrics. */
async function operatorMemory(pid: number, objects: number, port: number | undefined): Promise<MemorySample> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (match?.[1] === undefined) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(match[1]);
  };
  return { objects, rssKb: field('VmRSS'), hwmKb: field('VmHWM'), metrics: await scrapeMetrics(port) };
}

function podManifest(name: string, node: string, ports: readonly number[]): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NAMESPACE, labels: { 'app.kubernetes.io/part-of': 'netdiag-bench' } },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'main', image: LAB_POD_IMAGE, ports: ports.map((containerPort) => ({ containerPort, protocol: 'TCP' })) }],
    },
  };
}

function diagnosisManifest(name: string, source: string): Record<string, unknown> {
  const spec: NetworkDiagnosisSpec = { source: { pod: { name: source } }, destination: { pod: { name: 'server' } }, port: 80, protocol: 'TCP' };
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace: NAMESPACE }, spec };
}

type Outcome = { readonly kind: 'ready' | 'stalled'; readonly at: number; readonly verdict?: string; readonly reason?: string };

/** What a NetworkDiagnosis's status says of its current generation: Ready, Stalled, or nothing yet. */
function outcomeOf(d: NetworkDiagnosis, at: number): Outcome | undefined {
  const conditions = d.status?.conditions ?? [];
  const current = (type: string): { reason: string } | undefined => conditions.find((c) => c.type === type && c.status === 'True' && c.observedGeneration === d.metadata.generation);
  const ready = current(CONDITION_READY);
  if (ready !== undefined) return { kind: 'ready', at, ...(d.status?.verdict !== undefined ? { verdict: d.status.verdict } : {}), reason: ready.reason };
  const stalled = current(CONDITION_STALLED);
  if (stalled !== undefined) return { kind: 'stalled', at, reason: stalled.reason };
  return undefined;
}

/** Every NetworkDiagnosis's outcome as this process sees it through a watch, and waits on them. */
class Outcomes {
  private readonly seen = new Map<string, Outcome>();
  private readonly waiters = new Set<() => void>();

  record(obj: KubernetesObject): void {
    const name = obj.metadata?.name;
    if (name === undefined || this.seen.has(name)) return;
    const outcome = outcomeOf(obj as NetworkDiagnosis, performance.now());
    if (outcome === undefined) return;
    this.seen.set(name, outcome);
    for (const wake of this.waiters) wake();
  }

  get(name: string): Outcome | undefined {
    return this.seen.get(name);
  }

  get size(): number {
    return this.seen.size;
  }

  /** Resolves once every name has an outcome; fails after TIMEOUT_MS naming how many are missing. */
  async waitFor(names: readonly string[], what: string): Promise<Outcome[]> {
    const deadline = performance.now() + TIMEOUT_MS;
    for (;;) {
      const missing = names.filter((n) => !this.seen.has(n));
      if (missing.length === 0) return names.map((n) => this.seen.get(n) as Outcome);
      if (performance.now() > deadline) throw new Error(`${what}: ${missing.length} of ${names.length} have no Ready or Stalled condition after ${TIMEOUT_MS / 1000} s (first: ${missing.slice(0, 5).join(', ')})`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 1000);
        this.waiters.add(wake);
      });
    }
  }
}

/** Runs `task` on each item with at most `limit` at once. */
async function eachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, () => worker()));
}

function count(values: readonly (string | undefined)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v ?? 'none'] = (counts[v ?? 'none'] ?? 0) + 1;
  return counts;
}

async function createDiagnosis(client: ScenarioClient, name: string, source: string): Promise<void> {
  await client.create(diagnosisManifest(name, source));
}

async function measure(input: OperatorProcessInput): Promise<OperatorProcessOutput> {
  stopLabsOnSignal();
  const ws = createWorkspace('operator');
  const dir = join(ws.dir, 'lab');
  let ok = false;
  ws.progress(`lab of 2 nodes (bridge) with the operator (log ${ws.logFile})`);
  const t0 = performance.now();
  let lab;
  try {
    lab = await startBenchLab({ network: benchBridgeNetwork(), nodes: 2, dir, operator: true, log: ws.log });
  } catch (error) {
    process.stderr.write(`operator: the lab's logs are kept in ${ws.dir}\n`);
    throw error;
  }
  const labUpMs = performance.now() - t0;
  try {
    const operatorPid = readState(dir)?.processes.find((p) => p.name === 'operator')?.pid;
    if (operatorPid === undefined) throw new Error(`the lab did not start the operator (is dist/src/main.js built?); see ${ws.logFile}`);
    const config = loadKubeConfig({ kubeconfig: lab.kubeconfig }).config;
    const client = createScenarioClient(config);
    const outcomes = new Outcomes();
    const informer = startInformer({ ...diagnosisInformerSpec(config), onEvent: (type, obj) => {
        if (type !== 'delete') outcomes.record(obj);
      },
    });
    try {
      await client.createNamespace(NAMESPACE);
      await client.create(podManifest('client', 'node1', []));
      await client.create(podManifest('server', 'node2', [80]));
      for (const name of ['client', 'server']) {
        await lab.waitForPod(NAMESPACE, name, 60_000);
        for (const deadline = performance.now() + 60_000; (await client.podState(NAMESPACE, name))?.ready !== true; ) {
          if (performance.now() > deadline) throw new Error(`pod ${NAMESPACE}/${name} is not Ready after 60 s`);
          await sleep(100);
        }
      }
      for (const deadline = performance.now() + 30_000; !informer.state().synced; ) {
        if (performance.now() > deadline) throw new Error('the NetworkDiagnosis watch did not sync in 30 s');
        await sleep(50);
      }

      const timeOne = async (name: string, source: string): Promise<{ ms: number; outcome: Outcome }> => {
        const start = performance.now();
        await createDiagnosis(client, name, source);
        const [outcome] = await outcomes.waitFor([name], `NetworkDiagnosis ${name}`);
        if (outcome === undefined) throw new Error(`no outcome for ${name}`);
        return { ms: outcome.at - start, outcome };
      };

      ws.progress('warm-up diagnosis');
      const warmup = await timeOne('warmup', 'client');
      if (warmup.outcome.kind !== 'ready') throw new Error(`the warm-up diagnosis stalled (${warmup.outcome.reason ?? ''}); see ${ws.logFile}`);
      const port = metricsPort(join(dir, 'operator.log'));
      const memoryIdle = await operatorMemory(operatorPid, 1, port);

      ws.progress(`${input.sequential} diagnoses one after the other`);
      const sequential: { ms: number; outcome: Outcome }[] = [];
      for (let i = 0; i < input.sequential; i++) sequential.push(await timeOne(`seq-${i + 1}`, 'client'));
      const afterSequential = await operatorMemory(operatorPid, 1 + input.sequential, port);

      ws.progress(`${input.concurrent} diagnoses at once`);
      const names = Array.from({ length: input.concurrent }, (_, i) => `conc-${i + 1}`);
      const c0 = performance.now();
      await Promise.all(names.map((name) => createDiagnosis(client, name, 'client')));
      const concurrentCreateMs = performance.now() - c0;
      const concurrent = await outcomes.waitFor(names, `${input.concurrent} concurrent diagnoses`);
      const concurrentEachMs = concurrent.map((o) => o.at - c0);
      const concurrentMs = Math.max(...concurrentEachMs);
      let present = 1 + input.sequential + input.concurrent;
      const memoryAfterConcurrent = await operatorMemory(operatorPid, present, port);
      ws.progress(`${input.concurrent} at once: all Ready in ${(concurrentMs / 1000).toFixed(1)} s`);

      const stalledNames = Array.from({ length: Math.max(0, input.total - present) }, (_, i) => `absent-${i + 1}`);
      ws.progress(`${stalledNames.length} diagnoses naming a pod that does not exist, to ${input.total} objects`);
      const s0 = performance.now();
      await eachLimited(stalledNames, 20, (name) => createDiagnosis(client, name, 'absent'));
      present += stalledNames.length;
      const stalled = await outcomes.waitFor(stalledNames, `${stalledNames.length} diagnoses of an absent pod`);
      const stalledMs = Math.max(s0, ...stalled.map((o) => o.at)) - s0;
      const memoryAtTotal = await operatorMemory(operatorPid, present, port);
      await sleep(10_000);
      const memoryAtTotalSettled = await operatorMemory(operatorPid, present, port);
      ws.progress(`${present} objects with a status: operator VmRSS ${(memoryAtTotal.rssKb / 1024).toFixed(0)} MiB`);

      ok = true;
      return {
        labUpMs,
        warmupMs: warmup.ms,
        sequentialMs: sequential.map((s) => s.ms),
        sequentialVerdicts: sequential.map((s) => s.outcome.verdict ?? s.outcome.kind),
        concurrentMs,
        concurrentCreateMs,
        concurrentEachMs,
        concurrentVerdicts: count(concurrent.map((o) => (o.kind === 'ready' ? o.verdict : `Stalled ${o.reason ?? ''}`))),
        stalledCreated: stalledNames.length,
        stalledMs,
        stalledReasons: count(stalled.map((o) => `${o.kind} ${o.reason ?? ''}`)),
        memoryIdle,
        afterSequential,
        memoryAfterConcurrent,
        memoryAtTotal,
        memoryAtTotalSettled,
        operatorPid,
        collectorPodFailures: readFileSync(ws.logFile, 'utf8')
          .split('\n')
          .filter((l) => / failed to start: | collector pod .* failed \(exit /.test(l))
          .map((l) => l.slice(0, 400)),
        peakRssKb: process.resourceUsage().maxRSS,
      };
    } finally {
      await informer.stop();
    }
  } finally {
    ws.progress('tearing the lab down');
    await stopBenchLab(lab);
    if (ok) ws.remove();
    else process.stderr.write(`operator: the lab's logs are kept in ${ws.dir}\n`);
  }
}

measure(JSON.parse(process.argv[2] ?? '{}') as OperatorProcessInput).then(
  (output) => process.stdout.write(`${JSON.stringify(output)}\n`),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
