import { describe, expect, it } from '@jest/globals';
import { matchPods, type MatchCandidate } from './pod-match.js';
import type { PodRef } from './snapshot.js';

const pod = (name: string, ips: string[], extra: Partial<PodRef> = {}): PodRef => ({ namespace: 'ns', name, ips, ...extra });
const ns = (inode: number, addresses: string[] | undefined, criPod?: PodRef): MatchCandidate => ({ inode, path: `/run/netns/n${inode}`, addresses, ...(criPod !== undefined ? { criPod } : {}) });

describe('matchPods', () => {
  it('matches by the runtime first, then by IP; hostNetwork pods go to the host', () => {
    const a = pod('a', ['10.0.0.2'], { uid: 'u-a' });
    const b = pod('b', ['10.0.0.3', 'fd00::3']);
    const h = pod('h', ['192.168.1.10']);
    const result = matchPods({
      pods: [a, b, h],
      hostAddresses: ['192.168.1.10'],
      candidates: [ns(1, ['10.0.0.9'], { ...a, ips: [] }), ns(2, ['fd00::3']), ns(3, ['10.9.9.9'])],
    });
    expect([...result.podByInode]).toEqual([
      [1, { pod: a, matchedBy: 'cri' }],
      [2, { pod: b, matchedBy: 'ip' }],
    ]);
    expect(result.hostNetworkPods).toEqual([h]);
    expect(result.podsNotFound).toEqual([]);
    expect(result.unmatched).toEqual([3]);
  });

  it.each([
    ['no namespace holds its IP', [ns(1, ['10.0.0.7'])], /no network namespace on the node holds 10\.0\.0\.5$/],
    ['two namespaces hold its IP', [ns(1, ['10.0.0.5']), ns(2, ['10.0.0.5'])], /ambiguous: 2 network namespaces hold 10\.0\.0\.5 \(\/run\/netns\/n1, \/run\/netns\/n2\)/],
    ['a namespace could not be read', [ns(1, undefined)], /not counting 1 namespace\(s\) whose addresses could not be read/],
  ])('a pod is listed as not found when %s', (_, candidates, reason) => {
    const result = matchPods({ pods: [pod('p', ['10.0.0.5'])], hostAddresses: [], candidates });
    expect(result.podsNotFound).toHaveLength(1);
    expect(result.podsNotFound[0]?.reason).toMatch(reason);
    expect(result.podByInode.size).toBe(0);
  });

  it('a pod without IPs and without a runtime match is not found, with the reason', () => {
    const result = matchPods({ pods: [pod('pending', [])], hostAddresses: [], candidates: [ns(1, [])] });
    expect(result.podsNotFound[0]?.reason).toMatch(/has no IP/);
  });

  it('a namespace is given to one pod only', () => {
    const result = matchPods({ pods: [pod('a', ['10.0.0.5']), pod('b', ['10.0.0.5'])], hostAddresses: [], candidates: [ns(1, ['10.0.0.5'])] });
    expect(result.podByInode.get(1)?.pod.name).toBe('a');
    expect(result.podsNotFound[0]?.reason).toMatch(/already matched to pod ns\/a/);
  });

  it('says the deadline left namespaces unread', () => {
    const result = matchPods({ pods: [pod('p', ['10.0.0.5'])], hostAddresses: [], candidates: [], incompleteReason: "namespaces not read before the run's deadline" });
    expect(result.podsNotFound[0]?.reason).toMatch(/deadline/);
  });

  it('without a pod list, the runtime names what it knows and the rest stays unmatched', () => {
    const a = pod('a', ['10.0.0.2']);
    const h = pod('h', [], { hostNetwork: true });
    const result = matchPods({ pods: undefined, hostAddresses: [], candidates: [ns(1, [], a), ns(2, ['10.0.0.3'])], criHostNetworkPods: [h] });
    expect([...result.podByInode.keys()]).toEqual([1]);
    expect(result.unmatched).toEqual([2]);
    expect(result.hostNetworkPods).toEqual([h]);
  });
});
