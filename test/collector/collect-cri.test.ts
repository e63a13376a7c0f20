// `netdiag collect` finding pods through the container runtime (CRI), as on a node with containerd:
// a stand-in `crictl` (first on PATH) answers `pods` and `inspectp` with what containerd's crictl
// prints, naming network namespaces built for the test. The pods are then matched by the runtime's
// word (uid, or namespace/name), not by IP; a hostNetwork sandbox lands on the host.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Snapshot } from '../../src/collector/snapshot.js';
import { createNetns, createVethPair, destroyNetns, ipIn } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';
import { snapshotSchemaErrors } from '../support/snapshot-schema.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

const FAKE_CRICTL = `#!/bin/sh
# Answers as containerd's crictl would, from files the test wrote.
case " $* " in
*" pods "*) exec cat "$NDT_CRI_DIR/pods.json" ;;
*" inspectp "*) exec cat "$NDT_CRI_DIR/inspect.json" ;;
esac
echo "crictl stand-in: unexpected arguments: $*" >&2
exit 1
`;

describeAsRoot('netdiag collect with a container runtime', () => {
  let host = '';
  let podA = '';
  let podB = '';
  let scratch = '';
  let snapshot: Snapshot;
  let stderr = '';

  beforeAll(() => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
    scratch = mkdtempSync(join(tmpdir(), 'netdiag-collect-cri-'));
    host = createNetns('ndr-h-');
    podA = createNetns('ndr-a-');
    podB = createNetns('ndr-b-');
    for (const [pod, dev, ip] of [[podA, 'veth-a', '10.216.0.2'], [podB, 'veth-b', '10.216.0.3']] as const) {
      createVethPair(host, dev, pod, 'eth0');
      ipIn(pod, ['addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    }
    ipIn(host, ['addr', 'add', '10.216.9.1/24', 'dev', 'veth-a']);

    const bin = join(scratch, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'crictl'), FAKE_CRICTL);
    chmodSync(join(bin, 'crictl'), 0o755);
    const sandbox = (id: string, name: string, uid: string, state: string, createdAt: string): object => ({
      id,
      metadata: { name, uid, namespace: 'shop', attempt: 0 },
      state,
      createdAt,
      labels: {},
      annotations: {},
      runtimeHandler: '',
    });
    writeFileSync(
      join(scratch, 'pods.json'),
      JSON.stringify({
        items: [
          sandbox('a-old', 'web', 'uid-web', 'SANDBOX_NOTREADY', '1700000000000000000'),
          sandbox('a-new', 'web', 'uid-web', 'SANDBOX_READY', '1700000100000000000'),
          sandbox('b', 'db', 'uid-db', 'SANDBOX_READY', '1700000000000000000'),
          sandbox('h', 'agent', 'uid-agent', 'SANDBOX_READY', '1700000000000000000'),
        ],
      }),
    );
    const inspect = (id: string, network: 'POD' | 'NODE', ip: string, netns?: string): string =>
      JSON.stringify(
        {
          status: { id, network: { additionalIps: [], ip }, linux: { namespaces: { options: { ipc: 'POD', network, pid: 'CONTAINER', targetId: '' } } } },
          info: { pid: 0, runtimeSpec: { linux: { namespaces: [{ type: 'pid' }, ...(netns !== undefined ? [{ type: 'network', path: netns }] : [])] } } },
        },
        null,
        2,
      );
    // crictl prints one document per sandbox, one after the other.
    writeFileSync(join(scratch, 'inspect.json'), [inspect('a-new', 'POD', '10.216.0.2', `/run/netns/${podA}`), inspect('b', 'POD', '10.216.0.3', `/run/netns/${podB}`), inspect('h', 'NODE', '')].join('\n'));
    writeFileSync(
      join(scratch, 'pod-list.json'),
      JSON.stringify([
        { namespace: 'shop', name: 'web', uid: 'uid-web', ips: [] },
        { namespace: 'shop', name: 'db', ips: ['10.216.0.3'] },
        { namespace: 'shop', name: 'agent', uid: 'uid-agent', ips: ['192.0.2.50'] },
      ]),
    );

    const out = join(scratch, 'snapshot.json');
    const result = spawnSync(
      process.execPath,
      [cli, 'collect', '--host-netns', `/run/netns/${host}`, '--pods', join(scratch, 'pod-list.json'), '--cri-endpoint', 'unix:///run/netdiag-test/containerd.sock', '--out', out],
      { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, NDT_CRI_DIR: scratch } },
    );
    stderr = result.stderr;
    if (result.status !== 0) throw new Error(`netdiag collect failed (${result.status}):\n${result.stderr}`);
    snapshot = JSON.parse(readFileSync(out, 'utf8')) as Snapshot;
  }, 60_000);

  afterAll(() => {
    for (const ns of [host, podA, podB]) if (ns !== '') destroyNetns(ns);
    if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
  });

  it('asks the runtime and records what it said', () => {
    expect(snapshotSchemaErrors(snapshot)).toEqual([]);
    expect(snapshot.discovery.method).toBe('cri');
    expect(snapshot.discovery.cri?.endpoint).toBe('unix:///run/netdiag-test/containerd.sock');
    expect(snapshot.discovery.cri?.pods.command).toEqual(['crictl', '--runtime-endpoint', 'unix:///run/netdiag-test/containerd.sock', '--timeout', '10s', 'pods', '-o', 'json']);
    // The newest ready sandbox of each pod: not the stopped first attempt of web.
    expect(snapshot.discovery.cri?.inspect?.command.slice(-6)).toEqual(['inspectp', '-o', 'json', 'a-new', 'b', 'h']);
    expect((snapshot.discovery.cri?.inspect?.data as unknown[]).length).toBe(3);
    expect(snapshot.warnings.filter((w) => w.code.startsWith('cri'))).toEqual([]);
    expect(stderr).toMatch(/, 2 pod sandboxes from the runtime\)/);
  });

  it('matches pods by the runtime (uid, else namespace/name), even without an IP, and puts the hostNetwork sandbox on the host', () => {
    const web = snapshot.namespaces.find((n) => n.pod?.name === 'web');
    const db = snapshot.namespaces.find((n) => n.pod?.name === 'db');
    expect(web).toMatchObject({ kind: 'pod', matchedBy: 'cri', netns: { path: `/run/netns/${podA}` } });
    expect(web?.netns.foundBy).toEqual(expect.arrayContaining(['cri', 'run-netns']));
    expect(db).toMatchObject({ kind: 'pod', matchedBy: 'cri', netns: { path: `/run/netns/${podB}` } });
    expect(snapshot.hostNetworkPods.map((p) => p.name)).toEqual(['agent']);
    expect(snapshot.podsNotFound).toEqual([]);
    expect(snapshot.complete).toBe(true);
  });
});
