import { describe, expect, it } from '@jest/globals';
import { buildPacket } from '../model/packet.js';
import { parseIp } from '../model/ip.js';
import type { ClusterObjects, KubeNode } from '../model/kube-objects.js';
import { calicoModes, calicoVethName, checkCalicoNetns, explainCalicoFailure, isCalicoNode } from './calico.js';
import type { ClusterState } from './cluster-state.js';
import { buildNetnsState, type NetnsState } from './netns-state.js';
import type { NetnsRef } from './plugin.js';

/** A namespace with only these links (as `ip -j -d link` prints them). */
function stateWith(links: readonly Record<string, unknown>[]): NetnsState {
  const dump = (text: string, source: string): { text: string; source: string } => ({ text, source });
  return buildNetnsState({
    links: dump(JSON.stringify(links), 'ip-link.json'),
    addresses: dump('[]', 'ip-addr.json'),
    routes: dump('[]', 'ip-route.json'),
    rules: dump('[]', 'ip-rule.json'),
    iptablesSave: dump('', 'iptables-save'),
    sysctls: dump('', 'sysctl'),
  });
}

const link = (ifindex: number, ifname: string, kind?: string): Record<string, unknown> => ({
  ifindex,
  ifname,
  flags: ['UP', 'LOWER_UP'],
  mtu: 1500,
  operstate: 'UP',
  ...(kind !== undefined ? { linkinfo: { info_kind: kind, ...(kind === 'vxlan' ? { info_data: { id: 4096, port: 4789 } } : {}) } } : {}),
});

const node = (annotations?: Record<string, string>): KubeNode => ({ metadata: { name: 'node1', ...(annotations !== undefined ? { annotations } : {}) } });

describe('calicoVethName', () => {
  it.each([
    // A workload endpoint as calicoctl lists it on a real cluster: db-8d66ff5f7-bp6kf → cali95aa86cbb2a.
    ['default', 'db-8d66ff5f7-bp6kf', 'cali95aa86cbb2a'],
    ['default', 'pod1', 'calice0906292e2'],
  ])('%s/%s → %s (cali + sha1 of "namespace.pod", 11 hex digits)', (namespace, pod, name) => {
    expect(calicoVethName(namespace, pod)).toBe(name);
  });
});

describe('calicoModes and isCalicoNode', () => {
  it.each<[string, NetnsState, KubeNode, string[], boolean]>([
    ['vxlan.calico present', stateWith([link(1, 'lo'), link(2, 'eth0'), link(3, 'vxlan.calico', 'vxlan')]), node(), ['vxlan'], true],
    ['tunl0 of kind ipip', stateWith([link(1, 'lo'), link(2, 'eth0'), link(3, 'tunl0', 'ipip')]), node(), ['ipip'], true],
    ['only the annotation of the VXLAN tunnel address', stateWith([link(1, 'lo')]), node({ 'projectcalico.org/IPv4VXLANTunnelAddr': '192.168.21.64' }), ['vxlan'], false],
    ['no tunnel, calico-node annotated the node: BGP', stateWith([link(1, 'lo'), link(2, 'eth0')]), node({ 'projectcalico.org/IPv4Address': '10.99.0.11/24' }), ['bgp'], true],
    ['a cali veth: calico', stateWith([link(1, 'lo'), link(2, 'calice0906292e2', 'veth')]), node(), ['bgp'], true],
    ['a flannel node is not calico', stateWith([link(1, 'lo'), link(2, 'flannel.1', 'vxlan'), link(3, 'cni0', 'bridge'), link(4, 'veth1234', 'veth')]), node(), ['bgp'], false],
  ])('%s', (_name, state, n, modes, calico) => {
    expect({ modes: [...calicoModes(state, n)], calico: isCalicoNode(state, n) }).toEqual({ modes, calico });
  });
});

const OBJECTS: ClusterObjects = {
  nodes: [node()],
  pods: [
    { metadata: { name: 'db-8d66ff5f7-bp6kf', namespace: 'default', labels: { app: 'db' } }, spec: { nodeName: 'node1' }, status: { podIP: '10.88.0.26' } },
    { metadata: { name: 'frontend', namespace: 'default', labels: { app: 'frontend' } }, spec: { nodeName: 'node1' }, status: { podIP: '10.88.0.24' } },
  ],
  services: [],
  endpointSlices: [],
  networkPolicies: [
    { metadata: { name: 'allow-db-access', namespace: 'default' }, spec: { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { allow: 'true' } } }] }] } },
    { metadata: { name: 'other-namespace', namespace: 'prod' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } },
    { metadata: { name: 'egress-only', namespace: 'default' }, spec: { podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] }, policyTypes: ['Egress'] } },
  ],
  daemonSets: [],
};

describe('explainCalicoFailure', () => {
  const state = stateWith([link(1, 'lo')]);
  const cluster: ClusterState = { objects: OBJECTS, netns: { nodes: {}, pods: {} } };
  const at: NetnsRef = { id: 'node1', type: 'node', nodeName: 'node1', state };
  const packet = buildPacket({ protocol: 'tcp', src: parseIp('10.88.0.24') ?? { family: 4, value: 0n }, dst: parseIp('10.88.0.26') ?? { family: 4, value: 0n }, sport: 40000, dport: 80 });
  const failure = (chain: string, rule: string): Parameters<typeof explainCalicoFailure>[0] => ({
    cluster,
    direction: 'request',
    at,
    packet,
    cause: { kind: 'netfilter', table: 'filter', chain, rule, target: 'DROP' },
  });

  it('a drop in cali-tw-X names the pod behind X and the ingress policies selecting it', () => {
    const rule = '-A cali-tw-cali95aa86cbb2a -m comment --comment "cali:FUDVBYh1Yr6tVRgq" -m comment --comment "Drop if no policies passed packet" -m mark --mark 0x0/0x20000 -j DROP';
    expect(explainCalicoFailure(failure('cali-tw-cali95aa86cbb2a', rule))).toEqual([
      {
        level: 'fatal',
        node: 'node1',
        code: 'NetworkPolicyDenied',
        message: `felix's ingress chain cali-tw-cali95aa86cbb2a of pod default/db-8d66ff5f7-bp6kf drops the packet ("Drop if no policies passed packet"): no rule of the NetworkPolicies selecting it (default/allow-db-access) allows 10.88.0.24 → 10.88.0.26:80`,
      },
    ]);
  });

  it('a drop in cali-fw-X is the egress side (the Egress policy selecting the pod by expression)', () => {
    const [s] = explainCalicoFailure(failure('cali-fw-cali95aa86cbb2a', '-A cali-fw-cali95aa86cbb2a -m comment --comment "cali:x" -m comment --comment "Drop if no profiles matched" -j DROP'));
    expect(s?.message).toContain("felix's egress chain cali-fw-cali95aa86cbb2a of pod default/db-8d66ff5f7-bp6kf drops the packet (\"Drop if no profiles matched\")");
    expect(s?.message).toContain('(default/egress-only)');
  });

  it('a Deny rule in a policy chain names the chain and the rule', () => {
    const rule = '-A cali-pi-_tTE-E7yY40ogArNVgK -m comment --comment "cali:x" -m set --match-set cali40s:abc src -j DROP';
    expect(explainCalicoFailure(failure('cali-pi-_tTE-E7yY40ogArNVgK', rule))).toEqual([
      { level: 'fatal', node: 'node1', code: 'NetworkPolicyDenied', message: `felix's inbound policy chain cali-pi-_tTE-E7yY40ogArNVgK denies 10.88.0.24 → 10.88.0.26:80: ${rule}` },
    ]);
  });

  it.each([
    ['a drop in another chain', 'KUBE-FIREWALL', '-A KUBE-FIREWALL -j DROP'],
    ['a drop in a dispatch chain', 'cali-to-wl-dispatch', '-A cali-to-wl-dispatch -m comment --comment "Unknown interface" -j DROP'],
    ['a conntrack INVALID drop in cali-tw-X', 'cali-tw-cali95aa86cbb2a', '-A cali-tw-cali95aa86cbb2a -m comment --comment "cali:_krp5nzavhAu5avJ" -m conntrack --ctstate INVALID -j DROP'],
  ])('%s is not a policy decision', (_name, chain, rule) => {
    expect(explainCalicoFailure(failure(chain, rule))).toEqual([]);
  });
});

describe('checkCalicoNetns', () => {
  it('says nothing about a node that does not run calico', () => {
    const state = stateWith([link(1, 'lo'), link(2, 'flannel.1', 'vxlan'), link(3, 'cni0', 'bridge')]);
    const at: NetnsRef = { id: 'node1', type: 'node', nodeName: 'node1', state };
    const podRef: NetnsRef = { id: 'default/frontend', type: 'pod', nodeName: 'node1', state: stateWith([link(1, 'lo'), link(2, 'eth0', 'veth')]) };
    const cluster: ClusterState = { objects: OBJECTS, netns: { nodes: { node1: { kind: 'present', state } }, pods: {} } };
    expect(checkCalicoNetns(cluster, at, { source: podRef })).toEqual([]);
    expect(checkCalicoNetns(cluster, podRef, { source: podRef })).toEqual([]);
  });
});
