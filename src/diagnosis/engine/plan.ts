// Which nodes a diagnosis needs snapshots of, from the objects alone: the nodes of both ends, and
// for a service every node with a ready endpoint (kube-proxy may pick any of them). The controller
// starts one collector on each. A path may still cross a node not planned (a route through a third
// node); the diagnosis then names it as SnapshotIncomplete, and a second collection can add it.

import type { DiagnosisQuery, QueryEndpoint } from '../model/diagnosis.js';
import { parseIp } from '../model/ip.js';
import { objectKey, sliceServiceKey, type ClusterObjects, type KubeService } from '../model/kube-objects.js';
import type { Warning } from '../model/warning.js';
import { buildIpCache, type IpCache } from './ip-cache.js';

export interface CollectionPlan {
  /** Node names, sorted, each with why it is needed. */
  readonly nodes: readonly { readonly name: string; readonly why: readonly string[] }[];
  /** What could not be placed (an unknown object, a pod not scheduled, an address outside the cluster). */
  readonly warnings: readonly Warning[];
}

function endpointNodes(objects: ClusterObjects, ipCache: IpCache, service: KubeService, add: (node: string | undefined, why: string) => void): void {
  const key = objectKey(service.metadata);
  for (const slice of objects.endpointSlices) {
    if (sliceServiceKey(slice) !== key) continue;
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      for (const address of endpoint.addresses) {
        const ip = parseIp(address);
        const owner = ip === undefined ? undefined : ipCache.lookup(ip);
        const node = endpoint.nodeName ?? (owner?.kind === 'pod' ? owner.pod.spec.nodeName : owner?.kind === 'node' ? owner.name : undefined);
        add(node, `endpoint ${address} of service ${key}`);
      }
    }
  }
}

/** The nodes to collect for `query`. */
export function planCollection(objects: ClusterObjects, query: DiagnosisQuery): CollectionPlan {
  const ipCache = buildIpCache(objects);
  const nodes = new Map<string, string[]>();
  const warnings: Warning[] = [];
  const add = (node: string | undefined, why: string): void => {
    if (node === undefined) {
      warnings.push({ code: 'no-node', message: `${why} is on no node` });
      return;
    }
    nodes.set(node, [...(nodes.get(node) ?? []), why]);
  };
  /** A node, and as a destination the endpoints of the NodePort service on the port, if any. */
  const placeNode = (name: string, why: string, role: 'source' | 'destination'): void => {
    add(name, why);
    if (role !== 'destination' || query.protocol === 'ICMP') return;
    const service = ipCache.nodePortService(query.port, query.protocol);
    if (service !== undefined) endpointNodes(objects, ipCache, service, add);
  };
  const place = (end: QueryEndpoint, role: 'source' | 'destination'): void => {
    switch (end.kind) {
      case 'pod': {
        const key = `${end.namespace}/${end.name}`;
        const pod = objects.pods.find((p) => objectKey(p.metadata) === key);
        if (pod === undefined) warnings.push({ code: 'unknown-object', message: `the ${role} pod ${key} does not exist` });
        else add(pod.spec.nodeName, `the ${role} pod ${key}`);
        return;
      }
      case 'node':
        if (!objects.nodes.some((n) => n.metadata.name === end.name)) warnings.push({ code: 'unknown-object', message: `the ${role} node ${end.name} does not exist` });
        else placeNode(end.name, `the ${role} node`, role);
        return;
      case 'service': {
        const key = `${end.namespace}/${end.name}`;
        const service = objects.services.find((s) => objectKey(s.metadata) === key);
        if (service === undefined) warnings.push({ code: 'unknown-object', message: `the ${role} service ${key} does not exist` });
        else endpointNodes(objects, ipCache, service, add);
        return;
      }
      case 'ip': {
        const ip = parseIp(end.ip);
        const owner = ip === undefined ? undefined : ipCache.lookup(ip);
        switch (owner?.kind) {
          case 'pod':
            add(owner.pod.spec.nodeName, `the ${role} ${end.ip} (pod ${owner.key})`);
            return;
          case 'node':
            placeNode(owner.name, `the ${role} ${end.ip} (node ${owner.name})`, role);
            return;
          case 'service':
            endpointNodes(objects, ipCache, owner.service, add);
            return;
          case 'external':
          case undefined:
            if (role === 'source') warnings.push({ code: 'external-source', message: `the source ${end.ip} is neither a pod nor a node` });
            return;
        }
      }
    }
  };
  place(query.source, 'source');
  place(query.destination, 'destination');
  return { nodes: [...nodes].sort(([a], [b]) => a.localeCompare(b)).map(([name, why]) => ({ name, why })), warnings };
}
