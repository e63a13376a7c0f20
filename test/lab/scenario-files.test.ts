// Every scenario file the repository ships must parse: a typo is found here, not when a lab run
// has built a cluster for it.
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { NETWORKS, parseScenario } from '../../src/lab/scenario.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SCENARIOS = join(ROOT, 'test', 'scenarios');

function scenarioFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return scenarioFiles(path);
      return /\.ya?ml$/.test(entry.name) ? [path] : [];
    })
    .sort();
}

const files = scenarioFiles(SCENARIOS).map((path) => relative(ROOT, path));

describe('test/scenarios', () => {
  it('holds the suite: at least 30 scenarios, a healthy and a broken one on every network mode', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
    const scenarios = files.map((file) => parseScenario(readFileSync(join(ROOT, file), 'utf8'), file));
    for (const network of NETWORKS) {
      const of = scenarios.filter((s) => s.network === network);
      expect({ network, healthy: of.some((s) => s.expect.verdict === 'Reachable'), broken: of.some((s) => s.expect.verdict !== 'Reachable') }).toEqual({ network, healthy: true, broken: true });
    }
  });

  it.each(files)('%s parses', (file) => {
    const scenario = parseScenario(readFileSync(join(ROOT, file), 'utf8'), file);
    expect(scenario.file).toBe(file);
    expect(scenario.name).not.toBe('');
  });

  it('names every scenario differently (results are reported by name)', () => {
    const names = files.map((file) => parseScenario(readFileSync(join(ROOT, file), 'utf8'), file).name);
    expect(new Set(names).size).toBe(names.length);
  });
});
