// netdiag's CNI tap in a real lab (startLab cniTap): the built `netdiag-cni-tap` in the nodes'
// CNI_PATH and the real `netdiag cni-tap install` on every node before any pod, so each pod's ADD
// runs the tapped chain (tap, bridge, tap) through the real plugins. Asserted on the records the
// tap wrote under each node's var/log/netdiag, and on `netdiag cni-tap uninstall` restoring the
// configuration list the network mode wrote, byte for byte. Needs root and the build (dist/).
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import { coreApi, loadKubeConfig } from '../../src/kube/client.js';
import { repoRoot } from '../../src/lab/binaries.js';
import { cniTapFiles } from '../../src/lab/cni-tap.js';
import { startLab, type Lab } from '../../src/lab/lab.js';
import { BRIDGE_CONFLIST_NAME, bridgeConflist } from '../../src/lab/networks/bridge.js';
import { run } from '../../src/lab/process.js';
import { removeLabLeftovers, tryRun } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

const PREFIX = `ndh7t${randomBytes(2).toString('hex')}`;
const TAP = cniTapFiles(repoRoot());

interface TapRecord {
  readonly position: string;
  readonly command: string;
  readonly containerId?: string;
  readonly ifname?: string;
  readonly args?: string;
  readonly result?: { ips?: { address: string }[] };
  readonly config?: { type?: string; position?: string; chain?: string[] };
}

function pod(name: string, node: string): V1Pod {
  return { metadata: { name }, spec: { nodeName: node, containers: [{ name: 'main', image: 'netdiag:lab' }] } };
}

/** Every record of a node, in order (one file: nothing is rotated at this size). */
function recordsOf(rootDir: string): TapRecord[] {
  const dir = join(rootDir, 'var', 'log', 'netdiag');
  const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  expect(files).toHaveLength(1);
  return files.flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as TapRecord));
}

describeAsRoot('the lab with the CNI tap (bridge, 2 nodes)', () => {
  let lab: Lab;
  let api: CoreV1Api;
  let dir: string;
  const log: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'netdiag-lab-tap-'));
    lab = await startLab({ network: 'bridge', nodes: 2, dir, cniTap: true, prefix: PREFIX, subnet: randomInt(1, 255), log: (line) => log.push(line) });
    api = coreApi(loadKubeConfig({ kubeconfig: lab.kubeconfig }).config);
  }, 180_000);

  afterAll(async () => {
    process.stderr.write(`lab log:\n${log.join('\n')}\n`);
    await lab?.stop();
    removeLabLeftovers(PREFIX, dir);
  }, 120_000);

  it('has the tap and the CLI built (npm run build)', () => {
    expect(existsSync(TAP.plugin)).toBe(true);
    expect(existsSync(TAP.cli)).toBe(true);
  });

  it('records one head and one tail ADD per pod, with the pod sandbox\'s container id, and the tail holds the pod\'s IP', async () => {
    const pods = [['tap-a', 'node1'], ['tap-b', 'node1'], ['tap-c', 'node2']] as const;
    for (const [name, node] of pods) await api.createNamespacedPod({ namespace: 'default', body: pod(name, node) });
    for (const [name, node] of pods) {
      const running = await lab.waitForPod('default', name, 60_000);
      const root = lab.nodes.find((n) => n.name === node)?.rootDir ?? '';
      const adds = recordsOf(root).filter((r) => r.command === 'ADD' && (r.args ?? '').split(';').includes(`K8S_POD_NAME=${name}`));
      expect(adds.map((r) => [r.position, r.containerId, r.ifname])).toEqual([
        ['head', `netdiag-lab-${running.uid}`, 'eth0'],
        ['tail', `netdiag-lab-${running.uid}`, 'eth0'],
      ]);
      expect(adds[0]?.config).toMatchObject({ type: 'netdiag-cni-tap', position: 'head', chain: ['bridge'] });
      expect(adds[1]?.result?.ips?.map((ip) => ip.address.split('/')[0])).toEqual([running.ip]);
    }
    // The other node's records never name a pod it does not run.
    const node2 = recordsOf(lab.nodes.find((n) => n.name === 'node2')?.rootDir ?? '');
    expect(node2.filter((r) => (r.args ?? '').includes('K8S_POD_NAME=tap-a'))).toEqual([]);
  }, 120_000);

  it('records the DEL of a deleted pod (tail first: the chain runs in reverse)', async () => {
    const running = await lab.waitForPod('default', 'tap-b');
    await api.deleteNamespacedPod({ namespace: 'default', name: 'tap-b', gracePeriodSeconds: 0 });
    const root = lab.nodes.find((n) => n.name === 'node1')?.rootDir ?? '';
    const deadline = Date.now() + 30_000;
    let dels: TapRecord[] = [];
    while (Date.now() < deadline) {
      dels = recordsOf(root).filter((r) => r.command === 'DEL' && r.containerId === `netdiag-lab-${running.uid}`);
      if (dels.length >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(dels.map((r) => [r.position, r.ifname])).toEqual([
      ['tail', 'eth0'],
      ['head', 'eth0'],
    ]);
  }, 60_000);

  it('uninstall restores the configuration list the network wrote, byte for byte', () => {
    for (const node of lab.nodes) {
      const confDir = join(node.rootDir, 'etc', 'cni', 'net.d');
      const file = join(confDir, BRIDGE_CONFLIST_NAME);
      const original = bridgeConflist(node.podCIDR, join(node.rootDir, 'var', 'lib', 'cni', 'networks'));
      expect(readFileSync(file, 'utf8')).not.toBe(original);
      expect(readFileSync(`${file}.netdiag-backup`, 'utf8')).toBe(original);
      run(process.execPath, [TAP.cli, 'cni-tap', 'uninstall', '--conf-dir', confDir]);
      expect(readFileSync(file, 'utf8')).toBe(original);
      expect(readdirSync(confDir).sort()).toEqual([BRIDGE_CONFLIST_NAME]);
    }
  });
});

describeAsRoot('the lab refuses the CNI tap on the calico modes', () => {
  it.each(['calico-bgp', 'calico-vxlan'] as const)('%s', async (network) => {
    const dir = mkdtempSync(join(tmpdir(), 'netdiag-lab-tap-'));
    try {
      await expect(startLab({ network, nodes: 1, dir, cniTap: true, prefix: `${PREFIX}x`, log: () => undefined })).rejects.toThrow(
        `cniTap: the CNI tap needs a network whose pods are wired by running a CNI configuration list; ${network} reproduces calico's CNI plugin`,
      );
      expect(tryRun('ip', ['link', 'show', `${PREFIX}x0`]).ok).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
