// Which namespace is which pod: by the container runtime's word when it named the sandbox, else by
// the pod's IPs among the addresses each namespace holds. Every pod of the caller's list ends up
// matched, on the host (hostNetwork), or in podsNotFound with the reason: never silently dropped.
// Pure code.

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
}

export interface PodMatch {
  readonly pod: PodRef;
  readonly matchedBy: 'cri' | 'ip';
}

export interface MatchResult {
  readonly podByInode: ReadonlyMap<number, PodMatch>;
  readonly hostNetworkPods: readonly PodRef[];
  readonly podsNotFound: readonly PodNotFound[];
  /** Candidates matched to no pod of the list (all of them without CRI names when no list was given). */
  readonly unmatched: readonly number[];
}

const podKey = (pod: PodRef): string => `${pod.namespace}/${pod.name}`;

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
  const claim = (c: MatchCandidate, pod: PodRef, matchedBy: 'cri' | 'ip'): void => {
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
