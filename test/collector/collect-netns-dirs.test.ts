// `netdiag collect --netns-dir DIR --no-proc-netns`, as the built command runs on a host where not
// every namespace is the node's (a lab): two namespaces hold the same pod IP, each with a process
// in it; the node's directory names only one of them. Only that one may be found, and the pod
// matched to it without ambiguity; its processes still own its sockets. A directory naming both
// shows what the flags are for: the match is then ambiguous.
//
//   host --veth-a-- a (eth0 10.215.0.2, a listener on 8080)      named in DIR-a and DIR-both
//   host --veth-b-- b (eth0 10.215.0.2, a process)               named in DIR-both only
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Snapshot } from '../../src/collector/snapshot.js';
import { createNetns, createVethPair, destroyNetns, ipIn } from '../support/netns.js';
import { startListeners, type Listeners } from '../support/packet-probe.js';
import { describeAsRoot } from '../support/root.js';
import { snapshotSchemaErrors } from '../support/snapshot-schema.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const POD_IP = '10.215.0.2';

describeAsRoot('netdiag collect --netns-dir --no-proc-netns: only the node\'s namespaces', () => {
  let host = '';
  let a = '';
  let b = '';
  let scratch = '';
  let listener: Listeners | undefined;
  let sleeper: ChildProcess | undefined;

  beforeAll(async () => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
    scratch = mkdtempSync(join(tmpdir(), 'netdiag-collect-dirs-'));
    host = createNetns('ndl3-h-');
    a = createNetns('ndl3-a-');
    b = createNetns('ndl3-b-');
    createVethPair(host, 'veth-a', a, 'eth0');
    createVethPair(host, 'veth-b', b, 'eth0');
    for (const ns of [a, b]) ipIn(ns, ['addr', 'add', `${POD_IP}/24`, 'dev', 'eth0']);
    listener = await startListeners(a, [{ protocol: 'tcp', address: '0.0.0.0', port: 8080 }]);
    // A process in b: with the /proc search on, it alone would make b a candidate.
    sleeper = spawn('ip', ['netns', 'exec', b, 'sleep', '600'], { stdio: 'ignore' });
    for (const [dir, names] of [['dir-a', [a]], ['dir-both', [a, b]]] as const) {
      mkdirSync(join(scratch, dir));
      for (const name of names) symlinkSync(join('/run/netns', name), join(scratch, dir, name));
    }
    writeFileSync(join(scratch, 'pods.json'), JSON.stringify([{ namespace: 'default', name: 'p', ips: [POD_IP] }]));
  }, 30_000);

  afterAll(async () => {
    await listener?.stop();
    sleeper?.kill('SIGKILL');
    for (const ns of [host, a, b]) if (ns !== '') destroyNetns(ns);
    if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
  });

  function collect(dir: string): Snapshot {
    const out = join(scratch, `${dir}.json`);
    const args = ['collect', '--quiet', '--out', out, '--pods', join(scratch, 'pods.json'), '--host-netns', join('/run/netns', host), '--no-cri', '--netns-dir', join(scratch, dir), '--no-proc-netns', '--cni-conf-dir', join(scratch, 'none'), '--timeout', '60'];
    const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 90_000 });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    return JSON.parse(readFileSync(out, 'utf8')) as Snapshot;
  }

  it('finds only the host and the namespace the directory names, and matches the pod to it', () => {
    const snapshot = collect('dir-a');
    expect(snapshotSchemaErrors(snapshot)).toEqual([]);
    expect(snapshot.discovery.namespacesFound).toBe(2);
    expect(snapshot.namespaces.map((n) => n.kind)).toEqual(['host', 'pod']);
    const pod = snapshot.namespaces[1];
    expect(pod?.pod).toEqual({ namespace: 'default', name: 'p', ips: [POD_IP] });
    expect(pod?.matchedBy).toBe('ip');
    expect(pod?.netns).toMatchObject({ inode: statSync(join('/run/netns', a)).ino, path: join(scratch, 'dir-a', a), foundBy: ['run-netns'], names: [a] });
    expect({ podsNotFound: snapshot.podsNotFound, unmatched: snapshot.unmatchedNamespaces, complete: snapshot.complete }).toEqual({ podsNotFound: [], unmatched: [], complete: true });
    // b holds a process, but no process's namespace counts as found.
    const bInode = statSync(join('/run/netns', b)).ino;
    expect(snapshot.namespaces.map((n) => n.netns.inode)).not.toContain(bInode);
  }, 120_000);

  it('still names the owner of a listening socket among the processes of the namespace found', () => {
    const pod = collect('dir-a').namespaces.find((n) => n.kind === 'pod');
    expect(pod?.netstack.sockets.owners).toEqual([expect.objectContaining({ comm: 'node' })]);
    expect(pod?.netstack.sockets.ownersIncomplete).toBeUndefined();
    expect(pod?.netns.pids).toEqual([pod?.netstack.sockets.owners[0]?.pid]);
  }, 120_000);

  it('is ambiguous when the directory names both namespaces holding the IP', () => {
    const snapshot = collect('dir-both');
    expect(snapshot.podsNotFound).toEqual([
      {
        pod: { namespace: 'default', name: 'p', ips: [POD_IP] },
        reason: `ambiguous: 2 network namespaces hold ${POD_IP} (${[a, b].map((n) => join(scratch, 'dir-both', n)).sort().join(', ')})`,
      },
    ]);
  }, 120_000);
});
