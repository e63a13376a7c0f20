// The pure parts of the lab and operator benches' harness: the medians they report, the lab's
// step times read from its progress lines, and the bridge network of their labs.

import { describe, expect, it } from '@jest/globals';
import { BENCH_CLUSTER_CIDR, BENCH_LAB_PREFIX, benchBridgeNetwork, labLineSeconds, labStepsMs, median } from '../../bench/lab-harness.js';

describe('median', () => {
  it.each([
    [[], Number.NaN],
    [[5], 5],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
  ])('of %j is %d', (values, expected) => {
    expect(median(values)).toBe(expected);
  });
});

describe('labLineSeconds', () => {
  it.each([
    ['[12.3s] nodes: node1 10.99.0.11', 12.3],
    ['[0s] underlay: bridge ndbench0', 0],
    ['scenario: creating the NetworkDiagnosis', undefined],
    ['[x.ys] nodes', undefined],
  ])('reads %j as %p', (line, expected) => {
    expect(labLineSeconds(line)).toBe(expected);
  });
});

describe('labStepsMs', () => {
  it('gives each step the time since the previous milestone, first line of each', () => {
    const lines = [
      '[0.8s] binaries etcd ready in 700 ms',
      '[0.9s] underlay: bridge ndbench0 10.99.7.1/24 (forwarding off)',
      '[4.1s] kube-apiserver ready',
      '[6.0s] nodes: node1 10.99.7.11, node2 10.99.7.12',
      '[6.9s] nodes registered: node1 10.246.0.0/24',
      '[7.5s] node1: bridge network up (/x/10-bridge.conflist)',
      '[8.1s] kube-proxy synced on every node',
      '[8.2s] default service account ready',
      '[9.0s] operator started (pid 1, log /x/operator.log)',
      '[9.0s] lab ready in 9.0 s: 2 node(s), network bridge',
      '[9.9s] lab ready in 9.9 s: a second line never counts',
    ];
    expect(labStepsMs(lines)).toEqual({ underlay: 900, controlPlane: 5100, nodesRegistered: 900, networks: 1200, defaultServiceAccount: 100, ready: 800 });
  });

  it('leaves out the steps whose line is missing and counts the next from the last one found', () => {
    expect(labStepsMs(['[1.0s] underlay: bridge', '[5.0s] kube-proxy synced on every node'])).toEqual({ underlay: 1000, networks: 4000 });
  });
});

describe('the benches\' labs', () => {
  it('run the bridge mode on a pod network apart from the lab modes\' 10.244.0.0/16', () => {
    const network = benchBridgeNetwork();
    expect(network.mode).toBe('bridge');
    expect(network.clusterCIDR).toBe(BENCH_CLUSTER_CIDR);
    expect(BENCH_CLUSTER_CIDR).not.toBe('10.244.0.0/16');
    expect(BENCH_LAB_PREFIX).toBe('ndbench');
  });
});
