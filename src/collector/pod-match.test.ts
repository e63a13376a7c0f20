import { describe, expect, it } from '@jest/globals';
import type { CniCallRecord } from '../diagnosis/index.js';
import { matchPods, recordedNetns, type MatchCandidate } from './pod-match.js';
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

describe('pods matched by the CNI call records (CNI_NETNS of the last successful ADD)', () => {
  const rec = (position: 'head' | 'tail', command: string, containerId: string, netns: string, podName: string, extra: Partial<CniCallRecord> = {}): CniCallRecord => ({
    v: 1,
    time: '2026-01-01T00:00:00.000Z',
    position,
    command,
    containerId,
    netns,
    ifname: 'eth0',
    args: `IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=${podName};K8S_POD_UID=u-${podName}`,
    pid: 1,
    ...extra,
  });
  const a = pod('a', ['10.0.0.2'], { uid: 'u-a' });
  const b = pod('b', ['10.0.0.3'], { uid: 'u-b' });

  it('keeps the netns of each pod\'s last ADD that reached the tail; a failed ADD, another pod\'s uid or a DEL do not count', () => {
    const records = [
      rec('head', 'ADD', 'c1', '/var/run/netns/cni-1', 'a'),
      rec('tail', 'ADD', 'c1', '/var/run/netns/cni-1', 'a'),
      rec('head', 'ADD', 'c2', '/var/run/netns/cni-2', 'a'),
      // c2 failed: no tail. b's ADD is of another pod b (uid differs).
      rec('head', 'ADD', 'c3', '/var/run/netns/cni-3', 'b', { args: 'K8S_POD_NAMESPACE=ns;K8S_POD_NAME=b;K8S_POD_UID=u-old' }),
      rec('tail', 'ADD', 'c3', '/var/run/netns/cni-3', 'b'),
      rec('tail', 'DEL', 'c1', '/var/run/netns/cni-1', 'a'),
    ];
    expect([...recordedNetns(records, [a, b])]).toEqual([['ns/a', '/var/run/netns/cni-1']]);
  });

  it('matches a pod whose address changed after its ADD to the namespace the runtime named, before any IP', () => {
    const result = matchPods({
      pods: [a, b],
      hostAddresses: [],
      recordedNetns: new Map([['ns/a', '/var/run/netns/cni-1']]),
      candidates: [
        { inode: 1, path: '/proc/1/root/run/netns/cni-1', addresses: ['10.0.0.250'] },
        { inode: 2, path: '/proc/1/root/run/netns/cni-2', addresses: ['10.0.0.3'] },
        { inode: 3, path: '/proc/1/root/run/netns/other', addresses: ['10.0.0.2'] },
      ],
    });
    expect([...result.podByInode]).toEqual([
      [1, { pod: a, matchedBy: 'cni-record' }],
      [2, { pod: b, matchedBy: 'ip' }],
    ]);
  });

  it.each([
    ['a file of another name', '/proc/1/root/run/netns/cni-9'],
    ['the same name outside a netns directory', '/proc/1/root/run/cni-1'],
  ])('falls back to the IPs when no candidate is the named namespace: %s', (_what, path) => {
    const result = matchPods({ pods: [a], hostAddresses: [], recordedNetns: new Map([['ns/a', '/var/run/netns/cni-1']]), candidates: [{ inode: 1, path, addresses: ['10.0.0.2'] }] });
    expect([...result.podByInode]).toEqual([[1, { pod: a, matchedBy: 'ip' }]]);
  });
});
