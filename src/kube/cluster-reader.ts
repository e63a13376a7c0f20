// The cluster's objects a diagnosis reads (Nodes, Pods, Services, EndpointSlices, NetworkPolicies,
// DaemonSets, Namespaces), listed from the API server and handed to the engine as its plain
// structural types (diagnosis/model/kube-objects.ts). Lists are paged; transient errors retried.

import { AppsV1Api, CoreV1Api, DiscoveryV1Api, NetworkingV1Api, type KubeConfig, type V1ObjectMeta } from '@kubernetes/client-node';
import type { ClusterObjects, KubeDaemonSet, KubeEndpointSlice, KubeNamespace, KubeNetworkPolicy, KubeNode, KubePod, KubeService, ObjectMeta } from '../diagnosis/index.js';
import { listAllPages } from './paging.js';
import type { RetryOptions } from './retry.js';

const PAGE_SIZE = 500;

function listAll<T>(resource: string, list: Parameters<typeof listAllPages<T>>[1], retry: RetryOptions): Promise<T[]> {
  return listAllPages({ description: `list ${resource}`, verb: 'list', resource }, list, PAGE_SIZE, retry);
}

/** The metadata the engine reads, as plain data; undefined for an object without a name (never from the API server). */
export function plainMeta(meta: V1ObjectMeta | undefined): ObjectMeta | undefined {
  if (meta?.name === undefined) return undefined;
  return {
    name: meta.name,
    ...(meta.namespace !== undefined ? { namespace: meta.namespace } : {}),
    ...(meta.labels !== undefined ? { labels: meta.labels } : {}),
    ...(meta.annotations !== undefined ? { annotations: meta.annotations } : {}),
    ...(meta.uid !== undefined ? { uid: meta.uid } : {}),
    // The client parses it into a Date; the engine reads RFC 3339 text, as the API serves it.
    ...(meta.creationTimestamp !== undefined ? { creationTimestamp: new Date(meta.creationTimestamp).toISOString() } : {}),
  };
}

/** An object as the client hands it out: deserialized from a list, or the API's JSON from a watch. */
export interface ClientObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: V1ObjectMeta;
}

/**
 * The client's object as the engine's type: the same field names (both follow the API), the
 * metadata made plain. The engine's types are subsets of the API's, so only the name is checked.
 * `apiVersion` and `kind` are left out: a watch event's object has them, a list's items do not,
 * and the engine's types have neither. A shallow copy: `items` are not changed.
 */
export function asEngine<T>(items: readonly ClientObject[]): T[] {
  const out: T[] = [];
  for (const { apiVersion: _apiVersion, kind: _kind, ...item } of items) {
    const metadata = plainMeta(item.metadata);
    if (metadata !== undefined) out.push({ ...item, metadata } as unknown as T);
  }
  return out;
}

interface ClientIngressRule {
  readonly _from?: unknown;
  readonly [field: string]: unknown;
}

/**
 * A NetworkPolicy with the API's field names. The client deserializes an ingress rule's `from`
 * as `_from` (its generated model avoids the word); the API's JSON of a watch event keeps `from`.
 * Without this the engine reads every listed rule as one without `from`: open to all sources.
 */
function withApiIngressNames(policy: ClientObject): ClientObject {
  const spec = (policy as { readonly spec?: { readonly ingress?: readonly ClientIngressRule[] } }).spec;
  if (spec?.ingress === undefined || !spec.ingress.some((rule) => rule._from !== undefined)) return policy;
  const ingress = spec.ingress.map(({ _from, ...rule }) => (_from === undefined ? rule : { ...rule, from: _from }));
  return { ...policy, spec: { ...spec, ingress } } as ClientObject;
}

/** The collections a diagnosis reads (every one of ClusterObjects'), as the client hands them out. */
export type ClientClusterObjects = { readonly [K in keyof ClusterObjects]-?: readonly ClientObject[] };

/** The client's collections as the engine's ClusterObjects (listed or cached alike). */
export function asClusterObjects(lists: ClientClusterObjects): ClusterObjects {
  return {
    nodes: asEngine<KubeNode>(lists.nodes),
    pods: asEngine<KubePod>(lists.pods),
    services: asEngine<KubeService>(lists.services),
    endpointSlices: asEngine<KubeEndpointSlice>(lists.endpointSlices),
    networkPolicies: asEngine<KubeNetworkPolicy>(lists.networkPolicies.map(withApiIngressNames)),
    daemonSets: asEngine<KubeDaemonSet>(lists.daemonSets),
    namespaces: asEngine<KubeNamespace>(lists.namespaces),
  };
}

export interface ClusterReader {
  readClusterObjects(): Promise<ClusterObjects>;
}

export function createClusterReader(config: KubeConfig, retry: RetryOptions = {}): ClusterReader {
  const core = config.makeApiClient(CoreV1Api);
  const apps = config.makeApiClient(AppsV1Api);
  const discovery = config.makeApiClient(DiscoveryV1Api);
  const networking = config.makeApiClient(NetworkingV1Api);
  return {
    async readClusterObjects(): Promise<ClusterObjects> {
      const [nodes, pods, services, endpointSlices, networkPolicies, daemonSets, namespaces] = await Promise.all([
        listAll('nodes', (p) => core.listNode(p), retry),
        listAll('pods', (p) => core.listPodForAllNamespaces(p), retry),
        listAll('services', (p) => core.listServiceForAllNamespaces(p), retry),
        listAll('endpointslices', (p) => discovery.listEndpointSliceForAllNamespaces(p), retry),
        listAll('networkpolicies', (p) => networking.listNetworkPolicyForAllNamespaces(p), retry),
        listAll('daemonsets', (p) => apps.listDaemonSetForAllNamespaces(p), retry),
        listAll('namespaces', (p) => core.listNamespace(p), retry),
      ]);
      return asClusterObjects({ nodes, pods, services, endpointSlices, networkPolicies, daemonSets, namespaces });
    },
  };
}
