// The chart on a real kube-apiserver + etcd (test/support/control-plane.ts, root): `helm install`
// succeeds with default values (namespace from --create-namespace) and with every option on (the
// chart creates the operator's namespace) and every rendered object is there; the collector pod
// the operator builds is admitted by Pod Security in the chart's namespace (and refused where the
// namespace enforces "baseline"); and the service accounts can do exactly what they need. The RBAC
// is checked twice: by the authorizer (`kubectl auth can-i --as`, a SubjectAccessReview) verb by
// verb, allowed and denied; and by running the operator's and the collector's own API code
// (src/kube) with the service accounts' tokens.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../../src/api/v1alpha1/group.js';
import { packSnapshot } from '../../src/collector/snapshot-pack.js';
import { SNAPSHOT_KIND, SNAPSHOT_SCHEMA_VERSION } from '../../src/collector/snapshot.js';
import { loadKubeConfig } from '../../src/kube/client.js';
import { buildCollectorPod, buildCollectorPodsConfigMap, type CollectorPodOptions } from '../../src/kube/collector-pod.js';
import { KubeApiError } from '../../src/kube/errors.js';
import { createKubeAccess } from '../../src/kube/kube-access.js';
import { writeSnapshotConfigMaps } from '../../src/kube/snapshot-configmaps.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { describeAsRoot } from '../support/root.js';
import { ALL_OPTIONS, CHART, provisionHelm, setFlags, type Helm, type Manifest } from './helm.js';

const NS = 'netdiag-system';
const DEFAULT_NS = 'netdiag-defaults';
const RELEASE = 'netdiag';
const OPERATOR = `system:serviceaccount:${NS}:netdiag`;
const COLLECTOR = `system:serviceaccount:${NS}:netdiag-collector`;
const LEASE = 'netdiag-leader';

/**
 * prometheus-operator's ServiceMonitor kind, reduced to a stand-in that accepts any spec: enough
 * for the API server to accept the chart's ServiceMonitor object (its schema is not ours to test).
 */
const SERVICE_MONITOR_CRD: Manifest = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'servicemonitors.monitoring.coreos.com' },
  spec: {
    group: 'monitoring.coreos.com',
    names: { kind: 'ServiceMonitor', listKind: 'ServiceMonitorList', plural: 'servicemonitors', singular: 'servicemonitor' },
    scope: 'Namespaced',
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
};

describeAsRoot('the Helm chart on a real API server', () => {
  let helm: Helm;
  let cp: ControlPlane;
  let rendered: { all: Manifest[]; defaults: Manifest[] };
  const notes = { all: '', defaults: '' };

  /** kubectl as the admin; throws with its output unless `allowFailure`. */
  const kubectl = (args: readonly string[], options: { input?: string; allowFailure?: boolean } = {}): { status: number; stdout: string; stderr: string } => {
    const result = spawnSync(join(helm.binDir, 'kubectl'), ['--kubeconfig', cp.adminKubeconfig, ...args], { encoding: 'utf8', input: options.input, timeout: 120_000 });
    if (result.error !== undefined) throw new Error(`kubectl ${args.join(' ')}: ${result.error.message}`, { cause: result.error });
    const out = { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
    if (out.status !== 0 && options.allowFailure !== true) throw new Error(`kubectl ${args.join(' ')} failed (exit ${out.status}):\n${out.stderr}${out.stdout}\n${cp.logs(10)}`);
    return out;
  };
  /** A client for the service account, authenticated with a token from the TokenRequest API. */
  const clientAs = (serviceAccount: string): KubeConfig => {
    const token = kubectl(['create', 'token', serviceAccount, '-n', NS, '--duration=1h']).stdout.trim();
    return loadKubeConfig({ kubeconfig: cp.tokenKubeconfig(serviceAccount, token) }).config;
  };
  /** helm as the admin; throws with its output on failure; returns what it printed. */
  const helmInstall = (args: readonly string[]): string => {
    const result = helm.run(['--kubeconfig', cp.adminKubeconfig, ...args]);
    if (result.status !== 0) throw new Error(`helm ${args.join(' ')} failed (exit ${result.status}):\n${result.stderr}${result.stdout}\n${cp.logs(10)}`);
    return result.stdout;
  };
  const apply = (objects: readonly Manifest[], file: string): void => {
    const path = join(cp.dir, file);
    writeFileSync(path, objects.map((o) => JSON.stringify(o)).join('\n'));
    kubectl(['apply', '-f', path]);
  };

  beforeAll(async () => {
    helm = provisionHelm(['kubectl', 'etcd', 'kube-apiserver']);
    cp = await startControlPlane({ binDir: helm.binDir, log: (line) => process.stderr.write(`control-plane: ${line}\n`) });
    apply([SERVICE_MONITOR_CRD], 'servicemonitor-crd.json');
    kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/servicemonitors.monitoring.coreos.com']);
    // Installed by helm itself. Every option on: the chart creates the operator's namespace, so the
    // release lives in an existing one. Default values: the namespace comes from --create-namespace.
    notes.all = helmInstall(['install', RELEASE, CHART, '--namespace', 'default', ...setFlags(ALL_OPTIONS)]);
    notes.defaults = helmInstall(['install', 'second', CHART, '--namespace', DEFAULT_NS, '--create-namespace']);
    kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${PLURAL}.${GROUP}`]);
    rendered = { all: helm.template(RELEASE, 'default', ALL_OPTIONS).objects, defaults: helm.template('second', DEFAULT_NS).objects };
    for (const ns of ['shop', 'restricted']) kubectl(['create', 'namespace', ns]);
    kubectl(['label', 'namespace', 'restricted', 'pod-security.kubernetes.io/enforce=baseline']);
    // No controller-manager makes the default service accounts here.
    kubectl(['create', 'serviceaccount', 'default', '-n', 'restricted']);
  }, 30 * 60_000);

  afterAll(async () => {
    await cp?.stop();
    helm?.remove();
  }, 60_000);

  it.each([
    ['every option on', (): Manifest[] => rendered.all],
    ['default values', (): Manifest[] => rendered.defaults],
  ])('the API server holds every object rendered with %s', (_name, objects) => {
    for (const o of objects()) {
      const group = o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0] ?? ''}` : '';
      const args = ['get', `${o.kind.toLowerCase()}${group}/${o.metadata.name}`, '-o', 'jsonpath={.metadata.name}'];
      const got = kubectl(o.metadata.namespace !== undefined ? [...args, '-n', o.metadata.namespace] : args, { allowFailure: true });
      expect(`${o.kind}/${got.stdout}`).toBe(`${o.kind}/${o.metadata.name}`);
    }
  });

  it('tells the installer to label a namespace it did not create, and says nothing when it did', () => {
    expect(notes.defaults).toContain(`kubectl label namespace ${DEFAULT_NS} pod-security.kubernetes.io/enforce=privileged --overwrite`);
    expect(notes.all).toContain(`netdiag 0.1.0 is installed in namespace ${NS}.`);
    expect(notes.all).not.toContain('kubectl label namespace');
    expect(kubectl(['get', 'namespace', NS, '-o', 'jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}']).stdout).toBe('privileged');
  });

  // [who, verb, resource, namespace ('' for cluster scope, '*' for all namespaces), subresource?]
  type Access = readonly [string, string, string, string, string?];
  const ALLOWED: readonly Access[] = [
    // The cluster's objects a diagnosis reads (src/kube/cluster-reader.ts), in every namespace.
    ...['nodes', 'namespaces'].flatMap((r) => ['get', 'list', 'watch'].map((v): Access => [OPERATOR, v, r, ''])),
    ...['pods', 'services', 'endpointslices.discovery.k8s.io', 'networkpolicies.networking.k8s.io', 'daemonsets.apps'].flatMap((r) => ['get', 'list', 'watch'].map((v): Access => [OPERATOR, v, r, '*'])),
    // NetworkDiagnoses everywhere: informer, finalizers, status.
    ...['get', 'list', 'watch', 'update', 'patch'].map((v): Access => [OPERATOR, v, `${PLURAL}.${GROUP}`, '*']),
    [OPERATOR, 'patch', `${PLURAL}.${GROUP}`, 'shop', 'status'],
    [OPERATOR, 'update', `${PLURAL}.${GROUP}`, 'shop', 'status'],
    [OPERATOR, 'update', `${PLURAL}.${GROUP}`, 'shop', 'finalizers'],
    // Events next to the NetworkDiagnosis they are about.
    [OPERATOR, 'create', 'events.events.k8s.io', 'shop'],
    [OPERATOR, 'patch', 'events.events.k8s.io', 'shop'],
    // Collector pods, pod lists and snapshots in its own namespace.
    ...['pods', 'configmaps'].flatMap((r) => ['get', 'list', 'watch', 'create', 'delete', 'deletecollection'].map((v): Access => [OPERATOR, v, r, NS])),
    // Its leader Lease.
    [OPERATOR, 'create', 'leases.coordination.k8s.io', NS],
    ...['get', 'update'].map((v): Access => [OPERATOR, v, `leases.coordination.k8s.io/${LEASE}`, NS]),
    // The collectors write their snapshots.
    [COLLECTOR, 'create', 'configmaps', NS],
  ];
  const DENIED: readonly Access[] = [
    [OPERATOR, 'get', 'secrets', NS],
    [OPERATOR, 'list', 'secrets', '*'],
    [OPERATOR, 'create', 'pods', 'default'],
    [OPERATOR, 'delete', 'pods', 'shop'],
    [OPERATOR, 'create', 'configmaps', 'shop'],
    [OPERATOR, 'get', 'configmaps', 'shop'],
    [OPERATOR, 'delete', 'nodes', ''],
    [OPERATOR, 'patch', 'nodes', ''],
    [OPERATOR, 'create', 'pods', NS, 'exec'],
    [OPERATOR, 'create', `${PLURAL}.${GROUP}`, 'shop'],
    [OPERATOR, 'delete', `${PLURAL}.${GROUP}`, 'shop'],
    [OPERATOR, 'update', 'leases.coordination.k8s.io/kube-controller-manager', 'kube-system'],
    [OPERATOR, 'update', 'leases.coordination.k8s.io/another-lease', NS],
    [OPERATOR, 'delete', 'events.events.k8s.io', 'shop'],
    [OPERATOR, 'create', 'rolebindings.rbac.authorization.k8s.io', NS],
    [OPERATOR, 'update', 'services', 'shop'],
    [COLLECTOR, 'get', 'configmaps', NS],
    [COLLECTOR, 'list', 'configmaps', NS],
    [COLLECTOR, 'delete', 'configmaps', NS],
    [COLLECTOR, 'create', 'configmaps', 'shop'],
    [COLLECTOR, 'get', 'pods', NS],
    [COLLECTOR, 'create', 'pods', NS],
    [COLLECTOR, 'get', 'secrets', NS],
    [COLLECTOR, 'list', 'nodes', ''],
    [COLLECTOR, 'patch', `${PLURAL}.${GROUP}`, 'shop', 'status'],
  ];
  const canI = ([who, verb, resource, namespace, subresource]: Access): string => {
    const scope = namespace === '*' ? ['--all-namespaces'] : namespace === '' ? [] : ['-n', namespace];
    const result = kubectl(['auth', 'can-i', verb, resource, ...scope, ...(subresource !== undefined ? [`--subresource=${subresource}`] : []), `--as=${who}`], { allowFailure: true });
    return result.stdout.trim() || result.stderr.trim();
  };
  const label = (a: Access): string => `${a[0].split(':').pop() ?? ''} ${a[1]} ${a[2]}${a[4] !== undefined ? `/${a[4]}` : ''} in ${a[3] === '' ? 'the cluster' : a[3] === '*' ? 'all namespaces' : a[3]}`;

  it.each(ALLOWED.map((a) => [label(a), a] as const))('allows %s', (_label, access) => {
    expect(canI(access)).toBe('yes');
  });

  it.each(DENIED.map((a) => [label(a), a] as const))('denies %s', (_label, access) => {
    expect(canI(access)).toBe('no');
  });

  it("runs the operator's and the collector's own API calls with their service accounts' tokens", async () => {
    // A diagnosis and a pod to diagnose, made by the admin.
    const admin = loadKubeConfig({ kubeconfig: cp.adminKubeconfig }).config;
    await admin.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace: 'shop', plural: PLURAL,
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name: 'web' }, spec: { source: { node: { name: 'node-1' } }, destination: { ip: '192.0.2.1' }, protocol: 'ICMP' } },
    });
    const operator = createKubeAccess(clientAs('netdiag'));

    const cluster = await operator.readClusterObjects();
    expect((cluster.namespaces ?? []).map((n) => n.metadata.name)).toEqual(expect.arrayContaining(['shop', NS]));

    const diagnosis = await operator.getDiagnosis('shop', 'web');
    if (diagnosis === undefined) throw new Error('the operator cannot see shop/web');
    await operator.setFinalizers(diagnosis, ['netdiag.io/cleanup']);
    const withFinalizer = await operator.getDiagnosis('shop', 'web');
    expect(withFinalizer?.metadata.finalizers).toEqual(['netdiag.io/cleanup']);
    expect(await operator.writeStatus(withFinalizer as NonNullable<typeof withFinalizer>, { observedGeneration: 1, phase: 'Collecting' })).toBe(true);
    expect((await operator.getDiagnosis('shop', 'web'))?.status?.phase).toBe('Collecting');

    const ref = { namespace: 'shop', name: 'web', uid: diagnosis.metadata.uid ?? '' };
    const options: CollectorPodOptions = { diagnosis: ref, node: 'node-1', namespace: NS, image: 'netdiag:0.1.0', serviceAccountName: 'netdiag-collector', timeoutSeconds: 60, commandTimeoutSeconds: 10, pods: [] };
    // Pod Security admits the collector (hostNetwork, hostPID, capabilities) in the chart's namespace.
    await operator.createCollector(options);
    expect((await operator.listCollectors(NS, ref)).map((c) => c.node)).toEqual(['node-1']);

    // The collector ships its snapshot with its own token; the operator finds and reads it.
    const snapshot = { schemaVersion: SNAPSHOT_SCHEMA_VERSION, kind: SNAPSHOT_KIND, node: { name: 'node-1' }, noise: randomBytes(64).toString('hex') };
    await writeSnapshotConfigMaps(clientAs('netdiag-collector').makeApiClient(CoreV1Api), { namespace: NS, diagnosis: ref, node: 'node-1' }, packSnapshot(JSON.stringify(snapshot)));
    expect((await operator.listSnapshots(NS, ref)).complete).toEqual(['node-1']);
    expect((await operator.readSnapshot(NS, ref, 'node-1')).snapshot).toEqual(snapshot);

    await operator.deleteCollectors(NS, ref);
    await operator.deleteSnapshots(NS, ref);
    // No kubelet runs here: a pod bound to a node is marked for deletion and waits for it.
    expect((await operator.listCollectors(NS, ref)).map((c) => c.terminating)).toEqual([true]);
    expect((await operator.listSnapshots(NS, ref)).present).toBe(false);

    // The leader Lease: created, read and renewed by name.
    const leases = clientAs('netdiag').makeApiClient(CoordinationV1Api);
    await leases.createNamespacedLease({ namespace: NS, body: { metadata: { name: LEASE }, spec: { holderIdentity: 'netdiag-0', leaseDurationSeconds: 15 } } });
    const lease = await leases.readNamespacedLease({ namespace: NS, name: LEASE });
    const renewed = await leases.replaceNamespacedLease({ namespace: NS, name: LEASE, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'netdiag-1' } } });
    expect(renewed.spec?.holderIdentity).toBe('netdiag-1');
  });

  it('is refused by the API server where RBAC does not allow it, with a 403 the client classifies', async () => {
    const collector = clientAs('netdiag-collector').makeApiClient(CoreV1Api);
    const error = await collector.listNamespacedConfigMap({ namespace: NS }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 403 });
    const operator = createKubeAccess(clientAs('netdiag'));
    const options: CollectorPodOptions = { diagnosis: { namespace: 'shop', name: 'web', uid: 'u' }, node: 'node-1', namespace: 'shop', image: 'netdiag:0.1.0', serviceAccountName: 'default', timeoutSeconds: 60, commandTimeoutSeconds: 10, pods: [] };
    const refused = await operator.createCollector(options).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KubeApiError);
    expect((refused as KubeApiError).kind).toBe('forbidden');
  });

  it('needs the privileged Pod Security level: the same collector pod is refused under "baseline"', () => {
    const options: CollectorPodOptions = { diagnosis: { namespace: 'shop', name: 'web', uid: 'u' }, node: 'node-1', namespace: 'restricted', image: 'netdiag:0.1.0', serviceAccountName: 'default', timeoutSeconds: 60, commandTimeoutSeconds: 10, pods: [] };
    kubectl(['apply', '-f', '-'], { input: JSON.stringify(buildCollectorPodsConfigMap(options)) });
    const refused = kubectl(['create', '-f', '-'], { input: JSON.stringify(buildCollectorPod(options)), allowFailure: true });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain('violates PodSecurity "baseline:latest"');
    expect(refused.stderr).toMatch(/host namespaces \(hostNetwork=true, hostPID=true\)/);
  });
});
