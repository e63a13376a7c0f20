// Two labs at once on one machine share its /run/netns and /proc, and a pod of the same name on
// the same node gets the same IP in both. A collector pod must still see only its own node's
// namespaces, as on a real node: the virtual kubelet names each pod's namespace in the node's
// ROOT/run/netns and runs `netdiag collect` with --netns-dir there and --no-proc-netns. Each lab's
// collector must find its pod (not ambiguous) in its own namespace (the inode, the name, and a
// route added in that lab's pod only); stopping leaves no link and no mount behind.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RbacAuthorizationV1Api, type CoreV1Api } from '@kubernetes/client-node';
import type { Snapshot } from '../../src/collector/snapshot.js';
import { coreApi, loadKubeConfig } from '../../src/kube/client.js';
import { buildCollectorPod, buildCollectorPodsConfigMap, type CollectorPodOptions } from '../../src/kube/collector-pod.js';
import { readSnapshotConfigMaps } from '../../src/kube/snapshot-configmaps.js';
import { startLab, type Lab } from '../../src/lab/lab.js';
import type { LabRunningPod } from '../../src/lab/virtual-kubelet.js';
import { removeLabLeftovers, tryRun } from '../support/netns.js';
import { waitFor } from '../../src/lab/process.js';
import { describeAsRoot } from '../support/root.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

interface TestLab {
  readonly key: 'one' | 'two';
  readonly prefix: string;
  readonly dir: string;
  readonly log: string[];
  /** A blackhole route only this lab's pod holds. */
  readonly marker: string;
  lab?: Lab;
  api?: CoreV1Api;
  web?: LabRunningPod;
}

/** The mount points of this process's mount namespace under `dir`. */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
}

/** Creates what a collector needs (namespace, service account allowed to create ConfigMaps), runs one for `pods` on node1, returns its snapshot. */
async function runCollector(lab: TestLab, pods: CollectorPodOptions['pods']): Promise<Snapshot> {
  const api = lab.api as CoreV1Api;
  const kubeconfig = lab.lab?.kubeconfig ?? '';
  const namespace = 'netdiag-system';
  await api.createNamespace({ body: { metadata: { name: namespace, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } } });
  await api.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'netdiag-collector' } } });
  const rbac = loadKubeConfig({ kubeconfig }).config.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({ namespace, body: { metadata: { name: 'collector' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }] } });
  await rbac.createNamespacedRoleBinding({ namespace, body: { metadata: { name: 'collector' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'collector' }, subjects: [{ kind: 'ServiceAccount', name: 'netdiag-collector', namespace }] } });
  const options: CollectorPodOptions = {
    diagnosis: { namespace: 'default', name: 'isolation', uid: '5d1c2a0e-3333-4c1e-9f55-1c2d3e4f5a6b' },
    node: 'node1',
    namespace,
    image: 'netdiag:lab',
    serviceAccountName: 'netdiag-collector',
    timeoutSeconds: 60,
    commandTimeoutSeconds: 10,
    pods,
  };
  await api.createNamespacedConfigMap({ namespace, body: buildCollectorPodsConfigMap(options) });
  const pod = await api.createNamespacedPod({ namespace, body: buildCollectorPod(options) });
  const done = await waitFor(`lab ${lab.key}'s collector pod to finish`, async () => {
    const current = await api.readNamespacedPod({ namespace, name: pod.metadata?.name ?? '' });
    return current.status?.phase === 'Succeeded' || current.status?.phase === 'Failed' ? current : undefined;
  }, 120_000);
  const terminated = done.status?.containerStatuses?.[0]?.state?.terminated;
  expect({ phase: done.status?.phase, exitCode: terminated?.exitCode, message: done.status?.phase === 'Succeeded' ? '' : terminated?.message }).toEqual({ phase: 'Succeeded', exitCode: 0, message: '' });
  return (await readSnapshotConfigMaps(api, { namespace, diagnosis: options.diagnosis, node: 'node1' })).snapshot;
}

describeAsRoot('two labs at once: each collector sees only its own node\'s namespaces', () => {
  const tag = randomBytes(2).toString('hex');
  const subnet = randomInt(1, 250);
  const labs: TestLab[] = [
    { key: 'one', prefix: `ndl3a${tag}`, dir: '', log: [], marker: '10.216.1.0/24' },
    { key: 'two', prefix: `ndl3b${tag}`, dir: '', log: [], marker: '10.216.2.0/24' },
  ];

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (collector pods run it)`);
    const started = await Promise.allSettled(
      labs.map(async (t, i) => {
        const dir = mkdtempSync(join(tmpdir(), `netdiag-lab-iso-${t.key}-`));
        Object.assign(t, { dir });
        t.lab = await startLab({ network: 'bridge', nodes: 1, dir, prefix: t.prefix, subnet: subnet + i, log: (line) => t.log.push(line) });
        t.api = coreApi(loadKubeConfig({ kubeconfig: t.lab.kubeconfig }).config);
      }),
    );
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    // The same pod name on the same node: the same first address of the same podCIDR in each lab.
    await Promise.all(labs.map(async (t) => (t.api as CoreV1Api).createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'web' }, spec: { nodeName: 'node1', containers: [{ name: 'web', image: 'netdiag:lab', ports: [{ containerPort: 8080 }] }] } } })));
    for (const t of labs) {
      t.web = await t.lab?.waitForPod('default', 'web');
      expect(tryRun('ip', ['-n', t.web?.netns ?? '', 'route', 'add', 'blackhole', t.marker]).ok).toBe(true);
    }
  }, 240_000);

  afterAll(async () => {
    for (const t of labs) {
      process.stderr.write(`lab ${t.key} log:\n${t.log.join('\n')}\n`);
      await t.lab?.stop();
      removeLabLeftovers(t.prefix, t.dir);
    }
  }, 180_000);

  it('gives both pods the same IP, and names each pod\'s namespace in its own node\'s run/netns only', () => {
    const [one, two] = labs as [TestLab, TestLab];
    expect(one.web?.ip).toMatch(/^10\.244\./);
    expect(two.web?.ip).toBe(one.web?.ip);
    for (const t of labs) {
      const netnsDir = join(t.dir, 'nodes', 'node1', 'root', 'run', 'netns');
      expect(readdirSync(netnsDir)).toEqual([t.web?.netns]);
      expect(readlinkSync(join(netnsDir, t.web?.netns ?? ''))).toBe(join('/run/netns', t.web?.netns ?? ''));
    }
  });

  it('runs each lab\'s collector: its pod found in its own namespace, not ambiguous', async () => {
    const snapshots = await Promise.all(labs.map((t) => runCollector(t, [{ namespace: 'default', name: 'web', ips: [t.web?.ip ?? ''] }])));
    labs.forEach((t, i) => {
      const snapshot = snapshots[i] as Snapshot;
      const netnsName = t.web?.netns ?? '';
      expect({ lab: t.key, podsNotFound: snapshot.podsNotFound, unmatched: snapshot.unmatchedNamespaces.map((u) => u.netns.path) }).toEqual({ lab: t.key, podsNotFound: [], unmatched: [] });
      const pods = snapshot.namespaces.filter((n) => n.kind === 'pod');
      expect(pods.map((n) => n.pod?.name)).toEqual(['web']);
      const pod = pods[0];
      expect(pod?.netns).toMatchObject({
        inode: statSync(join('/run/netns', netnsName)).ino,
        path: join(t.dir, 'nodes', 'node1', 'root', 'run', 'netns', netnsName),
        foundBy: ['run-netns'],
        names: [netnsName],
      });
      // The route added in this lab's pod, not the other's.
      const routes = JSON.stringify(pod?.netstack.routes.data ?? null);
      const other = labs.find((o) => o !== t)?.marker ?? '';
      expect({ lab: t.key, own: routes.includes(`"dst":"${t.marker}"`), other: routes.includes(`"dst":"${other}"`) }).toEqual({ lab: t.key, own: true, other: false });
      // The listener process of the pod owns its socket (processes are still read for owners).
      expect(pod?.netstack.sockets.owners).toEqual([expect.objectContaining({ comm: 'node' })]);
    });
  }, 240_000);

  it('stops leaving no namespace, link, netns entry or mount behind', async () => {
    for (const t of labs) {
      await t.lab?.stop();
      expect(tryRun('ip', ['netns', 'list']).stdout.split('\n').filter((l) => l.startsWith(t.prefix))).toEqual([]);
      expect(tryRun('ip', ['-o', 'link']).stdout).not.toContain(t.prefix);
      expect(readdirSync(join(t.dir, 'nodes', 'node1', 'root', 'run', 'netns'))).toEqual([]);
      expect(mountsUnder(t.dir)).toEqual([]);
    }
  }, 180_000);
});
