// The lab's scenario client on a real kube-apiserver + etcd: a manifest is created as written, in
// the API's field names. The client library's typed model names a NetworkPolicy ingress rule's
// `from` `_from` and serializes by the model's names, so a policy sent through it lost every `from`
// (the API server then stores a rule open to all sources); read back here as the API's JSON.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { get, type RequestOptions } from 'node:https';
import { coreApi, loadKubeConfig } from '../../src/kube/client.js';
import { createScenarioClient, type ScenarioClient } from '../../src/kube/scenario-client.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { describeAsRoot } from '../support/root.js';

const NAMESPACE = 'scenario';

/** GET `path` of the API server as its JSON, not through the client's model. */
async function getJson(config: KubeConfig, server: string, path: string): Promise<Record<string, unknown>> {
  const options: RequestOptions = {};
  await config.applyToHTTPSOptions(options);
  const body = await new Promise<string>((resolve, reject) => {
    get(`${server}${path}`, options, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => (response.statusCode === 200 ? resolve(text) : reject(new Error(`GET ${path}: ${response.statusCode ?? '?'}: ${text}`))));
    }).on('error', reject);
  });
  return JSON.parse(body) as Record<string, unknown>;
}

const POLICY_SPEC = {
  podSelector: { matchLabels: { app: 'db' } },
  policyTypes: ['Ingress', 'Egress'],
  ingress: [
    {
      from: [{ podSelector: { matchLabels: { role: 'frontend' } } }, { namespaceSelector: { matchLabels: { team: 'shop' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
      ports: [{ protocol: 'TCP', port: 5432 }],
    },
    { ports: [{ protocol: 'TCP', port: 9187 }] },
  ],
  egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ protocol: 'UDP', port: 53 }] }],
};

describeAsRoot('the scenario client on a real API server', () => {
  let cp: ControlPlane;
  let config: KubeConfig;
  let core: CoreV1Api;
  let client: ScenarioClient;

  beforeAll(async () => {
    cp = await startControlPlane({ log: (line) => process.stderr.write(`control-plane: ${line}\n`) });
    config = loadKubeConfig({ kubeconfig: cp.adminKubeconfig }).config;
    core = coreApi(config);
    client = createScenarioClient(config);
    await client.createNamespace(NAMESPACE);
    // No controller manager here: the ServiceAccount admission of a pod wants the default account.
    await core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'default' } } });
  }, 180_000);

  afterAll(async () => {
    await cp.stop();
  }, 60_000);

  it.each([
    ['a NetworkPolicy whose ingress rules say from', '/apis/networking.k8s.io/v1/namespaces/scenario/networkpolicies/db-from-frontend', { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'db-from-frontend', namespace: NAMESPACE }, spec: POLICY_SPEC }],
    [
      'a Pod with labels, bound to its node',
      '/api/v1/namespaces/scenario/pods/web',
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: NAMESPACE, labels: { role: 'frontend' } },
        spec: { nodeName: 'node1', terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image: 'lab', ports: [{ containerPort: 80, protocol: 'TCP' }] }] },
      },
    ],
  ])('creates %s as written', async (_what, path, manifest) => {
    await client.create(manifest);
    const stored = await getJson(config, cp.server, path);
    expect(stored.metadata).toMatchObject(manifest.metadata);
    expect(stored.spec).toMatchObject(manifest.spec);
  });

  it('keeps the from of a NetworkPolicy exactly (the rule is not left open to all sources)', async () => {
    const name = 'exact-from';
    await client.create({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: NAMESPACE }, spec: POLICY_SPEC });
    const stored = await getJson(config, cp.server, `/apis/networking.k8s.io/v1/namespaces/${NAMESPACE}/networkpolicies/${name}`);
    expect((stored.spec as { ingress: unknown }).ingress).toEqual(POLICY_SPEC.ingress);
  });

  it('creates an object that exists already without an error (a retried step is harmless)', async () => {
    const manifest = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'twice', namespace: NAMESPACE }, spec: { podSelector: {}, policyTypes: ['Ingress'] } };
    await client.create(manifest);
    await expect(client.create(manifest)).resolves.toBeUndefined();
  });

  it('refuses a field the API does not know, naming it, rather than dropping it', async () => {
    const manifest = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'typo', namespace: NAMESPACE }, spec: { podSelector: {}, ingres: [{ from: [{ podSelector: {} }] }] } };
    await expect(client.create(manifest)).rejects.toThrow(/ingres/);
  });
});
