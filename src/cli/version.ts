import { readFileSync } from 'node:fs';

/** netdiag's version, from the package.json above this module (src/cli or dist/src/cli). */
export function netdiagVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'netdiag' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not at this depth.
    }
  }
  return 'unknown';
}
