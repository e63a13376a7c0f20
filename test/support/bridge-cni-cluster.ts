// A three-node "cluster" of network namespaces whose pod network is made by the REAL reference CNI
// plugins (`bridge` with `host-local` IPAM, and `loopback`), called as a container runtime calls
// them: CNI_COMMAND=ADD/DEL, CNI_NETNS, CNI_IFNAME, CNI_CONTAINERID, CNI_PATH, the plugin's
// configuration on stdin (cniVersion 1.0.0, `name` and `cniVersion` injected from the list,
// `prevResult` for the later plugins of a chain and for DEL). Each plugin runs inside the node's
// namespace (`ip netns exec NODE`), where it creates cni0 and the pod's host veth.
//
// Layout: a lab namespace with bridge br0 (10.99.0.1/24) is the underlay; each node has eth0 on it
// with its InternalIP and a default route via 10.99.0.1 (nothing answers beyond it). The node's
// conflist: bridge cni0, isGateway, ipMasq, hairpinMode, host-local IPAM over the node's podCIDR
// 10.244.N.0/24 with a default route and a dataDir of its own (the nodes share this filesystem).
// The plugin turns ip_forward on (isGateway) and installs the CNI-xxxx masquerade chains. Nodes
// reach each other's podCIDR by static routes via the other node's InternalIP, as an admin adds
// them for a bridge-CNI cluster. kube-proxy-shaped NAT (svc1 → pod2, pod3; `empty` rejected) is
// added with `iptables-restore --noflush`, its jumps first in the built-in chains as kube-proxy
// puts them. Every pod listens on POD_PORT, every node on NODE_PORT. `dump()` takes the
// collector's dumps and the CNI configuration files. Teardown runs CNI DEL, stops the listeners,
// deletes every namespace and the temporary directory, even after a partial build. Needs root.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterObjects, ClusterState, NetnsDumps } from '../../src/diagnosis/index.js';
import { provisionBinaries } from './control-plane.js';
import { dumpClusterState, dumpNamespace, kubeProxyRules, type MiniCluster, type MiniNode, type MiniPod } from './mini-cluster.js';
import { createNetns, destroyNetns, ipIn, run, tryRun } from './netns.js';
import { startListeners, type Listeners } from './packet-probe.js';
import { buildUnderlay } from './underlay.js';

/** A file of a node's CNI configuration directory. */
export type CniConfigFile = NonNullable<ClusterState['cniConfigs']>[string][number];

export const BRIDGE_SVC1 = { name: 'svc1', clusterIP: '10.96.0.10', port: 80, targetPort: 8080 } as const;
export const BRIDGE_EMPTY_SVC = { name: 'empty', clusterIP: '10.96.0.20', port: 80 } as const;
export const POD_PORT = 8080;
export const NODE_PORT = 10250;
/** Where a node's runtime reads its CNI configuration (the path recorded for each file). */
export const CNI_CONF_DIR = '/etc/cni/net.d';
export const CONFLIST_NAME = '10-bridge.conflist';
export const NETWORK_NAME = 'bridge-net';

export interface BridgeCniNode extends MiniNode {
  /** The conflist the node's CNI calls use (also its CNI configuration file). */
  readonly conflist: string;
}

export interface BridgeCniPod extends MiniPod {
  readonly containerId: string;
  /** The result of the ADD chain (CNI 1.0.0 JSON). */
  readonly result: unknown;
}

export interface BridgeCniCluster extends MiniCluster {
  readonly nodes: Readonly<Record<string, BridgeCniNode>>;
  readonly pods: Readonly<Record<string, BridgeCniPod>>;
  /** By node name: its CNI configuration files, as a collector reads them. */
  cniConfigs(): Record<string, CniConfigFile[]>;
}

const NODE_SPECS = [
  { name: 'node1', ip: '10.99.0.11', podCIDR: '10.244.0.0/24', gateway: '10.244.0.1' },
  { name: 'node2', ip: '10.99.0.12', podCIDR: '10.244.1.0/24', gateway: '10.244.1.1' },
  { name: 'node3', ip: '10.99.0.13', podCIDR: '10.244.2.0/24', gateway: '10.244.2.1' },
] as const;

/** In creation order: host-local hands out .2, .3, ... per node. */
const POD_SPECS = [
  { name: 'pod1', node: 'node1' },
  { name: 'pod3', node: 'node1' },
  { name: 'pod2', node: 'node2' },
  { name: 'pod4', node: 'node3' },
] as const;

/** The node's network configuration list, as written to its configuration directory. */
export function bridgeConflist(podCIDR: string, dataDir: string): string {
  const conf = {
    cniVersion: '1.0.0',
    name: NETWORK_NAME,
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', subnet: podCIDR, routes: [{ dst: '0.0.0.0/0' }], dataDir },
      },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

interface CniCall {
  readonly command: 'ADD' | 'DEL';
  readonly nodeNs: string;
  readonly podNs: string;
  readonly containerId: string;
  readonly ifname: string;
  readonly cniPath: string;
}

/** Runs one plugin binary as a runtime does, inside the node's namespace; returns its stdout. */
function callPlugin(call: CniCall, type: string, config: object): string {
  const env = [
    `CNI_COMMAND=${call.command}`,
    `CNI_CONTAINERID=${call.containerId}`,
    `CNI_NETNS=/run/netns/${call.podNs}`,
    `CNI_IFNAME=${call.ifname}`,
    `CNI_PATH=${call.cniPath}`,
  ];
  const result = tryRun('ip', ['netns', 'exec', call.nodeNs, 'env', ...env, join(call.cniPath, type)], { input: JSON.stringify(config) });
  if (!result.ok) throw new Error(`CNI ${call.command} of ${type} for ${call.containerId} failed (exit ${result.status}): ${result.stdout.trim()} ${result.stderr.trim()}`);
  return result.stdout;
}

/** A network configuration list: ADD through the plugins in order, DEL in reverse, as libcni does. */
function runChain(call: CniCall, conflist: string, prevResult?: unknown): unknown {
  const list = JSON.parse(conflist) as { cniVersion: string; name: string; plugins: { type: string }[] };
  const plugins = call.command === 'ADD' ? list.plugins : [...list.plugins].reverse();
  let result: unknown = prevResult;
  for (const plugin of plugins) {
    const config = { ...plugin, cniVersion: list.cniVersion, name: list.name, ...(result !== undefined ? { prevResult: result } : {}) };
    const out = callPlugin(call, plugin.type, config);
    if (call.command === 'ADD') result = JSON.parse(out) as unknown;
  }
  return result;
}

function firstAddress(result: unknown): string {
  const ips = (result as { ips?: { address?: string }[] }).ips ?? [];
  const address = ips[0]?.address?.split('/')[0];
  if (address === undefined) throw new Error(`the CNI result has no address: ${JSON.stringify(result)}`);
  return address;
}

/** kube-proxy's rules for this cluster, with the jumps from the built-in chains inserted first. */
function serviceRules(endpoints: readonly string[]): string {
  return kubeProxyRules(endpoints)
    .split('\n')
    .map((line) => line.replace(/^-A (PREROUTING|OUTPUT|POSTROUTING|FORWARD) /, '-I $1 1 '))
    .join('\n');
}

/** Builds the cluster (about two seconds); throws after tearing down whatever was built. */
export async function buildBridgeCniCluster(prefix = 'ndbr'): Promise<BridgeCniCluster> {
  const created: string[] = [];
  const listeners: Listeners[] = [];
  const added: { call: CniCall; conflist: string; result: unknown }[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'netdiag-bridge-cni-'));
  const teardown = async (): Promise<void> => {
    for (const l of listeners) await l.stop();
    // CNI DEL (best effort: the namespaces and everything in them go next anyway).
    for (const { call, conflist, result } of added.reverse()) {
      try {
        runChain({ ...call, command: 'DEL' }, conflist, result);
      } catch {
        // Already gone, or the node's namespace was broken by a test: deleting the namespace cleans up.
      }
    }
    for (const ns of created.reverse()) destroyNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const cniPath = join(dir, 'bin');
    mkdirSync(cniPath);
    provisionBinaries(cniPath, ['cni-plugins']);
    const underlay = buildUnderlay(prefix, NODE_SPECS, created);
    const lab = underlay.lab;

    const nodes: Record<string, BridgeCniNode> = {};
    for (const spec of NODE_SPECS) {
      const ns = underlay.nodes[spec.name] ?? '';
      for (const other of NODE_SPECS) if (other.name !== spec.name) ipIn(ns, ['route', 'add', other.podCIDR, 'via', other.ip, 'dev', 'eth0']);
      const confDir = join(dir, spec.name, 'net.d');
      mkdirSync(confDir, { recursive: true });
      const conflist = bridgeConflist(spec.podCIDR, join(dir, spec.name, 'ipam'));
      writeFileSync(join(confDir, CONFLIST_NAME), conflist);
      nodes[spec.name] = { ...spec, ns, conflist };
    }

    const pods: Record<string, BridgeCniPod> = {};
    for (const spec of POD_SPECS) {
      const node = nodes[spec.node];
      if (node === undefined) throw new Error(`no node ${spec.node}`);
      const ns = createNetns(`${prefix}${spec.name}`);
      created.push(ns);
      // A fixed container id: the CNI-xxxx chain names (a hash of network name and id) stay stable.
      const containerId = `netdiag-${spec.name}`;
      const call: CniCall = { command: 'ADD', nodeNs: node.ns, podNs: ns, containerId, ifname: 'eth0', cniPath };
      callPlugin({ ...call, ifname: 'lo' }, 'loopback', { cniVersion: '1.0.0', name: 'cni-loopback', type: 'loopback' });
      const result = runChain(call, node.conflist);
      added.push({ call, conflist: node.conflist, result });
      const ip = firstAddress(result);
      const links = JSON.parse(ipIn(ns, ['-j', 'link', 'show', 'eth0'])) as { link_index?: number }[];
      const peer = JSON.parse(ipIn(node.ns, ['-j', 'link', 'show'])) as { ifindex: number; ifname: string }[];
      const hostVeth = peer.find((l) => l.ifindex === links[0]?.link_index)?.ifname ?? '';
      pods[spec.name] = { name: spec.name, node: spec.node, ip, ns, hostVeth, containerId, result };
    }

    const endpoints = ['pod2', 'pod3'].map((name) => pods[name]?.ip ?? '');
    for (const node of Object.values(nodes)) run('ip', ['netns', 'exec', node.ns, 'iptables-restore', '--noflush'], { input: serviceRules(endpoints) });
    for (const pod of Object.values(pods)) listeners.push(await startListeners(pod.ns, [{ protocol: 'tcp', address: '0.0.0.0', port: POD_PORT }]));
    for (const node of Object.values(nodes)) listeners.push(await startListeners(node.ns, [{ protocol: 'tcp', address: '0.0.0.0', port: NODE_PORT }]));

    const objects = buildObjects(pods);
    const byName = (name: string): string => nodes[name]?.ns ?? pods[name]?.ns ?? name;
    const dumpNetns = (name: string): NetnsDumps => dumpNamespace(byName(name), name);
    const cniConfigs = (): Record<string, CniConfigFile[]> => {
      const out: Record<string, CniConfigFile[]> = {};
      for (const name of Object.keys(nodes)) {
        const confDir = join(dir, name, 'net.d');
        out[name] = readdirSync(confDir)
          .sort()
          .map((file) => ({ path: `${CNI_CONF_DIR}/${file}`, content: readFileSync(join(confDir, file), 'utf8') }));
      }
      return out;
    };
    return {
      lab,
      nodes,
      pods,
      objects,
      dumpNetns,
      cniConfigs,
      dump: (): ClusterState => ({ ...dumpClusterState(objects, Object.keys(nodes), Object.keys(pods), dumpNetns), cniConfigs: cniConfigs() }),
      teardown,
    };
  } catch (error) {
    await teardown();
    throw error;
  }
}

function buildObjects(pods: Readonly<Record<string, BridgeCniPod>>): ClusterObjects {
  const ipOf = (name: string): string => pods[name]?.ip ?? '';
  return {
    nodes: NODE_SPECS.map((n) => ({
      metadata: { name: n.name },
      spec: { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] },
      status: { addresses: [{ type: 'InternalIP', address: n.ip }, { type: 'Hostname', address: n.name }] },
    })),
    pods: POD_SPECS.map((p) => ({
      metadata: { name: p.name, namespace: 'default', labels: { app: p.name === 'pod2' || p.name === 'pod3' ? 'web' : 'client' } },
      spec: { nodeName: p.node, containers: [{ name: 'main', ports: [{ containerPort: POD_PORT, protocol: 'TCP' }] }] },
      status: { podIP: ipOf(p.name), podIPs: [{ ip: ipOf(p.name) }], phase: 'Running' },
    })),
    services: [
      {
        metadata: { name: BRIDGE_SVC1.name, namespace: 'default' },
        spec: {
          type: 'ClusterIP',
          clusterIP: BRIDGE_SVC1.clusterIP,
          clusterIPs: [BRIDGE_SVC1.clusterIP],
          ports: [{ name: 'http', protocol: 'TCP', port: BRIDGE_SVC1.port, targetPort: BRIDGE_SVC1.targetPort }],
          selector: { app: 'web' },
        },
      },
      {
        metadata: { name: BRIDGE_EMPTY_SVC.name, namespace: 'default' },
        spec: {
          type: 'ClusterIP',
          clusterIP: BRIDGE_EMPTY_SVC.clusterIP,
          clusterIPs: [BRIDGE_EMPTY_SVC.clusterIP],
          ports: [{ name: 'http', protocol: 'TCP', port: BRIDGE_EMPTY_SVC.port, targetPort: POD_PORT }],
          selector: { app: 'nothing' },
        },
      },
    ],
    endpointSlices: [
      {
        metadata: { name: 'svc1-abcde', namespace: 'default', labels: { 'kubernetes.io/service-name': BRIDGE_SVC1.name } },
        addressType: 'IPv4',
        endpoints: [
          { addresses: [ipOf('pod2')], conditions: { ready: true }, nodeName: 'node2', targetRef: { kind: 'Pod', namespace: 'default', name: 'pod2' } },
          { addresses: [ipOf('pod3')], conditions: { ready: true }, nodeName: 'node1', targetRef: { kind: 'Pod', namespace: 'default', name: 'pod3' } },
        ],
        ports: [{ name: 'http', port: BRIDGE_SVC1.targetPort, protocol: 'TCP' }],
      },
      { metadata: { name: 'empty-xyz', namespace: 'default', labels: { 'kubernetes.io/service-name': BRIDGE_EMPTY_SVC.name } }, addressType: 'IPv4', endpoints: [], ports: [] },
    ],
    networkPolicies: [],
    daemonSets: [],
  };
}
