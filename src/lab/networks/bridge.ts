// The `bridge` network mode: the reference CNI plugins for real. Each node's list is bridge (cni0,
// the node's gateway, masquerade, hairpin) with host-local IPAM over the node's podCIDR (its state
// under the node's own ROOT/var/lib/cni/networks, since the lab's nodes share one filesystem); the
// runtime adds lo with the loopback plugin. Nodes reach each other's podCIDR through static routes
// via the peer's InternalIP, as an administrator of a bridge-CNI cluster adds them.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cniConfDir, cniPodWiring, cniStateDir } from './cni-pod.js';
import { ipIn, tryIpIn } from './netns-commands.js';
import type { LabNetwork, LabNodeContext, LabPeer, NodeNetwork } from './types.js';

export const BRIDGE_CLUSTER_CIDR = '10.244.0.0/16';
export const BRIDGE_CONFLIST_NAME = '10-bridge.conflist';
export const BRIDGE_NETWORK_NAME = 'bridge-net';
export const BRIDGE_DEVICE = 'cni0';

/** The node's configuration list for the bridge mode. */
export function bridgeConflist(podCIDR: string, ipamDataDir: string): string {
  const conf = {
    cniVersion: '1.0.0',
    name: BRIDGE_NETWORK_NAME,
    plugins: [
      {
        type: 'bridge',
        bridge: BRIDGE_DEVICE,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', subnet: podCIDR, routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDataDir },
      },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

export function bridgeNetwork(): LabNetwork {
  return {
    mode: 'bridge',
    clusterCIDR: BRIDGE_CLUSTER_CIDR,
    async setUpNode(node, peers) {
      const confDir = cniConfDir(node);
      await mkdir(confDir, { recursive: true });
      const conflistPath = join(confDir, BRIDGE_CONFLIST_NAME);
      await writeFile(conflistPath, bridgeConflist(node.podCIDR, join(cniStateDir(node), 'networks')));
      const routes = new PeerRoutes(node);
      await routes.update(peers);
      node.log(`${node.name}: bridge CNI configuration at ${conflistPath}, routes to ${routes.describe()}`);
      return {
        conflistPath,
        ...cniPodWiring(node, conflistPath),
        peersChanged: (next) => routes.update(next),
        stop: () => Promise.resolve(),
      } satisfies NodeNetwork;
    },
  };
}

/** The static routes of a node to its peers' podCIDRs (`PODCIDR via PEER_IP dev eth0`). */
class PeerRoutes {
  private current = new Map<string, string>();

  constructor(private readonly node: LabNodeContext) {}

  async update(peers: readonly LabPeer[]): Promise<void> {
    const next = new Map<string, string>();
    for (const peer of peers) if (peer.name !== this.node.name && peer.podCIDR !== '') next.set(peer.podCIDR, peer.ip);
    for (const [cidr, via] of this.current) {
      if (next.get(cidr) !== via) await tryIpIn(this.node.netns, ['route', 'del', cidr, 'via', via, 'dev', 'eth0']);
    }
    for (const [cidr, via] of next) await ipIn(this.node.netns, ['route', 'replace', cidr, 'via', via, 'dev', 'eth0']);
    this.current = next;
  }

  describe(): string {
    return this.current.size === 0 ? 'no peer yet' : [...this.current].map(([cidr, via]) => `${cidr} via ${via}`).join(', ');
  }
}
