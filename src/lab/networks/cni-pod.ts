// A pod's network as a container runtime (containerd's CRI) makes it for a node whose network is a
// CNI configuration list: the loopback network on `lo` (the runtime's own, `cni-loopback`), then the
// node's list on `eth0`, with the pod's CNI_ARGS; a failed ADD is torn down (DEL) before the error
// is returned; deletion runs DEL on both, the node's list first. The node's list is read from its
// file at every call, as the runtime reads its configuration directory (a pod is still deleted
// with the list it was added with when the file has been broken since).

import { join } from 'node:path';
import { cniAdd, cniDel, parseConflist, podCniArgs, readConflist, resultIPv4, type CniConflist, type CniRuntime, type CniRuntimeConf } from './cni-exec.js';
import { hostVethOf } from './netns-commands.js';
import type { LabNodeContext, LabPodContext, LabPodNetwork } from './types.js';

/** The loopback network a runtime attaches to every pod sandbox. */
const LOOPBACK: CniConflist = parseConflist(
  JSON.stringify({ cniVersion: '1.0.0', name: 'cni-loopback', plugins: [{ type: 'loopback' }] }),
  '(the runtime\'s loopback network)',
);

/** The node's ROOT/etc/cni/net.d. */
export function cniConfDir(node: LabNodeContext): string {
  return join(node.rootDir, 'etc', 'cni', 'net.d');
}

/** The node's ROOT/var/lib/cni (results cache, IPAM state of its plugins). */
export function cniStateDir(node: LabNodeContext): string {
  return join(node.rootDir, 'var', 'lib', 'cni');
}

export function nodeCniRuntime(node: LabNodeContext): CniRuntime {
  return { nodeNetns: node.netns, cniPath: [node.cniBinDir], cacheDir: cniStateDir(node) };
}

function attachment(pod: LabPodContext, ifName: string): CniRuntimeConf {
  return { containerId: pod.containerId, netns: pod.netns, ifName, args: podCniArgs(pod) };
}

export interface CniPodWiring {
  addPod(pod: LabPodContext): Promise<LabPodNetwork>;
  deletePod(pod: LabPodContext): Promise<void>;
}

/** addPod/deletePod through the node's configuration list at `conflistPath`. */
export function cniPodWiring(node: LabNodeContext, conflistPath: string): CniPodWiring {
  const runtime = nodeCniRuntime(node);
  // The list each pod was added with: DEL still works when the file has since been broken or removed.
  const addedWith = new Map<string, CniConflist>();
  const teardown = async (pod: LabPodContext, list: CniConflist | undefined): Promise<void> => {
    const errors: unknown[] = [];
    if (list !== undefined) await cniDel(runtime, list, attachment(pod, 'eth0')).catch((e: unknown) => errors.push(e));
    await cniDel(runtime, LOOPBACK, attachment(pod, 'lo')).catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  };
  return {
    async addPod(pod) {
      const list = await readConflist(conflistPath);
      addedWith.set(pod.containerId, list);
      try {
        await cniAdd(runtime, LOOPBACK, attachment(pod, 'lo'));
        const result = await cniAdd(runtime, list, attachment(pod, 'eth0'));
        const ip = resultIPv4(result);
        if (ip === undefined) throw new Error(`CNI ADD of ${list.name} for pod ${pod.namespace}/${pod.name} returned no IPv4 address: ${JSON.stringify(result)}`);
        return { ip, hostVeth: await hostVethOf(pod.netns, 'eth0', node.netns) };
      } catch (error) {
        // As a runtime does when a sandbox's network setup fails: release whatever was allocated.
        await teardown(pod, list).catch(() => undefined);
        addedWith.delete(pod.containerId);
        throw error;
      }
    },
    async deletePod(pod) {
      const remembered = addedWith.get(pod.containerId);
      const list = await readConflist(conflistPath).catch((error: unknown) => {
        if (remembered === undefined) throw error;
        return remembered;
      });
      await teardown(pod, list);
      addedWith.delete(pod.containerId);
    },
  };
}
