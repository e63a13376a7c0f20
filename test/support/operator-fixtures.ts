// Fixtures of the tests that run the operator's code against a real API server (the reconciler on
// a bare control plane, the operator process, the operator on a lab): a DiagnosisApi that applies
// and reads the NetworkDiagnoses of one namespace and lists what the operator made for them in its
// own namespace; the objects a kubelet would report when none runs (Nodes with their InternalIP,
// Pods Running with their IPs, both written through /status); and the failure text of a wait,
// with what a person needs to see of the state.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type NetworkDiagnosis } from '../../src/api/v1alpha1/index.js';
import { coreApi } from '../../src/kube/client.js';
import { collectorSelector } from '../../src/kube/collector-client.js';
import { snapshotSelector } from '../../src/kube/snapshot-configmaps.js';

/** The options of a JSON merge patch (status subresources, annotations). */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The service account the collector pods run as, in the operator namespace. */
export const COLLECTOR_SERVICE_ACCOUNT = 'netdiag-collector';

export interface DiagnosisApiOptions {
  /** Where the NetworkDiagnoses live. */
  readonly namespace: string;
  /** Where the operator creates collector pods and ConfigMaps. */
  readonly operatorNamespace: string;
  /** The spec `apply` uses when given none. */
  readonly spec: object;
}

/** The NetworkDiagnoses of one namespace and the operator's objects for them. */
export interface DiagnosisApi {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly namespace: string;
  readonly operatorNamespace: string;
  /** Creates NetworkDiagnosis NAME (with the default spec unless given one). */
  apply(name: string, spec?: object): Promise<unknown>;
  /** NetworkDiagnosis NAME; undefined once it is gone (404). */
  get(name: string): Promise<NetworkDiagnosis | undefined>;
  /** NetworkDiagnosis NAME; rejects with the client's error, a 404 included. */
  mustGet(name: string): Promise<NetworkDiagnosis>;
  list(): Promise<NetworkDiagnosis[]>;
  delete(name: string): Promise<void>;
  /** The collector pods of diagnosis NAME. */
  collectorPods(name: string): Promise<V1Pod[]>;
  /** The names of the pod-list ConfigMaps of diagnosis NAME's collectors. */
  collectorConfigMaps(name: string): Promise<string[]>;
  /** The names of the snapshot ConfigMaps written for diagnosis NAME. */
  snapshotConfigMaps(name: string): Promise<string[]>;
}

export function createDiagnosisApi(config: KubeConfig, options: DiagnosisApiOptions): DiagnosisApi {
  const core = coreApi(config);
  const custom = config.makeApiClient(CustomObjectsApi);
  const { namespace, operatorNamespace } = options;
  const ref = { group: GROUP, version: VERSION, namespace, plural: PLURAL };
  const mustGet = async (name: string): Promise<NetworkDiagnosis> => (await custom.getNamespacedCustomObject({ ...ref, name })) as NetworkDiagnosis;
  const configMapNames = async (labelSelector: string): Promise<string[]> =>
    (await core.listNamespacedConfigMap({ namespace: operatorNamespace, labelSelector })).items.map((cm) => cm.metadata?.name ?? '');
  return {
    core,
    custom,
    namespace,
    operatorNamespace,
    apply: (name, spec = options.spec) => custom.createNamespacedCustomObject({ ...ref, body: { apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec } }),
    async get(name) {
      try {
        return await mustGet(name);
      } catch (error) {
        if ((error as { code?: number }).code === 404) return undefined;
        throw error;
      }
    },
    mustGet,
    list: async () => ((await custom.listNamespacedCustomObject(ref)) as { items: NetworkDiagnosis[] }).items,
    async delete(name) {
      await custom.deleteNamespacedCustomObject({ ...ref, name });
    },
    collectorPods: async (name) => (await core.listNamespacedPod({ namespace: operatorNamespace, labelSelector: collectorSelector({ namespace, name }) })).items,
    collectorConfigMaps: (name) => configMapNames(collectorSelector({ namespace, name })),
    snapshotConfigMaps: (name) => configMapNames(snapshotSelector({ namespace, name })),
  };
}

/** Condition TYPE of a diagnosis, or {} when it has none. */
export function condition(d: NetworkDiagnosis | undefined, type: string): { status?: string; reason?: string; message?: string } {
  return d?.status?.conditions?.find((c) => c.type === type) ?? {};
}

/**
 * The namespaces a control plane without a controller manager needs for diagnoses in NAMESPACE:
 * the operator namespace (privileged, for the collectors) with the collectors' service account,
 * and NAMESPACE with its default service account (which the ServiceAccount admission wants).
 */
export async function createNamespaces(core: CoreV1Api, namespaces: { readonly namespace: string; readonly operatorNamespace: string }): Promise<void> {
  await core.createNamespace({ body: { metadata: { name: namespaces.operatorNamespace, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } } });
  await core.createNamespace({ body: { metadata: { name: namespaces.namespace } } });
  await core.createNamespacedServiceAccount({ namespace: namespaces.operatorNamespace, body: { metadata: { name: COLLECTOR_SERVICE_ACCOUNT } } });
  await core.createNamespacedServiceAccount({ namespace: namespaces.namespace, body: { metadata: { name: 'default' } } });
}

/** Nodes as their kubelets would register them: the InternalIP written through /status. */
export async function createNodes(core: CoreV1Api, nodes: readonly { readonly name: string; readonly ip: string }[]): Promise<void> {
  for (const node of nodes) {
    await core.createNode({ body: { metadata: { name: node.name } } });
    await core.patchNodeStatus({ name: node.name, body: { status: { addresses: [{ type: 'InternalIP', address: node.ip }] } } }, mergePatch);
  }
}

/**
 * Pods bound to their nodes (labelled app=NAME) and Running with their IP, as a kubelet would
 * report them through /status.
 */
export async function createPods(core: CoreV1Api, namespace: string, pods: readonly { readonly name: string; readonly node: string; readonly ip: string }[]): Promise<void> {
  for (const pod of pods) {
    await core.createNamespacedPod({ namespace, body: { metadata: { name: pod.name, labels: { app: pod.name } }, spec: { nodeName: pod.node, automountServiceAccountToken: false, containers: [{ name: 'app', image: 'app:1' }] } } });
    await core.patchNamespacedPodStatus({ namespace, name: pod.name, body: { status: { phase: 'Running', podIP: pod.ip, podIPs: [{ ip: pod.ip }] } } }, mergePatch);
  }
}

/**
 * For the `.catch` of a wait (`waitFor` of src/lab/process.ts): fails with the wait's message
 * followed by what `explain` tells of the state (operator logs, the status, Events).
 */
export function explainFailure(explain: () => Promise<string> | string): (error: unknown) => Promise<never> {
  return async (error) => {
    const told = await Promise.resolve()
      .then(explain)
      .catch((e: unknown) => `(could not explain: ${e instanceof Error ? e.message : String(e)})`);
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${told}`, { cause: error });
  };
}
