// A two-node cluster as network namespaces, laid out exactly as calico lays it out (calico-node
// cannot run here, so every element is made by hand, as the component named in brackets would):
//
// - Underlay: a lab namespace with bridge br0 (10.99.0.1/24); each node has eth0 on it with its
//   InternalIP and a default route through 10.99.0.1 (nothing answers beyond it).
// - IPAM: calico's default pool 192.168.0.0/16 cut into /26 blocks, one affine block per node;
//   workloads take /32 addresses from their node's block [calico-ipam].
// - Pod side [calico CNI plugin, cni-plugin/pkg/dataplane/linux/dataplane_linux.go]: the veth is
//   created in the pod's namespace (eth0, MTU from the conflist), its host end is named
//   `cali` + the first 11 hex digits of sha1("<namespace>.<pod>") (VethNameForWorkload), given
//   MAC ee:ee:ee:ee:ee:ee and moved to the host. eth0 holds the pod IP as a /32 and two routes:
//   `169.254.1.1 dev eth0 scope link` and `default via 169.254.1.1 dev eth0`; the pod's
//   net.ipv4.ip_forward is 0 (allowIPForwarding false).
// - Host end of the veth: no address; net.ipv4.conf.caliX.{route_localnet=1, proxy_arp=1,
//   forwarding=1}, net.ipv4.neigh.caliX.proxy_delay=0 [CNI plugin configureSysctls], rp_filter=1
//   [felix endpoint_mgr configureInterface]; a route `<podIP> dev caliX scope link` [CNI
//   SetupRoutes, kept by felix]. proxy_arp makes the host answer the pod's ARP for 169.254.1.1
//   with the veth's own MAC (the kernel's arp_fwd_proxy: the node routes 169.254.1.1 out of
//   another device, its default route).
// - Node: net.ipv4.ip_forward=1. BGP mode [BIRD]: `blackhole <own block> proto bird` and
//   `<other block> via <other node IP> dev eth0 proto bird`. VXLAN mode [felix vxlan_mgr,
//   vxlanfdb, routetable]: device vxlan.calico (VNI 4096, dstport 4789, local = node IP, dev
//   eth0, nolearning, MTU = underlay 1500 − 50 = 1450, MAC from the node's
//   projectcalico.org/VXLANTunnelMACAddr), holding the node's tunnel address (the first address of
//   its block, projectcalico.org/IPv4VXLANTunnelAddr) as a /32; per remote node a permanent ARP
//   entry tunnel address → VTEP MAC and a permanent FDB entry VTEP MAC → node IP (`self
//   permanent`), a route `<block> via <remote tunnel address> dev vxlan.calico onlink`, and
//   `blackhole <own block> proto 80` (felix's own route protocol when BIRD does not run). The
//   workloads' MTU is the tunnel's: 1450.
// - Felix's iptables (calicoRules below): a faithful subset of what felix renders, rule for rule
//   as public iptables-save dumps of calico nodes show it (chain names, `cali:` rule ids, marks
//   0x10000 accept / 0x20000 pass of the default 0xffff0000 mark mask), and the ipsets they use.
//   pod4 is selected by a NetworkPolicy allowing ingress from pod2 only: its cali-tw chain gets
//   the "Start of policies" section, a cali-pi chain accepting the ipset of pod2's address, and
//   "Drop if no policies passed packet".
//
// `dump()` takes each namespace's dumps with the collector's commands and builds the ClusterState
// with Node objects annotated as calico-node annotates them, the Pods, the NetworkPolicy and the
// calico-node DaemonSet. Needs root.
import { createHash } from 'node:crypto';
import type { ClusterObjects, ClusterState, NetnsDumps } from '../../src/diagnosis/index.js';
import { dumpClusterState, dumpNamespace, type MiniCluster, type MiniNode, type MiniPod } from './mini-cluster.js';
import { createNetns, destroyNetns, ipIn, run, runIn } from './netns.js';
import { startListeners, type Listeners } from './packet-probe.js';
import { buildUnderlay } from './underlay.js';

/**
 * `ipip` builds the IPIP layout without tunl0 (this kernel has no ipip module): BIRD's routes go
 * `via <node IP> dev eth0 proto bird onlink` and the recording moves them, and adds tunl0 with the
 * node's tunnel address, by editing the dumps (see calico-fixtures.record.ts).
 */
export type CalicoMode = 'bgp' | 'vxlan' | 'ipip';

export const CALICO_POOL = '192.168.0.0/16';
export const CALICO_POD_PORT = 8080;
/** A host-network listener on each node (the kubelet's port), for pod → node queries. */
export const CALICO_NODE_PORT = 10250;
export const VXLAN_DEVICE = 'vxlan.calico';
export const VXLAN_VNI = 4096;
export const VXLAN_PORT = 4789;
export const UNDERLAY_MTU = 1500;
/** VXLAN over IPv4 costs 50 bytes: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_MTU = UNDERLAY_MTU - 50;
/** IP-in-IP costs the outer IPv4 header, 20 bytes. */
export const IPIP_MTU = UNDERLAY_MTU - 20;

/** The workloads' MTU (the conflist's `mtu`): the underlay's minus the encapsulation. */
export function workloadMtu(mode: CalicoMode): number {
  return mode === 'vxlan' ? VXLAN_MTU : mode === 'ipip' ? IPIP_MTU : UNDERLAY_MTU;
}
export const CALICO_NODE_IMAGE = 'calico/node:v3.29.1';

export interface CalicoNodeSpec {
  readonly name: string;
  readonly ip: string;
  /** The node's affine IPAM block. */
  readonly block: string;
  /** VXLAN tunnel address: the first address of the block, allocated by calico-node at startup. */
  readonly tunnelIp: string;
  /** The VTEP MAC calico-node generated (locally administered). */
  readonly vtepMac: string;
}

export const CALICO_NODES: readonly CalicoNodeSpec[] = [
  { name: 'node1', ip: '10.99.0.11', block: '192.168.21.64/26', tunnelIp: '192.168.21.64', vtepMac: '66:d1:7c:0a:21:40' },
  { name: 'node2', ip: '10.99.0.12', block: '192.168.97.128/26', tunnelIp: '192.168.97.128', vtepMac: '66:4e:3b:91:61:80' },
];

export const CALICO_PODS: readonly { readonly name: string; readonly node: string; readonly ip: string }[] = [
  { name: 'pod1', node: 'node1', ip: '192.168.21.65' },
  { name: 'pod2', node: 'node1', ip: '192.168.21.66' },
  { name: 'pod3', node: 'node2', ip: '192.168.97.129' },
  { name: 'pod4', node: 'node2', ip: '192.168.97.130' },
];

/** pod4 admits ingress from pod2 only (the NetworkPolicy `pod4-from-pod2`). */
export const POLICY = { name: 'pod4-from-pod2', target: 'pod4', allowedFrom: 'pod2' } as const;

/** calico's host-side veth name: `cali` + sha1("<namespace>.<pod>") in hex, first 11 digits. */
export function calicoVethName(namespace: string, pod: string): string {
  return `cali${createHash('sha1').update(`${namespace}.${pod}`).digest('hex').slice(0, 11)}`;
}

export interface CalicoCluster extends MiniCluster {
  readonly mode: CalicoMode;
  /** The conflist the calico installer writes to each node (`/etc/cni/net.d/10-calico.conflist`). */
  readonly conflist: string;
}

/**
 * Felix's rule ids are 16 characters of a hash of the chain and its rules. The static rules below
 * carry the ids felix gives them (they show in every calico node's iptables-save); the others get
 * stable stand-ins.
 */
const STATIC_IDS: Readonly<Record<string, readonly string[]>> = {
  'filter INPUT': ['Cz_u1IQiXIMmKD4c'],
  'filter FORWARD': ['wUHhoiAYhphO9Mso', 'S93hcgKJrXEqnTfs', 'mp77cMpurHhyjLrM'],
  'filter OUTPUT': ['tVnHkvAo15HuiPy0'],
  'filter cali-FORWARD': ['vjrMJCRpqwy5oRoX', 'A_sPAO0mcxbT9mOV', '8ZoYfO5HKXWbB3pk', 'jdEuaPBe14V2hutn', '12bc6HljsMKsmfr-', 'NOSxoaGx8OIstr1z'],
  'nat PREROUTING': ['6gwbT8clXdHdC1b1'],
  'nat OUTPUT': ['tVnHkvAo15HuiPy0'],
  'nat POSTROUTING': ['O3lYWMrLQYEMJtB5'],
};

function ruleId(table: string, chain: string, n: number): string {
  return STATIC_IDS[`${table} ${chain}`]?.[n] ?? createHash('sha224').update(`${table}/${chain}/${n}`).digest('base64url').slice(0, 16);
}

/** Felix's ipset names are `cali40` + a hash for selector sets. */
export function selectorSetName(selector: string): string {
  return `cali40s:${createHash('sha224').update(selector).digest('base64url').slice(0, 23)}`;
}

/** Policy chains are named after a hash of the policy (28 characters, iptables' limit); a stand-in in felix's shape. */
export function policyChainName(policy: string): string {
  return `cali-pi-_${createHash('sha224').update(policy).digest('base64url').slice(0, 19)}`;
}

interface RuleBuilder {
  readonly lines: string[];
  readonly add: (chain: string, spec: string) => void;
}

function ruleBuilder(table: string): RuleBuilder {
  const counts = new Map<string, number>();
  const lines: string[] = [];
  return {
    lines,
    add: (chain, spec) => {
      const n = counts.get(chain) ?? 0;
      counts.set(chain, n + 1);
      // iptables-save prints the protocol first, then the comment match felix puts first.
      const proto = /^(-p \S+|-[io] \S+(?: -[io] \S+)?)( |$)/.exec(spec);
      const head = proto === null ? '' : `${proto[1] ?? ''} `;
      const rest = proto === null ? spec : spec.slice(proto[0].length);
      lines.push(`-A ${chain} ${head}-m comment --comment "cali:${ruleId(table, chain, n)}"${rest === '' ? '' : ` ${rest}`}`.trimEnd());
    },
  };
}

/** The ipsets felix keeps on a node (`ipset restore` input). */
export function calicoIpsets(mode: CalicoMode, node: CalicoNodeSpec): string {
  const lines = [
    'create cali40all-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576',
    `add cali40all-ipam-pools ${CALICO_POOL}`,
    'create cali40masq-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576',
    `add cali40masq-ipam-pools ${CALICO_POOL}`,
  ];
  if (mode === 'vxlan') {
    lines.push('create cali40all-vxlan-net hash:net family inet hashsize 1024 maxelem 1048576');
    for (const other of CALICO_NODES) if (other.name !== node.name) lines.push(`add cali40all-vxlan-net ${other.ip}`);
  }
  if (mode === 'ipip') {
    lines.push('create cali40all-hosts-net hash:net family inet hashsize 1024 maxelem 1048576');
    for (const other of CALICO_NODES) lines.push(`add cali40all-hosts-net ${other.ip}`);
  }
  const target = CALICO_PODS.find((p) => p.name === POLICY.target);
  const allowed = CALICO_PODS.find((p) => p.name === POLICY.allowedFrom);
  if (target?.node === node.name && allowed !== undefined) {
    const set = selectorSetName(`app == '${POLICY.allowedFrom}'`);
    lines.push(`create ${set} hash:net family inet hashsize 1024 maxelem 1048576`, `add ${set} ${allowed.ip}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Felix's iptables on a node: the static chains (cali-FORWARD, cali-INPUT, cali-OUTPUT, the
 * dispatch chains, nat-outgoing) and one cali-fw/cali-tw pair per local workload, each ending in
 * the namespace and service-account profiles (`cali-pri-kns.default` accepts, as the profile
 * calico derives from a Kubernetes namespace does).
 */
export function calicoRules(mode: CalicoMode, node: CalicoNodeSpec): string {
  const workloads = CALICO_PODS.filter((p) => p.node === node.name).map((p) => ({ ...p, veth: calicoVethName('default', p.name) }));
  const filter = ruleBuilder('filter');
  const f = filter.add;
  const policyChain = policyChainName(`default/knp.default.${POLICY.name}`);
  const hasPolicy = workloads.some((w) => w.name === POLICY.target);
  f('INPUT', '-j cali-INPUT');
  f('FORWARD', '-j cali-FORWARD');
  f('FORWARD', '-m comment --comment "Policy explicitly accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT');
  f('FORWARD', '-j MARK --set-xmark 0x10000/0x10000');
  f('OUTPUT', '-j cali-OUTPUT');
  f('cali-FORWARD', '-j MARK --set-xmark 0x0/0xe0000');
  f('cali-FORWARD', '-m mark --mark 0x0/0x10000 -j cali-from-hep-forward');
  f('cali-FORWARD', '-i cali+ -j cali-from-wl-dispatch');
  f('cali-FORWARD', '-o cali+ -j cali-to-wl-dispatch');
  f('cali-FORWARD', '-j cali-to-hep-forward');
  f('cali-FORWARD', '-j cali-cidr-block');
  if (mode === 'vxlan') {
    f('cali-INPUT', '-p udp -m comment --comment "Allow IPv4 VXLAN packets from allowed hosts" -m multiport --dports 4789 -m set --match-set cali40all-vxlan-net src -m addrtype --dst-type LOCAL -j ACCEPT');
    f('cali-INPUT', '-p udp -m comment --comment "Drop IPv4 VXLAN packets from non-allowed hosts" -m multiport --dports 4789 -m addrtype --dst-type LOCAL -j DROP');
  }
  if (mode === 'ipip') {
    f('cali-INPUT', '-p ipencap -m comment --comment "Allow IPIP packets from Calico hosts" -m set --match-set cali40all-hosts-net src -m addrtype --dst-type LOCAL -j ACCEPT');
    f('cali-INPUT', '-p ipencap -m comment --comment "Drop IPIP packets from non-Calico hosts" -j DROP');
  }
  f('cali-INPUT', '-i cali+ -g cali-wl-to-host');
  f('cali-INPUT', '-m mark --mark 0x10000/0x10000 -j ACCEPT');
  f('cali-INPUT', '-j MARK --set-xmark 0x0/0xf0000');
  f('cali-INPUT', '-j cali-from-host-endpoint');
  f('cali-INPUT', '-m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT');
  f('cali-OUTPUT', '-m mark --mark 0x10000/0x10000 -j ACCEPT');
  f('cali-OUTPUT', '-o cali+ -j RETURN');
  if (mode === 'vxlan') {
    f('cali-OUTPUT', '-p udp -m comment --comment "Allow IPv4 VXLAN packets to other allowed hosts" -m multiport --dports 4789 -m addrtype --src-type LOCAL -m set --match-set cali40all-vxlan-net dst -j ACCEPT');
  }
  if (mode === 'ipip') {
    f('cali-OUTPUT', '-p ipencap -m comment --comment "Allow IPIP packets to other Calico hosts" -m set --match-set cali40all-hosts-net dst -m addrtype --src-type LOCAL -j ACCEPT');
  }
  f('cali-OUTPUT', '-j MARK --set-xmark 0x0/0xf0000');
  f('cali-OUTPUT', '-m conntrack ! --ctstate DNAT -j cali-to-host-endpoint');
  f('cali-OUTPUT', '-m comment --comment "Host endpoint policy accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT');
  for (const w of workloads) f('cali-from-wl-dispatch', `-i ${w.veth} -g cali-fw-${w.veth}`);
  f('cali-from-wl-dispatch', '-m comment --comment "Unknown interface" -j DROP');
  for (const w of workloads) f('cali-to-wl-dispatch', `-o ${w.veth} -g cali-tw-${w.veth}`);
  f('cali-to-wl-dispatch', '-m comment --comment "Unknown interface" -j DROP');
  f('cali-wl-to-host', '-j cali-from-wl-dispatch');
  f('cali-wl-to-host', '-m comment --comment "Configured DefaultEndpointToHostAction" -j ACCEPT');
  for (const w of workloads) {
    const fw = `cali-fw-${w.veth}`;
    f(fw, '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
    f(fw, '-m conntrack --ctstate INVALID -j DROP');
    f(fw, '-j MARK --set-xmark 0x0/0x10000');
    if (mode === 'vxlan') f(fw, '-p udp -m comment --comment "Drop VXLAN encapped packets originating in workloads" -m multiport --dports 4789 -j DROP');
    if (mode === 'ipip') f(fw, '-p ipencap -m comment --comment "Drop IPinIP encapped packets originating in workloads" -j DROP');
    f(fw, '-j cali-pro-kns.default');
    f(fw, '-m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 -j RETURN');
    f(fw, '-j cali-pro-ksa.default.default');
    f(fw, '-m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 -j RETURN');
    f(fw, '-m comment --comment "Drop if no profiles matched" -j DROP');
    const tw = `cali-tw-${w.veth}`;
    f(tw, '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
    f(tw, '-m conntrack --ctstate INVALID -j DROP');
    f(tw, '-j MARK --set-xmark 0x0/0x10000');
    if (w.name === POLICY.target) {
      f(tw, '-m comment --comment "Start of policies" -j MARK --set-xmark 0x0/0x20000');
      f(tw, `-m mark --mark 0x0/0x20000 -j ${policyChain}`);
      f(tw, '-m comment --comment "Return if policy accepted" -m mark --mark 0x10000/0x10000 -j RETURN');
      f(tw, '-m comment --comment "Drop if no policies passed packet" -m mark --mark 0x0/0x20000 -j DROP');
    }
    f(tw, '-j cali-pri-kns.default');
    f(tw, '-m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 -j RETURN');
    f(tw, '-j cali-pri-ksa.default.default');
    f(tw, '-m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 -j RETURN');
    f(tw, '-m comment --comment "Drop if no profiles matched" -j DROP');
  }
  if (hasPolicy) {
    f(policyChain, `-m set --match-set ${selectorSetName(`app == '${POLICY.allowedFrom}'`)} src -j MARK --set-xmark 0x10000/0x10000`);
    f(policyChain, '-m mark --mark 0x10000/0x10000 -j RETURN');
  }
  f('cali-pri-kns.default', '-m comment --comment "Profile kns.default ingress" -j MARK --set-xmark 0x10000/0x10000');
  f('cali-pri-kns.default', '-m mark --mark 0x10000/0x10000 -j RETURN');
  f('cali-pro-kns.default', '-m comment --comment "Profile kns.default egress" -j MARK --set-xmark 0x10000/0x10000');
  f('cali-pro-kns.default', '-m mark --mark 0x10000/0x10000 -j RETURN');
  const filterChains = [
    'cali-FORWARD',
    'cali-INPUT',
    'cali-OUTPUT',
    'cali-cidr-block',
    'cali-from-hep-forward',
    'cali-from-host-endpoint',
    'cali-from-wl-dispatch',
    'cali-pri-kns.default',
    'cali-pri-ksa.default.default',
    'cali-pro-kns.default',
    'cali-pro-ksa.default.default',
    'cali-to-hep-forward',
    'cali-to-host-endpoint',
    'cali-to-wl-dispatch',
    'cali-wl-to-host',
    ...(hasPolicy ? [policyChain] : []),
    ...workloads.flatMap((w) => [`cali-fw-${w.veth}`, `cali-tw-${w.veth}`]),
  ];
  const nat = ruleBuilder('nat');
  const n = nat.add;
  n('PREROUTING', '-j cali-PREROUTING');
  n('OUTPUT', '-j cali-OUTPUT');
  n('POSTROUTING', '-j cali-POSTROUTING');
  n('cali-OUTPUT', '-j cali-fip-dnat');
  n('cali-POSTROUTING', '-j cali-fip-snat');
  n('cali-POSTROUTING', '-j cali-nat-outgoing');
  if (mode !== 'bgp') n('cali-POSTROUTING', `-o ${mode === 'vxlan' ? VXLAN_DEVICE : 'tunl0'} -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully`);
  n('cali-PREROUTING', '-j cali-fip-dnat');
  n('cali-nat-outgoing', '-m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully');
  return [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ...['cali-OUTPUT', 'cali-POSTROUTING', 'cali-PREROUTING', 'cali-fip-dnat', 'cali-fip-snat', 'cali-nat-outgoing'].map((c) => `:${c} - [0:0]`),
    ...nat.lines,
    'COMMIT',
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ...filterChains.map((c) => `:${c} - [0:0]`),
    ...filter.lines,
    'COMMIT',
    '',
  ].join('\n');
}

/** The conflist calico's installer writes (type calico, calico-ipam, the portmap chained after it). */
export function calicoConflist(mode: CalicoMode): string {
  const conf = {
    name: 'k8s-pod-network',
    cniVersion: '0.3.1',
    plugins: [
      {
        type: 'calico',
        log_level: 'info',
        log_file_path: '/var/log/calico/cni/cni.log',
        datastore_type: 'kubernetes',
        nodename: '__KUBERNETES_NODE_NAME__',
        mtu: workloadMtu(mode),
        ipam: { type: 'calico-ipam' },
        policy: { type: 'k8s' },
        kubernetes: { kubeconfig: '/etc/cni/net.d/calico-kubeconfig' },
      },
      { type: 'portmap', snat: true, capabilities: { portMappings: true } },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

export async function buildCalicoCluster(prefix: string, mode: CalicoMode): Promise<CalicoCluster> {
  const created: string[] = [];
  const listeners: Listeners[] = [];
  const teardown = async (): Promise<void> => {
    for (const l of listeners) await l.stop();
    for (const ns of created.reverse()) destroyNetns(ns);
  };
  try {
    const underlay = buildUnderlay(prefix, CALICO_NODES, created, { mtu: UNDERLAY_MTU });
    const lab = underlay.lab;
    const nodes: Record<string, MiniNode> = {};
    for (const spec of CALICO_NODES) {
      const ns = underlay.nodes[spec.name] ?? '';
      runIn(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
      nodes[spec.name] = { name: spec.name, ip: spec.ip, podCIDR: spec.block, gateway: '169.254.1.1', ns };
    }
    const nsOf = (name: string): string => nodes[name]?.ns ?? '';
    for (const spec of CALICO_NODES) {
      const ns = nsOf(spec.name);
      if (mode === 'bgp' || mode === 'ipip') {
        ipIn(ns, ['route', 'add', 'blackhole', spec.block, 'proto', 'bird']);
        for (const other of CALICO_NODES) {
          if (other.name === spec.name) continue;
          const onlink = mode === 'ipip' ? ['onlink'] : [];
          ipIn(ns, ['route', 'add', other.block, 'via', other.ip, 'dev', 'eth0', 'proto', 'bird', ...onlink]);
        }
      } else {
        ipIn(ns, ['route', 'add', 'blackhole', spec.block, 'proto', '80']);
        ipIn(ns, ['link', 'add', VXLAN_DEVICE, 'address', spec.vtepMac, 'type', 'vxlan', 'id', String(VXLAN_VNI), 'local', spec.ip, 'dev', 'eth0', 'dstport', String(VXLAN_PORT), 'nolearning']);
        ipIn(ns, ['link', 'set', VXLAN_DEVICE, 'mtu', String(VXLAN_MTU)]);
        ipIn(ns, ['addr', 'add', `${spec.tunnelIp}/32`, 'dev', VXLAN_DEVICE]);
        ipIn(ns, ['link', 'set', VXLAN_DEVICE, 'up']);
        for (const other of CALICO_NODES) {
          if (other.name === spec.name) continue;
          ipIn(ns, ['neigh', 'add', other.tunnelIp, 'lladdr', other.vtepMac, 'dev', VXLAN_DEVICE, 'nud', 'permanent']);
          run('ip', ['netns', 'exec', ns, 'bridge', 'fdb', 'add', other.vtepMac, 'dev', VXLAN_DEVICE, 'dst', other.ip, 'self', 'permanent']);
          ipIn(ns, ['route', 'add', other.block, 'via', other.tunnelIp, 'dev', VXLAN_DEVICE, 'onlink']);
        }
      }
    }
    const mtu = String(workloadMtu(mode));
    const pods: Record<string, MiniPod> = {};
    for (const spec of CALICO_PODS) {
      const node = nodes[spec.node];
      if (node === undefined) throw new Error(`no node ${spec.node}`);
      const ns = createNetns(`${prefix}${spec.name}`);
      created.push(ns);
      const hostVeth = calicoVethName('default', spec.name);
      // As the CNI plugin does: the pair is made in the pod's namespace, the host end moved out.
      ipIn(ns, ['link', 'add', 'eth0', 'mtu', mtu, 'type', 'veth', 'peer', 'name', hostVeth, 'mtu', mtu]);
      ipIn(ns, ['link', 'set', hostVeth, 'address', 'ee:ee:ee:ee:ee:ee']);
      ipIn(ns, ['link', 'set', 'eth0', 'up']);
      ipIn(ns, ['route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
      ipIn(ns, ['route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
      ipIn(ns, ['addr', 'add', `${spec.ip}/32`, 'dev', 'eth0']);
      runIn(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']);
      ipIn(ns, ['link', 'set', hostVeth, 'netns', node.ns]);
      for (const [key, value] of [
        [`net.ipv4.conf.${hostVeth}.route_localnet`, '1'],
        [`net.ipv4.neigh.${hostVeth}.proxy_delay`, '0'],
        [`net.ipv4.conf.${hostVeth}.proxy_arp`, '1'],
        [`net.ipv4.conf.${hostVeth}.forwarding`, '1'],
        [`net.ipv4.conf.${hostVeth}.rp_filter`, '1'],
      ] as const) {
        runIn(node.ns, 'sysctl', ['-q', '-w', `${key}=${value}`]);
      }
      ipIn(node.ns, ['link', 'set', hostVeth, 'up']);
      ipIn(node.ns, ['route', 'add', `${spec.ip}/32`, 'dev', hostVeth, 'scope', 'link']);
      pods[spec.name] = { name: spec.name, node: spec.node, ip: spec.ip, ns, hostVeth };
    }
    for (const spec of CALICO_NODES) {
      const ns = nsOf(spec.name);
      run('ip', ['netns', 'exec', ns, 'ipset', 'restore'], { input: calicoIpsets(mode, spec) });
      run('ip', ['netns', 'exec', ns, 'iptables-restore'], { input: calicoRules(mode, spec) });
      listeners.push(await startListeners(ns, [{ protocol: 'tcp', address: '0.0.0.0', port: CALICO_NODE_PORT }]));
    }
    for (const name of ['pod2', 'pod3', 'pod4']) {
      const pod = pods[name];
      if (pod !== undefined) listeners.push(await startListeners(pod.ns, [{ protocol: 'tcp', address: '0.0.0.0', port: CALICO_POD_PORT }]));
    }
    const objects = buildCalicoObjects(mode);
    const byName = (name: string): string => nodes[name]?.ns ?? pods[name]?.ns ?? name;
    const dumpNetns = (name: string): NetnsDumps => dumpNamespace(byName(name), name);
    return {
      mode,
      lab,
      nodes,
      pods,
      objects,
      conflist: calicoConflist(mode),
      dumpNetns,
      dump: (): ClusterState => dumpClusterState(objects, Object.keys(nodes), Object.keys(pods), dumpNetns),
      teardown,
    };
  } catch (error) {
    await teardown();
    throw error;
  }
}

/** Nodes annotated as calico-node annotates them, the pods, the policy and the calico-node DaemonSet. */
export function buildCalicoObjects(mode: CalicoMode): ClusterObjects {
  return {
    nodes: CALICO_NODES.map((n) => ({
      metadata: {
        name: n.name,
        labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux' },
        annotations: {
          'projectcalico.org/IPv4Address': `${n.ip}/24`,
          ...(mode === 'vxlan' ? { 'projectcalico.org/IPv4VXLANTunnelAddr': n.tunnelIp, 'projectcalico.org/VXLANTunnelMACAddr': n.vtepMac } : {}),
          ...(mode === 'ipip' ? { 'projectcalico.org/IPv4IPIPTunnelAddr': n.tunnelIp } : {}),
        },
      },
      status: { addresses: [{ type: 'InternalIP', address: n.ip }, { type: 'Hostname', address: n.name }] },
    })),
    pods: CALICO_PODS.map((p) => ({
      metadata: { name: p.name, namespace: 'default', labels: { app: p.name } },
      spec: { nodeName: p.node, containers: [{ name: 'main', ports: p.name === 'pod1' ? [] : [{ containerPort: CALICO_POD_PORT, protocol: 'TCP' }] }] },
      status: { podIP: p.ip, podIPs: [{ ip: p.ip }], phase: 'Running' },
    })),
    services: [],
    endpointSlices: [],
    networkPolicies: [
      {
        metadata: { name: POLICY.name, namespace: 'default' },
        spec: {
          podSelector: { matchLabels: { app: POLICY.target } },
          policyTypes: ['Ingress'],
          ingress: [{ from: [{ podSelector: { matchLabels: { app: POLICY.allowedFrom } } }] }],
        },
      },
    ],
    daemonSets: [
      {
        metadata: { name: 'calico-node', namespace: 'kube-system', labels: { 'k8s-app': 'calico-node' } },
        spec: { template: { spec: { containers: [{ name: 'calico-node', image: CALICO_NODE_IMAGE }] } } },
      },
    ],
  };
}
