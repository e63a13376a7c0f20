// The `lab` bench: how long `netdiag lab up` takes for 3 nodes (startLab with the operator, until
// ready; bridge, then flannel-vxlan with real flanneld), and one scenario end to end as
// `netdiag lab run` runs it (test/scenarios/flannel-vxlan-pod-to-pod.yaml: its own lab, pods,
// the NetworkDiagnosis through the operator, judgement, teardown). Medians of 3 runs each, in one
// fresh process (bench/lab-process.ts). Needs root, hack/get-binaries.sh's cache and `npm run build`
// (the operator and the collectors run from dist/). Takes a few minutes.

import { join } from 'node:path';
import { repoRoot } from '../src/lab/binaries.js';
import { figureLine, round, type Bench, type BenchOptions, type BenchResult } from './bench.js';
import { median, requireRoot, runMeasuredProcess } from './lab-harness.js';
import type { LabProcessInput, LabProcessOutput, LabUpRun } from './lab-process.js';

const NODES = 3;
const RUNS = 3;
const NETWORK = 'bridge';
const ALSO = 'flannel-vxlan';
const SCENARIO = 'test/scenarios/flannel-vxlan-pod-to-pod.yaml';
const UP_TARGET_MS = 30_000;
const SCENARIO_TARGET_MS = 20_000;

function medianMs(values: readonly number[]): number {
  return round(median(values), 0);
}

interface UpFigures {
  readonly upMs: number;
  readonly upRunsMs: readonly number[];
  readonly stepsMs: Readonly<Record<string, number>>;
  readonly stopMs: number;
}

function upFigures(runs: readonly LabUpRun[]): UpFigures {
  const steps = [...new Set(runs.flatMap((r) => Object.keys(r.stepsMs)))];
  return {
    upMs: medianMs(runs.map((r) => r.upMs)),
    upRunsMs: runs.map((r) => round(r.upMs, 0)),
    stepsMs: Object.fromEntries(steps.map((s) => [s, medianMs(runs.map((r) => r.stepsMs[s] ?? Number.NaN).filter((v) => !Number.isNaN(v)))])),
    stopMs: medianMs(runs.map((r) => r.stopMs)),
  };
}

function runLabBench(options: BenchOptions): BenchResult {
  requireRoot('lab');
  const input: LabProcessInput = { nodes: NODES, runs: RUNS, networks: [NETWORK, ALSO], scenario: join(repoRoot(), SCENARIO) };
  const out = runMeasuredProcess('lab-process.js', [JSON.stringify(input)], options) as LabProcessOutput;
  const bridge = upFigures(out.up[NETWORK] ?? []);
  const also = out.up[ALSO] !== undefined ? upFigures(out.up[ALSO]) : undefined;
  const runs = out.scenario?.runs ?? [];
  const figures = {
    bench: 'lab',
    node: process.version,
    nodes: NODES,
    network: NETWORK,
    runs: RUNS,
    operator: true,
    ...bridge,
    ...(also !== undefined ? { [ALSO]: also } : {}),
    scenario: SCENARIO,
    scenarioNetwork: out.scenario?.network,
    scenarioMs: medianMs(runs.map((r) => r.scenarioMs)),
    scenarioRunsMs: runs.map((r) => round(r.scenarioMs, 0)),
    scenarioPassed: runs.filter((r) => r.passed).length,
    scenarioVerdicts: runs.map((r) => r.verdict ?? null),
    scenarioStepsMs: {
      labUp: medianMs(runs.map((r) => r.labUpMs)),
      setup: medianMs(runs.map((r) => r.setupMs)),
      diagnosis: medianMs(runs.map((r) => r.diagnosisMs)),
      teardown: medianMs(runs.map((r) => r.teardownMs)),
    },
    peakRssMb: round(out.peakRssKb / 1024, 1),
  };
  const failures = runs.filter((r) => !r.passed).map((r) => r.mismatches.join('; '));
  const text = [
    `lab: ${NODES} nodes with the operator, median of ${RUNS}; one scenario end to end (${SCENARIO})`,
    figureLine(`up, ${NETWORK}`, figures.upMs, 'ms', UP_TARGET_MS),
    ...(also !== undefined ? [figureLine(`up, ${ALSO}`, also.upMs, 'ms', UP_TARGET_MS)] : []),
    figureLine('down', figures.stopMs, 'ms'),
    figureLine('scenario end to end', figures.scenarioMs, 'ms', SCENARIO_TARGET_MS),
    `  scenario passed ${figures.scenarioPassed} of ${runs.length}${failures.length > 0 ? `: ${failures.join(' | ')}` : ''}`,
  ].join('\n');
  return { figures, text };
}

export const LAB_BENCH: Bench = {
  summary: `lab up for ${NODES} nodes (${NETWORK}, ${ALSO}) and one scenario end to end (root; build first; minutes)`,
  run: runLabBench,
};
