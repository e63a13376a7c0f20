// The cni-tap DaemonSet's own script, run for real: the chart renders it (helm), and this test
// runs its init container's shell script and its preStop command against directories standing in
// for the node's (the hostPath mounts), with the compiled CLI and plugin (dist/, `npm run build`)
// as the image's application. The plugin lands in the CNI bin directory as a wrapper the runtime
// can execute (it answers the CNI VERSION command), the conflist gets the tap first and last, a
// re-install keeps two copies of the application, and the preStop hook restores the conflist byte
// for byte. No mount or namespace is touched: paths are rewritten into a temporary directory.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findObject, provisionHelm, REPO, type Helm } from './helm.js';

interface Container {
  readonly name: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly lifecycle?: { preStop?: { exec?: { command: string[] } } };
}

const CONFLIST = `${JSON.stringify(
  {
    cniVersion: '1.0.0',
    name: 'cbr0',
    plugins: [
      { type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }]] } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  },
  null,
  2,
)}\n`;

describe('the cni-tap DaemonSet script', () => {
  let helm: Helm;
  let dir = '';
  let script = '';
  let preStop: string[] = [];
  /** Stand-ins: the node's directories (what the hostPath volumes mount) and the image's application. */
  const paths = (): { host: string; conf: string; bin: string; install: string; log: string; app: string; path: string } => ({
    host: join(dir, 'host'),
    conf: join(dir, 'node', 'etc', 'cni', 'net.d'),
    bin: join(dir, 'node', 'opt', 'cni', 'bin'),
    install: join(dir, 'node', 'opt', 'netdiag'),
    log: join(dir, 'node', 'var', 'log', 'netdiag'),
    app: join(dir, 'image', 'app'),
    path: join(dir, 'image', 'bin'),
  });
  const run = (argv: readonly string[], env: Record<string, string> = {}, input = ''): { status: number; stdout: string; stderr: string } => {
    const p = paths();
    const result = spawnSync(argv[0] ?? '', argv.slice(1), { encoding: 'utf8', input, timeout: 60_000, env: { PATH: `${p.path}:/usr/sbin:/usr/bin:/sbin:/bin`, NETDIAG_HOME: p.app, ...env } });
    if (result.error !== undefined) throw result.error;
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  };
  /** The container's paths as this test lays them out. */
  const localize = (text: string): string => {
    const p = paths();
    return text.replaceAll('/host/cni-conf', p.conf).replaceAll('/host/cni-bin', p.bin).replaceAll('/host/log', p.log).replaceAll('/host$install_dir', '$install_dir');
  };
  const conflistPath = (): string => join(paths().conf, '10-flannel.conflist');

  beforeAll(() => {
    for (const file of ['dist/src/cli/main.js', 'dist/src/cni-tap/main.js']) {
      if (!existsSync(join(REPO, file))) throw new Error(`${file} is missing: run \`npm run build\` first`);
    }
    helm = provisionHelm();
    dir = mkdtempSync(join(tmpdir(), 'netdiag-cni-tap-ds-'));
    const p = paths();
    for (const d of [p.conf, p.bin, p.install, p.log, p.app, p.path]) mkdirSync(d, { recursive: true });
    // The image's application (NETDIAG_HOME) and the commands the Dockerfile puts on PATH.
    // As in the image, dist/src is a real directory (the script resolves the plugin's path through symlinks).
    cpSync(join(REPO, 'dist', 'src'), join(p.app, 'dist', 'src'), { recursive: true });
    for (const entry of ['package.json', 'node_modules']) symlinkSync(join(REPO, entry), join(p.app, entry));
    symlinkSync(join(p.app, 'dist/src/cli/main.js'), join(p.path, 'netdiag'));
    symlinkSync(join(p.app, 'dist/src/cni-tap/main.js'), join(p.path, 'netdiag-cni-tap'));
    symlinkSync(process.execPath, join(p.path, 'node'));
    writeFileSync(conflistPath(), CONFLIST);

    const { objects } = helm.template('netdiag', 'netdiag-system', { 'cniTap.enabled': true, 'cniTap.hostInstallDir': p.install, 'cniTap.hostLogDir': p.log });
    const spec = (findObject(objects, 'DaemonSet').spec as { template: { spec: { initContainers: Container[]; containers: Container[] } } }).template.spec;
    const init = spec.initContainers[0];
    expect(init?.command).toEqual(['/bin/sh', '-ec']);
    script = localize(init?.args?.[0] ?? '');
    preStop = (spec.containers[0]?.lifecycle?.preStop?.exec?.command ?? []).map(localize);
  }, 30 * 60_000);

  afterAll(() => {
    helm?.remove();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('copies the plugin where the runtime executes it and taps the conflist', () => {
    const installed = run(['/bin/sh', '-ec', script]);
    expect({ status: installed.status, stderr: installed.stderr }).toEqual({ status: 0, stderr: '' });
    const wrapper = join(paths().bin, 'netdiag-cni-tap');
    expect(statSync(wrapper).mode & 0o777).toBe(0o755);
    // The runtime's view: CNI_COMMAND=VERSION, empty configuration.
    const version = run([wrapper], { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
    expect(version.status).toBe(0);
    expect(JSON.parse(version.stdout)).toMatchObject({ supportedVersions: expect.arrayContaining(['1.0.0']) });

    const tapped = JSON.parse(readFileSync(conflistPath(), 'utf8')) as { plugins: { type: string; position?: string; recordDir?: string }[] };
    expect(tapped.plugins.map((x) => x.type)).toEqual(['netdiag-cni-tap', 'bridge', 'portmap', 'netdiag-cni-tap']);
    expect(tapped.plugins[0]).toMatchObject({ position: 'head', recordDir: paths().log });
  });

  it('keeps the two newest copies of the application when installed again, and stays tapped once', () => {
    for (let i = 0; i < 2; i += 1) {
      const again = run(['/bin/sh', '-ec', script]);
      expect({ status: again.status, stderr: again.stderr }).toEqual({ status: 0, stderr: '' });
    }
    const copies = readdirSync(paths().install).filter((f) => f.startsWith('app-'));
    expect(copies).toHaveLength(2);
    const wrapper = readFileSync(join(paths().bin, 'netdiag-cni-tap'), 'utf8');
    const newest = copies.sort().at(-1) ?? '';
    expect(wrapper).toBe(`#!/bin/sh\nexec ${join(paths().install, 'node')} ${join(paths().install, newest, 'dist/src/cni-tap/main.js')} "$@"\n`);
    const tapped = JSON.parse(readFileSync(conflistPath(), 'utf8')) as { plugins: { type: string }[] };
    expect(tapped.plugins.filter((x) => x.type === 'netdiag-cni-tap')).toHaveLength(2);
  });

  it('restores the conflist byte for byte in its preStop hook, and leaves the plugin for cached DELs', () => {
    expect(preStop.slice(0, 3)).toEqual(['netdiag', 'cni-tap', 'uninstall']);
    const stopped = run(preStop);
    expect(stopped.status).toBe(0);
    expect(readFileSync(conflistPath(), 'utf8')).toBe(CONFLIST);
    expect(existsSync(join(paths().bin, 'netdiag-cni-tap'))).toBe(true);
  });
});
