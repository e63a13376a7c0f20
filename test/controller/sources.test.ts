// The controller's event sources on a real kube-apiserver + etcd: NetworkDiagnosis events enqueue
// their own key, events of the collector pods and snapshot ConfigMaps netdiag created enqueue the
// key of their diagnosis (from the annotation: the label of a long name is hashed), bursts collapse
// into one queued key, objects without netdiag's label enqueue nothing; and an informer the API
// server refuses (403, a user without RBAC) reports failing, restarts after doubling delays on an
// injected clock, and keeps readiness false.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { ApiextensionsV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type CoreV1Api, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { API_VERSION, CRD_NAME, GROUP, KIND, PLURAL, VERSION } from '../../src/api/v1alpha1/index.js';
import { packSnapshot } from '../../src/collector/snapshot-pack.js';
import { startSources, type SourceSpecs, type Sources } from '../../src/controller/sources.js';
import { WorkQueue } from '../../src/controller/workqueue.js';
import { coreApi, loadKubeConfig } from '../../src/kube/client.js';
import { buildCollectorPod } from '../../src/kube/collector-pod.js';
import { collectorPodInformerSpec, diagnosisInformerSpec, snapshotConfigMapInformerSpec } from '../../src/kube/informer.js';
import { writeSnapshotConfigMaps } from '../../src/kube/snapshot-configmaps.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { FakeClock } from '../support/fake-clock.js';
import { describeAsRoot } from '../support/root.js';

const CRD_FILE = join(import.meta.dirname, '..', '..', 'crds', 'netdiag.io_networkdiagnoses.yaml');
const OPERATOR_NS = 'netdiag-system';
const NS = 'shop';
/** Long enough that its `netdiag.io/diagnosis` label is hashed: only the annotation names it. */
const LONG_NAME = `checkout-to-db-${'x'.repeat(60)}`;
const SPEC = { source: { pod: { name: 'client' } }, destination: { service: { name: 'web' } }, port: 8080, protocol: 'TCP' };

/** Waits (without asserting how long) until `check` holds; fails with `what` after a generous bound. */
async function eventually(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until `count` keys are queued, then takes them all (marking each done), in queue order. */
async function takeKeys(queue: WorkQueue<string>, count: number): Promise<string[]> {
  await eventually(`${count} queued keys`, () => queue.len() >= count);
  const keys: string[] = [];
  while (queue.len() > 0) {
    const key = await queue.get();
    if (key === undefined) break;
    queue.done(key);
    keys.push(key);
  }
  return keys;
}

describeAsRoot('the controller sources on a real API server', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let specs: SourceSpecs;
  const queue = new WorkQueue<string>();
  let sources: Sources | undefined;

  function createDiagnosis(name: string): Promise<unknown> {
    return custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: PLURAL, body: { apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec: SPEC } });
  }

  beforeAll(async () => {
    cp = await startControlPlane({ log: (line) => process.stderr.write(`control-plane: ${line}\n`) });
    const { config } = loadKubeConfig({ kubeconfig: cp.adminKubeconfig });
    core = coreApi(config);
    custom = config.makeApiClient(CustomObjectsApi);
    const extensions = config.makeApiClient(ApiextensionsV1Api);
    await extensions.createCustomResourceDefinition({ body: parse(readFileSync(CRD_FILE, 'utf8')) as V1CustomResourceDefinition });
    await core.createNamespace({ body: { metadata: { name: OPERATOR_NS, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } } });
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await core.createNamespacedServiceAccount({ namespace: OPERATOR_NS, body: { metadata: { name: 'netdiag-collector' } } });
    // Established, then served: the first requests right after can still 404.
    const established = async (): Promise<boolean> => {
      const crd = await extensions.readCustomResourceDefinition({ name: CRD_NAME });
      if (!(crd.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True')) return false;
      return custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: PLURAL }).then(
        () => true,
        () => false,
      );
    };
    const deadline = Date.now() + 60_000;
    while (!(await established())) {
      if (Date.now() > deadline) throw new Error(`CRD ${CRD_NAME} not established`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    specs = { diagnoses: diagnosisInformerSpec(config), collectorPods: collectorPodInformerSpec(config, OPERATOR_NS), snapshots: snapshotConfigMapInformerSpec(config, OPERATOR_NS) };
    sources = startSources({ specs, queue });
    await eventually('the informers to sync', () => sources?.readiness().ready === true);
  }, 30 * 60_000);

  afterAll(async () => {
    await sources?.stop();
    queue.shutDown();
    await cp?.stop();
  }, 60_000);

  it('is ready once every informer has listed', () => {
    expect(sources?.readiness()).toEqual({ ready: true, reasons: [] });
    expect(sources?.states().map((s) => [s.name, s.synced, s.failures])).toEqual([
      ['networkdiagnoses', true, 0],
      ['collector pods', true, 0],
      ['snapshot configmaps', true, 0],
    ]);
  });

  it('enqueues the key of a NetworkDiagnosis when it is created', async () => {
    await createDiagnosis('web-to-db');
    expect(await takeKeys(queue, 1)).toEqual([`${NS}/web-to-db`]);
  });

  it('queues one key for two quick updates of the same object', async () => {
    const patch = (value: string): Promise<unknown> =>
      custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace: NS, plural: PLURAL, name: 'web-to-db', body: { metadata: { annotations: { 'netdiag.io/requested-at': value } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    await patch('1');
    await patch('2');
    // One watch carries every diagnosis in resourceVersion order: once the sentinel's key is
    // queued, both updates have been handled.
    await createDiagnosis('sentinel-1');
    expect(await takeKeys(queue, 2)).toEqual([`${NS}/web-to-db`, `${NS}/sentinel-1`]);
  });

  it('enqueues the owning diagnosis of a labelled collector pod and of a snapshot ConfigMap (by annotation, the label being hashed)', async () => {
    const diagnosis = { namespace: NS, name: LONG_NAME, uid: '7d5f1d4e-0b1a-4c1e-9f55-1c2d3e4f5a6b' };
    // A real pod bound to a node that does not exist: it stays Pending, which is all the informer needs.
    const pod = buildCollectorPod({ diagnosis, node: 'no-such-node', namespace: OPERATOR_NS, image: 'netdiag:0.1.0', serviceAccountName: 'netdiag-collector', timeoutSeconds: 60, commandTimeoutSeconds: 10, pods: [] });
    const created = await core.createNamespacedPod({ namespace: OPERATOR_NS, body: pod });
    expect(created.metadata?.labels?.['netdiag.io/diagnosis']).not.toBe(`${NS}.${LONG_NAME}`);
    expect(await takeKeys(queue, 1)).toEqual([`${NS}/${LONG_NAME}`]);

    await writeSnapshotConfigMaps(core, { namespace: OPERATOR_NS, diagnosis: { namespace: NS, name: 'web-to-db' }, node: 'node1' }, packSnapshot('{"kind":"NodeSnapshot"}'));
    expect(await takeKeys(queue, 1)).toEqual([`${NS}/web-to-db`]);
  });

  it('enqueues nothing for a pod without the managed-by label, even with the annotation', async () => {
    await core.createNamespacedPod({
      namespace: OPERATOR_NS,
      body: { metadata: { name: 'unlabelled', annotations: { 'netdiag.io/diagnosis': `${NS}.unlabelled-owner` } }, spec: { nodeName: 'no-such-node', serviceAccountName: 'netdiag-collector', containers: [{ name: 'c', image: 'busybox' }] } },
    });
    // Pods arrive on one watch in resourceVersion order: the labelled pod created after it comes
    // through, the unlabelled one never did.
    const pod = buildCollectorPod({ diagnosis: { namespace: NS, name: 'sentinel-2', uid: 'u' }, node: 'no-such-node', namespace: OPERATOR_NS, image: 'netdiag:0.1.0', serviceAccountName: 'netdiag-collector', timeoutSeconds: 60, commandTimeoutSeconds: 10, pods: [] });
    await core.createNamespacedPod({ namespace: OPERATOR_NS, body: pod });
    expect(await takeKeys(queue, 1)).toEqual([`${NS}/sentinel-2`]);
  });

  it('reports an informer the API server refuses (403) as failing, restarts it after doubling delays, and is not ready', async () => {
    const clock = new FakeClock(1_000_000);
    const { config: nobody } = loadKubeConfig({ kubeconfig: cp.clientKubeconfig('nobody') });
    const failing = startSources({
      specs: { ...specs, diagnoses: diagnosisInformerSpec(nobody) },
      queue: new WorkQueue<string>(),
      backoff: { baseMs: 100, maxMs: 400 },
      clock,
      random: () => 0,
      failingThresholdMs: 500,
    });
    try {
      await eventually('the first failure', () => clock.pending() === 1);
      const [diagnoses] = failing.states();
      expect(diagnoses).toMatchObject({ name: 'networkdiagnoses', synced: false, failures: 1, restarts: 0, failingSince: 1_000_000 });
      expect(diagnoses?.lastError).toMatchObject({ kind: 'forbidden', status: 403, reason: 'Forbidden', retryable: false });
      for (let restart = 1; restart <= 4; restart++) {
        clock.advance(clock.delays[clock.delays.length - 1] ?? 0);
        await eventually(`failure after restart ${restart}`, () => clock.delays.length === restart + 1);
      }
      expect(clock.delays).toEqual([100, 200, 400, 400, 400]);
      await eventually('the other informers to sync', () => failing.states().slice(1).every((s) => s.synced));
      expect(failing.states()[0]).toMatchObject({ synced: false, failures: 5, restarts: 4, failingSince: 1_000_000 });
      const readiness = failing.readiness();
      expect(readiness.ready).toBe(false);
      expect(readiness.reasons).toEqual([expect.stringMatching(/^informer networkdiagnoses failing for 1100 ms \(5 failures\): forbidden: .*cannot list resource "networkdiagnoses"/)]);
    } finally {
      await failing.stop();
    }
    expect(clock.pending()).toBe(0);
  });
});
