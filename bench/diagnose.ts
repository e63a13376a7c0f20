// The `diagnose` bench: one pod-to-service diagnosis in a large cluster. A fresh Node process
// (bench/diagnose-process.ts) builds a synthetic cluster of 1,000 nodes, 30,000 pods and 5,000
// services with kube-proxy's rules for all of them on every node (bench/diagnose-inputs.ts), every
// network namespace deferred (parsed only when the walk reads it), and times the diagnosis of a
// pod to a service whose endpoints are all on other nodes as `netdiag diagnose` makes it (the
// plugin detected from the nodes' CNI configuration, then `diagnose()`), each run on a fresh
// ClusterState, so each diagnosis pays for parsing what it reads. A second process does the same on a 100-node cluster
// with the same services: the cost of a diagnosis should follow the nodes on its path, not the
// size of the cluster.
//
// Targets (the issue): one diagnosis <= 1 s, peak memory <= 1 GiB.

import { figureLine, percentile, round, runFreshProcess, type Bench, type BenchOptions, type BenchResult } from './bench.js';
import type { DiagnoseProcessInput, DiagnoseProcessOutput } from './diagnose-inputs.js';

const PODS_PER_NODE = 30;
const SERVICES = 5000;
const ENDPOINTS_PER_SERVICE = 4;
const SEED = 20260103;
/** Diagnoses per process: the first (cold code) and the ones the percentiles are taken over. */
const RUNS = 6;

export const DIAGNOSE_TARGETS = { diagnoseMs: 1000, peakRssMb: 1024 } as const;

function readOutput(output: unknown): DiagnoseProcessOutput {
  const o = output as Partial<DiagnoseProcessOutput> | null;
  if (typeof o?.buildMs !== 'number' || !Array.isArray(o.diagnoseMs) || o.diagnoseMs.length < 2 || typeof o.peakRssKb !== 'number' || typeof o.peakRssFirstKb !== 'number') {
    throw new Error('diagnose-process.js printed an unexpected object');
  }
  return o as DiagnoseProcessOutput;
}

function measure(nodes: number, options: BenchOptions): DiagnoseProcessOutput {
  const input: DiagnoseProcessInput = { nodes, podsPerNode: PODS_PER_NODE, services: SERVICES, endpointsPerService: ENDPOINTS_PER_SERVICE, seed: SEED, runs: RUNS };
  return readOutput(runFreshProcess('diagnose-process.js', [JSON.stringify(input)], options));
}

interface ProcessFigures {
  readonly nodes: number;
  readonly pods: number;
  readonly services: number;
  readonly buildMs: number;
  readonly diagnoseMs: number;
  readonly diagnoseFirstMs: number;
  readonly diagnoseMaxMs: number;
  readonly loadMs: number;
  readonly parsedNamespaces: number;
  readonly parsedNodes: number;
  readonly parsedPods: number;
  readonly peakRssMb: number;
  readonly peakRssOneDiagnosisMb: number;
}

/** The figures of one process: the first diagnosis apart, percentiles over the others. */
function summarise(out: DiagnoseProcessOutput): ProcessFigures {
  const warm = out.diagnoseMs.slice(1);
  const parsedNodes = out.parsedNodes[0] ?? 0;
  const parsedPods = out.parsedPods[0] ?? 0;
  return {
    nodes: out.nodes,
    pods: out.pods,
    services: out.services,
    buildMs: round(out.buildMs, 0),
    diagnoseMs: round(percentile(warm, 50), 0),
    diagnoseFirstMs: round(out.diagnoseMs[0] ?? Number.NaN, 0),
    diagnoseMaxMs: round(percentile(warm, 100), 0),
    loadMs: round(percentile(out.loadMs.slice(1), 50), 0),
    parsedNamespaces: parsedNodes + parsedPods,
    parsedNodes,
    parsedPods,
    peakRssMb: round(out.peakRssKb / 1024, 0),
    peakRssOneDiagnosisMb: round(out.peakRssFirstKb / 1024, 0),
  };
}

function runDiagnoseBench(options: BenchOptions): BenchResult {
  const large = measure(1000, options);
  const small = measure(100, options);
  for (const out of [large, small]) {
    const counts = new Set(out.parsedNodes.map((n, i) => `${n}/${out.parsedPods[i] ?? 0}`));
    if (counts.size !== 1) throw new Error(`the diagnoses of one process parsed different namespaces: ${[...counts].join(', ')}`);
  }
  const main = summarise(large);
  const figures = {
    bench: 'diagnose',
    node: process.version,
    ...main,
    endpointsPerService: ENDPOINTS_PER_SERVICE,
    endpointSlices: large.endpointSlices,
    rulesPerNode: large.rulesPerNode,
    rulesBytes: large.rulesBytes,
    routesPerNode: large.routesPerNode,
    diagnoseRuns: large.diagnoseMs.length - 1,
    diagnoseMeasure: `p50 of ${large.diagnoseMs.length - 1} diagnoses after a first (cold) one, in one process, each on a fresh ClusterState: every namespace read is parsed again`,
    peakRssMeasure: 'peakRssMb: maxRSS of the process after the build and every diagnosis; peakRssOneDiagnosisMb: after the build and the first',
    verdict: large.verdict,
    plugin: large.plugin,
    query: large.query,
    pathNodes: large.pathNodes,
    pathHosts: large.pathHosts,
    suspicions: large.suspicions,
    warnings: large.warnings,
    rssAfterBuildMb: round(large.rssAfterBuildMb, 0),
    cluster100: { ...summarise(small), rulesPerNode: small.rulesPerNode, routesPerNode: small.routesPerNode, pathHosts: small.pathHosts, verdict: small.verdict },
    targets: DIAGNOSE_TARGETS,
  };
  const s = figures.cluster100;
  const text = [
    `diagnose: ${figures.nodes} nodes, ${figures.pods} pods, ${figures.services} services (${figures.rulesPerNode} iptables rules and ${figures.routesPerNode} routes per node); node ${process.version}`,
    `  ${figures.query}`,
    `  plugin ${figures.plugin}; verdict ${figures.verdict}; path: ${figures.pathNodes} namespaces, ${figures.pathHosts} nodes; ${figures.parsedNodes} node and ${figures.parsedPods} pod loads per diagnosis`,
    figureLine('build the cluster', figures.buildMs, 'ms'),
    figureLine(`diagnose p50 (${figures.diagnoseRuns})`, figures.diagnoseMs, 'ms', DIAGNOSE_TARGETS.diagnoseMs),
    figureLine('diagnose, first (cold)', figures.diagnoseFirstMs, 'ms'),
    figureLine('  of which parsing', figures.loadMs, 'ms'),
    figureLine(`peak RSS (${figures.diagnoseRuns + 1} diagnoses)`, figures.peakRssMb, 'MiB', DIAGNOSE_TARGETS.peakRssMb),
    figureLine('peak RSS (1 diagnosis)', figures.peakRssOneDiagnosisMb, 'MiB', DIAGNOSE_TARGETS.peakRssMb),
    `  ${s.nodes} nodes, ${s.pods} pods, same services: diagnose p50 ${s.diagnoseMs} ms, first ${s.diagnoseFirstMs} ms, parsed ${s.parsedNamespaces} namespaces, peak RSS ${s.peakRssMb} MiB`,
  ].join('\n');
  return { figures, text };
}

export const DIAGNOSE_BENCH: Bench = {
  summary: `one pod-to-service diagnosis in a cluster of 1000 nodes, ${1000 * PODS_PER_NODE} pods, ${SERVICES} services (and in one of 100 nodes): time, namespaces parsed, peak memory`,
  run: runDiagnoseBench,
};
