// Nothing the node does aborts a collection: a broken tool, a tool that hangs, a pod whose
// namespace does not exist and the run's deadline are each recorded where they happened, the rest
// is captured, and a valid snapshot is written. The misbehaving tools are wrappers put first on
// PATH that misbehave only inside one chosen namespace (they compare /proc/self/ns/net with an
// environment variable) and run the real tool everywhere else.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NamespaceSnapshot, Snapshot } from '../../src/collector/snapshot.js';
import { createNetns, createVethPair, destroyNetns, ipIn, run } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';
import { snapshotSchemaErrors } from '../support/snapshot-schema.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

/** A wrapper for `tool`: runs `misbehaviour` (shell) inside the namespace $NDT_NETNS, the real tool elsewhere. */
function wrapper(real: string, misbehaviour: string): string {
  return `#!/bin/sh\nif [ "$(readlink /proc/self/ns/net)" = "$NDT_NETNS" ]; then\n${misbehaviour}\nfi\nexec ${real} "$@"\n`;
}

describeAsRoot('netdiag collect when tools, namespaces and time fail', () => {
  let host = '';
  let pod = '';
  let scratch = '';

  beforeAll(() => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
    scratch = mkdtempSync(join(tmpdir(), 'netdiag-collect-fail-'));
    host = createNetns('ndf-h-');
    pod = createNetns('ndf-p-');
    createVethPair(host, 'veth-p', pod, 'eth0');
    ipIn(host, ['addr', 'add', '10.214.0.1/24', 'dev', 'veth-p']);
    ipIn(pod, ['addr', 'add', '10.214.0.2/24', 'dev', 'eth0']);
    writeFileSync(
      join(scratch, 'pods.json'),
      JSON.stringify([
        { namespace: 'default', name: 'p', ips: ['10.214.0.2'] },
        { namespace: 'default', name: 'gone', ips: ['10.214.0.77'] },
      ]),
    );
  });

  afterAll(() => {
    for (const ns of [host, pod]) if (ns !== '') destroyNetns(ns);
    if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
  });

  /** Runs `netdiag collect` with wrappers misbehaving in namespace `target`; returns the snapshot. */
  function collect(name: string, target: string, wrappers: Record<string, string>, flags: string[]): { snapshot: Snapshot; stderr: string } {
    const bin = join(scratch, `bin-${name}`);
    mkdirSync(bin);
    for (const [tool, misbehaviour] of Object.entries(wrappers)) {
      const real = run('sh', ['-c', 'command -v "$1"', 'sh', tool]).trim();
      writeFileSync(join(bin, tool), wrapper(real, misbehaviour));
      chmodSync(join(bin, tool), 0o755);
    }
    const out = join(scratch, `${name}.json`);
    const result = spawnSync(
      process.execPath,
      [cli, 'collect', '--host-netns', `/run/netns/${host}`, '--pods', join(scratch, 'pods.json'), '--out', out, '--no-cri', ...flags],
      { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, NDT_NETNS: netnsId(target) } },
    );
    if (result.status !== 0) throw new Error(`netdiag collect failed (${result.status}):\n${result.stderr}`);
    return { snapshot: JSON.parse(readFileSync(out, 'utf8')) as Snapshot, stderr: result.stderr };
  }

  /** `net:[INODE]`, as readlink /proc/self/ns/net prints it inside the namespace. */
  function netnsId(ns: string): string {
    return run('ip', ['netns', 'exec', ns, 'readlink', '/proc/self/ns/net']).trim();
  }

  const podNs = (s: Snapshot): NamespaceSnapshot => s.namespaces.find((n) => n.pod?.name === 'p') as NamespaceSnapshot;

  it('records a broken tool, a hanging tool and a missing namespace, and captures everything else', () => {
    // nft lists a native table (so the ruleset is dumped), then prints a ruleset cut short.
    const nft = 'case "$*" in *ruleset*) echo \'{"nftables": [\'; exit 0 ;; *) printf \'table inet broken {\\n}\\n\' ;; esac';
    const broken = collect('broken', host, { nft, ipset: "echo 'ipset v7.17: broken on purpose' >&2; exit 2" }, []);
    const hung = collect('hung', pod, { ss: 'exec sleep 30' }, ['--command-timeout', '1']);
    for (const { snapshot } of [broken, hung]) {
      expect(snapshotSchemaErrors(snapshot)).toEqual([]);
      expect(snapshot.complete).toBe(false);
      expect(snapshot.podsNotFound).toEqual([{ pod: { namespace: 'default', name: 'gone', ips: ['10.214.0.77'] }, reason: expect.stringMatching(/^no network namespace on the node holds 10\.214\.0\.77\b/) as unknown }]);
    }

    const host1 = broken.snapshot.namespaces[0]?.netstack;
    expect(host1?.nftables).toMatchObject({ exitCode: 0, output: '{"nftables": [\n' });
    expect(host1?.nftables.error).toMatch(/^the output is not JSON: /);
    expect(host1?.ipset).toMatchObject({ exitCode: 2, error: 'exit status 2: ipset v7.17: broken on purpose', stderr: 'ipset v7.17: broken on purpose' });
    expect(host1?.ipset.output).toBeUndefined();
    expect(host1?.links.error).toBeUndefined();
    expect(host1?.sockets.listening.error).toBeUndefined();
    // Only the host misbehaved: the pod's dumps are whole.
    expect(podNs(broken.snapshot).netstack.nftables.error).toBeUndefined();
    expect(podNs(broken.snapshot).netstack.ipset.error).toBeUndefined();

    const pod2 = podNs(hung.snapshot).netstack;
    expect(pod2.sockets.listening).toMatchObject({ exitCode: null, error: 'timed out after 1s (killed)' });
    expect(pod2.links.error).toBeUndefined();
    expect(pod2.ipset.error).toBeUndefined();
    expect(hung.snapshot.warnings).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'command-timeout' })]));
    expect(hung.stderr).toMatch(/pod default\/gone not found: no network namespace on the node holds 10\.214\.0\.77/);
  }, 60_000);

  it('at the deadline, records what was killed or not run and still writes the snapshot', () => {
    const { snapshot, stderr } = collect('deadline', host, { nft: 'exec sleep 60' }, ['--timeout', '2', '--command-timeout', '30']);
    expect(snapshotSchemaErrors(snapshot)).toEqual([]);
    expect(snapshot.complete).toBe(false);
    const n = snapshot.namespaces[0]?.netstack;
    // `nft list chains` runs first and hangs: killed; the ruleset dump after it never starts.
    expect(n?.nftChains).toMatchObject({ exitCode: null, error: "killed when the run's deadline passed" });
    expect(n?.nftables).toMatchObject({ exitCode: null, error: "not run: the run's deadline passed" });
    expect(n?.links.error).toBeUndefined();
    expect(snapshot.warnings).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'deadline-exceeded' })]));
    expect(stderr).toMatch(/warning deadline-exceeded: the run's deadline \(2s\) passed/);
    expect(stderr).toMatch(/INCOMPLETE/);
  }, 60_000);
});
