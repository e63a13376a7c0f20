// The commands of examples/diagnose/README.md, run with the built CLI: the example's verdicts are
// what the README says (no root needed: the snapshots are files).
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const readme = readFileSync(join(root, 'examples', 'diagnose', 'README.md'), 'utf8');

/** Each `npx netdiag diagnose ...` line of the README with the verdict line of the comment after it. */
const examples = [...readme.matchAll(/^npx netdiag (diagnose .+)\n# (.+?: \w+)\s{2,}/gm)].map((m) => [m[1] ?? '', m[2] ?? ''] as const);

describe('examples/diagnose', () => {
  it('has its commands in the README', () => {
    expect(examples).toHaveLength(3);
  });

  it.each(examples)('netdiag %s', (command, verdictLine) => {
    const r = spawnSync(process.execPath, [cli, ...command.split(' ')], { cwd: root, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')[0]).toBe(verdictLine);
    expect(r.status).toBe(verdictLine.endsWith('Reachable') ? 0 : 3);
  });
});
