import { describe, expect, it } from '@jest/globals';
import { formatIp, formatPrefix } from '../model/ip.js';
import type { KubeNode } from '../model/kube-objects.js';
import { flannelMode, readLease, vxlanDeviceName, type FlannelLease } from './flannel.js';

const node = (annotations: Record<string, string> | undefined, spec: KubeNode['spec'] = { podCIDR: '10.244.1.0/24' }): KubeNode => ({
  metadata: { name: 'node2', ...(annotations !== undefined ? { annotations } : {}) },
  spec,
  status: { addresses: [{ type: 'InternalIP', address: '10.99.0.12' }] },
});

const FLANNEL = {
  'flannel.alpha.coreos.com/backend-type': 'vxlan',
  'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"7E:9F:F2:79:EF:31"}',
  'flannel.alpha.coreos.com/public-ip': '10.99.0.22',
  'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
};

function view(lease: FlannelLease | undefined): unknown {
  if (lease === undefined) return undefined;
  return { cidr: formatPrefix(lease.podCIDR), type: lease.backendType, ip: lease.publicIp === undefined ? undefined : formatIp(lease.publicIp), vni: lease.vni, mac: lease.vtepMac };
}

describe('readLease', () => {
  it.each<[string, KubeNode, unknown]>([
    ['the annotations flanneld writes (MAC lower-cased)', node(FLANNEL), { cidr: '10.244.1.0/24', type: 'vxlan', ip: '10.99.0.22', vni: 1, mac: '7e:9f:f2:79:ef:31' }],
    ['no annotations: the InternalIP stands for the public-ip', node(undefined), { cidr: '10.244.1.0/24', type: undefined, ip: '10.99.0.12', vni: undefined, mac: undefined }],
    [
      'another --kube-annotation-prefix',
      node({ 'example.com/backend-type': 'host-gw', 'example.com/public-ip': '10.99.0.9', 'example.com/kube-subnet-manager': 'true' }),
      { cidr: '10.244.1.0/24', type: 'host-gw', ip: '10.99.0.9', vni: undefined, mac: undefined },
    ],
    ['unreadable backend-data: VNI and VtepMAC unknown', node({ ...FLANNEL, 'flannel.alpha.coreos.com/backend-data': '{not json' }), { cidr: '10.244.1.0/24', type: 'vxlan', ip: '10.99.0.22', vni: undefined, mac: undefined }],
    ['dual stack: the IPv4 podCIDR', node(FLANNEL, { podCIDRs: ['fd00:10:244:1::/64', '10.244.1.0/24'] }), { cidr: '10.244.1.0/24', type: 'vxlan', ip: '10.99.0.22', vni: 1, mac: '7e:9f:f2:79:ef:31' }],
    ['no podCIDR: no lease', node(FLANNEL, {}), undefined],
  ])('%s', (_name, n, expected) => {
    expect(view(readLease(n))).toEqual(expected);
  });

  it('summarises the lease in the words of the annotations', () => {
    expect(readLease(node(FLANNEL))?.summary).toBe(
      'node node2\'s lease (podCIDR 10.244.1.0/24, backend-type vxlan, public-ip 10.99.0.22, backend-data {"VNI":1,"VtepMAC":"7E:9F:F2:79:EF:31"})',
    );
  });
});

describe('flannelMode', () => {
  const lease = (node: string, backendType?: string): FlannelLease => ({
    node,
    podCIDR: { family: 4, network: 0n, length: 24 },
    ...(backendType !== undefined ? { backendType } : {}),
    summary: node,
  });
  it.each<[string, FlannelLease[], string, unknown]>([
    ["the node's own backend-type", [lease('a', 'host-gw'), lease('b', 'vxlan')], 'a', { kind: 'mode', mode: 'host-gw' }],
    ["another node's when the node has none", [lease('a'), lease('b', 'vxlan')], 'a', { kind: 'mode', mode: 'vxlan' }],
    ['a backend that is not modelled', [lease('a', 'wireguard')], 'a', { kind: 'unsupported', backendType: 'wireguard' }],
    ['no annotation and no state: host-gw', [lease('a')], 'a', { kind: 'mode', mode: 'host-gw' }],
  ])('%s', (_name, leases, at, expected) => {
    expect(flannelMode(leases, at, undefined)).toEqual(expected);
  });

  it('names the VXLAN device after the VNI, flannel.1 by default', () => {
    expect([vxlanDeviceName(undefined), vxlanDeviceName(4096)]).toEqual(['flannel.1', 'flannel.4096']);
  });
});
