// The calico network modes (BGP and VXLAN), reproduced: calico-node (felix, BIRD, confd) and the
// calico CNI plugin need calico's datastore and daemons, which cannot run here, so this module
// leaves each node as they would, element by element (the component named in brackets):
//
// - IPAM [calico-ipam, calico's datastore]: the default pool 192.168.0.0/16 (the cluster CIDR) in
//   /26 blocks; each node gets an affine block (chosen by a hash of its name, the next free one on
//   a collision: one LabNetwork per lab keeps the cluster-wide table). In VXLAN mode the block's
//   first address is the node's tunnel address; pods take /32s from the block's next addresses.
//   Allocations are kept per node in ROOT/var/lib/calico/ipam/BLOCK.json, by handle
//   (`k8s-pod-network.CONTAINERID`).
// - The CNI configuration [install-cni]: ROOT/etc/cni/net.d/10-calico.conflist (type calico, ipam
//   calico-ipam, portmap, bandwidth; the node name filled in) and its calico-kubeconfig.
// - A pod [the calico CNI plugin]: a veth made in the pod's namespace, eth0 with the pod's /32, a
//   link route to 169.254.1.1 and the default route via it, ip_forward 0 in the pod; the host end
//   `cali` + 11 hex digits of sha1("NAMESPACE.POD"), MAC ee:ee:ee:ee:ee:ee, moved to the node, with
//   route_localnet, proxy_arp, forwarding, proxy_delay 0 (and rp_filter 1 [felix]); a route
//   `POD_IP dev caliX scope link`.
// - The node [felix]: ip_forward 1. BGP mode [BIRD]: `blackhole OWN_BLOCK proto bird` and
//   `PEER_BLOCK via PEER_IP dev eth0 proto bird`. VXLAN mode [felix]: vxlan.calico (VNI 4096, port
//   4789, local = InternalIP, dev eth0, nolearning, MTU = eth0's − 50, a MAC of its own) holding the
//   tunnel address /32; per peer a permanent neighbour (tunnel address → VTEP MAC), a permanent FDB
//   entry (VTEP MAC → InternalIP) and `PEER_BLOCK via PEER_TUNNEL dev vxlan.calico onlink`;
//   `blackhole OWN_BLOCK proto 80`.
// - Felix's iptables, only what healthy traffic goes through: FORWARD → cali-FORWARD, which sends
//   pods' traffic through the workload dispatch chains to one cali-fw-/cali-tw- chain per pod,
//   each accepting through the namespace's profile (mark 0x10000), then `FORWARD -m mark --mark
//   0x10000/0x10000 -j ACCEPT`; nat POSTROUTING → cali-POSTROUTING → cali-nat-outgoing (masquerade
//   from the pool to outside it, with the ipsets felix keeps) and, in VXLAN mode, the masquerade of
//   host-sourced traffic into vxlan.calico. Left out: cali-INPUT/cali-OUTPUT (host endpoints,
//   workload-to-host, VXLAN admission), raw and mangle chains, cali-cidr-block, floating IPs, and
//   NetworkPolicy (no cali-pi-/cali-po- chains: policies are not enforced in the lab's calico).
// - Node annotations calico-node writes: projectcalico.org/IPv4Address, and in VXLAN mode
//   IPv4VXLANTunnelAddr and VXLANTunnelMACAddr, returned in the NodeNetwork for the kubelet to apply.

import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cniConfDir } from './cni-pod.js';
import { mustRunCommand, runCommand } from '../process.js';
import { ipIn, runIn, sysctlIn, tryIpIn } from './netns-commands.js';
import type { LabNetwork, LabNodeContext, LabPeer, LabPodContext, LabPodNetwork, NodeNetwork } from './types.js';

export type CalicoMode = 'bgp' | 'vxlan';

export const CALICO_POOL = '192.168.0.0/16';
export const CALICO_BLOCK_BITS = 26;
export const CALICO_CONFLIST_NAME = '10-calico.conflist';
export const CALICO_VXLAN_DEVICE = 'vxlan.calico';
export const CALICO_VXLAN_VNI = 4096;
export const CALICO_VXLAN_PORT = 4789;
/** VXLAN over IPv4 costs 50 bytes: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const CALICO_VXLAN_OVERHEAD = 50;
/** The pods' gateway: a link-local address the host answers for by proxy ARP. */
export const CALICO_GATEWAY = '169.254.1.1';
const HOST_VETH_MAC = 'ee:ee:ee:ee:ee:ee';
/** Felix's route protocol when BIRD does not run (VXLAN mode). */
const FELIX_RTPROTO = '80';

/** calico's host-side veth name: `cali` + sha1("NAMESPACE.POD") in hex, first 11 digits. */
export function calicoVethName(namespace: string, pod: string): string {
  return `cali${createHash('sha1').update(`${namespace}.${pod}`).digest('hex').slice(0, 11)}`;
}

/** The IPAM handle calico-ipam records an allocation under. */
export function calicoHandle(containerId: string): string {
  return `k8s-pod-network.${containerId}`;
}

/** A node's calico identity, derived from the cluster-wide table. */
export interface CalicoNodeIdentity {
  readonly block: string;
  /** VXLAN mode: the block's first address. */
  readonly tunnelIp: string;
  /** VXLAN mode: the VTEP's MAC (locally administered, stable per node name). */
  readonly vtepMac: string;
}

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** The cluster-wide block affinities (calico's datastore): one /26 of the pool per node. */
export class CalicoBlocks {
  private readonly byNode = new Map<string, number>();
  private readonly poolBase = ipToNumber(CALICO_POOL.split('/')[0] ?? '');
  private readonly blockCount = 2 ** (CALICO_BLOCK_BITS - Number(CALICO_POOL.split('/')[1]));

  identity(node: string): CalicoNodeIdentity {
    const index = this.indexOf(node);
    const base = this.poolBase + index * 2 ** (32 - CALICO_BLOCK_BITS);
    const hash = createHash('sha1').update(`vtep/${node}`).digest();
    const mac = [((hash[0] ?? 0) & 0xfe) | 0x02, ...hash.subarray(1, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
    return { block: `${numberToIp(base)}/${CALICO_BLOCK_BITS}`, tunnelIp: numberToIp(base), vtepMac: mac };
  }

  private indexOf(node: string): number {
    const known = this.byNode.get(node);
    if (known !== undefined) return known;
    const taken = new Set(this.byNode.values());
    if (taken.size >= this.blockCount) throw new Error(`calico pool ${CALICO_POOL} has no free /${CALICO_BLOCK_BITS} block for node ${node}`);
    let index = createHash('sha1').update(`block/${node}`).digest().readUInt32BE(0) % this.blockCount;
    while (taken.has(index)) index = (index + 1) % this.blockCount;
    this.byNode.set(node, index);
    return index;
  }
}

/** The conflist calico's installer writes on a node (node name and kubeconfig path filled in). */
export function calicoConflist(nodeName: string, mtu: number, kubeconfigPath: string): string {
  const conf = {
    name: 'k8s-pod-network',
    cniVersion: '0.3.1',
    plugins: [
      {
        type: 'calico',
        log_level: 'info',
        log_file_path: '/var/log/calico/cni/cni.log',
        datastore_type: 'kubernetes',
        nodename: nodeName,
        mtu,
        ipam: { type: 'calico-ipam' },
        policy: { type: 'k8s' },
        kubernetes: { kubeconfig: kubeconfigPath },
      },
      { type: 'portmap', snat: true, capabilities: { portMappings: true } },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

export function calicoNetwork(mode: CalicoMode): LabNetwork {
  const blocks = new CalicoBlocks();
  return {
    mode: mode === 'vxlan' ? 'calico-vxlan' : 'calico-bgp',
    clusterCIDR: CALICO_POOL,
    setUpNode: (node, peers) => new CalicoNode(node, mode, blocks).setUp(peers),
  };
}

interface Workload {
  readonly ip: string;
  readonly hostVeth: string;
  readonly handle: string;
}

/** One node's reproduced calico dataplane. */
class CalicoNode {
  private readonly self: CalicoNodeIdentity;
  private readonly ipamFile: string;
  /** Allocations of the node's block, by ordinal. */
  private allocations = new Map<number, Workload>();
  /** Per peer: its InternalIP and the commands that remove what was programmed for it. */
  private readonly peerUndo = new Map<string, { ip: string; commands: string[][] }>();
  /** Serializes pod changes (IPAM and the rules are read-modify-write). */
  private queue: Promise<unknown> = Promise.resolve();
  private workloadMtu = 1500;

  constructor(
    private readonly node: LabNodeContext,
    private readonly mode: CalicoMode,
    private readonly blocks: CalicoBlocks,
  ) {
    this.self = blocks.identity(node.name);
    this.ipamFile = join(node.rootDir, 'var', 'lib', 'calico', 'ipam', `${this.self.block.replace('/', '-')}.json`);
  }

  async setUp(peers: readonly LabPeer[]): Promise<NodeNetwork> {
    const { node, mode, self } = this;
    await sysctlIn(node.netns, 'net.ipv4.ip_forward', 1);
    const eth0 = (JSON.parse(await ipIn(node.netns, ['-j', 'addr', 'show', 'dev', 'eth0'])) as { mtu?: number; addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[])[0];
    const underlayMtu = eth0?.mtu ?? 1500;
    const v4 = eth0?.addr_info?.find((a) => a.family === 'inet');
    this.workloadMtu = mode === 'vxlan' ? underlayMtu - CALICO_VXLAN_OVERHEAD : underlayMtu;

    if (mode === 'bgp') {
      await ipIn(node.netns, ['route', 'replace', 'blackhole', self.block, 'proto', 'bird']);
    } else {
      await ipIn(node.netns, ['link', 'add', CALICO_VXLAN_DEVICE, 'address', self.vtepMac, 'type', 'vxlan', 'id', String(CALICO_VXLAN_VNI), 'local', node.ip, 'dev', 'eth0', 'dstport', String(CALICO_VXLAN_PORT), 'nolearning']);
      await ipIn(node.netns, ['link', 'set', CALICO_VXLAN_DEVICE, 'mtu', String(this.workloadMtu)]);
      await ipIn(node.netns, ['addr', 'add', `${self.tunnelIp}/32`, 'dev', CALICO_VXLAN_DEVICE]);
      await ipIn(node.netns, ['link', 'set', CALICO_VXLAN_DEVICE, 'up']);
      await ipIn(node.netns, ['route', 'replace', 'blackhole', self.block, 'proto', FELIX_RTPROTO]);
    }

    const confDir = cniConfDir(node);
    await mkdir(confDir, { recursive: true });
    const kubeconfig = join(confDir, 'calico-kubeconfig');
    await copyFile(node.kubeconfig, kubeconfig);
    const conflistPath = join(confDir, CALICO_CONFLIST_NAME);
    await writeFile(conflistPath, calicoConflist(node.name, this.workloadMtu, kubeconfig));

    await this.loadIpam();
    await this.applyIpsets(peers);
    await this.applyRules(true);
    await this.updatePeers(peers);
    node.log(`${node.name}: calico (${mode}) dataplane reproduced: block ${self.block}${mode === 'vxlan' ? `, ${CALICO_VXLAN_DEVICE} ${self.tunnelIp}` : ''}; CNI configuration at ${conflistPath}`);

    const annotations: Record<string, string> = { 'projectcalico.org/IPv4Address': `${node.ip}/${v4?.prefixlen ?? 24}` };
    if (mode === 'vxlan') {
      annotations['projectcalico.org/IPv4VXLANTunnelAddr'] = self.tunnelIp;
      annotations['projectcalico.org/VXLANTunnelMACAddr'] = self.vtepMac;
    }
    return {
      conflistPath,
      ...(mode === 'vxlan' ? { vtep: self.tunnelIp } : {}),
      annotations,
      addPod: (pod) => this.serialized(() => this.addPod(pod)),
      deletePod: (pod) => this.serialized(() => this.deletePod(pod)),
      peersChanged: (next) => this.serialized(async () => {
        await this.applyIpsets(next);
        await this.updatePeers(next);
      }),
      stop: () => Promise.resolve(),
    };
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async loadIpam(): Promise<void> {
    try {
      const saved = JSON.parse(await readFile(this.ipamFile, 'utf8')) as { allocations?: Record<string, Workload> };
      this.allocations = new Map(Object.entries(saved.allocations ?? {}).map(([ordinal, w]) => [Number(ordinal), w]));
    } catch {
      this.allocations = new Map();
    }
  }

  private async saveIpam(): Promise<void> {
    await mkdir(join(this.ipamFile, '..'), { recursive: true });
    const allocations = Object.fromEntries([...this.allocations].sort(([a], [b]) => a - b));
    await writeFile(this.ipamFile, `${JSON.stringify({ block: this.self.block, affinity: `host:${this.node.name}`, allocations }, null, 2)}\n`);
  }

  private async addPod(pod: LabPodContext): Promise<LabPodNetwork> {
    const { node } = this;
    const handle = calicoHandle(pod.containerId);
    const existing = [...this.allocations.values()].find((w) => w.handle === handle);
    if (existing !== undefined) return { ip: existing.ip, hostVeth: existing.hostVeth };
    const size = 2 ** (32 - CALICO_BLOCK_BITS);
    // Ordinal 0 is the tunnel address in VXLAN mode; kept free in BGP mode too, so pod addresses are alike in both.
    let ordinal = 1;
    while (ordinal < size && this.allocations.has(ordinal)) ordinal++;
    if (ordinal >= size) throw new Error(`calico-ipam: block ${this.self.block} of ${node.name} is full`);
    const ip = `${numberToIp(ipToNumber(this.self.tunnelIp) + ordinal)}`;
    const hostVeth = calicoVethName(pod.namespace, pod.name);
    const workload: Workload = { ip, hostVeth, handle };
    this.allocations.set(ordinal, workload);
    await this.saveIpam();
    try {
      const mtu = String(this.workloadMtu);
      // As the plugin does: the pair is made in the pod's namespace and the host end moved out.
      await ipIn(pod.netns, ['link', 'add', 'eth0', 'mtu', mtu, 'type', 'veth', 'peer', 'name', hostVeth, 'mtu', mtu]);
      await ipIn(pod.netns, ['link', 'set', hostVeth, 'address', HOST_VETH_MAC]);
      await ipIn(pod.netns, ['link', 'set', 'eth0', 'up']);
      await ipIn(pod.netns, ['addr', 'add', `${ip}/32`, 'dev', 'eth0']);
      await ipIn(pod.netns, ['route', 'add', CALICO_GATEWAY, 'dev', 'eth0', 'scope', 'link']);
      await ipIn(pod.netns, ['route', 'add', 'default', 'via', CALICO_GATEWAY, 'dev', 'eth0']);
      await sysctlIn(pod.netns, 'net.ipv4.ip_forward', 0);
      await ipIn(pod.netns, ['link', 'set', hostVeth, 'netns', node.netns]);
      for (const [key, value] of [
        [`net.ipv4.conf.${hostVeth}.route_localnet`, 1],
        [`net.ipv4.neigh.${hostVeth}.proxy_delay`, 0],
        [`net.ipv4.conf.${hostVeth}.proxy_arp`, 1],
        [`net.ipv4.conf.${hostVeth}.forwarding`, 1],
        [`net.ipv4.conf.${hostVeth}.rp_filter`, 1],
      ] as const) {
        await sysctlIn(node.netns, key, value);
      }
      await ipIn(node.netns, ['link', 'set', hostVeth, 'up']);
      await ipIn(node.netns, ['route', 'replace', `${ip}/32`, 'dev', hostVeth, 'scope', 'link']);
      await this.applyRules(false);
      return { ip, hostVeth };
    } catch (error) {
      await tryIpIn(node.netns, ['link', 'del', hostVeth]);
      await tryIpIn(pod.netns, ['link', 'del', 'eth0']);
      this.allocations.delete(ordinal);
      await this.saveIpam();
      await this.applyRules(false).catch(() => undefined);
      throw new Error(`calico: cannot wire pod ${pod.namespace}/${pod.name} on ${node.name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  private async deletePod(pod: LabPodContext): Promise<void> {
    const handle = calicoHandle(pod.containerId);
    const entry = [...this.allocations].find(([, w]) => w.handle === handle);
    if (entry === undefined) return;
    const [ordinal, workload] = entry;
    // Deleting the host end deletes the pair, its route and the pod's eth0.
    const gone = await tryIpIn(this.node.netns, ['link', 'del', workload.hostVeth]);
    if (!gone.ok && !/cannot find device|does not exist/i.test(gone.stderr)) throw new Error(`calico: cannot delete ${workload.hostVeth} on ${this.node.name}: ${gone.stderr.trim()}`);
    this.allocations.delete(ordinal);
    await this.saveIpam();
    await this.applyRules(false);
  }

  /** BIRD's routes (BGP) or felix's VXLAN routes, neighbours and FDB entries, to each peer's block. */
  private async updatePeers(peers: readonly LabPeer[]): Promise<void> {
    const { node } = this;
    const next = new Map<string, LabPeer>();
    for (const peer of peers) if (peer.name !== node.name) next.set(peer.name, peer);
    for (const [name, undo] of this.peerUndo) {
      const peer = next.get(name);
      if (peer !== undefined && peer.ip === undo.ip) continue;
      for (const [program, ...args] of undo.commands) await runCommand('ip', ['netns', 'exec', node.netns, program ?? 'true', ...args]);
      this.peerUndo.delete(name);
    }
    for (const peer of next.values()) {
      const other = this.blocks.identity(peer.name);
      if (this.mode === 'bgp') {
        await ipIn(node.netns, ['route', 'replace', other.block, 'via', peer.ip, 'dev', 'eth0', 'proto', 'bird']);
        this.peerUndo.set(peer.name, { ip: peer.ip, commands: [['ip', 'route', 'del', other.block]] });
      } else {
        await ipIn(node.netns, ['neigh', 'replace', other.tunnelIp, 'lladdr', other.vtepMac, 'dev', CALICO_VXLAN_DEVICE, 'nud', 'permanent']);
        await runIn(node.netns, 'bridge', ['fdb', 'replace', other.vtepMac, 'dev', CALICO_VXLAN_DEVICE, 'dst', peer.ip, 'self', 'permanent']);
        await ipIn(node.netns, ['route', 'replace', other.block, 'via', other.tunnelIp, 'dev', CALICO_VXLAN_DEVICE, 'onlink', 'proto', FELIX_RTPROTO]);
        this.peerUndo.set(peer.name, {
          ip: peer.ip,
          commands: [
            ['ip', 'route', 'del', other.block],
            ['ip', 'neigh', 'del', other.tunnelIp, 'dev', CALICO_VXLAN_DEVICE],
            ['bridge', 'fdb', 'del', other.vtepMac, 'dev', CALICO_VXLAN_DEVICE, 'dst', peer.ip, 'self'],
          ],
        });
      }
    }
  }

  /** The ipsets felix keeps that the reproduced rules use. */
  private async applyIpsets(peers: readonly LabPeer[]): Promise<void> {
    const lines = [
      'create cali40all-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576',
      `add cali40all-ipam-pools ${CALICO_POOL}`,
      'create cali40masq-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576',
      `add cali40masq-ipam-pools ${CALICO_POOL}`,
    ];
    if (this.mode === 'vxlan') {
      lines.push('create cali40all-vxlan-net hash:net family inet hashsize 1024 maxelem 1048576', 'flush cali40all-vxlan-net');
      for (const peer of peers) if (peer.name !== this.node.name) lines.push(`add cali40all-vxlan-net ${peer.ip}`);
    }
    await runIn(this.node.netns, 'ipset', ['restore', '-exist'], { input: `${lines.join('\n')}\n` });
  }

  /** Felix's chains for healthy traffic (see the header); `withJumps` also hooks them into the built-in chains. */
  private async applyRules(withJumps: boolean): Promise<void> {
    await runIn(this.node.netns, 'iptables-restore', ['--noflush'], { input: calicoRules(this.mode, [...this.allocations.values()], withJumps) });
    await this.dropStaleChains();
  }

  /** Deletes the cali-fw-/cali-tw- chains of workloads that are gone. */
  private async dropStaleChains(): Promise<void> {
    const saved = await mustRunCommand('ip', ['netns', 'exec', this.node.netns, 'iptables-save', '-t', 'filter']);
    const live = new Set([...this.allocations.values()].flatMap((w) => [`cali-fw-${w.hostVeth}`, `cali-tw-${w.hostVeth}`]));
    const stale = [...saved.matchAll(/^:(cali-[ft]w-\S+) /gm)].map((m) => m[1] ?? '').filter((chain) => !live.has(chain));
    if (stale.length === 0) return;
    const input = ['*filter', ...stale.map((c) => `-F ${c}`), ...stale.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
    await runIn(this.node.netns, 'iptables-restore', ['--noflush'], { input });
  }
}

/** A felix-shaped rule: `-m comment --comment "cali:ID"` first, ID a stable hash of chain and position. */
function ruleLines(table: string): { lines: string[]; add: (chain: string, spec: string) => void } {
  const counts = new Map<string, number>();
  const lines: string[] = [];
  return {
    lines,
    add(chain, spec) {
      const n = counts.get(chain) ?? 0;
      counts.set(chain, n + 1);
      const id = createHash('sha224').update(`${table}/${chain}/${n}`).digest('base64url').slice(0, 16);
      lines.push(`-A ${chain} -m comment --comment "cali:${id}" ${spec}`);
    },
  };
}

/** The iptables-restore --noflush input of felix's reproduced chains for these workloads. */
export function calicoRules(mode: CalicoMode, workloads: readonly { readonly hostVeth: string }[], withJumps: boolean): string {
  const filter = ruleLines('filter');
  const f = filter.add;
  f('cali-FORWARD', '-j MARK --set-xmark 0x0/0xe0000');
  f('cali-FORWARD', '-i cali+ -j cali-from-wl-dispatch');
  f('cali-FORWARD', '-o cali+ -j cali-to-wl-dispatch');
  for (const w of workloads) f('cali-from-wl-dispatch', `-i ${w.hostVeth} -g cali-fw-${w.hostVeth}`);
  f('cali-from-wl-dispatch', '-m comment --comment "Unknown interface" -j DROP');
  for (const w of workloads) f('cali-to-wl-dispatch', `-o ${w.hostVeth} -g cali-tw-${w.hostVeth}`);
  f('cali-to-wl-dispatch', '-m comment --comment "Unknown interface" -j DROP');
  for (const w of workloads) {
    for (const [chain, profile] of [[`cali-fw-${w.hostVeth}`, 'cali-pro-kns.default'], [`cali-tw-${w.hostVeth}`, 'cali-pri-kns.default']] as const) {
      f(chain, '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
      f(chain, '-m conntrack --ctstate INVALID -j DROP');
      f(chain, '-j MARK --set-xmark 0x0/0x10000');
      if (mode === 'vxlan' && chain.startsWith('cali-fw-')) f(chain, '-p udp -m comment --comment "Drop VXLAN encapped packets originating in workloads" -m multiport --dports 4789 -j DROP');
      f(chain, `-j ${profile}`);
      f(chain, '-m comment --comment "Return if profile accepted" -m mark --mark 0x10000/0x10000 -j RETURN');
      f(chain, '-m comment --comment "Drop if no profiles matched" -j DROP');
    }
  }
  f('cali-pri-kns.default', '-m comment --comment "Profile kns.default ingress" -j MARK --set-xmark 0x10000/0x10000');
  f('cali-pri-kns.default', '-m mark --mark 0x10000/0x10000 -j RETURN');
  f('cali-pro-kns.default', '-m comment --comment "Profile kns.default egress" -j MARK --set-xmark 0x10000/0x10000');
  f('cali-pro-kns.default', '-m mark --mark 0x10000/0x10000 -j RETURN');
  const filterChains = [
    'cali-FORWARD',
    'cali-from-wl-dispatch',
    'cali-to-wl-dispatch',
    'cali-pri-kns.default',
    'cali-pro-kns.default',
    ...workloads.flatMap((w) => [`cali-fw-${w.hostVeth}`, `cali-tw-${w.hostVeth}`]),
  ];
  const nat = ruleLines('nat');
  const n = nat.add;
  n('cali-POSTROUTING', '-j cali-nat-outgoing');
  if (mode === 'vxlan') n('cali-POSTROUTING', `-o ${CALICO_VXLAN_DEVICE} -m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully`);
  n('cali-nat-outgoing', '-m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully');
  const jump = (table: string, chain: string, spec: string, position: number): string => {
    const id = createHash('sha224').update(`${table}/${chain}/jump/${position}`).digest('base64url').slice(0, 16);
    return `-I ${chain} ${position} -m comment --comment "cali:${id}" ${spec}`;
  };
  return [
    '*nat',
    ...['cali-POSTROUTING', 'cali-nat-outgoing'].map((c) => `:${c} - [0:0]`),
    ...nat.lines,
    ...(withJumps ? [jump('nat', 'POSTROUTING', '-j cali-POSTROUTING', 1)] : []),
    'COMMIT',
    '*filter',
    ...filterChains.map((c) => `:${c} - [0:0]`),
    ...filter.lines,
    ...(withJumps
      ? [
          jump('filter', 'FORWARD', '-j cali-FORWARD', 1),
          jump('filter', 'FORWARD', '-m comment --comment "Policy explicitly accepted packet." -m mark --mark 0x10000/0x10000 -j ACCEPT', 2),
        ]
      : []),
    'COMMIT',
    '',
  ].join('\n');
}
