// The bridge plugin on a live cluster of namespaces whose pod network the real `bridge` and
// `host-local` CNI plugins made: healthy paths raise nothing fatal or critical, and each fault,
// made with the commands an admin would mistype, gives the bridge plugin's suspicion and a verdict
// the real kernel agrees with (a connection succeeds exactly when the verdict is Reachable).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { diagnose, type Diagnosis, type DiagnosisQuery } from '../../src/diagnosis/index.js';
import { bridgePlugin } from '../../src/diagnosis/plugins/bridge.js';
import { BRIDGE_SVC1, buildBridgeCniCluster, NODE_PORT, POD_PORT, type BridgeCniCluster } from '../support/bridge-cni-cluster.js';
import { ipIn, run, runIn } from '../support/netns.js';
import { probeTcp } from '../support/packet-probe.js';
import { describeAsRoot } from '../support/root.js';

const pod = (name: string): DiagnosisQuery['source'] => ({ kind: 'pod', namespace: 'default', name });
const node = (name: string): DiagnosisQuery['source'] => ({ kind: 'node', name });

function explain(d: Diagnosis): string {
  return JSON.stringify({ verdict: d.verdict, suspicions: d.suspicions, path: d.packetPath.nodes.map((n) => n.id), warnings: d.warnings }, null, 1);
}

function serious(d: Diagnosis): string[] {
  return d.suspicions.filter((s) => s.level === 'fatal' || s.level === 'critical').map((s) => `${s.node} ${s.code}: ${s.message}`);
}

describeAsRoot('the bridge plugin on namespaces set up by the real bridge and host-local CNI plugins', () => {
  let cluster: BridgeCniCluster;

  beforeAll(async () => {
    cluster = await buildBridgeCniCluster('ndbr');
  }, 120_000);

  afterAll(async () => {
    await cluster.teardown();
  });

  const ns = (name: string): string => cluster.nodes[name]?.ns ?? cluster.pods[name]?.ns ?? name;
  const ipOf = (name: string): string => cluster.pods[name]?.ip ?? cluster.nodes[name]?.ip ?? name;

  async function kernelConnects(from: string, to: string, port: number): Promise<boolean> {
    const result = await probeTcp(ns(from), { dst: ipOf(to), dport: port, timeoutMs: 800 });
    return result.outcome === 'connected';
  }

  const diagnoseNow = (q: DiagnosisQuery): Diagnosis => diagnose(cluster.dump(), q, { plugins: [bridgePlugin] });

  describe('healthy', () => {
    it.each<[string, DiagnosisQuery, string, string, number]>([
      ['pod → pod on one node', { source: pod('pod1'), destination: pod('pod3'), port: POD_PORT, protocol: 'TCP' }, 'pod1', 'pod3', POD_PORT],
      ['pod → pod across nodes', { source: pod('pod1'), destination: pod('pod2'), port: POD_PORT, protocol: 'TCP' }, 'pod1', 'pod2', POD_PORT],
      ['pod → pod on the third node', { source: pod('pod2'), destination: pod('pod4'), port: POD_PORT, protocol: 'TCP' }, 'pod2', 'pod4', POD_PORT],
      ['pod → node', { source: pod('pod1'), destination: node('node2'), port: NODE_PORT, protocol: 'TCP' }, 'pod1', 'node2', NODE_PORT],
      ['node → pod', { source: node('node1'), destination: pod('pod2'), port: POD_PORT, protocol: 'TCP' }, 'node1', 'pod2', POD_PORT],
    ])('%s: Reachable without a fatal or critical suspicion, and the kernel connects', async (_name, q, from, to, port) => {
      const d = diagnoseNow(q);
      expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
      expect(await kernelConnects(from, to, port)).toBe(true);
    });

    it('pod → service: Reachable, and the kernel connects', async () => {
      const d = diagnoseNow({ source: pod('pod1'), destination: { kind: 'service', namespace: 'default', name: 'svc1' }, port: BRIDGE_SVC1.port, protocol: 'TCP' });
      expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
      const result = await probeTcp(ns('pod1'), { dst: BRIDGE_SVC1.clusterIP, dport: BRIDGE_SVC1.port, timeoutMs: 800 });
      expect(result.outcome).toBe('connected');
    });
  });

  interface Fault {
    readonly name: string;
    readonly apply: () => void;
    readonly revert: () => void;
    readonly verdict: Diagnosis['verdict'];
    readonly expected: { readonly node: string; readonly code: string; readonly level: string; readonly contains: (c: BridgeCniCluster) => string };
  }

  const podCidr2 = '10.244.1.0/24';
  const faults: Fault[] = [
    {
      name: "node1 without the static route to node2's podCIDR (and without a default route)",
      apply: () => {
        ipIn(ns('node1'), ['route', 'del', podCidr2]);
        ipIn(ns('node1'), ['route', 'del', 'default']);
      },
      revert: () => {
        ipIn(ns('node1'), ['route', 'add', podCidr2, 'via', ipOf('node2'), 'dev', 'eth0']);
        ipIn(ns('node1'), ['route', 'add', 'default', 'via', '10.99.0.1', 'dev', 'eth0']);
      },
      verdict: 'Unreachable',
      expected: { node: 'node1', code: 'RouteMissing', level: 'fatal', contains: (c) => `static route ${podCidr2} via ${c.nodes.node2?.ip ?? '?'} (node node2) is missing on node1` },
    },
    {
      name: 'cni0 down on the source node',
      apply: () => ipIn(ns('node1'), ['link', 'set', 'cni0', 'down']),
      revert: () => ipIn(ns('node1'), ['link', 'set', 'cni0', 'up']),
      verdict: 'Unreachable',
      expected: { node: 'node1', code: 'LinkDown', level: 'critical', contains: () => 'cni0 is down on node1 (the bridge of network bridge-net' },
    },
    {
      name: "the destination pod's veth taken off cni0 (nomaster)",
      apply: () => ipIn(ns('node2'), ['link', 'set', cluster.pods.pod2?.hostVeth ?? '', 'nomaster']),
      revert: () => {
        const veth = cluster.pods.pod2?.hostVeth ?? '';
        ipIn(ns('node2'), ['link', 'set', veth, 'master', 'cni0']);
        run('ip', ['netns', 'exec', ns('node2'), 'bridge', 'link', 'set', 'dev', veth, 'hairpin', 'on']);
      },
      verdict: 'Unreachable',
      expected: { node: 'node2', code: 'LinkMissing', level: 'critical', contains: (c) => `${c.pods.pod2?.hostVeth ?? '?'} on node2, the host end of eth0 of pod default/pod2, is not a port of cni0 (it has no master)` },
    },
    {
      name: 'the source pod without its default route',
      apply: () => ipIn(ns('pod1'), ['route', 'del', 'default']),
      revert: () => ipIn(ns('pod1'), ['route', 'add', 'default', 'via', '10.244.0.1', 'dev', 'eth0']),
      verdict: 'Unreachable',
      expected: { node: 'default/pod1', code: 'RouteMissing', level: 'critical', contains: () => 'pod default/pod1 has no route default via 10.244.0.1 dev eth0' },
    },
    {
      name: 'ip_forward=0 on the destination node',
      apply: () => runIn(ns('node2'), 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']),
      revert: () => runIn(ns('node2'), 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']),
      verdict: 'Unreachable',
      expected: { node: 'node2', code: 'ForwardingDisabled', level: 'critical', contains: () => 'net.ipv4.ip_forward=0 (net.ipv4.conf.all.forwarding=0) on node2' },
    },
    {
      name: "the gateway address removed from the source node's cni0",
      apply: () => ipIn(ns('node1'), ['addr', 'del', '10.244.0.1/24', 'dev', 'cni0']),
      revert: () => ipIn(ns('node1'), ['addr', 'add', '10.244.0.1/24', 'dev', 'cni0']),
      verdict: 'Unreachable',
      expected: { node: 'node1', code: 'AddressMissing', level: 'critical', contains: () => 'cni0 on node1 does not hold 10.244.0.1/24, the gateway of the pods in 10.244.0.0/24' },
    },
    {
      // A SYN is small: the connection works, and the mismatch is only a warning.
      name: "a smaller MTU on the destination pod's eth0",
      apply: () => ipIn(ns('pod2'), ['link', 'set', 'eth0', 'mtu', '1400']),
      revert: () => ipIn(ns('pod2'), ['link', 'set', 'eth0', 'mtu', '1500']),
      verdict: 'Reachable',
      expected: { node: 'node2', code: 'MTUMismatch', level: 'warning', contains: (c) => `eth0 of pod default/pod2 has MTU 1400, ${c.pods.pod2?.hostVeth ?? '?'} on node2, its host end, 1500` },
    },
  ];

  describe.each(faults)('fault: $name', (fault) => {
    let d: Diagnosis;
    let connected: boolean;
    beforeAll(async () => {
      fault.apply();
      try {
        d = diagnoseNow({ source: pod('pod1'), destination: pod('pod2'), port: POD_PORT, protocol: 'TCP' });
        connected = await kernelConnects('pod1', 'pod2', POD_PORT);
      } finally {
        fault.revert();
      }
    }, 20_000);

    it(`is ${fault.verdict} with ${fault.expected.code} (${fault.expected.level}) on ${fault.expected.node}`, () => {
      expect(d.verdict).toBe(fault.verdict);
      const contains = fault.expected.contains(cluster);
      const match = d.suspicions.find((s) => s.node === fault.expected.node && s.code === fault.expected.code && s.message.includes(contains));
      if (match === undefined) throw new Error(`expected ${fault.expected.code} on ${fault.expected.node} ("${contains}") missing: ${explain(d)}`);
      expect(match.level).toBe(fault.expected.level);
    });

    it('agrees with the real kernel', () => {
      expect({ connected, verdict: d.verdict }).toEqual({ connected: d.verdict === 'Reachable', verdict: fault.verdict });
    });
  });

  it('after every fault is reverted the cluster is healthy again', async () => {
    const d = diagnoseNow({ source: pod('pod1'), destination: pod('pod2'), port: POD_PORT, protocol: 'TCP' });
    expect({ verdict: d.verdict, serious: serious(d), warnings: d.suspicions.filter((s) => s.level === 'warning') }).toEqual({ verdict: 'Reachable', serious: [], warnings: [] });
    expect(await kernelConnects('pod1', 'pod2', POD_PORT)).toBe(true);
  });
});
