// The commands a network mode runs in a node's or pod's network namespace: a program with an
// argument vector (never a shell string built from data), through src/lab/process.ts.

import { mustRunCommand, runCommand, type CommandOptions, type CommandResult } from '../process.js';

/** `ip -n NETNS ARGS...`; throws on failure. */
export function ipIn(netns: string, args: readonly string[]): Promise<string> {
  return mustRunCommand('ip', ['-n', netns, ...args]);
}

/** `ip -n NETNS ARGS...`, whatever the status. */
export function tryIpIn(netns: string, args: readonly string[]): Promise<CommandResult> {
  return runCommand('ip', ['-n', netns, ...args]);
}

/** PROGRAM ARGS... inside NETNS (`ip netns exec`); throws on failure. */
export function runIn(netns: string, program: string, args: readonly string[], options: CommandOptions = {}): Promise<string> {
  return mustRunCommand('ip', ['netns', 'exec', netns, program, ...args], options);
}

/** `sysctl -q -w KEY=VALUE` inside NETNS. */
export async function sysctlIn(netns: string, key: string, value: string | number): Promise<void> {
  await runIn(netns, 'sysctl', ['-q', '-w', `${key}=${value}`]);
}

/** The node-side end of the pod's veth `ifName`: the interface of `nodeNetns` whose index is the pod end's peer index. */
export async function hostVethOf(podNetns: string, ifName: string, nodeNetns: string): Promise<string> {
  const pod = JSON.parse(await ipIn(podNetns, ['-j', 'link', 'show', 'dev', ifName])) as { link_index?: number }[];
  const peerIndex = pod[0]?.link_index;
  if (peerIndex === undefined) throw new Error(`${ifName} in ${podNetns} is not a veth (no peer index)`);
  const links = JSON.parse(await ipIn(nodeNetns, ['-j', 'link', 'show'])) as { ifindex: number; ifname: string }[];
  const host = links.find((link) => link.ifindex === peerIndex)?.ifname;
  if (host === undefined) throw new Error(`the peer of ${ifName} in ${podNetns} (ifindex ${peerIndex}) is not in ${nodeNetns}`);
  return host;
}

