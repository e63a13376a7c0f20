// The cluster cache on a real kube-apiserver + etcd: it refuses to answer before every informer has
// synced (naming the ones that have not, and why); once synced it answers what a fresh list
// answers (cluster-reader.ts), object for object; it follows creations and deletions through its
// watches, in the same shape as a list; and stop() closes its watches.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import {
  AppsV1Api,
  DiscoveryV1Api,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1NetworkPolicy,
  type V1Pod,
} from '@kubernetes/client-node';
import { get, type RequestOptions } from 'node:https';
import type { ClusterObjects, KubeNetworkPolicy, KubePod } from '../../src/diagnosis/index.js';
import { coreApi, loadKubeConfig } from '../../src/kube/client.js';
import { ClusterCacheNotReadyError, clusterInformerSpecs, startClusterCache, type ClusterCache } from '../../src/kube/cluster-cache.js';
import { createClusterReader } from '../../src/kube/cluster-reader.js';
import type { InformerSpec } from '../../src/kube/informer.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { describeAsRoot } from '../support/root.js';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
/** Restarts of a refused informer come fast here; the default (1 s doubling) is for production. */
const BACKOFF = { baseMs: 100, maxMs: 1000 };

/** Waits (without asserting how long) until `check` holds; fails with `what` after a generous bound. */
async function eventually(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The cache's answer once it gives one (it rejects until synced). */
async function synced(cache: ClusterCache): Promise<ClusterObjects> {
  let objects: ClusterObjects | undefined;
  await eventually('the cluster cache to sync', async () => {
    objects = await cache.readClusterObjects().catch(() => undefined);
    return objects !== undefined;
  });
  if (objects === undefined) throw new Error('unreachable');
  return objects;
}

/** The rejection's message, or a failure when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => {
      throw new Error('resolved, expected a rejection');
    },
    (error: unknown) => (error instanceof Error ? error.message : String(error)),
  );
}

const keyOf = (o: { readonly metadata: { readonly namespace?: string; readonly name: string } }): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** The API server's gauge of open watches of `resource` (what an informer keeps open). */
async function openWatches(config: KubeConfig, server: string, resource: string): Promise<number> {
  const options: RequestOptions = {};
  await config.applyToHTTPSOptions(options);
  const body = await new Promise<string>((resolve, reject) => {
    get(`${server}/metrics`, options, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(text) : reject(new Error(`GET /metrics: ${response.statusCode ?? '?'}: ${text}`))));
    }).on('error', reject);
  });
  let open = 0;
  for (const line of body.split('\n')) {
    if (line.startsWith('apiserver_longrunning_requests{') && line.includes(`resource="${resource}"`) && line.includes('verb="WATCH"')) {
      open += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return open;
}

describeAsRoot('the cluster cache on a real API server', () => {
  let cp: ControlPlane;
  let config: KubeConfig;
  let core: CoreV1Api;
  let networking: NetworkingV1Api;
  const caches: ClusterCache[] = [];

  function start(...args: Parameters<typeof startClusterCache>): ClusterCache {
    const cache = startClusterCache(...args);
    caches.push(cache);
    return cache;
  }

  function pod(namespace: string, name: string, labels: Record<string, string>): V1Pod {
    return {
      metadata: { namespace, name, labels },
      spec: { nodeName: 'node-1', containers: [{ name: 'main', image: 'app:1', ports: [{ name: 'main', containerPort: 5432, protocol: 'TCP' }] }] },
    };
  }

  // The client's model calls an ingress rule's `from` `_from` and sends it as `from`.
  function policy(namespace: string, name: string): V1NetworkPolicy {
    return {
      metadata: { namespace, name },
      spec: {
        podSelector: { matchLabels: { app: 'postgres' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          {
            _from: [{ namespaceSelector: { matchLabels: { team: 'shop' } }, podSelector: { matchLabels: { app: 'client' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
            ports: [{ protocol: 'TCP', port: 5432 }],
          },
          { ports: [{ protocol: 'TCP', port: 9187 }] },
        ],
        egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }],
      },
    };
  }
  /** The ingress of `policy()` as the API serves it and the engine reads it. */
  const INGRESS: KubeNetworkPolicy['spec']['ingress'] = [
    {
      from: [{ namespaceSelector: { matchLabels: { team: 'shop' } }, podSelector: { matchLabels: { app: 'client' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
      ports: [{ protocol: 'TCP', port: 5432 }],
    },
    { ports: [{ protocol: 'TCP', port: 9187 }] },
  ];

  beforeAll(async () => {
    cp = await startControlPlane({ log: (line) => process.stderr.write(`control-plane: ${line}\n`) });
    config = loadKubeConfig({ kubeconfig: cp.adminKubeconfig }).config;
    core = coreApi(config);
    networking = config.makeApiClient(NetworkingV1Api);
    for (const [name, team] of [['shop', 'shop'], ['db', 'db']] as const) {
      await core.createNamespace({ body: { metadata: { name, labels: { team } } } });
      // No controller manager here: the ServiceAccount admission wants the default account.
      await core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: 'default' } } });
    }
    await core.createNamespacedServiceAccount({ namespace: 'kube-system', body: { metadata: { name: 'default' } } });
    for (const [name, ip] of [['node-1', '192.0.2.11'], ['node-2', '192.0.2.12']] as const) {
      await core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name } }, spec: { podCIDR: `10.244.${name.slice(-1)}.0/24` } } });
      await core.patchNodeStatus({ name, body: { status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] } } }, mergePatch);
    }
    for (const [namespace, name, app, ip] of [['shop', 'client', 'client', '10.244.1.4'], ['db', 'postgres', 'postgres', '10.244.1.5']] as const) {
      await core.createNamespacedPod({ namespace, body: pod(namespace, name, { app }) });
      await core.patchNamespacedPodStatus({ namespace, name, body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } } }, mergePatch);
    }
    await core.createNamespacedService({ namespace: 'db', body: { metadata: { name: 'postgres' }, spec: { selector: { app: 'postgres' }, ports: [{ name: 'pg', port: 5432, targetPort: 5432, protocol: 'TCP' }] } } });
    await config.makeApiClient(DiscoveryV1Api).createNamespacedEndpointSlice({
      namespace: 'db',
      body: {
        metadata: { name: 'postgres-x1', labels: { 'kubernetes.io/service-name': 'postgres' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true }, nodeName: 'node-1', targetRef: { kind: 'Pod', namespace: 'db', name: 'postgres' } }],
        ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }],
      },
    });
    await networking.createNamespacedNetworkPolicy({ namespace: 'db', body: policy('db', 'allow-shop') });
    await config.makeApiClient(AppsV1Api).createNamespacedDaemonSet({
      namespace: 'kube-system',
      body: {
        metadata: { name: 'kube-proxy' },
        spec: {
          selector: { matchLabels: { 'k8s-app': 'kube-proxy' } },
          template: { metadata: { labels: { 'k8s-app': 'kube-proxy' } }, spec: { hostNetwork: true, containers: [{ name: 'kube-proxy', image: 'kube-proxy:1' }] } },
        },
      },
    });
  }, 180_000);

  afterAll(async () => {
    await Promise.all(caches.map((cache) => cache.stop()));
    await cp?.stop();
  });

  it('stop() closes every watch it opened, and later reads reject', async () => {
    // First, before any other cache: the API server's own watches (its loopback informers) are the baseline.
    const resources = ['nodes', 'pods', 'services', 'endpointslices', 'networkpolicies', 'daemonsets', 'namespaces'];
    const watches = async (): Promise<number[]> => Promise.all(resources.map((r) => openWatches(config, cp.server, r)));
    const baseline = await watches();
    const cache = start(config);
    await synced(cache);
    await eventually('one more watch open on each of the seven resources', async () => (await watches()).every((n, i) => n === (baseline[i] ?? 0) + 1));

    await cache.stop();
    await eventually('the cache\'s watches closed', async () => (await watches()).every((n, i) => n === baseline[i]));
    expect(cache.states().every((s) => s.stopped)).toBe(true);
    expect(await rejection(cache.readClusterObjects())).toBe('the cluster cache is stopped');
  });

  it('rejects until every informer has synced, naming the ones that have not', async () => {
    // The pods' and services' lists wait for the test; the other five list as usual.
    const releases: (() => void)[] = [];
    const held = (spec: InformerSpec<KubernetesObject>): InformerSpec<KubernetesObject> => ({
      ...spec,
      list: async (): Promise<KubernetesListObject<KubernetesObject>> => {
        await new Promise<void>((resolve) => releases.push(resolve));
        return spec.list();
      },
    });
    const specs = clusterInformerSpecs(config);
    const cache = start(config, { specs: { ...specs, pods: held(specs.pods), services: held(specs.services) } });
    await eventually('the five other informers to sync', () => cache.states().filter((s) => s.synced).length === 5 && releases.length === 2);

    const error = await cache.readClusterObjects().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterCacheNotReadyError);
    expect(error).toMatchObject({ message: 'the cluster cache has not synced yet: pods, services', pending: ['pods', 'services'] });
    expect(cache.states().map((s) => [s.name, s.synced])).toEqual([
      ['nodes', true],
      ['pods', false],
      ['services', false],
      ['endpointslices', true],
      ['networkpolicies', true],
      ['daemonsets', true],
      ['namespaces', true],
    ]);

    for (const release of releases) release();
    const objects = await synced(cache);
    expect(objects.pods.map(keyOf)).toEqual(['db/postgres', 'shop/client']);
    expect(objects.services.map(keyOf)).toEqual(['db/postgres', 'default/kubernetes']);
  });

  it('rejects with the API server’s refusal while a user without RBAC cannot list', async () => {
    const nobody = loadKubeConfig({ kubeconfig: cp.clientKubeconfig('nobody') }).config;
    const cache = start(nobody, { backoff: BACKOFF });
    await eventually('all seven informers to fail', () => cache.states().every((s) => s.lastError !== undefined));

    const message = await rejection(cache.readClusterObjects());
    for (const resource of ['nodes', 'pods', 'services', 'endpointslices', 'networkpolicies', 'daemonsets', 'namespaces']) {
      expect(message).toContain(`${resource} (forbidden: `);
    }
    expect(message).toMatch(/^the cluster cache has not synced yet: nodes \(forbidden: nodes is forbidden: User "nobody" cannot list resource "nodes"/);
    expect(cache.states().every((s) => !s.synced && s.failures >= 1)).toBe(true);
  });

  it('answers, once synced, what a fresh list answers, in the same order', async () => {
    const cache = start(config);
    const cached = await synced(cache);
    const listed = await createClusterReader(config).readClusterObjects();

    expect(cached).toEqual(listed);
    // Not two empty answers: what beforeAll created is there, as the engine reads it.
    expect({
      nodes: cached.nodes.map((n) => [n.metadata.name, n.status?.addresses?.[0]?.address]),
      pods: cached.pods.map((p) => [keyOf(p), p.spec?.nodeName, p.status?.podIP]),
      endpointSlices: cached.endpointSlices.map((s) => [keyOf(s), s.endpoints?.[0]?.addresses]),
      networkPolicies: cached.networkPolicies.map((p) => [keyOf(p), p.spec.ingress]),
      daemonSets: cached.daemonSets.map((d) => [keyOf(d), d.spec?.template?.spec?.containers?.map((c) => c.image)]),
      namespaces: cached.namespaces?.map((n) => n.metadata.name),
    }).toEqual({
      nodes: [
        ['node-1', '192.0.2.11'],
        ['node-2', '192.0.2.12'],
      ],
      pods: [
        ['db/postgres', 'node-1', '10.244.1.5'],
        ['shop/client', 'node-1', '10.244.1.4'],
      ],
      endpointSlices: expect.arrayContaining([['db/postgres-x1', ['10.244.1.5']]]) as unknown,
      networkPolicies: [['db/allow-shop', INGRESS]],
      daemonSets: [['kube-system/kube-proxy', ['kube-proxy:1']]],
      namespaces: ['db', 'default', 'kube-node-lease', 'kube-public', 'kube-system', 'shop'],
    });
    expect(typeof cached.pods[0]?.metadata.creationTimestamp).toBe('string');
  });

  it('follows a pod and a NetworkPolicy created later, and a pod deleted later, in the shape of a list', async () => {
    const cache = start(config);
    await synced(cache);
    const podOf = (objects: ClusterObjects, key: string): KubePod | undefined => objects.pods.find((p) => keyOf(p) === key);
    const policyOf = (objects: ClusterObjects, key: string): KubeNetworkPolicy | undefined => objects.networkPolicies.find((p) => keyOf(p) === key);

    await core.createNamespacedPod({ namespace: 'shop', body: pod('shop', 'a-late', { app: 'late' }) });
    await networking.createNamespacedNetworkPolicy({ namespace: 'shop', body: policy('shop', 'late') });
    let cached: ClusterObjects | undefined;
    await eventually('the new pod and policy in the cache', async () => {
      cached = await cache.readClusterObjects();
      return podOf(cached, 'shop/a-late') !== undefined && policyOf(cached, 'shop/late') !== undefined;
    });
    if (cached === undefined) throw new Error('unreachable');
    const listed = await createClusterReader(config).readClusterObjects();
    // In the API server's order, though it came last (`a-late` sorts first in its namespace).
    expect(cached.pods.map(keyOf)).toEqual(['db/postgres', 'shop/a-late', 'shop/client']);
    expect(cached.pods.map(keyOf)).toEqual(listed.pods.map(keyOf));
    // From a watch event (the API's JSON) as from a list (the client's model): the same.
    expect(podOf(cached, 'shop/a-late')).toEqual(podOf(listed, 'shop/a-late'));
    expect(policyOf(cached, 'shop/late')).toEqual(policyOf(listed, 'shop/late'));
    expect(policyOf(cached, 'shop/late')?.spec.ingress).toEqual(INGRESS);

    await core.deleteNamespacedPod({ namespace: 'shop', name: 'a-late', gracePeriodSeconds: 0 });
    await eventually('the deleted pod gone from the cache', async () => podOf(await cache.readClusterObjects(), 'shop/a-late') === undefined);
    expect((await cache.readClusterObjects()).pods.map(keyOf)).toEqual(['db/postgres', 'shop/client']);
    await networking.deleteNamespacedNetworkPolicy({ namespace: 'shop', name: 'late' });
  });

});
