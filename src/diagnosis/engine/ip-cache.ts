// Who owns an IP address in the cluster, built once from the objects: a pod, a node (InternalIP),
// a service (ClusterIP, externalIP, load-balancer ingress), else the outside world.

import { formatIp, parseIp, type IpAddress } from '../model/ip.js';
import {
  nodeInternalIps,
  objectKey,
  podIps,
  type KubeNode,
  type KubePod,
  type KubeService,
  type ClusterObjects,
} from '../model/kube-objects.js';

export type IpOwner =
  | { readonly kind: 'pod'; readonly key: string; readonly pod: KubePod }
  | { readonly kind: 'node'; readonly name: string; readonly node: KubeNode }
  | { readonly kind: 'service'; readonly key: string; readonly service: KubeService; readonly via: 'clusterIP' | 'externalIP' | 'loadBalancer' }
  | { readonly kind: 'external' };

export interface IpCache {
  lookup(ip: IpAddress): IpOwner;
  /** The service behind a NodePort on a node address, if any. */
  nodePortService(port: number, protocol: string): KubeService | undefined;
  /** Addresses claimed twice (a pod IP equal to a node IP...): the first owner wins. */
  readonly conflicts: readonly string[];
}

const EXTERNAL: IpOwner = { kind: 'external' };

export function buildIpCache(objects: ClusterObjects): IpCache {
  const owners = new Map<string, IpOwner>();
  const conflicts: string[] = [];
  const claim = (text: string | undefined, owner: IpOwner, what: string): void => {
    if (text === undefined || text === '' || text === 'None') return;
    const ip = parseIp(text);
    if (ip === undefined) return;
    const key = formatIp(ip);
    if (owners.has(key)) {
      conflicts.push(`${key} is claimed by ${what} and already by another object`);
      return;
    }
    owners.set(key, owner);
  };
  for (const node of objects.nodes) for (const ip of nodeInternalIps(node)) claim(ip, { kind: 'node', name: node.metadata.name, node }, `node ${node.metadata.name}`);
  for (const pod of objects.pods) {
    if (pod.spec.hostNetwork === true) continue;
    for (const ip of podIps(pod)) claim(ip, { kind: 'pod', key: objectKey(pod.metadata), pod }, `pod ${objectKey(pod.metadata)}`);
  }
  for (const service of objects.services) {
    const key = objectKey(service.metadata);
    const clusterIps = service.spec.clusterIPs ?? (service.spec.clusterIP !== undefined ? [service.spec.clusterIP] : []);
    for (const ip of clusterIps) claim(ip, { kind: 'service', key, service, via: 'clusterIP' }, `service ${key}`);
    for (const ip of service.spec.externalIPs ?? []) claim(ip, { kind: 'service', key, service, via: 'externalIP' }, `service ${key}`);
    for (const ingress of service.status?.loadBalancer?.ingress ?? []) claim(ingress.ip, { kind: 'service', key, service, via: 'loadBalancer' }, `service ${key}`);
  }
  return {
    lookup: (ip) => owners.get(formatIp(ip)) ?? EXTERNAL,
    nodePortService: (port, protocol) =>
      objects.services.find((s) => (s.spec.ports ?? []).some((p) => p.nodePort === port && (p.protocol ?? 'TCP').toUpperCase() === protocol.toUpperCase())),
    conflicts,
  };
}
