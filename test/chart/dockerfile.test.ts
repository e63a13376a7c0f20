// The Dockerfile cannot be built here (no container engine), so its wiring is checked against the
// repository: every file it copies exists (or is what the build stage produces), .dockerignore
// does not hide the build input, the commands it puts on PATH are package.json's "bin" and the
// compiled form of real entry points, the default command is the operator, and the runtime stage
// has the networking tools the collector runs and a non-root user.
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCollectorPod } from '../../src/kube/collector-pod.js';
import { REPO } from './helm.js';

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly stage: number;
}

/** The Dockerfile's instructions: continuation lines joined, comments and blank lines dropped. */
function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) && current === '') continue;
    if (/^\s*#/.test(line)) continue;
    const continued = /\\\s*$/.test(line);
    current += `${line.replace(/\\\s*$/, '')} `;
    if (!continued) {
      if (current.trim() !== '') logical.push(current.trim().replace(/\s+/g, ' '));
      current = '';
    }
  }
  let stage = -1;
  return logical.map((l) => {
    const [op = '', ...rest] = l.split(' ');
    if (op.toUpperCase() === 'FROM') stage += 1;
    return { op: op.toUpperCase(), args: rest.join(' '), stage };
  });
}

const dockerfile = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
const buildConfig = JSON.parse(readFileSync(join(REPO, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { rootDir: string; outDir: string } };
const runtime = dockerfile.filter((i) => i.stage === 1);
/** The commands put on PATH: `ln -s /app/TARGET /usr/local/bin/NAME`. */
const links = new Map([...runtime.filter((i) => i.op === 'RUN').flatMap((i) => [...i.args.matchAll(/ln -s \/app\/(\S+) \/usr\/local\/bin\/(\S+)/g)])].map((m) => [m[2] ?? '', m[1] ?? '']));

/** The TypeScript source a dist/ path is compiled from (tsconfig.build.json: rootDir ".", outDir "dist"). */
function sourceOf(distPath: string): string {
  return join(REPO, distPath.replace(/^dist\//, '').replace(/\.js$/, '.ts'));
}

describe('the Dockerfile', () => {
  it('has a build stage and a runtime stage, both on node:20-bookworm-slim', () => {
    expect(dockerfile.filter((i) => i.op === 'FROM').map((i) => i.args)).toEqual(['node:20-bookworm-slim AS build', 'node:20-bookworm-slim']);
    const build = dockerfile.filter((i) => i.stage === 0 && i.op === 'RUN').map((i) => i.args);
    expect(build).toEqual(['npm ci --no-audit --no-fund', 'npm run build && npm prune --omit=dev --no-audit --no-fund']);
    expect(pkg.scripts.build).toMatch(/^tsc -p tsconfig\.build\.json(?: && |$)/);
    expect(buildConfig.compilerOptions).toMatchObject({ rootDir: '.', outDir: 'dist' });
  });

  it('copies build input that exists and that .dockerignore does not hide', () => {
    const copies = dockerfile.filter((i) => i.stage === 0 && i.op === 'COPY').flatMap((i) => i.args.split(' ').slice(0, -1));
    expect(copies).toEqual(['package.json', 'package-lock.json', '.']);
    for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'bench', 'crds', 'schemas']) {
      expect(`${file}: ${String(existsSync(join(REPO, file)))}`).toBe(`${file}: true`);
      expect(ignored).not.toContain(file);
    }
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git']));
  });

  it('copies into the runtime stage only what the repository has or the build stage produced', () => {
    const froms = runtime.filter((i) => i.op === 'COPY').map((i) => {
      const [flag, ...paths] = i.args.split(' ');
      expect(flag).toBe('--from=build');
      return paths.slice(0, -1).map((p) => p.replace(/^\/app\//, ''));
    });
    const produced = new Set(['node_modules', `${buildConfig.compilerOptions.outDir}/src`]);
    for (const path of froms.flat()) expect(`${path}: ${String(produced.has(path) || existsSync(join(REPO, path)))}`).toBe(`${path}: true`);
    expect(froms.flat()).toEqual(expect.arrayContaining(['dist/src', 'node_modules', 'package.json']));
  });

  it("puts every command of package.json's bin on PATH, at the compiled form of an executable entry point", () => {
    for (const [name, path] of Object.entries(pkg.bin)) expect(`${name} -> ${links.get(name) ?? '(not linked)'}`).toBe(`${name} -> ${path}`);
    // DESIGN §8: the image also carries the CNI plugin, and collector pods run `netdiag collect`.
    expect([...links.keys()].sort()).toEqual(['netdiag', 'netdiag-cni-tap']);
    expect(buildCollectorPod({ diagnosis: { namespace: 'a', name: 'b', uid: 'c' }, node: 'n', namespace: 'ns', image: 'i', serviceAccountName: 's', timeoutSeconds: 1, commandTimeoutSeconds: 1, pods: [] }).spec?.containers[0]?.command?.[0]).toBe('netdiag');
    for (const [name, path] of links) {
      expect(path).toMatch(/^dist\/src\/.*\.js$/);
      const source = sourceOf(path);
      expect(`${name}: ${existsSync(source) ? readFileSync(source, 'utf8').split('\n')[0] : `${source} missing`}`).toBe(`${name}: #!/usr/bin/env node`);
      expect(runtime.some((i) => i.op === 'RUN' && i.args.includes(`chmod 0755`) && i.args.includes(`/app/${path}`))).toBe(true);
    }
  });

  it('runs the operator by default, as a non-root user, with the tools the collector needs', () => {
    const cmd = runtime.filter((i) => i.op === 'CMD').map((i) => JSON.parse(i.args) as string[]);
    expect(cmd).toEqual([['node', 'dist/src/main.js']]);
    expect(readFileSync(sourceOf('dist/src/main.js'), 'utf8')).toContain('parseOperatorFlags');
    expect(runtime.find((i) => i.op === 'WORKDIR')?.args).toBe('/app');
    expect(runtime.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ')).toMatch(/NETDIAG_HOME=\/app/);
    const user = runtime.filter((i) => i.op === 'USER').map((i) => i.args);
    expect(user).toHaveLength(1);
    expect(user[0]).toMatch(/^[1-9][0-9]*(:[1-9][0-9]*)?$/);
    const install = runtime.find((i) => i.op === 'RUN' && i.args.includes('apt-get install'))?.args ?? '';
    for (const tool of ['iproute2', 'iptables', 'nftables', 'ipset', 'ipvsadm', 'conntrack']) expect(install.split(' ')).toContain(tool);
  });
});
