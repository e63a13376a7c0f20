// `netdiag lab run FILE... [--json] [--dir DIR]`: every file is read and checked before any lab is built (a typo
// costs nothing), then each scenario runs on a lab of its own with the operator, one after the
// other, and one result per scenario is printed (DESIGN §5). Exit status: 0 all passed, 3 some
// failed, 1 a file that cannot be used, 2 usage.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startLab, type Lab } from '../lab/lab.js';
import { parseScenario, ScenarioError, type Scenario } from '../lab/scenario.js';
import type { ScenarioResult } from '../lab/scenario-judge.js';
import { runScenario, type ScenarioLab } from '../lab/scenario-runner.js';
import { CliError, UsageError } from './cli-error.js';


/** Names of the scenario labs' bridge and namespaces by default (`--prefix`): apart from a lab started with `netdiag lab up`. */
const RUN_PREFIX = 'ndrun';

/** A running lab as the runner sees it. */
export function scenarioLabOf(lab: Lab): ScenarioLab {
  return {
    kubeconfig: lab.kubeconfig,
    node: (name) => {
      const n = lab.nodes.find((node) => node.name === name);
      return n === undefined ? undefined : { netns: n.netns, ip: n.ip, podCIDR: n.podCIDR, ...(n.vtep !== undefined ? { vtep: n.vtep } : {}) };
    },
    pod: (namespace, name) => {
      const p = lab.pods().find((pod) => pod.namespace === namespace && pod.name === name);
      return p === undefined ? undefined : { netns: p.netns, hostVeth: p.hostVeth ?? '' };
    },
    stop: () => lab.stop(),
  };
}

function readScenarios(files: readonly string[]): Scenario[] {
  return files.map((file) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new CliError(`${file}: ${error instanceof Error ? error.message : String(error)}`, 1);
    }
    try {
      return parseScenario(text, file);
    } catch (error) {
      if (error instanceof ScenarioError) throw new CliError(error.message, 1);
      throw error;
    }
  });
}

function formatResult(r: ScenarioResult): string {
  const head = `${r.passed ? 'PASS' : 'FAIL'} ${r.name} (${r.file}): ${r.completed ? (r.verdict ?? 'no verdict') : 'not completed'}`;
  return [head, ...r.mismatches.map((m) => `  - ${m}`)].join('\n');
}

export async function runLabRun(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' }, dir: { type: 'string' }, prefix: { type: 'string' } } });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (parsed.positionals.length === 0) throw new UsageError('no scenario file given');
  const prefix = parsed.values.prefix ?? RUN_PREFIX;
  if (!/^[a-z][a-z0-9]{0,10}$/.test(prefix)) throw new UsageError(`--prefix ${JSON.stringify(prefix)}: expected 1 to 11 lower-case letters and digits, starting with a letter`);
  const scenarios = readScenarios(parsed.positionals);
  const json = parsed.values.json === true;
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const base = parsed.values.dir !== undefined ? resolve(parsed.values.dir) : mkdtempSync('/tmp/netdiag-lab-run-');
  const results: ScenarioResult[] = [];
  try {
    for (const [i, scenario] of scenarios.entries()) {
      const dir = join(base, `scenario-${i + 1}`);
      const result = await runScenario(scenario, {
        startLab: async (s) => scenarioLabOf(await startLab({ network: s.network, nodes: s.nodes.map((n) => n.name), dir, operator: true, ...(s.cniTap === true ? { cniTap: true } : {}), prefix, log })),
        log,
      });
      results.push(result);
      if (!json) process.stdout.write(`${formatResult(result)}\n`);
    }
  } finally {
    if (parsed.values.dir === undefined) rmSync(base, { recursive: true, force: true });
  }
  if (json) process.stdout.write(`${JSON.stringify(results.map(({ file: _file, ...r }) => r), null, 2)}\n`);
  const failed = results.filter((r) => !r.passed).length;
  if (!json) process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 3;
}
