// A two-node "cluster" as network namespaces, laid out like the reference bridge CNI: a lab
// namespace with bridge br0 is the underlay (10.99.0.0/24); each node namespace has eth0 on it and
// a default route to the lab bridge's 10.99.0.1 (nothing answers beyond it: the lab does not
// forward), a bridge cni0 holding the first address of the node's pod CIDR, and one veth per pod
// enslaved to cni0; each pod namespace has eth0 with an address of that CIDR and a default route
// via cni0's address. Nodes reach each other's pod CIDR by a static route via the other's
// InternalIP (host-gw) or through flannel's VXLAN layout (see MiniOverlay), forward, and carry
// kube-proxy-shaped NAT for two services (svc1 with endpoints pod2 and pod3; empty without any).
// `dump()` takes each namespace's dumps with the collector's commands and builds the ClusterState
// from them and hand-made Node/Pod/Service/EndpointSlice objects that match. Needs root.
import { buildNetnsState, type ClusterObjects, type ClusterState, type NetnsDumps, type NetnsRecord } from '../../src/diagnosis/index.js';
import { createNetns, destroyNetns, ipIn, run, runIn, tryRun } from './netns.js';
import { startListeners, type Listeners } from './packet-probe.js';
import { buildUnderlay } from './underlay.js';

export interface MiniPod {
  readonly name: string;
  readonly node: string;
  readonly ip: string;
  readonly ns: string;
  readonly hostVeth: string;
}

export interface MiniNode {
  readonly name: string;
  readonly ip: string;
  readonly podCIDR: string;
  readonly gateway: string;
  readonly ns: string;
}

export interface MiniCluster {
  readonly lab: string;
  readonly nodes: Readonly<Record<string, MiniNode>>;
  readonly pods: Readonly<Record<string, MiniPod>>;
  readonly objects: ClusterObjects;
  /** Dumps every namespace now and builds the diagnosis input. */
  dump(): ClusterState;
  /** The raw dumps of one namespace (node or pod name). */
  dumpNetns(ns: string): NetnsDumps;
  teardown(): Promise<void>;
}

export const SVC1 = { name: 'svc1', clusterIP: '10.96.0.10', port: 80, targetPort: 8080 } as const;
export const EMPTY_SVC = { name: 'empty', clusterIP: '10.96.0.20', port: 80 } as const;
export const POD_PORT = 8080;

/** kube-proxy-shaped rules (iptables mode): svc1 → pod2/pod3 with statistic, `empty` rejected. */
export function kubeProxyRules(endpoints: readonly string[]): string {
  const sep = endpoints.map((_, i) => `KUBE-SEP-SVC1${String.fromCharCode(65 + i)}`);
  const lines = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-SVC-SVC1 - [0:0]',
    ...sep.map((c) => `:${c} - [0:0]`),
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    `-A KUBE-SERVICES -d ${SVC1.clusterIP}/32 -p tcp -m comment --comment "default/svc1:http cluster IP" -m tcp --dport ${SVC1.port} -j KUBE-SVC-SVC1`,
    `-A KUBE-SVC-SVC1 ! -s 10.244.0.0/16 -d ${SVC1.clusterIP}/32 -p tcp -m comment --comment "default/svc1:http cluster IP" -m tcp --dport ${SVC1.port} -j KUBE-MARK-MASQ`,
    ...endpoints.map((ip, i) => {
      const rest = endpoints.length - i;
      const stat = rest > 1 ? ` -m statistic --mode random --probability ${(1 / rest).toFixed(11)}` : '';
      return `-A KUBE-SVC-SVC1 -m comment --comment "default/svc1:http -> ${ip}:${SVC1.targetPort}"${stat} -j ${sep[i] ?? ''}`;
    }),
    ...endpoints.flatMap((ip, i) => [
      `-A ${sep[i] ?? ''} -s ${ip}/32 -m comment --comment "default/svc1:http" -j KUBE-MARK-MASQ`,
      `-A ${sep[i] ?? ''} -p tcp -m comment --comment "default/svc1:http" -m tcp -j DNAT --to-destination ${ip}:${SVC1.targetPort}`,
    ]),
    'COMMIT',
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':KUBE-SERVICES - [0:0]',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    `-A KUBE-SERVICES -d ${EMPTY_SVC.clusterIP}/32 -p tcp -m comment --comment "default/empty:http has no endpoints" -m tcp --dport ${EMPTY_SVC.port} -j REJECT --reject-with icmp-port-unreachable`,
    'COMMIT',
    '',
  ];
  return lines.join('\n');
}

function text(ns: string, program: string, args: readonly string[]): string {
  // A command that fails (no ipset module, no net.bridge in the namespace) gives what it printed.
  return tryRun('ip', ['netns', 'exec', ns, program, ...args]).stdout;
}

/** The collector's commands, in one namespace. */
export function dumpNamespace(ns: string, label: string): NetnsDumps {
  const d = (key: RecordedDumpKey, program: string, args: readonly string[]): { text: string; source: string } => ({
    text: text(ns, program, args),
    source: `${label}/${DUMP_FILES[key]}`,
  });
  return {
    links: d('links', 'ip', ['-j', '-d', 'link']),
    addresses: d('addresses', 'ip', ['-j', 'addr']),
    routes: d('routes', 'ip', ['-j', '-d', 'route', 'show', 'table', 'all']),
    rules: d('rules', 'ip', ['-j', 'rule']),
    neighbors: d('neighbors', 'ip', ['-j', 'neigh']),
    fdb: d('fdb', 'bridge', ['-j', 'fdb']),
    iptablesSave: d('iptablesSave', 'iptables-save', []),
    ipsetSave: d('ipsetSave', 'ipset', ['save']),
    sysctls: d('sysctls', 'sysctl', ['net.ipv4.ip_forward', 'net.ipv4.conf', 'net.bridge']),
    sockets: d('sockets', 'ss', ['-Htuln']),
  };
}

const NODE_SPECS = [
  { name: 'node1', ip: '10.99.0.11', podCIDR: '10.244.0.0/24', gateway: '10.244.0.1' },
  { name: 'node2', ip: '10.99.0.12', podCIDR: '10.244.1.0/24', gateway: '10.244.1.1' },
] as const;

const POD_SPECS = [
  { name: 'pod1', node: 'node1', ip: '10.244.0.5' },
  { name: 'pod3', node: 'node1', ip: '10.244.0.6' },
  { name: 'pod2', node: 'node2', ip: '10.244.1.5' },
] as const;

/** Builds the cluster; listeners on POD_PORT (TCP) in pod2 and pod3. */
/**
 * How nodes reach each other's pod CIDR: `host-gw` (a static route via the other node's
 * InternalIP) or `vxlan` (flannel's layout: flannel.1, VNI 1, UDP 8472, address X.0/32 of the pod
 * CIDR, `onlink` route via the remote X.0, permanent neighbour and FDB entries to the remote VTEP).
 */
export type MiniOverlay = 'host-gw' | 'vxlan';

export const VXLAN_DEVICE = 'flannel.1';

export async function buildMiniCluster(prefix = 'ndmc', overlay: MiniOverlay = 'host-gw'): Promise<MiniCluster> {
  const created: string[] = [];
  const listeners: Listeners[] = [];
  const teardown = async (): Promise<void> => {
    for (const l of listeners) await l.stop();
    for (const ns of created.reverse()) destroyNetns(ns);
  };
  try {
    const underlay = buildUnderlay(prefix, NODE_SPECS, created);
    const lab = underlay.lab;
    const nodes: Record<string, MiniNode> = {};
    for (const spec of NODE_SPECS) {
      const ns = underlay.nodes[spec.name] ?? '';
      ipIn(ns, ['link', 'add', 'cni0', 'type', 'bridge']);
      ipIn(ns, ['addr', 'add', `${spec.gateway}/24`, 'dev', 'cni0']);
      ipIn(ns, ['link', 'set', 'cni0', 'up']);
      runIn(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
      nodes[spec.name] = { ...spec, ns };
    }
    if (overlay === 'host-gw') {
      for (const spec of NODE_SPECS) {
        const other = NODE_SPECS.find((n) => n.name !== spec.name);
        if (other !== undefined) ipIn(nodes[spec.name]?.ns ?? '', ['route', 'add', other.podCIDR, 'via', other.ip, 'dev', 'eth0']);
      }
    } else {
      const vtepAddress = (spec: (typeof NODE_SPECS)[number]): string => spec.podCIDR.replace(/\/\d+$/, '');
      const macs: Record<string, string> = {};
      for (const spec of NODE_SPECS) {
        const ns = nodes[spec.name]?.ns ?? '';
        ipIn(ns, ['link', 'add', VXLAN_DEVICE, 'type', 'vxlan', 'id', '1', 'local', spec.ip, 'dev', 'eth0', 'dstport', '8472', 'nolearning']);
        ipIn(ns, ['link', 'set', VXLAN_DEVICE, 'mtu', '1450']);
        ipIn(ns, ['addr', 'add', `${vtepAddress(spec)}/32`, 'dev', VXLAN_DEVICE]);
        ipIn(ns, ['link', 'set', VXLAN_DEVICE, 'up']);
        const link = JSON.parse(ipIn(ns, ['-j', 'link', 'show', VXLAN_DEVICE])) as { address: string }[];
        macs[spec.name] = link[0]?.address ?? '';
      }
      for (const spec of NODE_SPECS) {
        const ns = nodes[spec.name]?.ns ?? '';
        for (const other of NODE_SPECS) {
          if (other.name === spec.name) continue;
          const mac = macs[other.name] ?? '';
          ipIn(ns, ['neigh', 'add', vtepAddress(other), 'lladdr', mac, 'dev', VXLAN_DEVICE, 'nud', 'permanent']);
          run('ip', ['netns', 'exec', ns, 'bridge', 'fdb', 'append', mac, 'dev', VXLAN_DEVICE, 'dst', other.ip]);
          ipIn(ns, ['route', 'add', other.podCIDR, 'via', vtepAddress(other), 'dev', VXLAN_DEVICE, 'onlink']);
        }
      }
    }
    const pods: Record<string, MiniPod> = {};
    for (const spec of POD_SPECS) {
      const node = nodes[spec.node];
      if (node === undefined) throw new Error(`no node ${spec.node}`);
      const ns = createNetns(`${prefix}${spec.name}`);
      created.push(ns);
      const hostVeth = `veth${spec.name}`;
      ipIn(node.ns, ['link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ipIn(node.ns, ['link', 'set', hostVeth, 'master', 'cni0', 'up']);
      ipIn(ns, ['addr', 'add', `${spec.ip}/24`, 'dev', 'eth0']);
      ipIn(ns, ['link', 'set', 'eth0', 'up']);
      ipIn(ns, ['route', 'add', 'default', 'via', node.gateway, 'dev', 'eth0']);
      pods[spec.name] = { ...spec, ns, hostVeth };
    }
    const rules = kubeProxyRules([POD_SPECS[2].ip, POD_SPECS[1].ip]);
    for (const node of Object.values(nodes)) run('ip', ['netns', 'exec', node.ns, 'iptables-restore'], { input: rules });
    for (const name of ['pod2', 'pod3']) {
      const pod = pods[name];
      if (pod !== undefined) listeners.push(await startListeners(pod.ns, [{ protocol: 'tcp', address: '0.0.0.0', port: POD_PORT }]));
    }
    const objects = buildObjects();
    const byName = (name: string): string => nodes[name]?.ns ?? pods[name]?.ns ?? name;
    const dumpNetns = (name: string): NetnsDumps => dumpNamespace(byName(name), name);
    return {
      lab,
      nodes,
      pods,
      objects,
      dumpNetns,
      dump: (): ClusterState => dumpClusterState(objects, Object.keys(nodes), Object.keys(pods), dumpNetns),
      teardown,
    };
  } catch (error) {
    await teardown();
    throw error;
  }
}

function buildObjects(): ClusterObjects {
  return {
    nodes: NODE_SPECS.map((n) => ({
      metadata: { name: n.name },
      spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] },
      status: { addresses: [{ type: 'InternalIP', address: n.ip }, { type: 'Hostname', address: n.name }] },
    })),
    pods: POD_SPECS.map((p) => ({
      metadata: { name: p.name, namespace: 'default', labels: { app: p.name === 'pod1' ? 'client' : 'web' } },
      spec: { nodeName: p.node, containers: [{ name: 'main', ports: p.name === 'pod1' ? [] : [{ containerPort: POD_PORT, protocol: 'TCP' }] }] },
      status: { podIP: p.ip, podIPs: [{ ip: p.ip }], phase: 'Running' },
    })),
    services: [
      {
        metadata: { name: SVC1.name, namespace: 'default' },
        spec: { type: 'ClusterIP', clusterIP: SVC1.clusterIP, clusterIPs: [SVC1.clusterIP], ports: [{ name: 'http', protocol: 'TCP', port: SVC1.port, targetPort: SVC1.targetPort }], selector: { app: 'web' } },
      },
      {
        metadata: { name: EMPTY_SVC.name, namespace: 'default' },
        spec: { type: 'ClusterIP', clusterIP: EMPTY_SVC.clusterIP, clusterIPs: [EMPTY_SVC.clusterIP], ports: [{ name: 'http', protocol: 'TCP', port: EMPTY_SVC.port, targetPort: 8080 }], selector: { app: 'nothing' } },
      },
    ],
    endpointSlices: [
      {
        metadata: { name: 'svc1-abcde', namespace: 'default', labels: { 'kubernetes.io/service-name': SVC1.name } },
        addressType: 'IPv4',
        endpoints: [
          { addresses: ['10.244.1.5'], conditions: { ready: true }, nodeName: 'node2', targetRef: { kind: 'Pod', namespace: 'default', name: 'pod2' } },
          { addresses: ['10.244.0.6'], conditions: { ready: true }, nodeName: 'node1', targetRef: { kind: 'Pod', namespace: 'default', name: 'pod3' } },
        ],
        ports: [{ name: 'http', port: SVC1.targetPort, protocol: 'TCP' }],
      },
      { metadata: { name: 'empty-xyz', namespace: 'default', labels: { 'kubernetes.io/service-name': EMPTY_SVC.name } }, addressType: 'IPv4', endpoints: [], ports: [] },
    ],
    networkPolicies: [],
    daemonSets: [],
  };
}

/** Dumps every node and pod namespace now (pods in namespace default), as the diagnosis input. */
export function dumpClusterState(objects: ClusterObjects, nodes: readonly string[], pods: readonly string[], dumpNetns: (name: string) => NetnsDumps): ClusterState {
  const nodeRecords: Record<string, NetnsRecord> = {};
  const podRecords: Record<string, NetnsRecord> = {};
  for (const name of nodes) nodeRecords[name] = { kind: 'present', state: buildNetnsState(dumpNetns(name)) };
  for (const name of pods) podRecords[`default/${name}`] = { kind: 'present', state: buildNetnsState(dumpNetns(name)) };
  return { objects, netns: { nodes: nodeRecords, pods: podRecords } };
}

/** The dumps a namespace is recorded as, one file each. */
export type RecordedDumpKey = Exclude<keyof NetnsDumps, 'localAddresses' | 'unsimulated'>;

/** The files a recorded namespace is written as, one per dump (golden fixtures). */
export const DUMP_FILES: Readonly<Record<RecordedDumpKey, string>> = {
  links: 'ip-link.json',
  addresses: 'ip-addr.json',
  routes: 'ip-route.json',
  rules: 'ip-rule.json',
  neighbors: 'ip-neigh.json',
  fdb: 'bridge-fdb.json',
  iptablesSave: 'iptables-save',
  ipsetSave: 'ipset-save',
  sysctls: 'sysctl',
  sockets: 'ss',
  ipvsSave: 'ipvsadm-save',
  nftables: 'nft-ruleset.json',
};
