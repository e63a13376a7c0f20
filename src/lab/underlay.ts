// The lab's underlay: a bridge in the root namespace holding the gateway address (where the API
// server listens), and one network namespace per node with eth0 on that bridge, the node's
// InternalIP and a default route via the gateway, as a real node has one to the outside world.
//
// The host never forwards lab traffic: the bridge's IPv4 `forwarding` is 0 (the kernel decides
// forwarding on the input device), and the setting dies with the device, so nothing is left in the
// root namespace once the bridge is deleted. Routes to the nodes' pod CIDRs sit on the bridge (so
// that the API server's replies to pods go back to their node rather than out of the machine) and
// die with it too.

import { run, tryRun } from './process.js';
import type { LabState } from './state.js';

export interface Subnet {
  /** e.g. 10.99.0 */
  readonly base: string;
  /** base.1 */
  readonly gateway: string;
  readonly prefixLength: 24;
}

/** The /24s of 10.99.0.0/16 holding an address of the root namespace (another lab's bridge, say). */
function usedSubnets(): Set<number> {
  const used = new Set<number>();
  for (const line of tryRun('ip', ['-4', '-o', 'addr']).stdout.split('\n')) {
    const match = /inet 10\.99\.(\d+)\.\d+\//.exec(line);
    if (match?.[1] !== undefined) used.add(Number(match[1]));
  }
  for (const line of tryRun('ip', ['-4', 'route']).stdout.split('\n')) {
    const match = /^10\.99\.(\d+)\.0\/24 /.exec(line);
    if (match?.[1] !== undefined) used.add(Number(match[1]));
  }
  return used;
}

/** A /24 of 10.99.0.0/16 not used on this machine: `preferred` (0 → 10.99.0.0/24) if free, else (or when -1) a random one. */
export function pickSubnet(preferred?: number): Subnet {
  const used = usedSubnets();
  const make = (n: number): Subnet => ({ base: `10.99.${n}`, gateway: `10.99.${n}.1`, prefixLength: 24 });
  if (preferred !== undefined && preferred >= 0 && preferred <= 254 && !used.has(preferred)) return make(preferred);
  const free = Array.from({ length: 254 }, (_, i) => i + 1).filter((n) => !used.has(n));
  const pick = free[Math.floor(Math.random() * free.length)];
  if (pick === undefined) throw new Error('no free /24 left in 10.99.0.0/16 for the lab bridge');
  return make(pick);
}

/** Creates the bridge with the gateway address, forwarding off; recorded in `state` before anything else is done to it. */
export function createBridge(name: string, subnet: Subnet, state: LabState): void {
  if (tryRun('ip', ['link', 'show', name]).ok) throw new Error(`a link named ${name} already exists: another lab is running (netdiag lab status), or remove it with netdiag lab down`);
  run('ip', ['link', 'add', name, 'type', 'bridge']);
  state.addLink(name);
  run('sysctl', ['-qw', `net.ipv4.conf.${name}.forwarding=0`]);
  run('sysctl', ['-qw', `net.ipv6.conf.${name}.disable_ipv6=1`]);
  run('ip', ['addr', 'add', `${subnet.gateway}/${subnet.prefixLength}`, 'dev', name]);
  run('ip', ['link', 'set', name, 'up']);
}

export interface UnderlayNode {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  /** The bridge port (root namespace end of the node's eth0). */
  readonly hostLink: string;
}

/** The node's namespace with lo up and eth0 (a veth whose other end is a port of `bridge`). */
export function addNode(bridge: string, subnet: Subnet, index: number, name: string, netns: string, state: LabState): UnderlayNode {
  const ip = `${subnet.base}.${10 + index}`;
  const hostLink = `${bridge}n${index}`.slice(-15);
  run('ip', ['netns', 'add', netns]);
  state.addNetns(netns);
  run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  run('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  state.addLink(hostLink);
  run('ip', ['link', 'set', hostLink, 'master', bridge, 'up']);
  run('ip', ['-n', netns, 'addr', 'add', `${ip}/${subnet.prefixLength}`, 'dev', 'eth0']);
  run('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
  run('ip', ['-n', netns, 'route', 'add', 'default', 'via', subnet.gateway, 'dev', 'eth0']);
  return { name, netns, ip, hostLink };
}

/** The root namespace's route to a node's pod CIDR, on the bridge (gone with it). */
export function routePodCIDR(bridge: string, podCIDR: string, nodeIp: string): void {
  run('ip', ['route', 'replace', podCIDR, 'via', nodeIp, 'dev', bridge]);
}
