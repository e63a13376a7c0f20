// The namespaces a diagnosis may walk through, by netnode id, built from the cluster state without
// parsing any dump: a deferred namespace is parsed the first time the walk reads its state, so the
// cost of a diagnosis follows the namespaces on its path, not the size of the cluster.

import { objectKey } from '../model/kube-objects.js';
import { loadDeferredNetns, type ClusterState, type NetnsRecord } from '../plugins/cluster-state.js';
import type { NetnsState } from '../plugins/netns-state.js';
import { NetnsUnreadableError } from '../plugins/netns-trace.js';
import type { NetnsRef } from '../plugins/plugin.js';

/** Why a namespace has no state, and on which node it is. */
export interface MissingNetns {
  readonly reason: string;
  readonly nodeName?: string;
  readonly collectorFailed?: boolean;
}

export interface NetnsRefs {
  readonly nodes: ReadonlyMap<string, NetnsRef>;
  readonly pods: ReadonlyMap<string, NetnsRef>;
  /** The pods (with a netns) of each node, by node name. */
  readonly podsOnNode: ReadonlyMap<string, readonly NetnsRef[]>;
  /** Namespaces without state: id → why, and on which node. */
  readonly missing: ReadonlyMap<string, MissingNetns>;
}

function refOf(id: string, type: NetnsRef['type'], nodeName: string, record: Exclude<NetnsRecord, { kind: 'missing' }>): NetnsRef {
  if (record.kind === 'present') return { id, type, nodeName, state: record.state };
  let state: NetnsState | undefined;
  return {
    id,
    type,
    nodeName,
    get state(): NetnsState {
      if (state === undefined) {
        try {
          state = loadDeferredNetns(record);
        } catch (error) {
          throw new NetnsUnreadableError(id, error);
        }
      }
      return state;
    },
  };
}

export function buildNetnsRefs(cluster: ClusterState): NetnsRefs {
  const nodes = new Map<string, NetnsRef>();
  const pods = new Map<string, NetnsRef>();
  const podsOnNode = new Map<string, NetnsRef[]>();
  const missing = new Map<string, MissingNetns>();
  for (const node of cluster.objects.nodes) {
    const name = node.metadata.name;
    const record = cluster.netns.nodes[name];
    if (record === undefined || record.kind === 'missing') missing.set(name, { reason: record?.reason ?? 'no record of its host netns', nodeName: name, collectorFailed: record?.collectorFailed === true });
    else nodes.set(name, refOf(name, 'node', name, record));
  }
  for (const pod of cluster.objects.pods) {
    const nodeName = pod.spec.nodeName;
    if (pod.spec.hostNetwork === true || nodeName === undefined) continue;
    const key = objectKey(pod.metadata);
    const record = cluster.netns.pods[key];
    if (record === undefined || record.kind === 'missing') {
      missing.set(key, { reason: record?.reason ?? 'no record of its netns', nodeName, collectorFailed: record?.collectorFailed === true });
      continue;
    }
    const ref = refOf(key, 'pod', nodeName, record);
    pods.set(key, ref);
    const onNode = podsOnNode.get(nodeName);
    if (onNode === undefined) podsOnNode.set(nodeName, [ref]);
    else onNode.push(ref);
  }
  return { nodes, pods, podsOnNode, missing };
}
