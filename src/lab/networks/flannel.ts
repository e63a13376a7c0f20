// The flannel network modes (host-gw and vxlan): the real flanneld per node, inside the node's
// namespace, as flannel's DaemonSet runs it (`--ip-masq --kube-subnet-mgr`, NODE_NAME/POD_NAME/
// POD_NAMESPACE in its environment) with the lab's paths: the kubeconfig for the node's daemons,
// `--iface eth0`, the net-conf (Network = the cluster CIDR, Backend type) and the subnet file under
// the node's root. flanneld writes the Node's flannel annotations, the subnet file, the backend's
// device and routes (flannel.1, neighbour and FDB entries in vxlan mode; routes via peers in
// host-gw mode) and its iptables rules. Pods go through the real flannel CNI plugin, delegating to
// the reference bridge (cni0, hairpin) and host-local, then portmap, as kube-flannel's conflist says.
//
// The flannel CNI plugin is the one of the CNI reference plugins v0.9.1 (see hack/versions.sh): it
// speaks CNI spec versions up to 0.4.0, so the list says 0.4.0.

import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cniConfDir, cniPodWiring, cniStateDir } from './cni-pod.js';
import { sleep, startDaemon, stopDaemon, tail, type Daemon } from '../process.js';
import { ipIn, sysctlIn } from './netns-commands.js';
import type { LabNetwork, LabNodeContext, LabPeer, NodeNetwork } from './types.js';

export type FlannelBackend = 'host-gw' | 'vxlan';

export const FLANNEL_CLUSTER_CIDR = '10.244.0.0/16';
export const FLANNEL_CONFLIST_NAME = '10-flannel.conflist';
export const FLANNEL_VXLAN_DEVICE = 'flannel.1';
/** Where kube-flannel's DaemonSet runs (POD_NAMESPACE). */
export const FLANNEL_NAMESPACE = 'kube-flannel';
const SUBNET_TIMEOUT_MS = 60_000;
const ROUTES_TIMEOUT_MS = 30_000;

/** A node's flannel files, under its root. */
export interface FlannelPaths {
  readonly subnetFile: string;
  /** The flannel CNI plugin's own state (delegate configurations by container id). */
  readonly dataDir: string;
  /** host-local's allocations. */
  readonly ipamDataDir: string;
  readonly netConf: string;
  readonly log: string;
  readonly pidFile: string;
}

export function flannelPaths(rootDir: string): FlannelPaths {
  return {
    subnetFile: join(rootDir, 'run', 'flannel', 'subnet.env'),
    dataDir: join(rootDir, 'var', 'lib', 'cni', 'flannel'),
    ipamDataDir: join(rootDir, 'var', 'lib', 'cni', 'networks'),
    netConf: join(rootDir, 'etc', 'kube-flannel', 'net-conf.json'),
    log: join(rootDir, 'var', 'log', 'flanneld.log'),
    pidFile: join(rootDir, 'run', 'flannel', 'flanneld.pid'),
  };
}

/** kube-flannel's net-conf.json. */
export function flannelNetConf(backend: FlannelBackend): string {
  return `${JSON.stringify({ Network: FLANNEL_CLUSTER_CIDR, Backend: { Type: backend } }, null, 2)}\n`;
}

/** kube-flannel's conflist (cbr0: flannel delegating to bridge with hairpin as default gateway, then portmap). */
export function flannelConflist(paths: Pick<FlannelPaths, 'subnetFile' | 'dataDir' | 'ipamDataDir'>): string {
  const conflist = {
    name: 'cbr0',
    cniVersion: '0.4.0',
    plugins: [
      {
        type: 'flannel',
        subnetFile: paths.subnetFile,
        dataDir: paths.dataDir,
        // flannel hands `ipam` to host-local, adding the subnet's range and the network's route.
        ipam: { dataDir: paths.ipamDataDir },
        delegate: { hairpinMode: true, isDefaultGateway: true },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return `${JSON.stringify(conflist, null, 2)}\n`;
}

/** flanneld's arguments, as kube-flannel's DaemonSet gives them plus the lab's paths. */
export function flanneldArgs(node: LabNodeContext, paths: FlannelPaths): string[] {
  return ['--ip-masq', '--kube-subnet-mgr', `--kubeconfig-file=${node.kubeconfig}`, '--iface=eth0', `--net-config-path=${paths.netConf}`, `--subnet-file=${paths.subnetFile}`];
}

export function flannelNetwork(backend: FlannelBackend): LabNetwork {
  // Nodes whose flanneld has published its lease (written its subnet file): the ones peers can route to.
  const published = new Set<string>();
  return {
    mode: backend === 'vxlan' ? 'flannel-vxlan' : 'flannel-hostgw',
    clusterCIDR: FLANNEL_CLUSTER_CIDR,
    setUpNode: (node, peers) => setUpFlannelNode(node, peers, backend, published),
  };
}

async function setUpFlannelNode(node: LabNodeContext, peers: readonly LabPeer[], backend: FlannelBackend, published: Set<string>): Promise<NodeNetwork> {
  const paths = flannelPaths(node.rootDir);
  for (const file of [paths.subnetFile, paths.netConf, paths.log]) await mkdir(join(file, '..'), { recursive: true });
  await mkdir(cniStateDir(node), { recursive: true });
  await writeFile(paths.netConf, flannelNetConf(backend));
  // A node's prerequisite (kubeadm's preflight insists on it); flanneld routes pods' traffic and does not set it.
  await sysctlIn(node.netns, 'net.ipv4.ip_forward', 1);

  const daemon = startDaemon(`flanneld on ${node.name}`, 'ip', ['netns', 'exec', node.netns, join(node.binDir, 'flanneld'), ...flanneldArgs(node, paths)], paths.log, {
    env: { ...process.env, NODE_NAME: node.name, POD_NAME: `kube-flannel-ds-${node.name}`, POD_NAMESPACE: FLANNEL_NAMESPACE },
  });
  await writeFile(paths.pidFile, `${daemon.pid}\n`);
  node.onProcess?.(daemon.name, daemon.pid);
  try {
    node.log(`${node.name}: flanneld (${backend}) started (pid ${daemon.pid}), waiting for ${paths.subnetFile}`);
    await waitFor(daemon, paths, SUBNET_TIMEOUT_MS, `write ${paths.subnetFile}`, () => Promise.resolve(existsSync(paths.subnetFile)));
    let vtep: string | undefined;
    if (backend === 'vxlan') {
      await waitFor(daemon, paths, SUBNET_TIMEOUT_MS, `configure ${FLANNEL_VXLAN_DEVICE}`, async () => (vtep = await deviceAddress(node.netns, FLANNEL_VXLAN_DEVICE)) !== undefined);
    }
    const confDir = cniConfDir(node);
    await mkdir(confDir, { recursive: true });
    const conflistPath = join(confDir, FLANNEL_CONFLIST_NAME);
    await writeFile(conflistPath, flannelConflist(paths));
    published.add(node.name);
    node.log(`${node.name}: flanneld wrote its subnet file${vtep === undefined ? '' : `, ${FLANNEL_VXLAN_DEVICE} ${vtep}`}; CNI configuration at ${conflistPath}`);
    const network: NodeNetwork = {
      conflistPath,
      ...(vtep === undefined ? {} : { vtep }),
      ...cniPodWiring(node, conflistPath),
      // flanneld learns its peers from the API server; this waits until it routes to each whose flanneld is up.
      peersChanged: (next) => waitForPeerRoutes(node, daemon, paths, next.filter((p) => published.has(p.name))),
      async stop() {
        published.delete(node.name);
        await stopDaemon(daemon);
      },
    };
    await waitForPeerRoutes(node, daemon, paths, peers.filter((p) => published.has(p.name)));
    return network;
  } catch (error) {
    published.delete(node.name);
    await stopDaemon(daemon);
    throw error;
  }
}

async function waitForPeerRoutes(node: LabNodeContext, daemon: Daemon, paths: FlannelPaths, peers: readonly LabPeer[]): Promise<void> {
  const wanted = peers.filter((p) => p.name !== node.name && p.podCIDR !== '').map((p) => p.podCIDR);
  if (wanted.length === 0) return;
  await waitFor(daemon, paths, ROUTES_TIMEOUT_MS, `route ${wanted.join(', ')}`, async () => {
    const routes = JSON.parse(await ipIn(node.netns, ['-j', 'route', 'show'])) as { dst: string }[];
    const dsts = new Set(routes.map((r) => r.dst));
    return wanted.every((cidr) => dsts.has(cidr));
  });
}

/** Polls `done` until true; fails with flanneld's log tail when it exits or the time is up. */
async function waitFor(daemon: Daemon, paths: FlannelPaths, timeoutMs: number, what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (daemon.exited) throw new Error(`${daemon.name} exited (${daemon.exitStatus ?? '?'}) before it could ${what}; its log (${paths.log}):\n${tail(paths.log, 30)}`);
    if (await done()) return;
    if (Date.now() > deadline) throw new Error(`${daemon.name} did not ${what} within ${timeoutMs / 1000} s; its log (${paths.log}):\n${tail(paths.log, 30)}`);
    await sleep(100);
  }
}

async function deviceAddress(netns: string, device: string): Promise<string | undefined> {
  try {
    const links = JSON.parse(await ipIn(netns, ['-j', '-4', 'addr', 'show', 'dev', device])) as { addr_info?: { local?: string }[] }[];
    return links[0]?.addr_info?.[0]?.local;
  } catch {
    return undefined;
  }
}
