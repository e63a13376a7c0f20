// The cluster's objects a diagnosis reads (Nodes, Pods, Services, EndpointSlices, NetworkPolicies,
// DaemonSets, Namespaces) from informer caches: for the operator, whose every reconcile would
// otherwise list all seven afresh. One informer per kind (informer.ts: restarted with backoff,
// state for readiness); the caches hold the informers' objects and nothing else, converted to the
// engine's types on each read, as cluster-reader.ts converts a fresh list. The one-shot CLI keeps
// cluster-reader.ts.

import { AppsV1Api, CoreV1Api, DiscoveryV1Api, NetworkingV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { ClusterObjects } from '../diagnosis/index.js';
import { asClusterObjects, type ClientClusterObjects, type ClientObject, type ClusterReader } from './cluster-reader.js';
import type { ClassifiedApiError } from './errors.js';
import { startInformer, type InformerBackoff, type InformerClock, type InformerSpec, type InformerState, type RunningInformer } from './informer.js';

/** An informer spec for each collection a diagnosis reads, under ClusterObjects' names. */
export type ClusterInformerSpecs = { readonly [K in keyof ClientClusterObjects]: InformerSpec<KubernetesObject> };

/** The seven collections in all namespaces; each informer is named by its resource (`pods`). */
export function clusterInformerSpecs(config: KubeConfig): ClusterInformerSpecs {
  const core = config.makeApiClient(CoreV1Api);
  const apps = config.makeApiClient(AppsV1Api);
  const discovery = config.makeApiClient(DiscoveryV1Api);
  const networking = config.makeApiClient(NetworkingV1Api);
  return {
    nodes: { name: 'nodes', config, path: '/api/v1/nodes', list: () => core.listNode() },
    pods: { name: 'pods', config, path: '/api/v1/pods', list: () => core.listPodForAllNamespaces() },
    services: { name: 'services', config, path: '/api/v1/services', list: () => core.listServiceForAllNamespaces() },
    endpointSlices: { name: 'endpointslices', config, path: '/apis/discovery.k8s.io/v1/endpointslices', list: () => discovery.listEndpointSliceForAllNamespaces() },
    networkPolicies: { name: 'networkpolicies', config, path: '/apis/networking.k8s.io/v1/networkpolicies', list: () => networking.listNetworkPolicyForAllNamespaces() },
    daemonSets: { name: 'daemonsets', config, path: '/apis/apps/v1/daemonsets', list: () => apps.listDaemonSetForAllNamespaces() },
    namespaces: { name: 'namespaces', config, path: '/api/v1/namespaces', list: () => core.listNamespace() },
  };
}

export interface ClusterCacheOptions {
  /** Default: clusterInformerSpecs(config). */
  readonly specs?: ClusterInformerSpecs;
  readonly backoff?: InformerBackoff;
  readonly clock?: InformerClock;
  readonly random?: () => number;
  /** Each informer failure, with the delay before its restart (for logs). */
  readonly onFailure?: (informer: string, error: ClassifiedApiError, restartInMs: number) => void;
}

export interface ClusterCache extends ClusterReader {
  /**
   * The cached objects as the engine's types, in the API server's order (by `namespace/name`
   * text). Rejects with a ClusterCacheNotReadyError until every informer has synced, and once
   * stopped: never a half-filled answer.
   * Once synced it answers from the cache even while an informer fails (readiness reports that).
   */
  readClusterObjects(): Promise<ClusterObjects>;
  /** One state per informer, for readiness. */
  states(): InformerState[];
  /** Stops every informer for good. */
  stop(): Promise<void>;
}

const KINDS = ['nodes', 'pods', 'services', 'endpointSlices', 'networkPolicies', 'daemonSets', 'namespaces'] as const satisfies readonly (keyof ClientClusterObjects)[];

/**
 * The order of a list from the API server (its storage keys, `namespace/name`; Kubernetes names
 * are ASCII, so code-unit order is byte order). The cache keeps objects in arrival order; the
 * engine gets them as a fresh list would give them.
 */
function inApiOrder(objects: readonly KubernetesObject[]): ClientObject[] {
  const keyed = objects.map((object) => ({ key: `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`, object }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map(({ object }) => object);
}

function notSynced(state: InformerState): string {
  return state.lastError !== undefined ? `${state.name} (${state.lastError.kind}: ${state.lastError.message})` : state.name;
}

/** Why readClusterObjects() did not answer: not every informer has synced, or the cache is stopped. A retry later may succeed. */
export class ClusterCacheNotReadyError extends Error {
  /** The informers that have not synced (empty when stopped). */
  readonly pending: readonly string[];

  constructor(message: string, pending: readonly string[]) {
    super(message);
    this.name = 'ClusterCacheNotReadyError';
    this.pending = pending;
  }
}

/** Starts the seven informers; their events need no handling: a reconcile reads the caches. */
export function startClusterCache(config: KubeConfig, options: ClusterCacheOptions = {}): ClusterCache {
  const specs = options.specs ?? clusterInformerSpecs(config);
  const start = (spec: InformerSpec<KubernetesObject>): RunningInformer<KubernetesObject> =>
    startInformer({
      ...spec,
      onEvent: () => undefined,
      ...(options.backoff !== undefined ? { backoff: options.backoff } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      ...(options.random !== undefined ? { random: options.random } : {}),
      ...(options.onFailure !== undefined ? { onFailure: (error: ClassifiedApiError, delay: number) => options.onFailure?.(spec.name, error, delay) } : {}),
    });
  const informers = {
    nodes: start(specs.nodes),
    pods: start(specs.pods),
    services: start(specs.services),
    endpointSlices: start(specs.endpointSlices),
    networkPolicies: start(specs.networkPolicies),
    daemonSets: start(specs.daemonSets),
    namespaces: start(specs.namespaces),
  } satisfies { readonly [K in keyof ClientClusterObjects]: RunningInformer<KubernetesObject> };
  const states = (): InformerState[] => KINDS.map((kind) => informers[kind].state());
  let stopped = false;

  return {
    readClusterObjects(): Promise<ClusterObjects> {
      if (stopped) return Promise.reject(new ClusterCacheNotReadyError('the cluster cache is stopped', []));
      const pending = states().filter((state) => !state.synced);
      if (pending.length > 0) {
        const message = `the cluster cache has not synced yet: ${pending.map(notSynced).join(', ')}`;
        return Promise.reject(new ClusterCacheNotReadyError(message, pending.map((state) => state.name)));
      }
      // Read synchronously: no event can change a cache between two of these lists.
      return Promise.resolve(
        asClusterObjects({
          nodes: inApiOrder(informers.nodes.list()),
          pods: inApiOrder(informers.pods.list()),
          services: inApiOrder(informers.services.list()),
          endpointSlices: inApiOrder(informers.endpointSlices.list()),
          networkPolicies: inApiOrder(informers.networkPolicies.list()),
          daemonSets: inApiOrder(informers.daemonSets.list()),
          namespaces: inApiOrder(informers.namespaces.list()),
        }),
      );
    },
    states,
    async stop(): Promise<void> {
      stopped = true;
      await Promise.all(KINDS.map((kind) => informers[kind].stop()));
    },
  };
}
