// The diagnostor on a real two-node bridge-CNI "cluster" of network namespaces: healthy paths are
// Reachable with no fatal or critical suspicion, each fault gives its verdict and the suspicion
// naming the culprit, and the real kernel agrees (a connection succeeds exactly when Reachable).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { diagnose, type ClusterState, type Diagnosis, type DiagnosisQuery } from '../../src/diagnosis/index.js';
import { buildMiniCluster, EMPTY_SVC, POD_PORT, SVC1, type MiniCluster } from '../support/mini-cluster.js';
import { ipIn, runIn } from '../support/netns.js';
import { probeTcp } from '../support/packet-probe.js';
import { describeAsRoot } from '../support/root.js';

const pod = (name: string): DiagnosisQuery['source'] => ({ kind: 'pod', namespace: 'default', name });
const service = (name: string): DiagnosisQuery['destination'] => ({ kind: 'service', namespace: 'default', name });

function explain(d: Diagnosis): string {
  return JSON.stringify({ verdict: d.verdict, suspicions: d.suspicions, path: d.packetPath.nodes.map((n) => n.id), warnings: d.warnings }, null, 1);
}

function seriousSuspicions(d: Diagnosis): Diagnosis['suspicions'] {
  return d.suspicions.filter((s) => s.level === 'fatal' || s.level === 'critical');
}

describeAsRoot('diagnose on a two-node bridge-CNI cluster of namespaces', () => {
  let cluster: MiniCluster;

  beforeAll(async () => {
    cluster = await buildMiniCluster();
  }, 30_000);

  afterAll(async () => {
    await cluster.teardown();
  });

  const ns = (name: string): string => cluster.nodes[name]?.ns ?? cluster.pods[name]?.ns ?? name;

  /** What the kernel does with one connection from pod `from` to `dst:port`. */
  async function kernelConnects(from: string, dst: string, port: number): Promise<boolean> {
    const result = await probeTcp(ns(from), { dst, dport: port, timeoutMs: 800 });
    return result.outcome === 'connected';
  }

  function run(query: DiagnosisQuery, state: ClusterState = cluster.dump()): Diagnosis {
    return diagnose(state, query);
  }

  describe('healthy', () => {
    it('pod to pod across nodes is Reachable through [pod1, node1, node2, pod2], with no false alarm', async () => {
      const d = run({ source: pod('pod1'), destination: pod('pod2'), port: POD_PORT, protocol: 'TCP' });
      expect({ verdict: d.verdict, serious: seriousSuspicions(d) }).toEqual({ verdict: 'Reachable', serious: [] });
      expect(d.packetPath.nodes.map((n) => n.id)).toEqual(['default/pod1', 'node1', 'node2', 'default/pod2']);
      expect(d.packetPath.links.filter((l) => l.direction === 'request').map((l) => [l.source, l.destination, l.type])).toEqual([
        ['default/pod1', 'node1', 'veth'],
        ['node1', 'node2', 'underlay'],
        ['node2', 'default/pod2', 'bridge'],
      ]);
      expect(d.packetPath.links.some((l) => l.direction === 'reply' && l.destination === 'default/pod1')).toBe(true);
      expect(await kernelConnects('pod1', '10.244.1.5', POD_PORT)).toBe(true);
    });

    it('pod to pod on one node is Reachable, switched by cni0', async () => {
      const d = run({ source: pod('pod1'), destination: pod('pod3'), port: POD_PORT, protocol: 'TCP' });
      expect({ verdict: d.verdict, serious: seriousSuspicions(d) }).toEqual({ verdict: 'Reachable', serious: [] });
      expect(d.packetPath.nodes.map((n) => n.id)).toEqual(['default/pod1', 'node1', 'default/pod3']);
      expect(d.packetPath.nodes.find((n) => n.id === 'node1')?.actions.some((a) => a.kind === 'bridge')).toBe(true);
      expect(await kernelConnects('pod1', '10.244.0.6', POD_PORT)).toBe(true);
    });

    it('pod to service fans out to both endpoints and is Reachable', async () => {
      const d = run({ source: pod('pod1'), destination: service('svc1'), port: SVC1.port, protocol: 'TCP' });
      expect({ verdict: d.verdict, serious: seriousSuspicions(d) }).toEqual({ verdict: 'Reachable', serious: [] });
      const ids = d.packetPath.nodes.map((n) => n.id);
      expect(ids).toEqual(expect.arrayContaining(['default/pod1', 'node1', 'node2', 'default/pod2', 'default/pod3']));
      const dnat = d.packetPath.nodes.find((n) => n.id === 'node1')?.actions.filter((a) => a.kind === 'nat' && a.nat === 'DNAT');
      expect(dnat?.map((a) => (a.kind === 'nat' ? a.after : '')).sort()).toEqual(['10.244.0.6:8080', '10.244.1.5:8080']);
      expect(await kernelConnects('pod1', SVC1.clusterIP, SVC1.port)).toBe(true);
    });
  });

  interface FaultCase {
    readonly name: string;
    readonly query: DiagnosisQuery;
    readonly apply: () => void;
    readonly revert: () => void;
    readonly verdict: Diagnosis['verdict'];
    readonly suspicion: { readonly node: string; readonly code: string; readonly contains: string; readonly level?: string };
    readonly alsoCodes?: readonly string[];
    /** Where the kernel probe goes (dst ip, port); undefined: no kernel check. */
    readonly kernel?: { readonly from: string; readonly dst: string; readonly port: number };
  }

  const toPod2: DiagnosisQuery = { source: pod('pod1'), destination: pod('pod2'), port: POD_PORT, protocol: 'TCP' };
  const kernelToPod2 = { from: 'pod1', dst: '10.244.1.5', port: POD_PORT };

  const faults: FaultCase[] = [
    {
      name: 'cni0 down on the source node',
      query: toPod2,
      apply: () => ipIn(ns('node1'), ['link', 'set', 'cni0', 'down']),
      revert: () => ipIn(ns('node1'), ['link', 'set', 'cni0', 'up']),
      verdict: 'Unreachable',
      suspicion: { node: 'node1', code: 'LinkDown', contains: 'cni0' },
      kernel: kernelToPod2,
    },
    {
      // The default route takes the packet out of the snapshot: what lies beyond is unknown.
      name: "the route to the other node's pod CIDR deleted (the default route remains)",
      query: toPod2,
      apply: () => ipIn(ns('node1'), ['route', 'del', '10.244.1.0/24']),
      revert: () => ipIn(ns('node1'), ['route', 'add', '10.244.1.0/24', 'via', '10.99.0.12', 'dev', 'eth0']),
      verdict: 'Inconclusive',
      suspicion: { node: 'node1', code: 'RouteMissing', contains: '10.244.1.0/24', level: 'critical' },
      kernel: kernelToPod2,
    },
    {
      name: "the route to the other node's pod CIDR and the default route deleted",
      query: toPod2,
      apply: () => {
        ipIn(ns('node1'), ['route', 'del', '10.244.1.0/24']);
        ipIn(ns('node1'), ['route', 'del', 'default']);
      },
      revert: () => {
        ipIn(ns('node1'), ['route', 'add', '10.244.1.0/24', 'via', '10.99.0.12', 'dev', 'eth0']);
        ipIn(ns('node1'), ['route', 'add', 'default', 'via', '10.99.0.1', 'dev', 'eth0']);
      },
      verdict: 'Unreachable',
      suspicion: { node: 'node1', code: 'RouteMissing', contains: '10.244.1.0/24' },
      alsoCodes: ['NoRouteToHost'],
      kernel: kernelToPod2,
    },
    {
      name: 'ip_forward=0 on the destination node',
      query: toPod2,
      apply: () => runIn(ns('node2'), 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']),
      revert: () => runIn(ns('node2'), 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']),
      verdict: 'Unreachable',
      suspicion: { node: 'node2', code: 'ForwardingDisabled', contains: 'forwarding=0' },
      kernel: kernelToPod2,
    },
    {
      name: 'an iptables DROP in FORWARD on the destination node',
      query: toPod2,
      apply: () => runIn(ns('node2'), 'iptables', ['-I', 'FORWARD', '1', '-d', '10.244.1.5/32', '-p', 'tcp', '--dport', String(POD_PORT), '-j', 'DROP']),
      revert: () => runIn(ns('node2'), 'iptables', ['-D', 'FORWARD', '-d', '10.244.1.5/32', '-p', 'tcp', '--dport', String(POD_PORT), '-j', 'DROP']),
      verdict: 'Unreachable',
      suspicion: { node: 'node2', code: 'IptablesDrop', contains: 'filter FORWARD' },
      kernel: kernelToPod2,
    },
    {
      name: 'no listener on the port',
      query: { ...toPod2, port: 9090 },
      apply: () => undefined,
      revert: () => undefined,
      verdict: 'Unreachable',
      suspicion: { node: 'default/pod2', code: 'NoListener', contains: 'tcp 10.244.1.5:9090' },
      kernel: { ...kernelToPod2, port: 9090 },
    },
    {
      name: 'a service without endpoints',
      query: { source: pod('pod1'), destination: service('empty'), port: EMPTY_SVC.port, protocol: 'TCP' },
      apply: () => undefined,
      revert: () => undefined,
      verdict: 'Unreachable',
      suspicion: { node: 'default/empty', code: 'ServiceNoEndpoints', contains: 'default/empty' },
      alsoCodes: ['IptablesReject'],
      kernel: { from: 'pod1', dst: EMPTY_SVC.clusterIP, port: EMPTY_SVC.port },
    },
    {
      name: 'rp_filter=1 on the destination node with the return route on another device',
      query: toPod2,
      apply: () => {
        ipIn(ns('node2'), ['route', 'replace', '10.244.0.0/24', 'dev', 'cni0']);
        runIn(ns('node2'), 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.eth0.rp_filter=1']);
      },
      revert: () => {
        runIn(ns('node2'), 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0']);
        ipIn(ns('node2'), ['route', 'replace', '10.244.0.0/24', 'via', '10.99.0.11', 'dev', 'eth0']);
      },
      verdict: 'Unreachable',
      suspicion: { node: 'node2', code: 'RPFilterDrop', contains: 'eth0' },
      kernel: kernelToPod2,
    },
    {
      name: "the destination pod's host veth down",
      query: toPod2,
      apply: () => ipIn(ns('node2'), ['link', 'set', 'vethpod2', 'down']),
      revert: () => ipIn(ns('node2'), ['link', 'set', 'vethpod2', 'up']),
      verdict: 'Unreachable',
      suspicion: { node: 'node2', code: 'LinkDown', contains: 'vethpod2' },
      kernel: kernelToPod2,
    },
    {
      // A SYN is small: the connection works, and the mismatch is only a warning.
      name: "a smaller MTU on the destination pod's eth0",
      query: toPod2,
      apply: () => ipIn(ns('pod2'), ['link', 'set', 'eth0', 'mtu', '1400']),
      revert: () => ipIn(ns('pod2'), ['link', 'set', 'eth0', 'mtu', '1500']),
      verdict: 'Reachable',
      suspicion: { node: 'node2', code: 'MTUMismatch', contains: 'vethpod2', level: 'warning' },
      kernel: kernelToPod2,
    },
    {
      name: 'the reply path broken on the destination node (no route back to the source pod CIDR)',
      query: toPod2,
      apply: () => ipIn(ns('node2'), ['route', 'del', '10.244.0.0/24']),
      revert: () => ipIn(ns('node2'), ['route', 'add', '10.244.0.0/24', 'via', '10.99.0.11', 'dev', 'eth0']),
      verdict: 'Inconclusive',
      suspicion: { node: 'node2', code: 'RouteMissing', contains: '10.244.0.0/24', level: 'critical' },
      kernel: kernelToPod2,
    },
  ];

  describe.each(faults)('fault: $name', (fault) => {
    let d: Diagnosis;
    let connected: boolean | undefined;
    beforeAll(async () => {
      fault.apply();
      try {
        d = run(fault.query);
        connected = fault.kernel === undefined ? undefined : await kernelConnects(fault.kernel.from, fault.kernel.dst, fault.kernel.port);
      } finally {
        fault.revert();
      }
    }, 20_000);

    it(`is ${fault.verdict} with ${fault.suspicion.code} on ${fault.suspicion.node}`, () => {
      expect(d.verdict).toBe(fault.verdict);
      const match = d.suspicions.find((s) => s.code === fault.suspicion.code && s.node === fault.suspicion.node && s.message.includes(fault.suspicion.contains));
      if (match === undefined) throw new Error(`expected suspicion missing: ${explain(d)}`);
      expect(match.level).toBe(fault.suspicion.level ?? 'fatal');
      for (const code of fault.alsoCodes ?? []) expect(d.suspicions.map((s) => s.code)).toContain(code);
    });

    it('agrees with the real kernel', () => {
      if (fault.kernel === undefined) return;
      // Reachable ⇔ the kernel connects (Inconclusive promises nothing; none of these connects).
      expect({ connected, verdict: d.verdict }).toEqual({ connected: d.verdict === 'Reachable', verdict: fault.verdict });
    });
  });

  it('one broken endpoint of a service makes it Degraded, naming the rule on that branch', () => {
    runIn(ns('node2'), 'iptables', ['-I', 'FORWARD', '1', '-d', '10.244.1.5/32', '-j', 'DROP']);
    let d: Diagnosis;
    try {
      d = run({ source: pod('pod1'), destination: service('svc1'), port: SVC1.port, protocol: 'TCP' });
    } finally {
      runIn(ns('node2'), 'iptables', ['-D', 'FORWARD', '-d', '10.244.1.5/32', '-j', 'DROP']);
    }
    expect(d.verdict).toBe('Degraded');
    expect(d.suspicions).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'IptablesDrop', node: 'node2', level: 'fatal' })]));
  });

  it('a missing pod netns makes the diagnosis Inconclusive with SnapshotIncomplete', () => {
    const state = cluster.dump();
    const partial: ClusterState = { ...state, netns: { ...state.netns, pods: { ...state.netns.pods, 'default/pod2': { kind: 'missing', reason: 'collector on node2 found no netns for it' } } } };
    const d = run(toPod2, partial);
    expect(d.verdict).toBe('Inconclusive');
    expect(d.suspicions).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'SnapshotIncomplete', node: 'default/pod2' })]));
  });
});
