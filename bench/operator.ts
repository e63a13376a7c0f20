// The `operator` bench: the operator on a lab of 2 nodes (bridge), in one fresh process
// (bench/operator-process.ts): apply → Ready of 10 pod-to-pod diagnoses across the nodes created one
// after the other (median), 100 created at once until all are Ready, and the operator's resident
// memory with 1,000 NetworkDiagnosis objects present. Of the 1,000, the first 111 are the completed
// diagnoses of the first two parts (1 warm-up, 10, 100: full status, path and suspicions, their
// collectors deleted); the other 889 name a pod that does not exist, so the operator stalls them
// (Stalled=True, ObjectNotFound) without starting a collector, so that the figure is the
// operator's memory with 1,000 objects, not the lab's with 1,000 runs. Needs root, hack/get-binaries.sh's cache and
// `npm run build`. Takes a few minutes.

import { figureLine, percentile, round, type Bench, type BenchOptions, type BenchResult } from './bench.js';
import { median, requireRoot, runMeasuredProcess } from './lab-harness.js';
import type { MemorySample, OperatorProcessInput, OperatorProcessOutput } from './operator-process.js';

const INPUT: OperatorProcessInput = { sequential: 10, concurrent: 100, total: 1000 };
const APPLY_TARGET_MS = 3_000;
const CONCURRENT_TARGET_MS = 60_000;
const RSS_TARGET_MB = 200;

function mb(kb: number): number {
  return round(kb / 1024, 1);
}

function memory(sample: MemorySample): { objects: number; rssMb: number; peakRssMb: number } {
  return { objects: sample.objects, rssMb: mb(sample.rssKb), peakRssMb: mb(sample.hwmKb) };
}

/**
 * Reconciles between two samples: how many per diagnosis, and their mean duration (ms); the
 * collectors that delivered (each counted once, by the run that created it: runs that shared it
 * do not count it) and their mean time from creation to the diagnosis that used it.
 */
function reconcileFigures(from: MemorySample, to: MemorySample, diagnoses: number): { reconcilesPerDiagnosis?: number; reconcileMeanMs?: number; collectors?: number; collectorMeanMs?: number } {
  const a = from.metrics;
  const b = to.metrics;
  if (a.reconciles === undefined || b.reconciles === undefined || a.reconcileSeconds === undefined || b.reconcileSeconds === undefined) return {};
  const n = b.reconciles - a.reconciles;
  const collectors = (b.collectors ?? 0) - (a.collectors ?? 0);
  return {
    reconcilesPerDiagnosis: round(n / diagnoses, 1),
    ...(n > 0 ? { reconcileMeanMs: round(((b.reconcileSeconds - a.reconcileSeconds) * 1000) / n, 0) } : {}),
    collectors,
    ...(collectors > 0 ? { collectorMeanMs: round((((b.collectorSeconds ?? 0) - (a.collectorSeconds ?? 0)) * 1000) / collectors, 0) } : {}),
  };
}

function heap(sample: MemorySample): { heapUsedMb?: number; heapTotalMb?: number; externalMb?: number } {
  const m = sample.metrics;
  const toMb = (bytes: number | undefined): number | undefined => (bytes === undefined ? undefined : round(bytes / 1024 / 1024, 1));
  return Object.fromEntries(Object.entries({ heapUsedMb: toMb(m.heapUsedBytes), heapTotalMb: toMb(m.heapTotalBytes), externalMb: toMb(m.externalBytes) }).filter(([, v]) => v !== undefined));
}

function runOperatorBench(options: BenchOptions): BenchResult {
  requireRoot('operator');
  const out = runMeasuredProcess('operator-process.js', [JSON.stringify(INPUT)], options) as OperatorProcessOutput;
  const figures = {
    bench: 'operator',
    node: process.version,
    nodes: 2,
    network: 'bridge',
    labUpMs: round(out.labUpMs, 0),
    firstApplyToReadyMs: round(out.warmupMs, 0),
    applyToReadyP50Ms: round(median(out.sequentialMs), 0),
    applyToReadyMaxMs: round(Math.max(...out.sequentialMs), 0),
    applyToReadyRunsMs: out.sequentialMs.map((ms) => round(ms, 0)),
    sequentialVerdicts: out.sequentialVerdicts,
    concurrent: INPUT.concurrent,
    concurrent100Ms: round(out.concurrentMs, 0),
    concurrentCreateMs: round(out.concurrentCreateMs, 0),
    concurrentEachP50Ms: round(percentile(out.concurrentEachMs, 50), 0),
    concurrentVerdicts: out.concurrentVerdicts,
    collectorPodFailures: out.collectorPodFailures,
    objects: out.memoryAtTotal.objects,
    objectsCompleted: out.memoryAtTotal.objects - out.stalledCreated,
    objectsStalled: out.stalledCreated,
    stalledReasons: out.stalledReasons,
    stalledAllStatusMs: round(out.stalledMs, 0),
    rssMbAt1000: mb(out.memoryAtTotal.rssKb),
    rssMbAt1000Settled: mb(out.memoryAtTotalSettled.rssKb),
    peakRssMb: mb(out.memoryAtTotalSettled.hwmKb),
    rssMbIdle: memory(out.memoryIdle).rssMb,
    rssMbAfterSequential: memory(out.afterSequential).rssMb,
    rssMbAfterConcurrent: memory(out.memoryAfterConcurrent).rssMb,
    heapAt1000: heap(out.memoryAtTotal),
    heapAfterConcurrent: heap(out.memoryAfterConcurrent),
    heapIdle: heap(out.memoryIdle),
    sequentialReconciles: reconcileFigures(out.memoryIdle, out.afterSequential, INPUT.sequential),
    concurrentReconciles: reconcileFigures(out.afterSequential, out.memoryAfterConcurrent, INPUT.concurrent),
    stalledReconciles: reconcileFigures(out.memoryAfterConcurrent, out.memoryAtTotal, out.stalledCreated),
  };
  const text = [
    `operator: 2-node bridge lab; ${INPUT.sequential} diagnoses one by one, ${INPUT.concurrent} at once, ${INPUT.total} objects (${figures.objectsStalled} of them stalled: a pod that does not exist)`,
    figureLine('apply → Ready, median', figures.applyToReadyP50Ms, 'ms', APPLY_TARGET_MS),
    figureLine('first apply → Ready', figures.firstApplyToReadyMs, 'ms'),
    figureLine(`${INPUT.concurrent} at once, all Ready`, figures.concurrent100Ms, 'ms', CONCURRENT_TARGET_MS),
    figureLine(`RSS, ${figures.objects} objects`, figures.rssMbAt1000, 'MiB', RSS_TARGET_MB),
    figureLine('RSS, idle', figures.rssMbIdle, 'MiB'),
    figureLine('RSS peak', figures.peakRssMb, 'MiB'),
  ].join('\n');
  return { figures, text };
}

export const OPERATOR_BENCH: Bench = {
  summary: 'the operator on a 2-node lab: apply → Ready, 100 at once, memory with 1,000 objects (root; build first; minutes)',
  run: runOperatorBench,
};
