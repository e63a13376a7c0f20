import { describe, expect, it } from '@jest/globals';
import { parseIp } from '../model/ip.js';
import type { ClusterObjects } from '../model/kube-objects.js';
import { buildIpCache } from './ip-cache.js';

const objects: ClusterObjects = {
  nodes: [{ metadata: { name: 'node1' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.11' }, { type: 'ExternalIP', address: '203.0.113.7' }] } }],
  pods: [
    { metadata: { name: 'web', namespace: 'shop' }, spec: { nodeName: 'node1' }, status: { podIP: '10.244.0.5', podIPs: [{ ip: '10.244.0.5' }, { ip: 'fd00::5' }] } },
    { metadata: { name: 'agent', namespace: 'kube-system' }, spec: { nodeName: 'node1', hostNetwork: true }, status: { podIP: '10.0.0.11' } },
    { metadata: { name: 'twin', namespace: 'shop' }, spec: { nodeName: 'node1' }, status: { podIP: '10.0.0.11' } },
  ],
  services: [
    {
      metadata: { name: 'front', namespace: 'shop' },
      spec: { clusterIP: '10.96.0.10', externalIPs: ['192.0.2.10'], ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }] },
      status: { loadBalancer: { ingress: [{ ip: '198.51.100.4' }, { hostname: 'lb.example' }] } },
    },
    { metadata: { name: 'headless', namespace: 'shop' }, spec: { clusterIP: 'None' } },
  ],
  endpointSlices: [],
  networkPolicies: [],
  daemonSets: [],
};

const cache = buildIpCache(objects);

function ownerOf(text: string): string {
  const ip = parseIp(text);
  if (ip === undefined) throw new Error(text);
  const owner = cache.lookup(ip);
  switch (owner.kind) {
    case 'pod':
      return `pod ${owner.key}`;
    case 'node':
      return `node ${owner.name}`;
    case 'service':
      return `service ${owner.key} ${owner.via}`;
    case 'external':
      return 'external';
  }
}

describe('buildIpCache', () => {
  it.each([
    ['10.244.0.5', 'pod shop/web'],
    ['fd00::5', 'pod shop/web'],
    ['10.0.0.11', 'node node1'],
    ['203.0.113.7', 'external'],
    ['10.96.0.10', 'service shop/front clusterIP'],
    ['192.0.2.10', 'service shop/front externalIP'],
    ['198.51.100.4', 'service shop/front loadBalancer'],
    ['8.8.8.8', 'external'],
  ])('%s is owned by %s', (ip, expected) => {
    expect(ownerOf(ip)).toBe(expected);
  });

  it('skips host-network pods and reports an address claimed twice', () => {
    expect(cache.conflicts).toEqual(['10.0.0.11 is claimed by pod shop/twin and already by another object']);
  });

  it('finds the service behind a NodePort by port and protocol', () => {
    expect(cache.nodePortService(30080, 'tcp')?.metadata.name).toBe('front');
    expect(cache.nodePortService(30080, 'UDP')).toBeUndefined();
  });
});
