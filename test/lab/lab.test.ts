// A real 2-node lab with the bridge network: control plane (etcd, kube-apiserver,
// kube-controller-manager), nodes as namespaces registered by the virtual kubelet, pods wired by the
// real CNI plugins, real kube-proxy per node, and a collector pod run by the kubelet. Everything is
// asserted through the real API server and the kernel; stop() must leave nothing behind.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, DiscoveryV1Api, RbacAuthorizationV1Api, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { coreApi, loadKubeConfig } from '../../src/kube/client.js';
import { buildCollectorPod, buildCollectorPodsConfigMap, type CollectorPodOptions } from '../../src/kube/collector-pod.js';
import { readSnapshotConfigMaps } from '../../src/kube/snapshot-configmaps.js';
import { startLab, type Lab } from '../../src/lab/lab.js';
import { readState } from '../../src/lab/state.js';
import { removeLabLeftovers, tryRun } from '../support/netns.js';
import { probeTcp } from '../support/packet-probe.js';
import { waitFor } from '../../src/lab/process.js';
import { describeAsRoot } from '../support/root.js';

const PREFIX = `ndl1${randomBytes(3).toString('hex')}`;

function webPod(name: string, node: string, port: number, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, labels },
    spec: { nodeName: node, containers: [{ name: 'web', image: 'netdiag:lab', ports: [{ containerPort: port, protocol: 'TCP' }] }] },
  };
}

describeAsRoot('the lab: 2 nodes, bridge network', () => {
  let lab: Lab;
  let api: CoreV1Api;
  let dir: string;
  const log: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'netdiag-lab-'));
    lab = await startLab({ network: 'bridge', nodes: 2, dir, prefix: PREFIX, subnet: randomInt(1, 255), log: (line) => log.push(line) });
    api = coreApi(loadKubeConfig({ kubeconfig: lab.kubeconfig }).config);
  }, 180_000);

  afterAll(async () => {
    process.stderr.write(`lab log:\n${log.join('\n')}\n`);
    await lab?.stop();
    removeLabLeftovers(PREFIX, dir);
  }, 120_000);

  it('registers every node Ready, with its InternalIP and a podCIDR from kube-controller-manager', async () => {
    const nodes = (await api.listNode()).items;
    expect(nodes.map((n) => n.metadata?.name).sort()).toEqual(['node1', 'node2']);
    for (const node of nodes) {
      const labNode = lab.nodes.find((n) => n.name === node.metadata?.name);
      expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(node.status?.addresses).toContainEqual({ type: 'InternalIP', address: labNode?.ip });
      expect(node.spec?.podCIDR).toMatch(/^10\.244\.\d+\.0\/24$/);
      expect(node.spec?.podCIDR).toBe(labNode?.podCIDR);
    }
    const coordination = loadKubeConfig({ kubeconfig: lab.kubeconfig }).config.makeApiClient(CoordinationV1Api);
    const leases = (await coordination.listNamespacedLease({ namespace: 'kube-node-lease' })).items;
    expect(leases.map((l) => l.spec?.holderIdentity).sort()).toEqual(['node1', 'node2']);
    expect(readState(dir)?.phase).toBe('ready');
  });

  it('runs a pod bound to a node: its own namespace, an IP, Ready, and a listener another pod reaches', async () => {
    await api.createNamespacedPod({ namespace: 'default', body: webPod('web1', 'node1', 8080, { app: 'web' }) });
    await api.createNamespacedPod({ namespace: 'default', body: webPod('client1', 'node2', 9000) });
    const web = await waitFor('web1 Ready', async () => {
      const pod = await api.readNamespacedPod({ namespace: 'default', name: 'web1' });
      return pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? pod : undefined;
    });
    expect(web.status?.phase).toBe('Running');
    expect(web.status?.podIP).toMatch(/^10\.244\./);
    expect(web.status?.hostIP).toBe(lab.nodes.find((n) => n.name === 'node1')?.ip);
    const client = await lab.waitForPod('default', 'client1');
    const result = await probeTcp(client.netns, { dst: web.status?.podIP ?? '', dport: 8080, timeoutMs: 3000 });
    expect(result.outcome).toBe('connected');
  });

  it('programs a Service: an EndpointSlice from kube-controller-manager and kube-proxy rules that reach the pod', async () => {
    const service = await api.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } } });
    const clusterIP = service.spec?.clusterIP ?? '';
    const webIP = (await lab.waitForPod('default', 'web1')).ip;
    const discovery = loadKubeConfig({ kubeconfig: lab.kubeconfig }).config.makeApiClient(DiscoveryV1Api);
    const addresses = await waitFor('the EndpointSlice of web', async () => {
      const slices = await discovery.listNamespacedEndpointSlice({ namespace: 'default', labelSelector: 'kubernetes.io/service-name=web' });
      const all = slices.items.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses));
      return all.length > 0 ? all : undefined;
    });
    expect(addresses).toEqual([webIP]);
    const client = await lab.waitForPod('default', 'client1');
    const node2 = lab.nodes.find((n) => n.name === 'node2');
    await waitFor('kube-proxy rules for web', () => {
      const rules = tryRun('ip', ['netns', 'exec', node2?.netns ?? '', 'iptables', '-t', 'nat', '-S', 'KUBE-SERVICES']).stdout;
      return Promise.resolve(rules.includes(`${clusterIP}/32`) ? rules : undefined);
    });
    const result = await probeTcp(client.netns, { dst: clusterIP, dport: 80, timeoutMs: 3000 });
    expect(result.outcome).toBe('connected');
  });

  it('deletes a pod: CNI DEL, its namespace gone, the object removed', async () => {
    await api.createNamespacedPod({ namespace: 'default', body: webPod('short', 'node2', 7000) });
    const running = await lab.waitForPod('default', 'short');
    expect(tryRun('ip', ['netns', 'list']).stdout).toContain(running.netns);
    await api.deleteNamespacedPod({ namespace: 'default', name: 'short' });
    await waitFor('the pod object to go', async () => ((await api.listNamespacedPod({ namespace: 'default', fieldSelector: 'metadata.name=short' })).items.length === 0 ? true : undefined));
    expect(tryRun('ip', ['netns', 'list']).stdout).not.toContain(running.netns);
  });

  it('runs a collector pod: the agent in the node namespace ships its snapshot as ConfigMaps (needs npm run build)', async () => {
    const namespace = 'netdiag-system';
    await api.createNamespace({ body: { metadata: { name: namespace, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } } });
    await api.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'netdiag-collector' } } });
    const rbac = loadKubeConfig({ kubeconfig: lab.kubeconfig }).config.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({ namespace, body: { metadata: { name: 'collector' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }] } });
    await rbac.createNamespacedRoleBinding({ namespace, body: { metadata: { name: 'collector' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'collector' }, subjects: [{ kind: 'ServiceAccount', name: 'netdiag-collector', namespace }] } });
    const web = await lab.waitForPod('default', 'web1');
    const options: CollectorPodOptions = {
      diagnosis: { namespace: 'default', name: 'web-check', uid: '0b7e3c2a-1111-4c1e-9f55-1c2d3e4f5a6b' },
      node: 'node1',
      namespace,
      image: 'netdiag:lab',
      serviceAccountName: 'netdiag-collector',
      timeoutSeconds: 60,
      commandTimeoutSeconds: 10,
      pods: [{ namespace: 'default', name: 'web1', ips: [web.ip] }],
    };
    await api.createNamespacedConfigMap({ namespace, body: buildCollectorPodsConfigMap(options) });
    const pod = await api.createNamespacedPod({ namespace, body: buildCollectorPod(options) });
    const done = await waitFor('the collector pod to finish', async () => {
      const current = await api.readNamespacedPod({ namespace, name: pod.metadata?.name ?? '' });
      return current.status?.phase === 'Succeeded' || current.status?.phase === 'Failed' ? current : undefined;
    }, 120_000);
    const terminated = done.status?.containerStatuses?.[0]?.state?.terminated;
    expect({ phase: done.status?.phase, exitCode: terminated?.exitCode }).toEqual({ phase: 'Succeeded', exitCode: 0 });
    const read = await readSnapshotConfigMaps(api, { namespace, diagnosis: options.diagnosis, node: 'node1' });
    expect(read.snapshot.node.name).toBe('node1');
  }, 180_000);

  it('reports a collector that fails: phase Failed, its exit code and the tail of its output', async () => {
    const namespace = 'netdiag-system';
    const pod = await api.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'bad-collector' },
        spec: { nodeName: 'node2', hostNetwork: true, restartPolicy: 'Never', serviceAccountName: 'netdiag-collector', containers: [{ name: 'collector', image: 'netdiag:lab', command: ['netdiag', 'collect'], args: ['--no-such-flag'] }] },
      },
    });
    const done = await waitFor('the collector pod to fail', async () => {
      const current = await api.readNamespacedPod({ namespace, name: pod.metadata?.name ?? '' });
      return current.status?.phase === 'Failed' ? current : undefined;
    });
    const terminated = done.status?.containerStatuses?.[0]?.state?.terminated;
    expect({ exitCode: terminated?.exitCode, reason: terminated?.reason }).toEqual({ exitCode: 2, reason: 'Error' });
    // The last lines of its output: the end of `netdiag collect`'s usage.
    expect(terminated?.message).toMatch(/--quiet +no progress on stderr$/);
  }, 60_000);

  it('enforces a collector pod\'s activeDeadlineSeconds: killed, phase Failed, reason DeadlineExceeded', async () => {
    const namespace = 'netdiag-system';
    // Reading a FIFO nobody writes to blocks: the agent never finishes on its own.
    const fifo = join(dir, 'never-written');
    expect(tryRun('mkfifo', [fifo]).ok).toBe(true);
    await api.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'slow-collector' },
        spec: { nodeName: 'node1', hostNetwork: true, restartPolicy: 'Never', activeDeadlineSeconds: 1, serviceAccountName: 'netdiag-collector', containers: [{ name: 'collector', image: 'netdiag:lab', command: ['netdiag', 'collect'], args: ['--pods', fifo, '--out', '/dev/null'] }] },
      },
    });
    const done = await waitFor('the collector pod to be stopped', async () => {
      const current = await api.readNamespacedPod({ namespace, name: 'slow-collector' });
      return current.status?.phase === 'Failed' ? current : undefined;
    });
    expect({ reason: done.status?.reason, terminated: done.status?.containerStatuses?.[0]?.state?.terminated?.reason }).toEqual({ reason: 'DeadlineExceeded', terminated: 'DeadlineExceeded' });
  }, 60_000);

  it('runs a host-network pod\'s listeners in its node\'s namespace', async () => {
    await api.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'node-agent' }, spec: { nodeName: 'node2', hostNetwork: true, containers: [{ name: 'agent', image: 'netdiag:lab', ports: [{ containerPort: 10250 }] }] } } });
    const agent = await lab.waitForPod('default', 'node-agent');
    const node2 = lab.nodes.find((n) => n.name === 'node2');
    expect({ ip: agent.ip, netns: agent.netns }).toEqual({ ip: node2?.ip, netns: node2?.netns });
    const client = await lab.waitForPod('default', 'client1');
    expect((await probeTcp(client.netns, { dst: node2?.ip ?? '', dport: 10250, timeoutMs: 3000 })).outcome).toBe('connected');
  });

  it('stops leaving no namespace, link or process behind', async () => {
    const pids = readState(dir)?.processes.map((p) => p.pid) ?? [];
    expect(pids.length).toBeGreaterThan(0);
    await lab.stop();
    expect(tryRun('ip', ['netns', 'list']).stdout.split('\n').filter((l) => l.startsWith(PREFIX))).toEqual([]);
    expect(tryRun('ip', ['-o', 'link']).stdout).not.toContain(PREFIX);
    for (const pid of pids) expect(existsSync(`/proc/${pid}/cmdline`) ? tryRun('cat', [`/proc/${pid}/cmdline`]).stdout : '').toBe('');
    expect(readState(dir)?.phase).toBe('stopped');
  }, 120_000);
});
