// What the lab's scenario runner reads and writes in the API server: the scenario's namespace and
// objects (created as written; one that exists already counts as created, so a retried step is
// harmless), the pods' and services' state it waits for, and the NetworkDiagnosis it reads back.

import { CoreV1Api, DiscoveryV1Api, HttpMethod, KubernetesObjectApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { NetworkDiagnosis } from '../api/v1alpha1/types.js';
import { createDiagnosisClient } from './diagnosis-client.js';
import { KubeApiError } from './errors.js';
import { callApi } from './retry.js';

export interface ScenarioPodState {
  readonly phase?: string;
  readonly ip?: string;
  readonly ready: boolean;
  /** Why a container waits, as the kubelet reported it (`REASON: message`), e.g. a failed sandbox. */
  readonly waiting?: string;
}

export interface ScenarioClient {
  createNamespace(name: string): Promise<void>;
  /** Creates a manifest as written, in the API's field names (apiVersion, kind, metadata with namespace); existing is fine, an unknown field is an error. */
  create(manifest: Readonly<Record<string, unknown>>): Promise<void>;
  podState(namespace: string, name: string): Promise<ScenarioPodState | undefined>;
  /** The service's ClusterIP, or undefined when it does not exist (yet). */
  serviceClusterIP(namespace: string, name: string): Promise<string | undefined>;
  /** Addresses of the service's ready endpoints, from its EndpointSlices. */
  readyEndpoints(namespace: string, service: string): Promise<string[]>;
  getDiagnosis(namespace: string, name: string): Promise<NetworkDiagnosis | undefined>;
}

function describeManifest(manifest: Readonly<Record<string, unknown>>): { kind: string; namespace?: string; name: string } {
  const metadata = (manifest.metadata ?? {}) as { name?: string; namespace?: string };
  return { kind: String(manifest.kind), name: metadata.name ?? '?', ...(metadata.namespace !== undefined ? { namespace: metadata.namespace } : {}) };
}

/**
 * KubernetesObjectApi sending a manifest as the API's JSON. Its own `create` serializes through the
 * client's typed model, which knows fields by the model's names: a NetworkPolicy ingress rule's
 * `from` is `_from` there, so a manifest written in the API's names lost every `from` (a rule open
 * to all sources), and a field the model does not know was dropped without a word. Here the body is
 * the manifest itself, and the API server refuses an unknown field (fieldValidation=Strict),
 * naming it. The resource's path comes from the API server's discovery, as KubernetesObjectApi's.
 */
class ManifestApi extends KubernetesObjectApi {
  async createAsWritten(manifest: KubernetesObject): Promise<void> {
    const request = this.configuration.baseServer.makeRequestContext(await this.specUriPath(manifest, 'create'), HttpMethod.POST);
    request.setQueryParam('fieldValidation', 'Strict');
    request.setHeaderParam('Accept', 'application/json');
    request.setHeaderParam('Content-Type', 'application/json');
    request.setBody(JSON.stringify(manifest));
    await this.requestPromise(request);
  }
}

export function createScenarioClient(config: KubeConfig): ScenarioClient {
  const core = config.makeApiClient(CoreV1Api);
  const discovery = config.makeApiClient(DiscoveryV1Api);
  const objects = config.makeApiClient(ManifestApi);
  const diagnoses = createDiagnosisClient(config);

  const createIgnoringExisting = async (operation: { description: string; verb: string; resource: string; namespace?: string }, call: () => Promise<unknown>): Promise<void> => {
    try {
      await callApi(operation, call);
    } catch (error) {
      if (error instanceof KubeApiError && error.kind === 'already-exists') return;
      throw error;
    }
  };

  return {
    createNamespace(name: string): Promise<void> {
      return createIgnoringExisting({ description: `create namespace ${name}`, verb: 'create', resource: 'namespaces' }, () => core.createNamespace({ body: { metadata: { name } } }));
    },

    create(manifest: Readonly<Record<string, unknown>>): Promise<void> {
      const { kind, namespace, name } = describeManifest(manifest);
      return createIgnoringExisting(
        { description: `create ${kind} ${namespace !== undefined ? `${namespace}/` : ''}${name}`, verb: 'create', resource: kind.toLowerCase(), ...(namespace !== undefined ? { namespace } : {}) },
        () => objects.createAsWritten(manifest),
      );
    },

    async podState(namespace: string, name: string): Promise<ScenarioPodState | undefined> {
      try {
        const pod = await callApi({ description: `get pod ${namespace}/${name}`, verb: 'get', resource: 'pods', namespace }, () => core.readNamespacedPod({ namespace, name }));
        const ready = (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
        const waiting = (pod.status?.containerStatuses ?? []).map((c) => c.state?.waiting).find((w) => w?.reason !== undefined);
        return {
          ready,
          ...(pod.status?.phase !== undefined ? { phase: pod.status.phase } : {}),
          ...(pod.status?.podIP !== undefined ? { ip: pod.status.podIP } : {}),
          ...(waiting?.reason !== undefined ? { waiting: `${waiting.reason}${waiting.message !== undefined ? `: ${waiting.message}` : ''}` } : {}),
        };
      } catch (error) {
        if (error instanceof KubeApiError && error.kind === 'not-found') return undefined;
        throw error;
      }
    },

    async serviceClusterIP(namespace: string, name: string): Promise<string | undefined> {
      try {
        const service = await callApi({ description: `get service ${namespace}/${name}`, verb: 'get', resource: 'services', namespace }, () => core.readNamespacedService({ namespace, name }));
        return service.spec?.clusterIP;
      } catch (error) {
        if (error instanceof KubeApiError && error.kind === 'not-found') return undefined;
        throw error;
      }
    },

    async readyEndpoints(namespace: string, service: string): Promise<string[]> {
      const slices = await callApi({ description: `list endpointslices of service ${namespace}/${service}`, verb: 'list', resource: 'endpointslices', namespace }, () =>
        discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${service}` }),
      );
      return slices.items.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses));
    },

    getDiagnosis(namespace: string, name: string): Promise<NetworkDiagnosis | undefined> {
      return diagnoses.getDiagnosis(namespace, name);
    },
  };
}
