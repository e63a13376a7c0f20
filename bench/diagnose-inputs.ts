// The synthetic cluster of the `diagnose` bench: Node, Pod, Service and EndpointSlice objects, and
// a `deferred` network namespace record for every node and pod whose load() writes that
// namespace's dumps (`ip -j` link/addr/route/rule/neigh, `bridge -j fdb`, sysctls, `ss -Htuln`,
// iptables-save) and parses them, so nothing is parsed until the walk reads it.
//
// The layout is that of a flat cluster with the reference bridge CNI and host-gw routing (as in
// test/support/mini-cluster.ts): node k has eth0 (a physical NIC, no link kind) with the address
// 10.0.x.y of the underlay 10.0.0.0/16 (`nodeAddress`, gateway 10.0.0.1), the pod CIDR
// 10.(128 + k / 256).(k % 256).0/24 out of the cluster CIDR 10.128.0.0/9 with its first address on
// the bridge cni0, one veth per pod enslaved to cni0, and a route to every other node's pod CIDR
// via that node's InternalIP. Pod j of a node has eth0 (the veth's peer: ifindex 2, link_index
// = the host end's ifindex, and back) with the address .(2 + j) and a default route via cni0's
// address; every pod listens on TCP 8080 and UDP 5353, the target ports of kube-proxy's rules.
// Each node's CNI configuration (in the ClusterState) is the bridge plugin's, with host-local IPAM
// on the node's podCIDR and hairpin mode, as the operator reads it to pick the bridge plugin.
// Every node carries the same kube-proxy rules for all services (test/support/kube-proxy-rules.ts,
// iptables mode), generated once: every node's load() hands the parser the same string.
//
// Services are backed by "deployments": replicas on distinct nodes chosen by a seeded PRNG, in the
// service's namespace, labelled `app: web-N`, which the service selects. When the pods do not
// suffice for a deployment per service (a small cluster with the same 5,000 services), services of
// a namespace share its deployments, as several services selecting one app do. Pods that back no
// service are idle pods in the namespace `idle`. Pure (no I/O).

import {
  buildNetnsState,
  type CniConfigFile,
  type ClusterObjects,
  type ClusterState,
  type DiagnosisQuery,
  type KubeEndpointSlice,
  type KubeNode,
  type KubePod,
  type KubeService,
  type NetnsDumps,
  type NetnsRecord,
} from '../src/diagnosis/index.js';
import { buildKubeProxyRules, type KubeProxyRules, type KubeProxyService } from '../test/support/kube-proxy-rules.js';
import { Prng } from '../test/support/prng.js';
import { nodeAddress } from './node-dumps.js';

export interface SyntheticClusterOptions {
  /** At most 32,768 (one /24 of 10.128.0.0/9 each). */
  readonly nodes: number;
  /** At most 253 (.2 to .254 of the node's /24). */
  readonly podsPerNode: number;
  /** Generated services (`default/kubernetes` comes on top). */
  readonly services: number;
  /** Replicas of each deployment, on distinct nodes: the endpoints of a service that has some. */
  readonly endpointsPerService: number;
  readonly seed: number;
}

/** One node of the layout. */
export interface SyntheticNode {
  readonly index: number;
  readonly name: string;
  readonly ip: string;
  readonly podCidr: string;
  /** cni0's address, the pods' default gateway. */
  readonly gateway: string;
}

/** One pod: on node `node`, in slot `slot` (address .(2 + slot), host veth ifindex 4 + slot). */
export interface SyntheticPod {
  readonly node: number;
  readonly slot: number;
  readonly namespace: string;
  readonly name: string;
  readonly ip: string;
  readonly app: string;
}

export interface SyntheticCluster {
  readonly options: SyntheticClusterOptions;
  readonly objects: ClusterObjects;
  readonly nodes: readonly SyntheticNode[];
  /** By node, by slot. */
  readonly pods: readonly (readonly SyntheticPod[])[];
  /** kube-proxy's rules (the same on every node) and their ground truth. */
  readonly rules: KubeProxyRules;
  /** A pod to a TCP service none of whose endpoints is on the pod's node. */
  readonly query: DiagnosisQuery;
  /** The query's service and client. */
  readonly target: { readonly service: KubeProxyService; readonly client: SyntheticPod };
  /**
   * A fresh ClusterState over the objects: every namespace `deferred`, nothing parsed;
   * `onLoad` is told of every load() (a namespace's dumps written and parsed) and how long it took.
   */
  clusterState(onLoad?: (id: string, type: 'node' | 'pod', ms: number) => void): ClusterState;
  /** The dumps of node `k`'s host namespace, written now. */
  nodeDumps(k: number): NetnsDumps;
  /** The dumps of a pod's namespace, written now. */
  podDumps(pod: SyntheticPod): NetnsDumps;
}

export const CLUSTER_CIDR = '10.128.0.0/9';
const UNDERLAY_PREFIX = 16;
const UNDERLAY_GATEWAY = '10.0.0.1';
const UNDERLAY_BROADCAST = '10.0.255.255';
/** The ports kube-proxy-rules.ts gives endpoints: TCP 8080, UDP 5353. */
const TCP_TARGET_PORT = 8080;
const UDP_TARGET_PORT = 5353;
/** How many other nodes a node has an ARP entry for (those it talked to lately). */
const NODE_NEIGHBORS = 64;

const hex2 = (n: number): string => (n & 255).toString(16).padStart(2, '0');

/** A locally administered MAC: `kind` 1 node eth0, 2 cni0, 3 host veth, 4 pod eth0, 5 gateway. */
function mac(kind: number, node: number, slot: number): string {
  return `02:${hex2(kind)}:${hex2(node >> 8)}:${hex2(node)}:${hex2(slot >> 8)}:${hex2(slot)}`;
}

/** The EUI-64 link-local address the kernel gives a device with this MAC. */
function linkLocal(address: string): string {
  const b = address.split(':').map((x) => Number.parseInt(x, 16));
  const group = (hi: number, lo: number): string => ((hi << 8) | lo).toString(16);
  return `fe80::${group((b[0] ?? 0) ^ 2, b[1] ?? 0)}:${group(b[2] ?? 0, 0xff)}:${group(0xfe, b[3] ?? 0)}:${group(b[4] ?? 0, b[5] ?? 0)}`;
}

/** The first three octets of node k's pod CIDR. */
function podNet(k: number): string {
  return `10.${128 + (k >> 8)}.${k & 255}`;
}

/** The name of the host end of a pod's veth, as the bridge CNI makes it (`veth` + 8 hex digits). */
function hostVethName(node: number, slot: number): string {
  return `veth${((node * 256 + slot) >>> 0).toString(16).padStart(8, '0')}`;
}

type Json = Record<string, unknown>;

const LINK_COMMON = { qdisc: 'noqueue', linkmode: 'DEFAULT', group: 'default', txqlen: 1000 };
const FOREVER = { valid_life_time: 4294967295, preferred_life_time: 4294967295 };
const LO_LINK = { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], mtu: 65536, operstate: 'UNKNOWN', ...LINK_COMMON, link_type: 'loopback', address: '00:00:00:00:00:00', broadcast: '00:00:00:00:00:00' };
const LO_ADDR = {
  ...LO_LINK,
  addr_info: [
    { family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host', label: 'lo', ...FOREVER },
    { family: 'inet6', local: '::1', prefixlen: 128, scope: 'host', ...FOREVER },
  ],
};
const DEFAULT_RULES = JSON.stringify([
  { priority: 0, src: 'all', table: 'local' },
  { priority: 32766, src: 'all', table: 'main' },
  { priority: 32767, src: 'all', table: 'default' },
]);

function kernelRoute(type: 'local' | 'broadcast', dst: string, dev: string, prefsrc: string): Json {
  return { type, dst, dev, table: 'local', protocol: 'kernel', scope: type === 'local' ? 'host' : 'link', prefsrc, flags: [] };
}

function loopbackRoutes(): Json[] {
  return [kernelRoute('local', '127.0.0.0/8', 'lo', '127.0.0.1'), kernelRoute('local', '127.0.0.1', 'lo', '127.0.0.1'), kernelRoute('broadcast', '127.255.255.255', 'lo', '127.0.0.1')];
}

/** The IPv6 routes `table all` lists too: link-local per device, ::1, multicast. */
function ipv6Routes(devices: readonly string[]): Json[] {
  return [
    ...devices.map((dev) => ({ type: 'unicast', dst: 'fe80::/64', dev, table: 'main', protocol: 'kernel', scope: 'global', metric: 256, flags: [], pref: 'medium' })),
    { type: 'local', dst: '::1', dev: 'lo', table: 'local', protocol: 'kernel', scope: 'global', metric: 0, flags: [], pref: 'medium' },
    ...devices.map((dev) => ({ type: 'multicast', dst: 'ff00::/8', dev, table: 'local', protocol: 'kernel', scope: 'global', metric: 256, flags: [], pref: 'medium' })),
  ];
}

/** `sysctl net.ipv4.ip_forward net.ipv4.conf net.bridge` for these devices. */
function sysctlText(forward: boolean, devices: readonly string[], rpFilter: (dev: string) => number, routeLocalnet: boolean): string {
  const lines = [`net.ipv4.ip_forward = ${forward ? 1 : 0}`];
  for (const dev of ['all', 'default', ...devices]) {
    lines.push(
      `net.ipv4.conf.${dev}.accept_local = 0`,
      `net.ipv4.conf.${dev}.forwarding = ${forward ? 1 : 0}`,
      `net.ipv4.conf.${dev}.ignore_routes_with_linkdown = 0`,
      `net.ipv4.conf.${dev}.route_localnet = ${routeLocalnet && dev === 'all' ? 1 : 0}`,
      `net.ipv4.conf.${dev}.rp_filter = ${rpFilter(dev)}`,
      `net.ipv4.conf.${dev}.send_redirects = 1`,
      `net.ipv4.conf.${dev}.src_valid_mark = 0`,
    );
  }
  lines.push('net.bridge.bridge-nf-call-arptables = 1', 'net.bridge.bridge-nf-call-ip6tables = 1', 'net.bridge.bridge-nf-call-iptables = 1');
  return `${lines.join('\n')}\n`;
}

const POD_LISTENERS = `tcp   LISTEN 0      4096               *:${TCP_TARGET_PORT}            *:*\nudp   UNCONN 0      0                  *:${UDP_TARGET_PORT}            *:*\n`;
const NODE_LISTENERS = [
  'tcp   LISTEN 0      4096       127.0.0.1:10248      0.0.0.0:*',
  'tcp   LISTEN 0      4096       127.0.0.1:10249      0.0.0.0:*',
  'tcp   LISTEN 0      4096         0.0.0.0:22         0.0.0.0:*',
  'tcp   LISTEN 0      4096               *:10250            *:*',
  'tcp   LISTEN 0      4096               *:10256            *:*',
];
/** kube-apiserver, on the node that holds `default/kubernetes`'s endpoint. */
const APISERVER_LISTENER = 'tcp   LISTEN 0      4096               *:6443             *:*';

/** The replicas of one app, on distinct nodes; the services that select it. */
/** The nodes' CNI configuration: the reference bridge plugin with host-local IPAM on the node's podCIDR. */
export const CNI_CONFIG_PATH = '/etc/cni/net.d/10-bridge.conflist';

function bridgeConflist(node: SyntheticNode): string {
  const bridge = {
    type: 'bridge',
    bridge: 'cni0',
    isGateway: true,
    ipMasq: false,
    hairpinMode: true,
    ipam: { type: 'host-local', subnet: node.podCidr, routes: [{ dst: '0.0.0.0/0' }], dataDir: '/var/lib/cni/networks' },
  };
  return `${JSON.stringify({ cniVersion: '1.0.0', name: 'bridge-net', plugins: [bridge] }, null, 2)}\n`;
}

interface Deployment {
  readonly pods: readonly SyntheticPod[];
}

/** Builds the cluster. Same options, same cluster. */
export function buildSyntheticCluster(options: SyntheticClusterOptions): SyntheticCluster {
  const { nodes: nodeCount, podsPerNode, services: serviceCount, endpointsPerService, seed } = options;
  if (nodeCount < 2 || nodeCount > 32768) throw new Error(`${nodeCount} nodes: need 2 to 32768`);
  if (podsPerNode < 1 || podsPerNode > 253) throw new Error(`${podsPerNode} pods per node: need 1 to 253`);
  if (endpointsPerService < 1 || endpointsPerService >= nodeCount) throw new Error(`${endpointsPerService} endpoints per service: need 1 to nodes - 1 (replicas on distinct nodes, none on the client's)`);
  const prng = new Prng(seed);

  const nodes: SyntheticNode[] = Array.from({ length: nodeCount }, (_, k) => ({
    index: k,
    name: `node-${k}`,
    ip: nodeAddress(k),
    podCidr: `${podNet(k)}.0/24`,
    gateway: `${podNet(k)}.1`,
  }));
  const apiserverNode = 0;

  // Which generated services have endpoints, and their namespaces: the generator's own answer
  // (a first pass that asks for no endpoint at all, cheap: every service is a REJECT rule).
  const withEndpoints: number[] = [];
  const plan = buildKubeProxyRules({
    services: serviceCount,
    endpointsPerService: 0,
    clusterCidr: CLUSTER_CIDR,
    nodeIp: nodes[apiserverNode]?.ip ?? '',
    endpointAddresses: (i) => {
      withEndpoints.push(i);
      return [];
    },
  });
  const namespaceOf = new Map<number, string>();
  for (const s of plan.services) {
    const m = /^svc-(\d+)$/.exec(s.name);
    if (m !== null) namespaceOf.set(Number(m[1]), s.namespace);
  }
  const servicesByNamespace = new Map<string, number[]>();
  for (const i of withEndpoints) {
    const ns = namespaceOf.get(i) ?? 'default';
    const list = servicesByNamespace.get(ns);
    if (list === undefined) servicesByNamespace.set(ns, [i]);
    else list.push(i);
  }

  // Deployments: as many per namespace as its services, or as the pods allow.
  const totalPods = nodeCount * podsPerNode;
  const perNamespace = Math.floor(totalPods / Math.max(1, servicesByNamespace.size) / endpointsPerService);
  if (servicesByNamespace.size > 0 && perNamespace < 1) {
    throw new Error(`${totalPods} pods cannot hold ${endpointsPerService} replicas in each of ${servicesByNamespace.size} namespaces`);
  }
  const pods: (SyntheticPod | undefined)[][] = nodes.map(() => Array.from({ length: podsPerNode }, () => undefined));
  const nextFree = nodes.map(() => 0);
  const open: number[] = nodes.map((n) => n.index); // nodes with a free slot
  const place = (k: number, namespace: string, name: string, app: string): SyntheticPod => {
    const slot = nextFree[k] ?? 0;
    nextFree[k] = slot + 1;
    const pod = { node: k, slot, namespace, name, ip: `${podNet(k)}.${2 + slot}`, app };
    (pods[k] ?? [])[slot] = pod;
    if (slot + 1 >= podsPerNode) open.splice(open.indexOf(k), 1);
    return pod;
  };
  const deploymentOf = new Map<number, Deployment>();
  for (const [namespace, indices] of servicesByNamespace) {
    const count = Math.min(indices.length, perNamespace);
    const deployments: Deployment[] = [];
    for (let d = 0; d < count; d++) {
      if (open.length < endpointsPerService) throw new Error(`no ${endpointsPerService} distinct nodes with a free pod slot left`);
      const app = `web-${d}`;
      const chosen = prng.sample(open, endpointsPerService);
      deployments.push({ pods: chosen.map((k, r) => place(k, namespace, `${app}-${r}`, app)) });
    }
    indices.forEach((i, n) => {
      const deployment = deployments[n % count];
      if (deployment !== undefined) deploymentOf.set(i, deployment);
    });
  }
  for (const node of nodes) {
    for (let slot = nextFree[node.index] ?? 0; slot < podsPerNode; slot++) place(node.index, 'idle', `idle-${node.index}-${slot}`, 'idle');
  }
  const podGrid: SyntheticPod[][] = pods.map((row) => row.filter((p): p is SyntheticPod => p !== undefined));

  const rules = buildKubeProxyRules({
    services: serviceCount,
    endpointsPerService,
    clusterCidr: CLUSTER_CIDR,
    nodeIp: nodes[apiserverNode]?.ip ?? '',
    endpointAddresses: (i) => (deploymentOf.get(i)?.pods ?? []).map((p) => p.ip),
  });
  const podByIp = new Map<string, SyntheticPod>();
  for (const row of podGrid) for (const p of row) podByIp.set(p.ip, p);

  const objects = buildObjects(nodes, podGrid, rules, podByIp);

  // The query: a random TCP service with endpoints, from a pod on a node that holds none of them.
  const candidates = rules.services.filter((s) => s.protocol === 'tcp' && s.endpoints.length > 0 && s.name !== 'kubernetes');
  const service = prng.pick(candidates);
  const endpointNodes = new Set(service.endpoints.map((e) => podByIp.get(e.ip)?.node));
  const clientNode = prng.pick(nodes.filter((n) => !endpointNodes.has(n.index)));
  const client = prng.pick(podGrid[clientNode.index] ?? []);
  const query: DiagnosisQuery = {
    source: { kind: 'pod', namespace: client.namespace, name: client.name },
    destination: { kind: 'service', namespace: service.namespace, name: service.name },
    port: service.port,
    protocol: 'TCP',
  };

  const cniConfigs: Record<string, readonly CniConfigFile[]> = {};
  for (const node of nodes) cniConfigs[node.name] = [{ path: CNI_CONFIG_PATH, content: bridgeConflist(node) }];

  const nodeDumps = (k: number): NetnsDumps => buildNodeNetns(nodes, podGrid[k] ?? [], k, rules.text, k === apiserverNode, seed);
  const podDumps = (pod: SyntheticPod): NetnsDumps => buildPodNetns(pod);

  return {
    options,
    objects,
    nodes,
    pods: podGrid,
    rules,
    query,
    target: { service, client },
    nodeDumps,
    podDumps,
    clusterState: (onLoad) => {
      const nodeRecords: Record<string, NetnsRecord> = {};
      const podRecords: Record<string, NetnsRecord> = {};
      for (const node of nodes) {
        nodeRecords[node.name] = {
          kind: 'deferred',
          load: () => {
            const started = performance.now();
            const state = buildNetnsState(nodeDumps(node.index));
            onLoad?.(node.name, 'node', performance.now() - started);
            return state;
          },
        };
      }
      for (const row of podGrid) {
        for (const pod of row) {
          const id = `${pod.namespace}/${pod.name}`;
          podRecords[id] = {
            kind: 'deferred',
            load: () => {
              const started = performance.now();
              const state = buildNetnsState(podDumps(pod));
              onLoad?.(id, 'pod', performance.now() - started);
              return state;
            },
          };
        }
      }
      return { objects, netns: { nodes: nodeRecords, pods: podRecords }, cniConfigs };
    },
  };
}

function buildObjects(nodes: readonly SyntheticNode[], pods: readonly (readonly SyntheticPod[])[], rules: KubeProxyRules, podByIp: ReadonlyMap<string, SyntheticPod>): ClusterObjects {
  const kubeNodes: KubeNode[] = nodes.map((n) => ({
    metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux' } },
    spec: { podCIDR: n.podCidr, podCIDRs: [n.podCidr] },
    status: { addresses: [{ type: 'InternalIP', address: n.ip }, { type: 'Hostname', address: n.name }] },
  }));
  const kubePods: KubePod[] = pods.flatMap((row) =>
    row.map((p) => ({
      metadata: { name: p.name, namespace: p.namespace, labels: { app: p.app } },
      spec: {
        nodeName: nodes[p.node]?.name ?? '',
        containers: [{ name: 'main', ports: [{ containerPort: TCP_TARGET_PORT, protocol: 'TCP' }, { containerPort: UDP_TARGET_PORT, protocol: 'UDP' }] }],
      },
      status: { podIP: p.ip, podIPs: [{ ip: p.ip }], phase: 'Running' },
    })),
  );
  const services: KubeService[] = [];
  const slices: KubeEndpointSlice[] = [];
  for (const s of rules.services) {
    const protocol = s.protocol.toUpperCase();
    const targetPort = s.endpoints[0]?.port ?? (s.protocol === 'udp' ? UDP_TARGET_PORT : TCP_TARGET_PORT);
    const isKubernetes = s.namespace === 'default' && s.name === 'kubernetes';
    const app = s.endpoints.length > 0 ? podByIp.get(s.endpoints[0]?.ip ?? '')?.app : undefined;
    services.push({
      metadata: { name: s.name, namespace: s.namespace },
      spec: {
        type: s.nodePort !== undefined ? 'NodePort' : 'ClusterIP',
        clusterIP: s.clusterIP,
        clusterIPs: [s.clusterIP],
        ports: [{ ...(s.portName !== '' ? { name: s.portName } : {}), protocol, port: s.port, targetPort, ...(s.nodePort !== undefined ? { nodePort: s.nodePort } : {}) }],
        ...(isKubernetes ? {} : { selector: { app: app ?? s.name } }),
      },
    });
    slices.push({
      metadata: { name: `${s.name}-${s.svcChain.slice(-5).toLowerCase()}`, namespace: s.namespace, labels: { 'kubernetes.io/service-name': s.name } },
      addressType: 'IPv4',
      endpoints: s.endpoints.map((e) => {
        const pod = podByIp.get(e.ip);
        return {
          addresses: [e.ip],
          conditions: { ready: true, serving: true, terminating: false },
          ...(pod !== undefined ? { nodeName: nodes[pod.node]?.name ?? '', targetRef: { kind: 'Pod', namespace: pod.namespace, name: pod.name } } : {}),
        };
      }),
      ports: s.endpoints.length > 0 ? [{ ...(s.portName !== '' ? { name: s.portName } : {}), port: targetPort, protocol }] : [],
    });
  }
  return { nodes: kubeNodes, pods: kubePods, services, endpointSlices: slices, networkPolicies: [], daemonSets: [] };
}

/** The text of each dump the collector takes in a namespace. */
interface DumpTexts {
  readonly links: string;
  readonly addresses: string;
  readonly routes: string;
  readonly rules: string;
  readonly neighbors: string;
  readonly fdb: string;
  readonly iptablesSave: string;
  readonly ipsetSave: string;
  readonly sysctls: string;
  readonly sockets: string;
}

function dumps(label: string, texts: DumpTexts): NetnsDumps {
  const d = (key: keyof DumpTexts, file: string): { text: string; source: string } => ({ text: texts[key], source: `${label}/${file}` });
  return {
    links: d('links', 'ip-link.json'),
    addresses: d('addresses', 'ip-addr.json'),
    routes: d('routes', 'ip-route.json'),
    rules: d('rules', 'ip-rule.json'),
    neighbors: d('neighbors', 'ip-neigh.json'),
    fdb: d('fdb', 'bridge-fdb.json'),
    iptablesSave: d('iptablesSave', 'iptables-save'),
    ipsetSave: d('ipsetSave', 'ipset-save'),
    sysctls: d('sysctls', 'sysctl'),
    sockets: d('sockets', 'ss'),
  };
}

/** Node k's host namespace. `rules` is the one shared iptables-save text. */
function buildNodeNetns(nodes: readonly SyntheticNode[], pods: readonly SyntheticPod[], k: number, rules: string, apiserver: boolean, seed: number): NetnsDumps {
  const node = nodes[k];
  if (node === undefined) throw new Error(`no node ${k}`);
  const ether = (ifindex: number, ifname: string, address: string): Json & { readonly ifname: string; readonly address: string } => ({
    ifindex,
    ifname,
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 1500,
    operstate: 'UP',
    ...LINK_COMMON,
    link_type: 'ether',
    address,
    broadcast: 'ff:ff:ff:ff:ff:ff',
  });
  const eth0 = ether(2, 'eth0', mac(1, k, 0));
  const cni0 = ether(3, 'cni0', mac(2, k, 0));
  const veths = pods.map((p) => ({ ...ether(4 + p.slot, hostVethName(k, p.slot), mac(3, k, p.slot)), master: 'cni0', link_index: 2, link_netnsid: p.slot }));
  const links = [
    LO_LINK,
    eth0,
    { ...cni0, linkinfo: { info_kind: 'bridge', info_data: { forward_delay: 1500, stp_state: 0, vlan_filtering: 0, nf_call_iptables: 0 } } },
    ...veths.map((v) => ({
      ...v,
      promiscuity: 1,
      linkinfo: { info_kind: 'veth', info_slave_kind: 'bridge', info_slave_data: { state: 'forwarding', learning: true, flood: true, hairpin: true, proxy_arp: false, isolated: false, neigh_suppress: false } },
    })),
  ];
  const v6 = (address: string): Json => ({ family: 'inet6', local: linkLocal(address), prefixlen: 64, scope: 'link', ...FOREVER });
  const addresses = [
    LO_ADDR,
    { ...eth0, addr_info: [{ family: 'inet', local: node.ip, prefixlen: UNDERLAY_PREFIX, broadcast: UNDERLAY_BROADCAST, scope: 'global', label: 'eth0', ...FOREVER }, v6(eth0.address)] },
    { ...cni0, addr_info: [{ family: 'inet', local: node.gateway, prefixlen: 24, broadcast: `${podNet(k)}.255`, scope: 'global', label: 'cni0', ...FOREVER }, v6(cni0.address)] },
    ...veths.map((v) => ({ ...v, addr_info: [v6(v.address)] })),
  ];

  const routes: Json[] = [
    { type: 'unicast', dst: 'default', gateway: UNDERLAY_GATEWAY, dev: 'eth0', table: 'main', protocol: 'dhcp', scope: 'global', prefsrc: node.ip, metric: 100, flags: [] },
    { type: 'unicast', dst: `10.0.0.0/${UNDERLAY_PREFIX}`, dev: 'eth0', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: node.ip, flags: [] },
  ];
  for (const other of nodes) {
    if (other.index === k) routes.push({ type: 'unicast', dst: node.podCidr, dev: 'cni0', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: node.gateway, flags: [] });
    else routes.push({ type: 'unicast', dst: other.podCidr, gateway: other.ip, dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: [] });
  }
  routes.push(
    kernelRoute('local', node.ip, 'eth0', node.ip),
    kernelRoute('broadcast', UNDERLAY_BROADCAST, 'eth0', node.ip),
    kernelRoute('local', node.gateway, 'cni0', node.gateway),
    kernelRoute('broadcast', `${podNet(k)}.255`, 'cni0', node.gateway),
    ...loopbackRoutes(),
    ...ipv6Routes(['eth0', 'cni0', ...veths.map((v) => v.ifname)]),
  );

  // ARP: the gateway, every local pod, and the nodes talked to lately.
  const prng = new Prng((seed ^ Math.imul(k + 1, 0x9e3779b1)) >>> 0);
  const others = prng.sample(
    nodes.filter((n) => n.index !== k),
    NODE_NEIGHBORS,
  );
  const neighbors = [
    { dst: UNDERLAY_GATEWAY, dev: 'eth0', lladdr: mac(5, 0, 0), state: ['REACHABLE'] },
    ...others.map((n) => ({ dst: n.ip, dev: 'eth0', lladdr: mac(1, n.index, 0), state: ['STALE'] })),
    ...pods.map((p) => ({ dst: p.ip, dev: 'cni0', lladdr: mac(4, k, p.slot), state: ['REACHABLE'] })),
  ];
  const fdb = pods.flatMap((p) => [
    { mac: mac(4, k, p.slot), ifname: hostVethName(k, p.slot), flags: [], master: 'cni0', state: '' },
    { mac: mac(3, k, p.slot), ifname: hostVethName(k, p.slot), flags: [], master: 'cni0', state: 'permanent' },
  ]);
  const devices = ['cni0', 'eth0', 'lo', ...veths.map((v) => v.ifname)];
  return dumps(`nodes/${node.name}`, {
    links: JSON.stringify(links),
    addresses: JSON.stringify(addresses),
    routes: JSON.stringify(routes),
    rules: DEFAULT_RULES,
    neighbors: JSON.stringify(neighbors),
    fdb: JSON.stringify(fdb),
    iptablesSave: rules,
    ipsetSave: '',
    sysctls: sysctlText(true, devices, (dev) => (dev === 'all' ? 0 : 2), true),
    sockets: `${[...NODE_LISTENERS, ...(apiserver ? [APISERVER_LISTENER] : [])].join('\n')}\n`,
  });
}

function buildPodNetns(pod: SyntheticPod): NetnsDumps {
  const net = podNet(pod.node);
  const gateway = `${net}.1`;
  const eth0 = {
    ifindex: 2,
    link_index: 4 + pod.slot,
    ifname: 'eth0',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 1500,
    operstate: 'UP',
    ...LINK_COMMON,
    link_type: 'ether',
    address: mac(4, pod.node, pod.slot),
    broadcast: 'ff:ff:ff:ff:ff:ff',
    link_netnsid: 0,
  };
  const routes = [
    { type: 'unicast', dst: 'default', gateway, dev: 'eth0', table: 'main', protocol: 'boot', scope: 'global', flags: [] },
    { type: 'unicast', dst: `${net}.0/24`, dev: 'eth0', table: 'main', protocol: 'kernel', scope: 'link', prefsrc: pod.ip, flags: [] },
    kernelRoute('local', pod.ip, 'eth0', pod.ip),
    kernelRoute('broadcast', `${net}.255`, 'eth0', pod.ip),
    ...loopbackRoutes(),
    ...ipv6Routes(['eth0']),
  ];
  return dumps(`pods/${pod.namespace}/${pod.name}`, {
    links: JSON.stringify([LO_LINK, { ...eth0, linkinfo: { info_kind: 'veth' } }]),
    addresses: JSON.stringify([
      LO_ADDR,
      {
        ...eth0,
        addr_info: [
          { family: 'inet', local: pod.ip, prefixlen: 24, broadcast: `${net}.255`, scope: 'global', label: 'eth0', ...FOREVER },
          { family: 'inet6', local: linkLocal(eth0.address), prefixlen: 64, scope: 'link', ...FOREVER },
        ],
      },
    ]),
    routes: JSON.stringify(routes),
    rules: DEFAULT_RULES,
    neighbors: JSON.stringify([{ dst: gateway, dev: 'eth0', lladdr: mac(2, pod.node, 0), state: ['REACHABLE'] }]),
    fdb: '[]',
    iptablesSave: '',
    ipsetSave: '',
    sysctls: sysctlText(false, ['eth0', 'lo'], () => 0, false),
    sockets: POD_LISTENERS,
  });
}

/** What bench/diagnose.ts asks of its measured process (one JSON argument). */
export interface DiagnoseProcessInput extends SyntheticClusterOptions {
  /** Diagnoses to time, each on a fresh ClusterState. */
  readonly runs: number;
}

/** What the measured process prints. */
export interface DiagnoseProcessOutput {
  readonly nodes: number;
  readonly pods: number;
  readonly services: number;
  readonly endpointSlices: number;
  /** `-A` lines of the rules every node carries, and their size. */
  readonly rulesPerNode: number;
  readonly rulesBytes: number;
  /** Entries of a node's `ip -j -d route show table all` (IPv4 and IPv6, main and local). */
  readonly routesPerNode: number;
  /** Building the objects and the rules (the namespaces are only described, not written). */
  readonly buildMs: number;
  /** Each diagnosis, ms, in order; each on a fresh ClusterState, so each parses what it reads. */
  readonly diagnoseMs: readonly number[];
  /** Namespaces parsed (load() calls) by each diagnosis: nodes and pods. */
  readonly parsedNodes: readonly number[];
  readonly parsedPods: readonly number[];
  /** Time spent inside load() (writing the dumps and parsing them) by each diagnosis, ms. */
  readonly loadMs: readonly number[];
  readonly verdict: string;
  readonly query: string;
  /** Netnodes of the packet path, and the nodes among them. */
  readonly pathNodes: number;
  readonly pathHosts: number;
  readonly endpoints: number;
  readonly suspicions: readonly string[];
  readonly warnings: number;
  /** The CNI plugin `detectPlugin` chose, consulted by each diagnosis. */
  readonly plugin: string;
  readonly rssAfterBuildMb: number;
  /** maxRSS after the build and the first diagnosis: what a process making one diagnosis peaks at. */
  readonly peakRssFirstKb: number;
  /** maxRSS at the end: after every diagnosis (the garbage of each earlier one weighs on the next). */
  readonly peakRssKb: number;
}
