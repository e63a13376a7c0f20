// The contract between the lab's nodes (virtual kubelet, lab.ts) and its network modes: a network
// mode prepares a node's network (CNI configuration, daemons such as flanneld, routes) and gives
// pods their network namespace's wiring, as the node's container runtime and CNI would.

import type { ScenarioNetwork } from '../scenario.js';

/** A lab node as a network mode sees it, once the node is registered and has its podCIDR. */
export interface LabNodeContext {
  readonly name: string;
  /** The node's network namespace (`ip netns exec NETNS ...`). */
  readonly netns: string;
  /** The node's InternalIP on the lab's underlay (eth0). */
  readonly ip: string;
  /** spec.podCIDR, as kube-controller-manager allocated it. */
  readonly podCIDR: string;
  /**
   * The node's own filesystem root in the lab (the nodes share the machine's filesystem):
   * ROOT/etc/cni/net.d holds its CNI configuration, ROOT/var/lib/cni its IPAM state,
   * ROOT/run/flannel its subnet file, ROOT/var/log its daemons' logs.
   */
  readonly rootDir: string;
  /** Directory of the CNI plugin binaries (CNI_PATH), by CNI type name. */
  readonly cniBinDir: string;
  /** Directory of the lab's other binaries (flanneld, kube-proxy, ...). */
  readonly binDir: string;
  /** A kubeconfig for the node's daemons (reaches the API server from inside the node's namespace). */
  readonly kubeconfig: string;
  /** Progress lines. */
  log(line: string): void;
  /** Called with each daemon the mode starts on the node (flanneld), so that the lab can record its pid for `netdiag lab down`. */
  onProcess?(name: string, pid: number): void;
}

/** Every node of the lab, for modes that program peers (static routes, BGP-like routes). */
export interface LabPeer {
  readonly name: string;
  readonly ip: string;
  readonly podCIDR: string;
}

/** A pod the node's runtime is starting: its namespace exists (with lo up), nothing else is wired. */
export interface LabPodContext {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** The pod's network namespace (`ip netns exec NETNS ...`; /run/netns/NETNS). */
  readonly netns: string;
  /** A stable id for the CNI calls (CNI_CONTAINERID). */
  readonly containerId: string;
}

/** What the pod got: its address and the host end of its interface. */
export interface LabPodNetwork {
  readonly ip: string;
  /** The node-side interface of the pod (veth), for `{{pods.NAME.hostVeth}}`. */
  readonly hostVeth: string;
}

/** One node's network, set up. */
export interface NodeNetwork {
  /** The node's CNI configuration file (absolute path under the node's rootDir). */
  readonly conflistPath: string;
  /** The node's VXLAN device address, on modes that have one (`{{nodes.NAME.vtep}}`). */
  readonly vtep?: string;
  /**
   * Annotations the mode's node agent would write on the Node object (calico-node's
   * projectcalico.org/*): the kubelet merges them into the Node. Absent when the mode writes its
   * own through the API server (flanneld) or has none.
   */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Wires the pod (CNI ADD through the node's chain, or the reproduced dataplane). */
  addPod(pod: LabPodContext): Promise<LabPodNetwork>;
  /** Unwires the pod (CNI DEL); a pod never added or already gone is fine. */
  deletePod(pod: LabPodContext): Promise<void>;
  /** Called when the set of peers changes (a node joined): modes that route to peers update. */
  peersChanged?(peers: readonly LabPeer[]): Promise<void>;
  /** Stops the node's network daemons; leaves the namespaces to the caller. */
  stop(): Promise<void>;
}

export interface LabNetwork {
  readonly mode: ScenarioNetwork;
  /** The cluster's pod network, handed to kube-controller-manager (--cluster-cidr) and kube-proxy. */
  readonly clusterCIDR: string;
  /** Prepares NODE for pods; resolves when pods can be added. */
  setUpNode(node: LabNodeContext, peers: readonly LabPeer[]): Promise<NodeNetwork>;
}
