// The operator (the built dist/src/main.js, started by the lab) on a real 2-node flannel-vxlan lab:
// pods created through the API server and run by the lab's kubelets, collectors that really run the
// agent in the nodes' namespaces and ship snapshots. Proves what the bare API server of
// test/controller/operator.test.ts cannot: `kubectl get netdiag` with a finished diagnosis, a
// SIGKILLed operator resuming a diagnosis without duplicate collectors, 100 diagnoses at once, a
// deletion mid-collection that leaves nothing behind, and a re-run on the requested-at annotation
// that finds a fault. Needs root and `npm run build`.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscoveryV1Api, EventsV1Api, type CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { ANNOTATION_REQUESTED_AT, GROUP, PLURAL, VERSION, type NetworkDiagnosis } from '../../src/api/v1alpha1/index.js';
import { loadKubeConfig } from '../../src/kube/client.js';
import { LABEL_MANAGED_BY, MANAGED_BY } from '../../src/kube/labels.js';
import { OPERATOR_NAMESPACE, startLab, type Lab } from '../../src/lab/lab.js';
import { sleep, waitFor } from '../../src/lab/process.js';
import { LAB_POD_IMAGE } from '../../src/lab/scenario-manifests.js';
import { readState } from '../../src/lab/state.js';
import { removeLabLeftovers, tryRun } from '../support/netns.js';
import { createDiagnosisApi, explainFailure, mergePatch, type DiagnosisApi } from '../support/operator-fixtures.js';
import { describeAsRoot } from '../support/root.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PREFIX = `ndh8${randomBytes(3).toString('hex')}`;
const NS = 'default';
const SPEC = { source: { pod: { name: 'client' } }, destination: { service: { name: 'server' } }, port: 80, protocol: 'TCP' };
const MANAGED = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

function pod(name: string, node: string, labels: Record<string, string>, ports: readonly number[]): V1Pod {
  return {
    metadata: { name, labels },
    spec: { nodeName: node, terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image: LAB_POD_IMAGE, ports: ports.map((containerPort) => ({ containerPort, protocol: 'TCP' })) }] },
  };
}

describeAsRoot('the operator on the lab: 2 nodes, flannel-vxlan', () => {
  let lab: Lab;
  let dir: string;
  let api: DiagnosisApi;
  let core: CoreV1Api;
  let events: EventsV1Api;
  const log: string[] = [];

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'src', 'main.js'))) throw new Error('dist/src/main.js does not exist: run `npm run build` first');
    dir = mkdtempSync(join(tmpdir(), 'netdiag-operator-lab-'));
    lab = await startLab({ network: 'flannel-vxlan', nodes: 2, dir, operator: true, prefix: PREFIX, subnet: randomInt(1, 255), log: (line) => log.push(line) });
    const { config } = loadKubeConfig({ kubeconfig: lab.kubeconfig });
    api = createDiagnosisApi(config, { namespace: NS, operatorNamespace: OPERATOR_NAMESPACE, spec: SPEC });
    core = api.core;
    events = config.makeApiClient(EventsV1Api);
    await core.createNamespacedPod({ namespace: NS, body: pod('client', 'node1', {}, []) });
    await core.createNamespacedPod({ namespace: NS, body: pod('server', 'node2', { app: 'server' }, [8080]) });
    const service = await core.createNamespacedService({ namespace: NS, body: { metadata: { name: 'server' }, spec: { selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } } });
    const clusterIP = service.spec?.clusterIP ?? '';
    const server = await lab.waitForPod(NS, 'server', 60_000);
    await lab.waitForPod(NS, 'client', 60_000);
    const discovery = config.makeApiClient(DiscoveryV1Api);
    await waitFor('the EndpointSlice of server', async () => {
      const slices = await discovery.listNamespacedEndpointSlice({ namespace: NS, labelSelector: 'kubernetes.io/service-name=server' });
      return slices.items.some((s) => (s.endpoints ?? []).some((e) => e.addresses.includes(server.ip) && e.conditions?.ready === true)) ? true : undefined;
    }, 120_000);
    for (const node of lab.nodes) {
      await waitFor(`kube-proxy on ${node.name} to program ${clusterIP}`, () => {
        const dump = tryRun('ip', ['netns', 'exec', node.netns, 'iptables-save', '-t', 'nat']).stdout;
        return Promise.resolve(dump.split('\n').some((l) => l.startsWith('-A KUBE-SERVICES') && l.includes(`${clusterIP}/32`)) ? true : undefined);
      }, 120_000);
    }
  }, 300_000);

  afterAll(async () => {
    process.stderr.write(`lab log:\n${log.join('\n')}\n`);
    await lab?.stop();
    removeLabLeftovers(PREFIX, dir);
  }, 120_000);

  /** Ready=True for the current generation (and, when given, the requested-at value acted on). */
  const finished = (d: NetworkDiagnosis | undefined, requestedAt?: string): boolean =>
    d?.status?.phase === 'Completed' &&
    (requestedAt === undefined || d.status.lastHandledRequestAt === requestedAt) &&
    (d.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True' && c.observedGeneration === d.metadata.generation);
  const waitFinished = (name: string, requestedAt?: string, timeoutMs = 120_000): Promise<NetworkDiagnosis> =>
    waitFor(`${name} Ready=True`, async () => {
      const d = await api.get(name);
      return d !== undefined && finished(d, requestedAt) ? d : undefined;
    }, timeoutMs).catch(explainFailure(explain(name)));
  /** The pod-list and snapshot ConfigMaps of diagnosis NAME. */
  const configMapsOf = async (name: string): Promise<string[]> => (await Promise.all([api.collectorConfigMaps(name), api.snapshotConfigMaps(name)])).flat();
  /** Everything netdiag created in its namespace (collector pods, pod-list and snapshot ConfigMaps). */
  const allManaged = async (): Promise<{ pods: string[]; configMaps: string[] }> => ({
    pods: (await core.listNamespacedPod({ namespace: OPERATOR_NAMESPACE, labelSelector: MANAGED })).items.map((p) => p.metadata?.name ?? ''),
    configMaps: (await core.listNamespacedConfigMap({ namespace: OPERATOR_NAMESPACE, labelSelector: MANAGED })).items.map((cm) => cm.metadata?.name ?? ''),
  });
  const eventReasons = async (uid: string): Promise<string[]> => (await events.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.regarding?.uid === uid).map((e) => e.reason ?? '');
  const explain = (name?: string) => async (): Promise<string> => {
    const d = name !== undefined ? await api.get(name).catch(() => undefined) : undefined;
    return [`--- operator.log\n${tryRun('tail', ['-n', '40', join(dir, 'operator.log')]).stdout}`, `--- status of ${name ?? '-'}\n${JSON.stringify(d?.status, null, 1)}`, `--- managed\n${JSON.stringify(await allManaged().catch(() => undefined))}`].join('\n');
  };
  const noFatal = (d: NetworkDiagnosis): { level: string; code: string; message: string }[] => (d.status?.suspicions ?? []).filter((s) => s.level === 'fatal' || s.level === 'critical');

  it('completes a healthy diagnosis Reachable, and `kubectl get netdiag -A` shows its printer columns', async () => {
    await api.apply('web-check');
    const done = await waitFinished('web-check');
    expect({ verdict: done.status?.verdict, fatal: noFatal(done) }).toEqual({ verdict: 'Reachable', fatal: [] });
    const out = tryRun(join(lab.binDir, 'kubectl'), ['--kubeconfig', lab.kubeconfig, 'get', 'netdiag', '-A']);
    expect(out.ok).toBe(true);
    const [header, ...rows] = out.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    expect(header).toEqual(['NAMESPACE', 'NAME', 'SOURCE', 'DESTINATION', 'PORT', 'PROTOCOL', 'VERDICT', 'SUSPICIONS', 'READY', 'AGE']);
    const row = rows.find((r) => r[1] === 'web-check');
    expect(row?.slice(0, 9)).toEqual([NS, 'web-check', done.status?.source, done.status?.destination, '80', 'TCP', 'Reachable', String(done.status?.suspicionCount ?? 0), 'True']);
    expect(done.status?.source).toBe(`pod/${NS}/client`);
    expect(done.status?.destination).toBe(`service/${NS}/server`);
    expect(row?.[9]).toMatch(/^\d+[smhd]/);
    await waitFor('web-check\'s collectors and ConfigMaps gone', async () => ((await api.collectorPods('web-check')).length === 0 && (await configMapsOf('web-check')).length === 0 ? true : undefined), 120_000).catch(explainFailure(explain('web-check')));
  }, 180_000);

  it('resumes a diagnosis after the operator is SIGKILLed mid-collection: same collectors, right verdict, nothing left', async () => {
    const pidBefore = lab.operatorPid();
    expect(pidBefore).toBeDefined();
    await api.apply('restart');
    const first = await waitFor('restart\'s two collector pods while Collecting', async () => {
      const pods = await api.collectorPods('restart');
      return pods.length === 2 && (await api.get('restart'))?.status?.phase === 'Collecting' ? pods : undefined;
    }, 60_000, 50).catch(explainFailure(explain('restart')));
    const identity = (pods: readonly V1Pod[]): string[] => pods.map((p) => `${p.spec?.nodeName ?? ''} ${p.metadata?.name ?? ''} ${p.metadata?.uid ?? ''}`).sort();
    const seen = new Set(identity(first));
    expect(first.map((p) => p.spec?.nodeName).sort()).toEqual(['node1', 'node2']);

    await lab.restartOperator('SIGKILL');
    const pidAfter = lab.operatorPid();
    expect(pidAfter).toBeDefined();
    expect(pidAfter).not.toBe(pidBefore);
    const recorded = readState(dir)?.processes.filter((p) => p.name === 'operator').map((p) => p.pid);
    expect(recorded).toEqual([pidAfter]);

    // Every collector pod of the run, as seen every 50 ms until the diagnosis is finished.
    const done = await waitFor('restart Ready=True after the restart', async () => {
      for (const id of identity(await api.collectorPods('restart'))) seen.add(id);
      const d = await api.get('restart');
      return d !== undefined && finished(d) ? d : undefined;
    }, 120_000, 50).catch(explainFailure(explain('restart')));
    expect({ verdict: done.status?.verdict, fatal: noFatal(done) }).toEqual({ verdict: 'Reachable', fatal: [] });
    expect([...seen].sort()).toEqual(identity(first));
    // Collecting was reported by the killed operator, Completed by the restarted one.
    const uid = done.metadata.uid ?? '';
    const reporters = await waitFor('restart\'s Collecting and Completed Events', async () => {
      const found = (await events.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.regarding?.uid === uid);
      const by = (reason: string): string[] => found.filter((e) => e.reason === reason).map((e) => e.reportingInstance ?? '');
      return by('Collecting').length > 0 && by('Completed').length > 0 ? { collecting: by('Collecting'), completed: by('Completed') } : undefined;
    }, 30_000).catch(explainFailure(explain('restart')));
    expect(reporters.collecting).toHaveLength(1);
    expect(reporters.completed).toHaveLength(1);
    expect(reporters.completed[0]).not.toBe(reporters.collecting[0]);
    expect(done.status?.collectors?.map((c) => [c.node, c.pod]).sort()).toEqual(first.map((p) => [p.spec?.nodeName, p.metadata?.name]).sort());
    await waitFor('restart\'s collectors and ConfigMaps gone', async () => ((await api.collectorPods('restart')).length === 0 && (await configMapsOf('restart')).length === 0 ? true : undefined), 120_000).catch(explainFailure(explain('restart')));
  }, 240_000);

  it('completes 100 diagnoses applied at once, all Ready=True and Reachable, sharing collections, then leaves no collector or snapshot', async () => {
    const names = Array.from({ length: 100 }, (_, i) => `many-${String(i).padStart(3, '0')}`);
    await Promise.all(names.map((name) => api.apply(name)));
    const all = await waitFor('100 diagnoses Ready=True', async () => {
      const items = (await api.list()).filter((d) => names.includes(d.metadata.name ?? ''));
      return items.length === names.length && items.every((d) => finished(d)) ? items : undefined;
    }, 900_000, 1000).catch(explainFailure(async () => {
      const items = (await api.list()).filter((d) => names.includes(d.metadata.name ?? ''));
      const phases: Record<string, number> = {};
      for (const d of items) phases[d.status?.phase ?? 'none'] = (phases[d.status?.phase ?? 'none'] ?? 0) + 1;
      return `${JSON.stringify(phases)}\n${await explain()()}`;
    }));
    expect(all.map((d) => [d.metadata.name, d.status?.verdict, noFatal(d)]).sort()).toEqual(names.map((n) => [n, 'Reachable', []]));
    // Applied together, they share collections (ADR 0006): far fewer collector pods than the 200
    // of one per diagnosis and node, each collected for one of them.
    const collectorsUsed = new Set(all.flatMap((d) => (d.status?.collectors ?? []).map((c) => c.pod)));
    const sharing = all.filter((d) => (d.status?.collectors ?? []).some((c) => c.message?.startsWith('shared: collected for ') === true));
    expect(sharing.length).toBeGreaterThan(0);
    expect(collectorsUsed.size).toBeLessThan(100);
    await waitFor('no collector pod or ConfigMap left', async () => {
      const left = await allManaged();
      return left.pods.length === 0 && left.configMaps.length === 0 ? left : undefined;
    }, 120_000, 500).catch(explainFailure(explain()));
    await Promise.all(names.map((name) => api.delete(name)));
    await waitFor('the 100 diagnoses deleted', async () => ((await api.list()).some((d) => names.includes(d.metadata.name ?? '')) ? undefined : true), 120_000, 500).catch(explainFailure(explain()));
  }, 1_200_000);

  it('deleting a diagnosis mid-collection removes its collector pods, its ConfigMaps and the diagnosis (finalizer released)', async () => {
    await api.apply('dropped');
    const pods = await waitFor('dropped\'s collector pods', async () => {
      const found = await api.collectorPods('dropped');
      return found.length === 2 ? found : undefined;
    }, 60_000, 50).catch(explainFailure(explain('dropped')));
    const before = await api.get('dropped');
    const uid = before?.metadata.uid ?? '';
    await api.delete('dropped');
    // Deleted before its run was diagnosed.
    expect(before?.status?.phase).toBe('Collecting');
    expect(pods.every((p) => p.metadata?.deletionTimestamp === undefined)).toBe(true);
    await waitFor('dropped gone (finalizer released)', async () => ((await api.get('dropped')) === undefined ? true : undefined), 60_000).catch(explainFailure(explain('dropped')));
    await waitFor('dropped\'s collector pods gone', async () => ((await api.collectorPods('dropped')).length === 0 ? true : undefined), 60_000).catch(explainFailure(explain()));
    expect(await configMapsOf('dropped')).toEqual([]);
    // A collector that was still writing cannot leave a snapshot behind once its pod is gone.
    await sleep(2000);
    expect(await configMapsOf('dropped')).toEqual([]);
    const reasons = await eventReasons(uid);
    expect(reasons).toContain('Collecting');
    expect(reasons).not.toContain('Completed');
  }, 180_000);

  it('re-runs on a new requested-at annotation and finds flannel.1 down on node2: Unreachable, LinkDown', async () => {
    const healthy = await api.get('web-check');
    expect(healthy?.status?.verdict).toBe('Reachable');
    const node2 = lab.nodes.find((n) => n.name === 'node2');
    expect(tryRun('ip', ['netns', 'exec', node2?.netns ?? '', 'ip', 'link', 'set', 'dev', 'flannel.1', 'down']).ok).toBe(true);
    const requestedAt = new Date().toISOString();
    await api.custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: PLURAL, name: 'web-check', body: { metadata: { annotations: { [ANNOTATION_REQUESTED_AT]: requestedAt } } } }, mergePatch);
    const broken = await waitFinished('web-check', requestedAt);
    expect(broken.status?.verdict).toBe('Unreachable');
    expect(broken.status?.suspicions).toContainEqual(expect.objectContaining({ node: 'node2', code: 'LinkDown', message: expect.stringContaining('flannel.1') }));
    expect(broken.metadata.generation).toBe(healthy?.metadata.generation);
  }, 180_000);
});
