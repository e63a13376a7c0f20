// What a node agent (the lab's virtual kubelet, src/lab/virtual-kubelet.ts) asks of the API server,
// as plain functions: register its Node and keep it Ready (NodeStatus and a Lease in
// kube-node-lease), watch the pods bound to it, report their status, remove them once stopped,
// and get what a pod's container is given (a service-account token, ConfigMaps).

import {
  CoordinationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Node,
  type V1Pod,
  type V1PodStatus,
} from '@kubernetes/client-node';
import { loadKubeConfig } from './client.js';
import { classifyApiError, KubeApiError } from './errors.js';
import { startInformer, type InformerEventType, type RunningInformer } from './informer.js';
import { callApi } from './retry.js';

export type KubePod = V1Pod;
export type KubePodStatus = V1PodStatus;
export type KubeNode = V1Node;

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export interface NodeRegistration {
  readonly name: string;
  readonly ip: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly capacity?: Readonly<Record<string, string>>;
}

export interface NodeAgentClient {
  readonly config: KubeConfig;
  /** Creates the Node (or keeps the existing one) and reports it Ready. */
  registerNode(node: NodeRegistration): Promise<void>;
  getNode(name: string): Promise<KubeNode | undefined>;
  /** Patches the Node's status: addresses, capacity, the Ready condition with a fresh heartbeat. */
  updateNodeStatus(node: NodeRegistration, ready: boolean, message: string): Promise<void>;
  /** Merges annotations into the Node's metadata. */
  annotateNode(name: string, annotations: Readonly<Record<string, string>>): Promise<void>;
  /** Creates or renews the node's Lease in kube-node-lease. */
  renewLease(name: string, durationSeconds: number): Promise<void>;
  /** Informer of the pods bound to `nodeName` (all namespaces). */
  watchPods(nodeName: string, onEvent: (type: InformerEventType, pod: KubePod) => void): RunningInformer<KubePod>;
  /** Strategic merge patch of a pod's status. */
  patchPodStatus(namespace: string, name: string, status: KubePodStatus): Promise<void>;
  /** Deletes the pod object at once (grace 0), if it is still the pod with `uid`. Gone already is fine. */
  deletePodNow(namespace: string, name: string, uid: string): Promise<void>;
  /** A token for a service account, bound to the pod (TokenRequest). */
  requestToken(namespace: string, serviceAccount: string, pod: { name: string; uid: string }, expirationSeconds: number): Promise<string>;
  /** A ConfigMap's data and binaryData (base64-decoded), or undefined when it does not exist. */
  readConfigMap(namespace: string, name: string): Promise<Record<string, Buffer> | undefined>;
}

function kindOf(error: unknown): string {
  return error instanceof KubeApiError ? error.kind : classifyApiError(error).kind;
}

function isNotFound(error: unknown): boolean {
  return kindOf(error) === 'not-found';
}

function isAlreadyExists(error: unknown): boolean {
  return kindOf(error) === 'already-exists';
}

export function createNodeAgentClient(kubeconfig: string): NodeAgentClient {
  const config = loadKubeConfig({ kubeconfig }).config;
  const core = config.makeApiClient(CoreV1Api);
  const coordination = config.makeApiClient(CoordinationV1Api);
  const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

  const nodeStatus = (node: NodeRegistration, ready: boolean, message: string): V1Node['status'] => {
    const now = new Date();
    const capacity = { cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '20Gi', ...node.capacity };
    return {
      addresses: [
        { type: 'InternalIP', address: node.ip },
        { type: 'Hostname', address: node.name },
      ],
      capacity,
      allocatable: capacity,
      conditions: [
        {
          type: 'Ready',
          status: ready ? 'True' : 'False',
          reason: ready ? 'KubeletReady' : 'KubeletNotReady',
          message,
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      nodeInfo: {
        architecture: process.arch === 'x64' ? 'amd64' : process.arch,
        bootID: '',
        containerRuntimeVersion: 'netdiag-lab://1',
        kernelVersion: '',
        kubeProxyVersion: '',
        kubeletVersion: 'v1.34.0-netdiag-lab',
        machineID: '',
        operatingSystem: 'linux',
        osImage: 'netdiag lab node',
        systemUUID: '',
      },
    };
  };

  const updateNodeStatus = async (node: NodeRegistration, ready: boolean, message: string): Promise<void> => {
    // A condition's lastTransitionTime should only move when its status changes: keep the old one.
    const current = await getNode(node.name);
    const status = nodeStatus(node, ready, message);
    const previous = current?.status?.conditions?.find((c) => c.type === 'Ready');
    const readyCondition = status?.conditions?.[0];
    if (previous !== undefined && readyCondition !== undefined && previous.status === readyCondition.status && previous.lastTransitionTime !== undefined) {
      readyCondition.lastTransitionTime = previous.lastTransitionTime;
    }
    await callApi({ description: `patch status of node ${node.name}`, verb: 'patch', resource: 'nodes/status' }, () =>
      core.patchNodeStatus({ name: node.name, body: { status } }, strategic),
    );
  };

  const getNode = async (name: string): Promise<V1Node | undefined> => {
    try {
      return await callApi({ description: `get node ${name}`, verb: 'get', resource: 'nodes' }, () => core.readNode({ name }));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  };

  return {
    config,
    async registerNode(node) {
      const body: V1Node = {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: node.name,
          // As a kubelet registers: node daemons (flanneld) add theirs to an existing map.
          annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
          labels: { 'kubernetes.io/hostname': node.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch, ...node.labels },
        },
      };
      try {
        await callApi({ description: `create node ${node.name}`, verb: 'create', resource: 'nodes' }, () => core.createNode({ body }));
      } catch (error) {
        if (!isAlreadyExists(error)) throw error;
      }
      await updateNodeStatus(node, true, 'netdiag lab node is ready');
    },
    getNode,
    updateNodeStatus,
    async annotateNode(name, annotations) {
      await callApi({ description: `annotate node ${name}`, verb: 'patch', resource: 'nodes' }, () =>
        core.patchNode({ name, body: { metadata: { annotations } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
      );
    },
    async renewLease(name, durationSeconds) {
      // A Lease's times are MicroTime (six fractional digits), which a Date does not serialize to:
      // create it without them, then patch them in as text.
      const renewTime = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
      const patch = (): Promise<unknown> =>
        callApi({ description: `patch lease ${name}`, verb: 'patch', resource: 'leases', namespace: NODE_LEASE_NAMESPACE }, () =>
          coordination.patchNamespacedLease({ name, namespace: NODE_LEASE_NAMESPACE, body: { spec: { holderIdentity: name, leaseDurationSeconds: durationSeconds, renewTime } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
        );
      try {
        await patch();
      } catch (error) {
        if (!isNotFound(error)) throw error;
        await callApi({ description: `create lease ${name}`, verb: 'create', resource: 'leases', namespace: NODE_LEASE_NAMESPACE }, () =>
          coordination.createNamespacedLease({ namespace: NODE_LEASE_NAMESPACE, body: { metadata: { name, namespace: NODE_LEASE_NAMESPACE }, spec: { holderIdentity: name, leaseDurationSeconds: durationSeconds } } }),
        ).catch((createError: unknown) => {
          if (!isAlreadyExists(createError)) throw createError;
        });
        await patch();
      }
    },
    watchPods(nodeName, onEvent) {
      const fieldSelector = `spec.nodeName=${nodeName}`;
      return startInformer<V1Pod>({
        name: `pods on ${nodeName}`,
        config,
        // client-node's informer takes no field selector: the watch keeps the path's query.
        path: `/api/v1/pods?fieldSelector=${encodeURIComponent(fieldSelector)}`,
        list: () => core.listPodForAllNamespaces({ fieldSelector }),
        onEvent,
        backoff: { baseMs: 500, maxMs: 10_000 },
      });
    },
    async patchPodStatus(namespace, name, status) {
      await callApi({ description: `patch status of pod ${namespace}/${name}`, verb: 'patch', resource: 'pods/status', namespace }, () =>
        core.patchNamespacedPodStatus({ name, namespace, body: { status } }, strategic),
      );
    },
    async deletePodNow(namespace, name, uid) {
      try {
        await callApi({ description: `delete pod ${namespace}/${name}`, verb: 'delete', resource: 'pods', namespace }, () =>
          core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid } } }),
        );
      } catch (error) {
        const kind = kindOf(error);
        // not-found: already gone; conflict: a new pod of the same name (another uid) is not ours to delete.
        if (kind !== 'not-found' && kind !== 'conflict') throw error;
      }
    },
    async requestToken(namespace, serviceAccount, pod, expirationSeconds) {
      const result = await callApi({ description: `create token for serviceaccount ${namespace}/${serviceAccount}`, verb: 'create', resource: 'serviceaccounts/token', namespace }, () =>
        core.createNamespacedServiceAccountToken({
          name: serviceAccount,
          namespace,
          body: { spec: { audiences: [], expirationSeconds, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid } } },
        }),
      );
      const token = result.status?.token;
      if (token === undefined || token === '') throw new Error(`the token request for serviceaccount ${namespace}/${serviceAccount} returned no token`);
      return token;
    },
    async readConfigMap(namespace, name) {
      try {
        const cm = await callApi({ description: `get configmap ${namespace}/${name}`, verb: 'get', resource: 'configmaps', namespace }, () => core.readNamespacedConfigMap({ name, namespace }));
        const files: Record<string, Buffer> = {};
        for (const [key, value] of Object.entries(cm.data ?? {})) files[key] = Buffer.from(value, 'utf8');
        for (const [key, value] of Object.entries(cm.binaryData ?? {})) files[key] = Buffer.from(value, 'base64');
        return files;
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
  };
}
