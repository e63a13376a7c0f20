// The underlay every multi-node test cluster stands on: a lab namespace with bridge br0 holding
// LAB_GATEWAY, and one namespace per node with eth0 on that bridge, the node's address and a
// default route through the lab (as a real node has one to the outside world; the lab does not
// forward, so nothing answers beyond it).
import { createNetns, ipIn } from './netns.js';

export const LAB_GATEWAY = '10.99.0.1';

export interface UnderlayNode {
  readonly name: string;
  /** The node's address on the underlay (10.99.0.0/24). */
  readonly ip: string;
}

/**
 * Creates the lab and the nodes' namespaces (named PREFIX + `lab` / node name), pushing each on
 * `created` as it is made so that a teardown removes them even when a later step fails.
 */
export function buildUnderlay(prefix: string, nodes: readonly UnderlayNode[], created: string[], options: { mtu?: number } = {}): { lab: string; nodes: Record<string, string> } {
  const lab = createNetns(`${prefix}lab`);
  created.push(lab);
  ipIn(lab, ['link', 'add', 'br0', 'type', 'bridge']);
  ipIn(lab, ['addr', 'add', `${LAB_GATEWAY}/24`, 'dev', 'br0']);
  ipIn(lab, ['link', 'set', 'br0', 'up']);
  const namespaces: Record<string, string> = {};
  for (const [i, node] of nodes.entries()) {
    const ns = createNetns(`${prefix}${node.name}`);
    created.push(ns);
    ipIn(lab, ['link', 'add', `n${i + 1}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    ipIn(lab, ['link', 'set', `n${i + 1}`, 'master', 'br0', 'up']);
    if (options.mtu !== undefined) ipIn(ns, ['link', 'set', 'eth0', 'mtu', String(options.mtu)]);
    ipIn(ns, ['addr', 'add', `${node.ip}/24`, 'dev', 'eth0']);
    ipIn(ns, ['link', 'set', 'eth0', 'up']);
    ipIn(ns, ['route', 'add', 'default', 'via', LAB_GATEWAY, 'dev', 'eth0']);
    namespaces[node.name] = ns;
  }
  return { lab, nodes: namespaces };
}
