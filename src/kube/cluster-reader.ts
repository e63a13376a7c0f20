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
function plainMeta(meta: V1ObjectMeta | undefined): ObjectMeta | undefined {
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

/**
 * The client's object as the engine's type: the same field names (both follow the API), the
 * metadata made plain. The engine's types are subsets of the API's, so only the name is checked.
 */
function asEngine<T>(items: readonly { readonly metadata?: V1ObjectMeta }[]): T[] {
  const out: T[] = [];
  for (const item of items) {
    const metadata = plainMeta(item.metadata);
    if (metadata !== undefined) out.push({ ...item, metadata } as unknown as T);
  }
  return out;
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
      return {
        nodes: asEngine<KubeNode>(nodes),
        pods: asEngine<KubePod>(pods),
        services: asEngine<KubeService>(services),
        endpointSlices: asEngine<KubeEndpointSlice>(endpointSlices),
        networkPolicies: asEngine<KubeNetworkPolicy>(networkPolicies),
        daemonSets: asEngine<KubeDaemonSet>(daemonSets),
        namespaces: asEngine<KubeNamespace>(namespaces),
      };
    },
  };
}
