import { describe, expect, it } from '@jest/globals';
import { parseCrictlInspect, parseCrictlPods, readySandboxes } from './crictl.js';
import { canonicalIp, globalAddressesOf } from './ip-addresses.js';
import { parseJsonDocuments } from './json-documents.js';
import { parsePodList, PodListError } from './pod-list.js';
import { parseSocketInodes } from './ss.js';

describe('parseJsonDocuments', () => {
  it('cuts concatenated documents, strings with braces and escapes included', () => {
    expect(parseJsonDocuments('{"a":"}{"}\n{\n "b": ["\\"]"]\n}[1]')).toEqual([{ a: '}{' }, { b: ['"]'] }, [1]]);
    expect(parseJsonDocuments('  ')).toEqual([]);
  });

  it.each([['{"a":1', /not complete/], ['{} x', /between documents/], ['}', /unbalanced/], ['"s"', /top-level string/]])('refuses %j', (text, message) => {
    expect(() => parseJsonDocuments(text)).toThrow(message);
  });
});

describe('addresses', () => {
  it('keeps global addresses in canonical form, leaves out host and link scope', () => {
    const data = [
      { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', scope: 'host' }, { family: 'inet6', local: '::1', scope: 'host' }] },
      { ifname: 'eth0', addr_info: [{ family: 'inet', local: '10.0.0.2', scope: 'global' }, { family: 'inet6', local: 'FD00:0:0::2', scope: 'global' }, { family: 'inet6', local: 'fe80::1', scope: 'link' }] },
      { ifname: 'odd' },
    ];
    expect(globalAddressesOf(data)).toEqual(['10.0.0.2', 'fd00::2']);
    expect(globalAddressesOf({ not: 'a list' })).toEqual([]);
    expect(canonicalIp('nope')).toBeUndefined();
  });
});

describe('parseSocketInodes', () => {
  it('reads ino:N of ss -e, each once, leaving out 0', () => {
    const text = 'Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\nudp UNCONN 0 0 0.0.0.0:4789 0.0.0.0:* ino:0 sk:1\ntcp LISTEN 0 4096 0.0.0.0:80 0.0.0.0:* ino:12345 sk:2 cgroup:/ <->\ntcp LISTEN 0 4096 [::]:80 [::]:* ino:12346 sk:3 v6only:1 <->\n';
    expect(parseSocketInodes(text)).toEqual([12345, 12346]);
  });
});

describe('parsePodList', () => {
  const podList = {
    kind: 'PodList',
    items: [
      { metadata: { namespace: 'a', name: 'p1', uid: 'u1' }, spec: { nodeName: 'node1' }, status: { podIP: '10.0.0.2', podIPs: [{ ip: '10.0.0.2' }, { ip: 'fd00::0:2' }] } },
      { metadata: { namespace: 'a', name: 'p2' }, spec: { nodeName: 'node2' }, status: { podIP: '10.0.1.2' } },
      { metadata: { name: 'h' }, spec: { nodeName: 'node1', hostNetwork: true }, status: { podIP: '192.168.1.1' } },
      { metadata: { namespace: 'a', name: 'pending' }, spec: {}, status: {} },
    ],
  };

  it('reads a PodList, keeping the pods of the node (and the unscheduled)', () => {
    expect(parsePodList(podList, 'node1')).toEqual([
      { namespace: 'a', name: 'p1', uid: 'u1', ips: ['10.0.0.2', 'fd00::2'] },
      { namespace: 'default', name: 'h', ips: ['192.168.1.1'], hostNetwork: true },
      { namespace: 'a', name: 'pending', ips: [] },
    ]);
    expect(parsePodList(podList)).toHaveLength(4);
  });

  it('reads a plain array', () => {
    expect(parsePodList([{ namespace: 'a', name: 'p', ips: ['10.0.0.2'], hostNetwork: false }])).toEqual([{ namespace: 'a', name: 'p', ips: ['10.0.0.2'] }]);
  });

  it.each([
    [{ items: [{ metadata: {} }] }, /items\[0\]: a Pod needs metadata.name/],
    [{ items: [{ metadata: { name: 'p' }, status: { podIPs: [{ ip: 'x' }] } }] }, /items\[0\] \(default\/p\) status.podIPs\[0\]: "x" is not an IP address/],
    [[{ namespace: 'a', name: 'p', ips: '10.0.0.1' }], /\[0\].ips: expected a list of IPs/],
    [[{ name: 'p' }], /\[0\]: expected \{namespace, name, ips/],
    [{ kind: 'Pod' }, /expected a PodList/],
  ])('refuses %j', (document, message) => {
    expect(() => parsePodList(document)).toThrow(PodListError);
    expect(() => parsePodList(document)).toThrow(message);
  });
});

describe('crictl', () => {
  const pods = {
    items: [
      { id: 'old', metadata: { name: 'p', namespace: 'a', uid: 'u1', attempt: 0 }, state: 'SANDBOX_NOTREADY', createdAt: '1700000000000000000' },
      { id: 'new', metadata: { name: 'p', namespace: 'a', uid: 'u1', attempt: 1 }, state: 'SANDBOX_READY', createdAt: '1700000100000000000' },
      { id: 'other', metadata: { name: 'q', namespace: 'a', uid: 'u2' }, state: 'SANDBOX_READY', createdAt: '1700000000000000000' },
      { id: 'broken' },
    ],
  };

  it('keeps the newest ready sandbox of each pod and counts what it cannot read', () => {
    const { sandboxes, skipped } = parseCrictlPods(pods);
    expect(skipped).toBe(1);
    expect(readySandboxes(sandboxes).map((s) => s.id)).toEqual(['new', 'other']);
  });

  it('reads the network namespace path, pid, IPs and host networking of inspectp (containerd)', () => {
    const doc = {
      status: {
        id: 'new',
        network: { ip: '10.0.0.2', additionalIps: [{ ip: 'fd00::2' }] },
        linux: { namespaces: { options: { network: 'POD', pid: 'CONTAINER' } } },
      },
      info: { pid: 4242, runtimeSpec: { linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: '/var/run/netns/cni-1234' }] } } },
    };
    expect(parseCrictlInspect(doc)).toEqual({ id: 'new', ips: ['10.0.0.2', 'fd00::2'], hostNetwork: false, netnsPath: '/var/run/netns/cni-1234', pid: 4242 });
    expect(parseCrictlInspect({ status: { id: 'h', linux: { namespaces: { options: { network: 'NODE' } } } } })).toEqual({ id: 'h', ips: [], hostNetwork: true });
    expect(parseCrictlInspect({ nothing: true })).toBeUndefined();
  });

  it('refuses output without items', () => {
    expect(() => parseCrictlPods({})).toThrow(/no "items" array/);
  });
});
