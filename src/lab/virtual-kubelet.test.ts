// The virtual kubelet's pure parts: pod namespace names, declared ports, collector detection and
// the path rewrites that stand in for a container's mounts, the arguments that keep a collector
// to its own node's namespaces.
import { describe, expect, it } from '@jest/globals';
import type { KubePod } from '../kube/node-agent-client.js';
import { collectorArgs, declaredPorts, isCollectorPod, nodeNetnsDir, podNetnsName, rewritePath } from './virtual-kubelet.js';

describe('podNetnsName', () => {
  it('is readable, short and unique per uid', () => {
    const a = podNetnsName('ndlab', 'default', 'web-0', 'uid-a');
    const b = podNetnsName('ndlab', 'default', 'web-0', 'uid-b');
    expect(a).toMatch(/^ndlab-default-web-0-[0-9a-f]{6}$/);
    expect(a).not.toBe(b);
    expect(podNetnsName('ndlab', 'a-very-long-namespace-name-indeed', 'and-a-very-long-pod-name-too', 'u').length).toBeLessThanOrEqual(5 + 1 + 32 + 1 + 6);
  });
});

describe('declaredPorts', () => {
  it('lists each TCP and UDP containerPort once, TCP by default, SCTP left out', () => {
    const pod: KubePod = {
      spec: {
        containers: [
          { name: 'a', ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'UDP' }, { containerPort: 9, protocol: 'SCTP' }] },
          { name: 'b', ports: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 53, protocol: 'TCP' }] },
        ],
      },
    };
    expect(declaredPorts(pod)).toEqual([
      { port: 80, protocol: 'TCP' },
      { port: 53, protocol: 'UDP' },
      { port: 53, protocol: 'TCP' },
    ]);
  });
});

describe('isCollectorPod', () => {
  it.each([
    [true, { hostNetwork: true, containers: [{ name: 'c', command: ['netdiag', 'collect'] }] }],
    [false, { hostNetwork: false, containers: [{ name: 'c', command: ['netdiag', 'collect'] }] }],
    [false, { hostNetwork: true, containers: [{ name: 'c', command: ['sh'] }] }],
    [false, { hostNetwork: true, containers: [{ name: 'c' }] }],
  ])('%s for %j', (expected, spec) => {
    expect(isCollectorPod({ spec })).toBe(expected);
  });
});

describe('rewritePath', () => {
  const mounts = [
    { mountPath: '/etc/netdiag/pods', hostDir: '/lab/pods/x/volumes/pods' },
    { mountPath: '/tmp', hostDir: '/lab/pods/x/volumes/tmp' },
  ];
  it.each([
    ['/etc/netdiag/pods/pods.json', '/lab/pods/x/volumes/pods/pods.json'],
    ['/etc/netdiag/pods', '/lab/pods/x/volumes/pods'],
    ['/proc/1/root/etc/cni/net.d', '/lab/nodes/node1/root/etc/cni/net.d'],
    ['/proc/1/rootfs', '/proc/1/rootfs'],
    ['/etc/netdiag/podsx', '/etc/netdiag/podsx'],
    ['--node', '--node'],
    ['/tmp/a', '/lab/pods/x/volumes/tmp/a'],
  ])('%s → %s', (arg, expected) => {
    expect(rewritePath(arg, mounts, '/lab/nodes/node1/root')).toBe(expected);
  });
});

describe('collectorArgs', () => {
  const root = '/lab/nodes/node1/root';
  it.each([
    ['collect: the node\'s netns directory only, no /proc search', ['collect', '--no-cri'], ['collect', '--no-cri', '--netns-dir', '/lab/nodes/node1/root/run/netns', '--no-proc-netns']],
    ['collect that already says --no-proc-netns: not twice', ['collect', '--no-proc-netns'], ['collect', '--no-proc-netns', '--netns-dir', '/lab/nodes/node1/root/run/netns']],
    ['another command: as is', ['cni-tap', '--help'], ['cni-tap', '--help']],
    ['no command: as is', [], []],
  ])('%s', (_, argv, expected) => {
    expect(collectorArgs(argv, root)).toEqual(expected);
  });

  it('names the directory the kubelet links pods\' namespaces into', () => {
    expect(nodeNetnsDir(root)).toBe('/lab/nodes/node1/root/run/netns');
  });
});
