// The measured part of the `lab` bench, run by bench/lab.ts in a fresh Node process:
//   1. for each network mode asked, RUNS times: startLab with NODES nodes and the operator (as
//      `netdiag lab up` does), timed from the call to its return (the lab ready), then its stop;
//   2. RUNS times: one scenario end to end as `netdiag lab run` does it (runScenario on a lab of
//      its own with the operator: lab up, objects, faults, the NetworkDiagnosis through the
//      operator, the judgement, teardown).
// Prints one JSON object of raw figures (LabProcessOutput). Arguments: one JSON LabProcessInput.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scenarioLabOf } from '../src/cli/lab-run.js';
import type { Lab } from '../src/lab/lab.js';
import { parseScenario, type ScenarioNetwork } from '../src/lab/scenario.js';
import { runScenario } from '../src/lab/scenario-runner.js';
import { benchBridgeNetwork, createWorkspace, labStepsMs, startBenchLab, stopBenchLab, stopLabsOnSignal } from './lab-harness.js';

export interface LabProcessInput {
  readonly nodes: number;
  readonly runs: number;
  readonly networks: readonly ScenarioNetwork[];
  /** The scenario file run end to end; absent: no scenario runs. */
  readonly scenario?: string;
}

export interface LabUpRun {
  /** From calling startLab to its return (the lab ready, the operator started). */
  readonly upMs: number;
  /** startLab's own figure (from its start to ready). */
  readonly readyMs: number;
  /** How long each step took (labStepsMs). */
  readonly stepsMs: Readonly<Record<string, number>>;
  readonly stopMs: number;
}

export interface ScenarioRun {
  readonly passed: boolean;
  readonly verdict?: string;
  readonly mismatches: readonly string[];
  /** runScenario from its call to its return: lab up, setup, diagnosis, judgement, teardown. */
  readonly scenarioMs: number;
  /** Of it: the lab's start until ready. */
  readonly labUpMs: number;
  /** Of it: the scenario's objects created until pods Ready, services programmed, faults applied. */
  readonly setupMs: number;
  /** Of it: the NetworkDiagnosis created until the operator made it Ready (or Stalled). */
  readonly diagnosisMs: number;
  /** Of it: the teardown of the lab. */
  readonly teardownMs: number;
}

export interface LabProcessOutput {
  readonly up: Readonly<Record<string, readonly LabUpRun[]>>;
  readonly scenario?: { readonly file: string; readonly name: string; readonly network: string; readonly runs: readonly ScenarioRun[] };
  readonly peakRssKb: number;
}

async function measureUp(network: ScenarioNetwork, nodes: number, dir: string, progress: (line: string) => void, log: (line: string) => void): Promise<LabUpRun> {
  const lines: string[] = [];
  const t0 = performance.now();
  const lab: Lab = await startBenchLab({
    // The bridge mode on a pod network of its own (BENCH_CLUSTER_CIDR): no pod runs here, but the
    // root namespace's routes to the nodes' podCIDRs would replace those of a lab running beside it.
    network: network === 'bridge' ? benchBridgeNetwork() : network,
    nodes,
    dir,
    operator: true,
    log: (line) => {
      lines.push(line);
      log(line);
    },
  });
  const upMs = performance.now() - t0;
  const stopMs = await stopBenchLab(lab);
  progress(`${network}, ${nodes} nodes: ready in ${(upMs / 1000).toFixed(1)} s, stopped in ${(stopMs / 1000).toFixed(1)} s`);
  return { upMs, readyMs: lab.readyMs, stepsMs: labStepsMs(lines), stopMs };
}

async function measureScenario(file: string, dir: string, progress: (line: string) => void, log: (line: string) => void): Promise<ScenarioRun> {
  const scenario = parseScenario(readFileSync(file, 'utf8'), file);
  let t = performance.now();
  const t0 = t;
  const marks: Record<string, number> = {};
  const mark = (name: string): void => {
    const now = performance.now();
    marks[name] = now - t;
    t = now;
  };
  const result = await runScenario(scenario, {
    startLab: async (s) => {
      const lab = await startBenchLab({ network: s.network, nodes: s.nodes.map((n) => n.name), dir, operator: true, log });
      mark('labUpMs');
      return scenarioLabOf({ ...lab, stop: () => stopBenchLab(lab).then(() => undefined) });
    },
    log: (line) => {
      log(line);
      // runScenario's own steps (its log lines are `NAME: what`).
      if (line.endsWith(': creating the NetworkDiagnosis and waiting for the operator')) mark('setupMs');
      else if (line.endsWith(': tearing the lab down')) mark('diagnosisMs');
    },
  });
  mark('teardownMs');
  const scenarioMs = performance.now() - t0;
  progress(`scenario ${file}: ${result.passed ? 'passed' : `FAILED (${result.mismatches.join('; ')})`} in ${(scenarioMs / 1000).toFixed(1)} s`);
  return {
    passed: result.passed,
    ...(result.verdict !== undefined ? { verdict: result.verdict } : {}),
    mismatches: result.mismatches,
    scenarioMs,
    labUpMs: marks.labUpMs ?? Number.NaN,
    setupMs: marks.setupMs ?? Number.NaN,
    diagnosisMs: marks.diagnosisMs ?? Number.NaN,
    teardownMs: marks.teardownMs ?? Number.NaN,
  };
}

async function measure(input: LabProcessInput): Promise<LabProcessOutput> {
  stopLabsOnSignal();
  const ws = createWorkspace('lab');
  let ok = false;
  try {
    const up: Record<string, LabUpRun[]> = {};
    for (const network of input.networks) {
      const runs: LabUpRun[] = [];
      for (let i = 0; i < input.runs; i++) {
        ws.progress(`${network}: lab up ${i + 1}/${input.runs} (log ${ws.logFile})`);
        runs.push(await measureUp(network, input.nodes, join(ws.dir, `${network}-${i + 1}`), ws.progress, ws.log));
      }
      up[network] = runs;
    }
    let scenario: LabProcessOutput['scenario'];
    if (input.scenario !== undefined) {
      const parsed = parseScenario(readFileSync(input.scenario, 'utf8'), input.scenario);
      const runs: ScenarioRun[] = [];
      for (let i = 0; i < input.runs; i++) {
        ws.progress(`scenario ${i + 1}/${input.runs}: ${parsed.name}`);
        runs.push(await measureScenario(input.scenario, join(ws.dir, `scenario-${i + 1}`), ws.progress, ws.log));
      }
      scenario = { file: input.scenario, name: parsed.name, network: parsed.network, runs };
    }
    ok = true;
    return { up, ...(scenario !== undefined ? { scenario } : {}), peakRssKb: process.resourceUsage().maxRSS };
  } finally {
    // Keep the labs' logs of a failed run for a person to read.
    if (ok) ws.remove();
    else process.stderr.write(`lab: the labs' logs are kept in ${ws.dir}\n`);
  }
}

measure(JSON.parse(process.argv[2] ?? '{}') as LabProcessInput).then(
  (output) => process.stdout.write(`${JSON.stringify(output)}\n`),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
