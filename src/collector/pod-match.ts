// Which namespace is which pod: by the container runtime's word when it named the sandbox, else by
// the network namespace the runtime gave the pod's last successful CNI ADD (CNI_NETNS, in netdiag's
// CNI call records, when the tap is installed), else by the pod's IPs among the addresses each
// namespace holds. The records' word does not depend on the addresses, so a pod whose address
// changed after its ADD is still found (and its namespace then shows the change). Every pod of the caller's list ends up
// matched, on the host (hostNetwork), or in podsNotFound with the reason: never silently dropped.
// Pure code.

import { parseCniArgs, type CniCallRecord } from '../diagnosis/index.js';
import type { PodNotFound, PodRef } from './snapshot.js';

export interface MatchCandidate {
  readonly inode: number;
  /** For messages: the path entered. */
  readonly path: string;
  /** Its global addresses; undefined when they could not be read (the capture failed). */
  readonly addresses: readonly string[] | undefined;
  /** The pod the container runtime says owns this namespace. */
  readonly criPod?: PodRef;
}

export interface MatchInput {
  /** The caller's pods; undefined when no list was given. */
  readonly pods: readonly PodRef[] | undefined;
  readonly hostAddresses: readonly string[];
  readonly candidates: readonly MatchCandidate[];
  /** Pods the container runtime says run in the node's own namespace (hostNetwork sandboxes). */
  readonly criHostNetworkPods?: readonly PodRef[];
  /** Why some namespaces were never looked at (e.g. the deadline passed), for podsNotFound reasons. */
  readonly incompleteReason?: string;
  /** By pod (`namespace/name`): the CNI_NETNS of its last successful ADD in the CNI call records (recordedNetns). */
  readonly recordedNetns?: ReadonlyMap<string, string>;
}

export interface PodMatch {
  readonly pod: PodRef;
  readonly matchedBy: 'cri' | 'cni-record' | 'ip';
}

export interface MatchResult {
  readonly podByInode: ReadonlyMap<number, PodMatch>;
  readonly hostNetworkPods: readonly PodRef[];
  readonly podsNotFound: readonly PodNotFound[];
  /** Candidates matched to no pod of the list (all of them without CRI names when no list was given). */
  readonly unmatched: readonly number[];
}

const podKey = (pod: PodRef): string => `${pod.namespace}/${pod.name}`;

/**
 * The network namespace each pod's last successful CNI ADD was given (CNI_NETNS), by
 * `namespace/name`: an ADD is successful when its tail record follows its head with no error (a
 * failed plugin in between leaves no tail). Records name the pod in CNI_ARGS (K8S_POD_NAMESPACE,
 * K8S_POD_NAME, and K8S_POD_UID, which must be the pod's when both carry one). Records in call order.
 */
export function recordedNetns(records: readonly CniCallRecord[], pods: readonly PodRef[]): Map<string, string> {
  const out = new Map<string, string>();
  const byKey = new Map(pods.map((p) => [podKey(p), p]));
  const heads = new Map<string, CniCallRecord>();
  for (const r of records) {
    if (r.command !== 'ADD') continue;
    const attachment = `${r.containerId ?? ''}|${r.ifname ?? ''}`;
    if (r.position === 'head') {
      heads.set(attachment, r);
      continue;
    }
    const head = heads.get(attachment);
    heads.delete(attachment);
    if (head === undefined || head.error !== undefined || r.error !== undefined || head.netns === undefined || head.netns === '') continue;
    const args = parseCniArgs(head.args);
    const key = `${args.get('K8S_POD_NAMESPACE') ?? ''}/${args.get('K8S_POD_NAME') ?? ''}`;
    const pod = byKey.get(key);
    const uid = args.get('K8S_POD_UID');
    if (pod === undefined || (uid !== undefined && uid !== '' && pod.uid !== undefined && pod.uid !== '' && uid !== pod.uid)) continue;
    out.set(key, head.netns);
  }
  return out;
}

/**
 * Whether a candidate is the namespace a runtime named PATH: runtimes name a pod's namespace by a
 * file in a netns directory (`/var/run/netns/cni-...`), which the agent enters under another root
 * (`/proc/1/root/run/netns/...`, or a node's own directory): the same file name in a `netns`
 * directory.
 */
function isNamedNetns(candidatePath: string, path: string): boolean {
  const parts = path.split('/');
  const name = parts[parts.length - 1] ?? '';
  const candidate = candidatePath.split('/');
  return name !== '' && parts[parts.length - 2] === 'netns' && candidate[candidate.length - 1] === name && candidate[candidate.length - 2] === 'netns';
}

function samePod(a: PodRef, b: PodRef): boolean {
  if (a.uid !== undefined && a.uid !== '' && b.uid !== undefined && b.uid !== '') return a.uid === b.uid;
  return a.namespace === b.namespace && a.name === b.name;
}

export function matchPods(input: MatchInput): MatchResult {
  const podByInode = new Map<number, PodMatch>();
  const hostNetworkPods: PodRef[] = [];
  const podsNotFound: PodNotFound[] = [];

  if (input.pods === undefined) {
    // No list: the runtime's sandboxes are pods; everything else stays unnamed.
    for (const c of input.candidates) if (c.criPod !== undefined) podByInode.set(c.inode, { pod: c.criPod, matchedBy: 'cri' });
    hostNetworkPods.push(...(input.criHostNetworkPods ?? []));
    return { podByInode, hostNetworkPods, podsNotFound, unmatched: input.candidates.filter((c) => !podByInode.has(c.inode)).map((c) => c.inode) };
  }

  const hostAddresses = new Set(input.hostAddresses);
  const byAddress = new Map<string, MatchCandidate[]>();
  for (const c of input.candidates) for (const ip of c.addresses ?? []) byAddress.set(ip, [...(byAddress.get(ip) ?? []), c]);
  const unreadable = input.candidates.filter((c) => c.addresses === undefined);
  const claimedBy = new Map<number, PodRef>();
  const claim = (c: MatchCandidate, pod: PodRef, matchedBy: PodMatch['matchedBy']): void => {
    podByInode.set(c.inode, { pod, matchedBy });
    claimedBy.set(c.inode, pod);
  };

  for (const pod of input.pods) {
    const cri = input.candidates.find((c) => c.criPod !== undefined && samePod(c.criPod, pod));
    if (cri !== undefined && !claimedBy.has(cri.inode)) {
      claim(cri, pod, 'cri');
      continue;
    }
    const criHost = (input.criHostNetworkPods ?? []).some((p) => samePod(p, pod));
    if (criHost || pod.hostNetwork === true || (pod.ips.length > 0 && pod.ips.every((ip) => hostAddresses.has(ip)))) {
      hostNetworkPods.push(pod);
      continue;
    }
    const recorded = input.recordedNetns?.get(podKey(pod));
    const named = recorded === undefined ? undefined : input.candidates.find((c) => isNamedNetns(c.path, recorded));
    if (named !== undefined && !claimedBy.has(named.inode)) {
      claim(named, pod, 'cni-record');
      continue;
    }
    if (pod.ips.length === 0) {
      podsNotFound.push({ pod, reason: 'the pod has no IP (not running yet?) and the container runtime did not name its namespace' });
      continue;
    }
    const holders = new Map<number, MatchCandidate>();
    for (const ip of pod.ips) for (const c of byAddress.get(ip) ?? []) holders.set(c.inode, c);
    const found = [...holders.values()];
    const first = found[0];
    if (found.length === 1 && first !== undefined) {
      const owner = claimedBy.get(first.inode);
      if (owner === undefined) claim(first, pod, 'ip');
      else podsNotFound.push({ pod, reason: `its IP ${pod.ips.join(', ')} is in ${first.path}, already matched to pod ${podKey(owner)}` });
    } else if (found.length > 1) {
      podsNotFound.push({ pod, reason: `ambiguous: ${found.length} network namespaces hold ${pod.ips.join(', ')} (${found.map((c) => c.path).join(', ')})` });
    } else {
      const notes: string[] = [];
      if (unreadable.length > 0) notes.push(`${unreadable.length} namespace(s) whose addresses could not be read`);
      if (input.incompleteReason !== undefined) notes.push(input.incompleteReason);
      podsNotFound.push({
        pod,
        reason: `no network namespace on the node holds ${pod.ips.join(', ')}${notes.length > 0 ? ` (not counting ${notes.join('; ')})` : ''}`,
      });
    }
  }
  const unmatched = input.candidates.filter((c) => !podByInode.has(c.inode)).map((c) => c.inode);
  return { podByInode, hostNetworkPods, podsNotFound, unmatched };
}
