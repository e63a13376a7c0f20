// The NetworkDiagnosis reconciler on a real kube-apiserver + etcd with the CRD: reconcile is
// called repeatedly, as the work queue would, and the API state is checked after each call. No
// kubelet runs, so the test plays it: Nodes and Pods (with their IPs, through /status), the
// collectors' snapshots (written as the agent would) and their phases; and it confirms the
// deletion of a terminating collector pod, as a kubelet does once the container is gone.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import type { NetworkDiagnosis } from '../../src/api/v1alpha1/index.js';
import { SNAPSHOT_KIND, SNAPSHOT_SCHEMA_VERSION, type JsonItem, type NetstackCapture, type Snapshot, type TextItem } from '../../src/collector/snapshot.js';
import { packSnapshot } from '../../src/collector/snapshot-pack.js';
import { otherRunStartedBy, type SharingSource } from '../../src/controller/collection-sharing.js';
import { reconcile, type ReconcileEvent, type ReconcileResult, type ReconcilerDeps, type ReconcilerKube } from '../../src/controller/reconciler.js';
import { FINALIZER, OBJECT_RECHECK_MS } from '../../src/controller/next-step.js';
import { loadKubeConfig } from '../../src/kube/client.js';
import { collectorSelector } from '../../src/kube/collector-client.js';
import { collectionsOf, type CollectionView } from '../../src/kube/collections.js';
import { createKubeAccess } from '../../src/kube/kube-access.js';
import { writeSnapshotConfigMaps } from '../../src/kube/snapshot-configmaps.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { installNetworkDiagnosisCrd } from '../support/crd.js';
import { COLLECTOR_SERVICE_ACCOUNT, condition, createDiagnosisApi, createNamespaces, createNodes, createPods, mergePatch, type DiagnosisApi } from '../support/operator-fixtures.js';
import { describeAsRoot } from '../support/root.js';

const OPERATOR_NS = 'netdiag-system';
const NS = 'shop';
const NODES = [
  { name: 'node-1', ip: '192.0.2.11' },
  { name: 'node-2', ip: '192.0.2.12' },
];
const PODS = [
  { name: 'client', node: 'node-1', ip: '10.244.1.5' },
  { name: 'server', node: 'node-2', ip: '10.244.2.7' },
];
const SPEC = { source: { pod: { name: 'client' } }, destination: { pod: { name: 'server' } }, port: 8080, protocol: 'TCP' };

const text = (command: string, output: string): TextItem => ({ command: command.split(' '), exitCode: 0, output });
const json = (command: string, data: unknown): JsonItem => ({ command: command.split(' '), exitCode: 0, data });
const skipped = (command: string): TextItem => ({ command: command.split(' '), exitCode: null, skipped: 'nothing to dump' });

/** A node's host namespace with its uplink, address and routes; no pod namespace was found. */
function hostNetstack(ip: string): NetstackCapture {
  return {
    links: json('ip -j -d link show', [
      { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536, operstate: 'UNKNOWN', link_type: 'loopback' },
      { ifindex: 2, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, operstate: 'UP', link_type: 'ether', address: '02:00:00:00:00:01' },
    ]),
    addresses: json('ip -j -d address show', [
      { ifindex: 1, ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
      { ifindex: 2, ifname: 'eth0', addr_info: [{ family: 'inet', local: ip, prefixlen: 24, scope: 'global' }] },
    ]),
    routes: json('ip -j -d route show table all', [{ dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: ip, table: 'main', type: 'unicast', flags: [] }]),
    rules: json('ip -j -d rule show', [
      { priority: 0, src: 'all', table: 'local' },
      { priority: 32766, src: 'all', table: 'main' },
      { priority: 32767, src: 'all', table: 'default' },
    ]),
    rules6: json('ip -6 -j -d rule show', []),
    neighbors: json('ip -j -d neighbour show', []),
    fdb: skipped('bridge -j fdb show'),
    sysctls: text('sysctl net.ipv4.ip_forward', 'net.ipv4.ip_forward = 1\n'),
    iptables: { legacy: skipped('iptables-legacy-save'), nft: skipped('iptables-nft-save'), backends: [] },
    ip6tables: { legacy: skipped('ip6tables-legacy-save'), nft: skipped('ip6tables-nft-save'), backends: [] },
    nftChains: text('nft list chains', ''),
    nftables: { command: ['nft', '-j', 'list', 'ruleset'], exitCode: null, skipped: 'no table' },
    ipset: text('ipset save', ''),
    ipvs: skipped('ipvsadm -Save -n'),
    sockets: { listening: text('ss -t -u -l -n -e', ''), owners: [] },
  };
}

function snapshotOf(node: string, ip: string): Snapshot {
  const at = '2026-01-01T00:00:00.000Z';
  return {
    schemaVersion: SNAPSHOT_SCHEMA_VERSION,
    kind: SNAPSHOT_KIND,
    node: { name: node, hostname: node, kernel: { release: '6.8.0', version: '#1 SMP', machine: 'x86_64' } },
    agent: { version: 'test', deadlineMs: 60_000, commandTimeoutMs: 10_000, parallelism: 4 },
    startedAt: at,
    completedAt: at,
    durationMs: 1,
    complete: true,
    discovery: { method: 'proc', namespacesFound: 1, processesScanned: 1, durationMs: 1 },
    tools: {},
    cni: { configDir: '/etc/cni/net.d', configFiles: [], records: [] },
    namespaces: [{ kind: 'host', netns: { inode: 4026531840, path: '/proc/1/ns/net', foundBy: ['host'] }, netstack: hostNetstack(ip) }],
    podsNotFound: [],
    hostNetworkPods: [],
    unmatchedNamespaces: [],
    warnings: [],
  };
}

describeAsRoot('the NetworkDiagnosis reconciler on a real API server', () => {
  let cp: ControlPlane;
  let api: DiagnosisApi;
  let core: CoreV1Api;
  let deps: ReconcilerDeps;
  const events: ReconcileEvent[] = [];

  beforeAll(async () => {
    cp = await startControlPlane({ log: (line) => process.stderr.write(`control-plane: ${line}\n`) });
    const { config } = loadKubeConfig({ kubeconfig: cp.adminKubeconfig });
    api = createDiagnosisApi(config, { namespace: NS, operatorNamespace: OPERATOR_NS, spec: SPEC });
    core = api.core;
    await createNamespaces(core, { namespace: NS, operatorNamespace: OPERATOR_NS });
    await installNetworkDiagnosisCrd(cp, NS);
    await createNodes(core, NODES);
    await createPods(core, NS, PODS);
    const kube: ReconcilerKube = createKubeAccess(config);
    deps = {
      kube,
      operatorNamespace: OPERATOR_NS,
      collectorImage: 'netdiag:test',
      serviceAccountName: COLLECTOR_SERVICE_ACCOUNT,
      collectorTimeoutSeconds: 60,
      commandTimeoutSeconds: 10,
      collectorDeadlineMs: 10 * 60_000,
      now: () => Date.now(),
      log: (event) => events.push(event),
    };
  }, 30 * 60_000);

  afterAll(async () => {
    await cp?.stop();
  }, 60_000);

  const key = (name: string): string => `${NS}/${name}`;
  const setPhase = async (pod: string, status: object): Promise<void> => {
    await core.patchNamespacedPodStatus({ namespace: OPERATOR_NS, name: pod, body: { status } }, mergePatch);
  };
  const podOn = (pods: V1Pod[], node: string): string => pods.find((p) => p.spec?.nodeName === node)?.metadata?.name ?? '';

  /** Reconciles until collectors run on both nodes: finalizer, start-run, create-collectors. */
  async function startCollectors(name: string): Promise<V1Pod[]> {
    await api.apply(name);
    for (let i = 0; i < 3; i++) await reconcile(key(name), deps);
    const pods = await api.collectorPods(name);
    expect(pods.map((p) => p.spec?.nodeName).sort()).toEqual(['node-1', 'node-2']);
    return pods;
  }

  it('runs a diagnosis: finalizer, Pending, one collector per node, then the verdict, and cleans up', async () => {
    await api.apply('web-to-db');
    expect(await reconcile(key('web-to-db'), deps)).toEqual({});
    expect((await api.mustGet('web-to-db')).metadata.finalizers).toEqual([FINALIZER]);

    expect(await reconcile(key('web-to-db'), deps)).toEqual({});
    const pending = await api.mustGet('web-to-db');
    expect(pending.status?.phase).toBe('Pending');
    expect(pending.status?.observedGeneration).toBe(pending.metadata.generation);
    expect(condition(pending, 'Ready').status).toBe('False');
    expect(await api.collectorPods('web-to-db')).toEqual([]);

    const created = await reconcile(key('web-to-db'), deps);
    expect(created.requeueAfterMs).toBeGreaterThan(0);
    const pods = await api.collectorPods('web-to-db');
    expect(pods.map((p) => p.spec?.nodeName).sort()).toEqual(['node-1', 'node-2']);
    for (const pod of pods) {
      expect(pod.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'netdiag', 'app.kubernetes.io/component': 'collector', 'netdiag.io/diagnosis': `${NS}.web-to-db`, 'netdiag.io/node': pod.spec?.nodeName });
      expect(pod.spec?.serviceAccountName).toBe('netdiag-collector');
      expect(pod.spec?.containers[0]?.image).toBe('netdiag:test');
    }
    const podLists = await core.listNamespacedConfigMap({ namespace: OPERATOR_NS, labelSelector: collectorSelector({ namespace: NS, name: 'web-to-db' }) });
    expect(podLists.items.map((cm) => cm.metadata?.name).sort()).toEqual(pods.map((p) => `${p.metadata?.name}-pods`).sort());
    const node1List = podLists.items.find((cm) => cm.metadata?.labels?.['netdiag.io/node'] === 'node-1');
    expect(JSON.parse(node1List?.data?.['pods.json'] ?? '[]')).toEqual([expect.objectContaining({ namespace: NS, name: 'client', ips: ['10.244.1.5'] })]);
    const collecting = await api.mustGet('web-to-db');
    expect(collecting.status?.phase).toBe('Collecting');
    expect(collecting.status?.collectors?.map((c) => c.node)).toEqual(['node-1', 'node-2']);

    // Collectors at work: a second reconcile waits and creates nothing more.
    const waiting = await reconcile(key('web-to-db'), deps);
    expect(waiting.requeueAfterMs).toBeGreaterThan(0);
    expect((await api.collectorPods('web-to-db')).map((p) => p.metadata?.name).sort()).toEqual(pods.map((p) => p.metadata?.name).sort());
    expect(await api.collectorConfigMaps('web-to-db')).toHaveLength(2);

    // The collectors deliver and end.
    for (const node of NODES) {
      await writeSnapshotConfigMaps(core, { namespace: OPERATOR_NS, diagnosis: { namespace: NS, name: 'web-to-db' }, node: node.name }, packSnapshot(JSON.stringify(snapshotOf(node.name, node.ip))));
      await setPhase(podOn(pods, node.name), { phase: 'Succeeded' });
    }
    expect(await reconcile(key('web-to-db'), deps)).toEqual({});
    const done = await api.mustGet('web-to-db');
    expect(done.status?.phase).toBe('Completed');
    expect(condition(done, 'Ready')).toMatchObject({ status: 'True', reason: 'Completed' });
    expect(done.status?.completionTime).toBeDefined();
    // The snapshots hold the hosts only: the client pod's namespace was not found, which the verdict says.
    expect(done.status?.verdict).toBe('Inconclusive');
    expect(condition(done, 'Reachable')).toMatchObject({ status: 'Unknown', reason: 'Inconclusive' });
    expect(done.status?.suspicions).toEqual([expect.objectContaining({ code: 'SnapshotIncomplete', node: `${NS}/client` })]);
    expect(done.status?.suspicions?.[0]?.message).toContain('snapshot');
    expect(done.status?.collectors?.map((c) => [c.node, c.state, c.message])).toEqual([
      ['node-1', 'Succeeded', 'snapshot delivered'],
      ['node-2', 'Succeeded', 'snapshot delivered'],
    ]);
    expect(await api.collectorPods('web-to-db')).toEqual([]);
    expect(await api.collectorConfigMaps('web-to-db')).toEqual([]);
    expect(await api.snapshotConfigMaps('web-to-db')).toHaveLength(0);

    // Finished, no interval: nothing more to do.
    expect(await reconcile(key('web-to-db'), deps)).toEqual({});
    expect((await api.mustGet('web-to-db')).status?.phase).toBe('Completed');
  });

  it.each([
    // A pod that does not exist yet may be created later (a GitOps sync applies in any order): looked at again.
    ['an unknown pod', 'ghost', { ...SPEC, source: { pod: { name: 'nobody' } } }, 'ObjectNotFound', `the source pod ${NS}/nobody does not exist`, { requeueAfterMs: OBJECT_RECHECK_MS }],
    ['a pod of another namespace', 'elsewhere', { ...SPEC, destination: { pod: { namespace: 'other', name: 'server' } } }, 'CrossNamespaceForbidden', 'the destination pod other/server is in another namespace', {}],
  ])('stalls on %s and creates nothing', async (_what, name, spec, reason, message, retry) => {
    await api.apply(name, spec);
    await reconcile(key(name), deps);
    expect(await reconcile(key(name), deps)).toEqual(retry);
    const stalled = await api.mustGet(name);
    expect(stalled.status?.phase).toBe('Failed');
    expect(condition(stalled, 'Stalled')).toMatchObject({ status: 'True', reason });
    expect(condition(stalled, 'Stalled').message).toContain(message);
    expect(condition(stalled, 'Ready')).toMatchObject({ status: 'False', reason });
    expect(await api.collectorPods(name)).toEqual([]);
    // Again: the same status, nothing written.
    const version = stalled.metadata.resourceVersion;
    expect(await reconcile(key(name), deps)).toEqual(retry);
    expect((await api.mustGet(name)).metadata.resourceVersion).toBe(version);
  });

  it('deletes the collectors and their ConfigMaps of a diagnosis deleted mid-collection, then lets it go', async () => {
    const pods = await startCollectors('dropped');
    await writeSnapshotConfigMaps(core, { namespace: OPERATOR_NS, diagnosis: { namespace: NS, name: 'dropped' }, node: 'node-1' }, packSnapshot(JSON.stringify(snapshotOf('node-1', '192.0.2.11'))));
    await api.delete('dropped');
    expect((await api.mustGet('dropped')).metadata.deletionTimestamp).toBeDefined();

    const first = await reconcile(key('dropped'), deps);
    expect(first.requeueAfterMs).toBeGreaterThan(0);
    expect(await api.collectorConfigMaps('dropped')).toEqual([]);
    expect(await api.snapshotConfigMaps('dropped')).toHaveLength(0);
    // Bound to a node, the pods terminate gracefully: they are kept until their kubelet confirms.
    const terminating = await api.collectorPods('dropped');
    expect(terminating.every((p) => p.metadata?.deletionTimestamp !== undefined)).toBe(true);
    expect((await api.mustGet('dropped')).metadata.finalizers).toEqual([FINALIZER]);

    // The kubelet's part: the containers are gone.
    for (const pod of pods) await core.deleteNamespacedPod({ namespace: OPERATOR_NS, name: pod.metadata?.name ?? '', gracePeriodSeconds: 0 });
    expect(await reconcile(key('dropped'), deps)).toEqual({});
    await expect(api.mustGet('dropped')).rejects.toMatchObject({ code: 404 });
    expect(await reconcile(key('dropped'), deps)).toEqual({});
  });

  it('names a failed collector: CollectorFailed on its node and an Inconclusive verdict', async () => {
    const pods = await startCollectors('half');
    await writeSnapshotConfigMaps(core, { namespace: OPERATOR_NS, diagnosis: { namespace: NS, name: 'half' }, node: 'node-2' }, packSnapshot(JSON.stringify(snapshotOf('node-2', '192.0.2.12'))));
    await setPhase(podOn(pods, 'node-2'), { phase: 'Succeeded' });
    await setPhase(podOn(pods, 'node-1'), { phase: 'Failed', reason: 'DeadlineExceeded', message: 'Pod was active on the node longer than the specified deadline' });

    expect(await reconcile(key('half'), deps)).toEqual({});
    const done = await api.mustGet('half');
    expect(done.status?.phase).toBe('Completed');
    expect(done.status?.verdict).toBe('Inconclusive');
    expect(condition(done, 'Ready').status).toBe('True');
    const failed = done.status?.suspicions?.find((s) => s.code === 'CollectorFailed');
    expect(failed).toMatchObject({ node: `${NS}/client` });
    expect(failed?.message).toContain(`collector ${podOn(pods, 'node-1')} failed: DeadlineExceeded`);
    expect(done.status?.collectors?.find((c) => c.node === 'node-1')).toMatchObject({ state: 'Failed', message: expect.stringContaining('DeadlineExceeded') });
    expect(await api.collectorPods('half')).toEqual([]);
    expect(await api.collectorConfigMaps('half')).toEqual([]);
    expect(await api.snapshotConfigMaps('half')).toHaveLength(0);
  });

  it('shares a collection: a run started before the collectors of another diagnosis uses them, and their owner keeps them until it is done', async () => {
    // The operator builds this from its informers' caches; fresh lists stand in for them here.
    const sharing: SharingSource = {
      collections: () => sharedView,
      otherRunStartedBy: (ref, at) => otherRunStartedBy(diagnoses, ref, at),
    };
    let sharedView: CollectionView[] = [];
    let diagnoses: NetworkDiagnosis[] = [];
    const look = async (): Promise<void> => {
      const [pods, configMaps, list] = await Promise.all([core.listNamespacedPod({ namespace: OPERATOR_NS }), core.listNamespacedConfigMap({ namespace: OPERATOR_NS }), api.list()]);
      sharedView = collectionsOf(pods.items, configMaps.items);
      diagnoses = list;
    };
    const sharingDeps: ReconcilerDeps = { ...deps, sharing };
    const step = async (name: string): Promise<ReconcileResult> => {
      await look();
      return reconcile(key(name), sharingDeps);
    };

    await api.apply('lender');
    await api.apply('borrower');
    for (const name of ['lender', 'borrower', 'lender', 'borrower']) await step(name); // finalizers, then both runs start
    expect((await step('lender')).requeueAfterMs).toBeGreaterThan(0); // the lender's collectors
    const lenderPods = await api.collectorPods('lender');
    expect(lenderPods).toHaveLength(2);

    // The borrower's run started before the lender's collectors: it uses them and creates none.
    expect((await step('borrower')).requeueAfterMs).toBeGreaterThan(0);
    expect(await api.collectorPods('borrower')).toEqual([]);
    const waiting = await api.mustGet('borrower');
    expect(waiting.status?.phase).toBe('Collecting');
    expect(waiting.status?.collectors).toEqual([
      { node: 'node-1', pod: podOn(lenderPods, 'node-1'), state: 'Pending', message: `shared: collected for ${NS}/lender` },
      { node: 'node-2', pod: podOn(lenderPods, 'node-2'), state: 'Pending', message: `shared: collected for ${NS}/lender` },
    ]);

    for (const node of NODES) {
      await writeSnapshotConfigMaps(core, { namespace: OPERATOR_NS, diagnosis: { namespace: NS, name: 'lender' }, node: node.name }, packSnapshot(JSON.stringify(snapshotOf(node.name, node.ip))));
      await setPhase(podOn(lenderPods, node.name), { phase: 'Succeeded' });
    }
    // The lender finishes first; the borrower's run is still going, so the lender keeps its collection.
    expect(await step('lender')).toEqual({ requeueAfterMs: expect.any(Number) });
    expect((await api.mustGet('lender')).status?.phase).toBe('Completed');
    expect(await api.collectorPods('lender')).toHaveLength(2);
    expect(await api.snapshotConfigMaps('lender')).toHaveLength(2);
    expect((await step('lender')).requeueAfterMs).toBeGreaterThan(0);

    // The borrower diagnoses from the lender's snapshots.
    expect(await step('borrower')).toEqual({});
    const done = await api.mustGet('borrower');
    expect(done.status?.phase).toBe('Completed');
    expect(done.status?.verdict).toBe((await api.mustGet('lender')).status?.verdict);
    expect(done.status?.collectors?.map((c) => c.message)).toEqual([`shared: collected for ${NS}/lender; snapshot delivered`, `shared: collected for ${NS}/lender; snapshot delivered`]);
    expect(await api.collectorPods('borrower')).toEqual([]);

    // No run is left that could read the lender's collection: it goes.
    expect(await step('lender')).toEqual({});
    expect(await api.collectorPods('lender')).toEqual([]);
    expect(await api.snapshotConfigMaps('lender')).toHaveLength(0);
  });

  it('does not share a collection created before the run started: a re-run collects afresh', async () => {
    const sharingDeps: ReconcilerDeps = {
      ...deps,
      sharing: { collections: () => view, otherRunStartedBy: () => false },
    };
    let view: CollectionView[] = [];
    const pods = await startCollectors('early');
    await api.apply('late');
    const look = async (): Promise<void> => {
      view = collectionsOf((await core.listNamespacedPod({ namespace: OPERATOR_NS })).items, (await core.listNamespacedConfigMap({ namespace: OPERATOR_NS })).items);
    };
    for (let i = 0; i < 3; i++) {
      await look();
      await reconcile(key('late'), sharingDeps);
    }
    expect(view.filter((c) => c.diagnosis.name === 'early').map((c) => c.pod).sort()).toEqual(pods.map((p) => p.metadata?.name).sort());
    expect((await api.collectorPods('late')).map((p) => p.spec?.nodeName).sort()).toEqual(['node-1', 'node-2']);
  });
});
