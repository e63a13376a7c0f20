// The scenario suite (test/scenarios) on the lab, through the operator: each scenario builds its own
// lab (real control plane, nodes as namespaces, the network's real CNI plugins and daemons, real
// kube-proxy), applies its faults, creates the NetworkDiagnosis through the API server, waits for
// the operator's verdict and compares it with the scenario's `expect`. Needs root, and the build
// (the operator and the collector run from dist/).
import { expect, it } from '@jest/globals';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { scenarioLabOf } from '../../src/cli/lab-run.js';
import { startLab } from '../../src/lab/lab.js';
import { parseScenario } from '../../src/lab/scenario.js';
import { runScenario } from '../../src/lab/scenario-runner.js';
import { removeLabLeftovers } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SCENARIOS = join(ROOT, 'test', 'scenarios');
const files = readdirSync(SCENARIOS)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()
  .map((f) => relative(ROOT, join(SCENARIOS, f)));

describeAsRoot('the scenario suite on the lab, through the operator', () => {
  it('has the operator built (npm run build)', () => {
    expect(existsSync(join(ROOT, 'dist', 'src', 'main.js'))).toBe(true);
  });

  it.each(files)(
    '%s',
    async (file) => {
      const scenario = parseScenario(readFileSync(join(ROOT, file), 'utf8'), file);
      const prefix = `ndscn${randomBytes(2).toString('hex')}`;
      const dir = mkdtempSync(join(tmpdir(), 'netdiag-scenario-'));
      const log: string[] = [];
      try {
        const result = await runScenario(scenario, {
          startLab: async (s) => scenarioLabOf(await startLab({ network: s.network, nodes: s.nodes.map((n) => n.name), dir, operator: true, ...(s.cniTap === true ? { cniTap: true } : {}), prefix, subnet: randomInt(1, 255), log: (line) => log.push(line) })),
          log: (line) => log.push(line),
        });
        if (!result.passed) process.stderr.write(`${file}:\n${log.join('\n')}\n${JSON.stringify(result, null, 1)}\n`);
        expect({ file, mismatches: result.mismatches }).toEqual({ file, mismatches: [] });
        expect(result.passed).toBe(true);
      } finally {
        removeLabLeftovers(prefix, dir);
      }
    },
    300_000,
  );
});
