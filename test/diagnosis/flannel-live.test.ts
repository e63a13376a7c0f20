// The flannel plugin on a live cluster programmed by the real flanneld (--kube-subnet-mgr,
// --ip-masq) and the real flannel CNI plugin, against a real kube-apiserver: healthy paths raise no
// fatal or critical suspicion, each fault made in the kernel is named, and a real connect agrees
// with the verdict (it connects exactly when the diagnosis says Reachable).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { diagnose, flannelPlugin, readLeases, type Diagnosis, type DiagnosisQuery } from '../../src/diagnosis/index.js';
import { buildFlannelCluster, type FlannelBackend, type FlannelCluster } from '../support/flannel-cluster.js';
import { SVC1 } from '../support/mini-cluster.js';
import { ipIn, run, runIn } from '../support/netns.js';
import { probeIcmp, probeTcp } from '../support/packet-probe.js';
import { describeAsRoot } from '../support/root.js';

const pod = (name: string): DiagnosisQuery['source'] => ({ kind: 'pod', namespace: 'default', name });
const tcp = (source: DiagnosisQuery['source'], destination: DiagnosisQuery['destination'], port = 8080): DiagnosisQuery => ({ source, destination, port, protocol: 'TCP' });
const across = tcp(pod('pod1'), pod('pod2'));

function serious(d: Diagnosis): string[] {
  return d.suspicions.filter((s) => s.level === 'fatal' || s.level === 'critical').map((s) => `${s.node} ${s.code}: ${s.message}`);
}

describe.each<[FlannelBackend]>([['vxlan'], ['host-gw']])('flannel-%s', (backend) => {
  describeAsRoot(`diagnose on a live flannel-${backend} cluster (real flanneld, real flannel CNI plugin)`, () => {
    let cluster: FlannelCluster;
    beforeAll(async () => {
      cluster = await buildFlannelCluster({ backend, prefix: backend === 'vxlan' ? 'ndflv' : 'ndflh' });
    }, 120_000);
    afterAll(async () => {
      await cluster.teardown();
    });

    const ns = (name: string): string => cluster.nodes[name]?.ns ?? cluster.pods[name]?.ns ?? name;
    const ipOf = (name: string): string => cluster.pods[name]?.ip ?? cluster.nodes[name]?.ip ?? name;
    const connects = async (from: string, dst: string, port = 8080): Promise<boolean> => (await probeTcp(ns(from), { dst, dport: port, timeoutMs: 800 })).outcome === 'connected';
    const diagnoseNow = (q: DiagnosisQuery): Diagnosis => diagnose(cluster.dump(), q, { plugins: [flannelPlugin] });

    /** Puts back what flanneld installed on `node` for the other nodes (routes, and for vxlan neighbours and FDB entries). */
    function reprogram(node: string): void {
      const leases = readLeases(cluster.dump());
      for (const other of leases) {
        if (other.node === node || other.publicIp === undefined) continue;
        const cidr = cluster.nodes[other.node]?.podCIDR ?? '';
        const publicIp = cluster.nodes[other.node]?.ip ?? '';
        if (backend === 'host-gw') {
          ipIn(ns(node), ['route', 'replace', cidr, 'via', publicIp, 'dev', 'eth0']);
          continue;
        }
        const vtep = cidr.replace(/\/\d+$/, '');
        ipIn(ns(node), ['route', 'replace', cidr, 'via', vtep, 'dev', 'flannel.1', 'onlink']);
        ipIn(ns(node), ['neigh', 'replace', vtep, 'lladdr', other.vtepMac ?? '', 'dev', 'flannel.1', 'nud', 'permanent']);
        runIn(ns(node), 'bridge', ['fdb', 'replace', other.vtepMac ?? '', 'dev', 'flannel.1', 'dst', publicIp, 'self', 'permanent']);
      }
    }

    describe('healthy', () => {
      it.each<[string, DiagnosisQuery, string, string]>([
        ['pod → pod across nodes', across, 'pod1', 'pod2'],
        ['pod → pod on one node', tcp(pod('pod1'), pod('pod3')), 'pod1', 'pod3'],
        ['pod → pod on the third node', tcp(pod('pod2'), pod('pod4')), 'pod2', 'pod4'],
        ['node → pod', tcp({ kind: 'node', name: 'node1' }, pod('pod2')), 'node1', 'pod2'],
      ])('%s: Reachable, no fatal or critical suspicion, and the kernel connects', async (_name, q, from, to) => {
        const d = diagnoseNow(q);
        expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
        expect(await connects(from, ipOf(to))).toBe(true);
      });

      it('pod → service: Reachable, and the kernel connects through the ClusterIP', async () => {
        const d = diagnoseNow(tcp(pod('pod1'), { kind: 'service', namespace: 'default', name: 'svc1' }, SVC1.port));
        expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
        expect(await connects('pod1', SVC1.clusterIP, SVC1.port)).toBe(true);
      });

      it('pod → node (ICMP): Reachable, and the node answers a ping', async () => {
        const d = diagnoseNow({ source: pod('pod1'), destination: { kind: 'node', name: 'node2' }, port: 0, protocol: 'ICMP' });
        expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
        expect((await probeIcmp(ns('pod1'), { dst: ipOf('node2') })).outcome).toBe('reply');
      });
    });

    interface LiveFault {
      readonly name: string;
      readonly only?: FlannelBackend;
      readonly apply: () => void;
      readonly restore: () => void;
      readonly code: string;
      readonly at: string;
      readonly contains: string;
      /** Whether the kernel still connects pod1 → pod2 (exactly when the verdict is Reachable). */
      readonly connects: boolean;
    }

    const faults: LiveFault[] = [
      {
        name: 'route to node2 deleted on node1',
        apply: () => void ipIn(ns('node1'), ['route', 'del', cluster.nodes.node2?.podCIDR ?? '']),
        restore: () => reprogram('node1'),
        code: 'RouteMissing',
        at: 'node1',
        contains: backend === 'vxlan' ? '10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink' : '10.244.1.0/24 via 10.99.0.12 dev eth0',
        connects: false,
      },
      {
        name: 'route to node2 via node3 on node1',
        apply: () =>
          void ipIn(ns('node1'), backend === 'vxlan' ? ['route', 'replace', '10.244.1.0/24', 'via', '10.244.2.0', 'dev', 'flannel.1', 'onlink'] : ['route', 'replace', '10.244.1.0/24', 'via', '10.99.0.13', 'dev', 'eth0']),
        restore: () => reprogram('node1'),
        code: 'RouteInvalid',
        at: 'node1',
        contains: backend === 'vxlan' ? 'installs "10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink"' : 'installs "10.244.1.0/24 via 10.99.0.12 dev eth0"',
        // node3 forwards to node2 by its own route: a detour that works (the reply comes back directly).
        connects: true,
      },
      {
        name: 'flannel.1 down on node1',
        only: 'vxlan',
        apply: () => void ipIn(ns('node1'), ['link', 'set', 'flannel.1', 'down']),
        restore: () => {
          ipIn(ns('node1'), ['link', 'set', 'flannel.1', 'up']);
          reprogram('node1');
        },
        code: 'LinkDown',
        at: 'node1',
        contains: 'flannel.1 is down on node1',
        connects: false,
      },
      {
        name: "node2's FDB entry gone on node1",
        only: 'vxlan',
        apply: () => {
          const mac = readLeases(cluster.dump()).find((l) => l.node === 'node2')?.vtepMac ?? '';
          runIn(ns('node1'), 'bridge', ['fdb', 'del', mac, 'dev', 'flannel.1', 'dst', '10.99.0.12']);
        },
        restore: () => reprogram('node1'),
        code: 'VxlanFdbMissing',
        at: 'node1',
        contains: 'dst 10.99.0.12 self permanent',
        connects: false,
      },
      {
        name: "node2's VTEP neighbour gone on node1",
        only: 'vxlan',
        apply: () => void ipIn(ns('node1'), ['neigh', 'del', '10.244.1.0', 'dev', 'flannel.1']),
        restore: () => reprogram('node1'),
        code: 'NeighborMissing',
        at: 'node1',
        contains: 'no neighbour entry for 10.244.1.0 on flannel.1',
        connects: false,
      },
      {
        // The kernel refuses a VXLAN MTU above its lower device's minus the headroom, but not a lower device shrinking under it.
        name: 'underlay MTU lowered under flannel.1 on node1',
        only: 'vxlan',
        apply: () => void ipIn(ns('node1'), ['link', 'set', 'eth0', 'mtu', '1400']),
        restore: () => void ipIn(ns('node1'), ['link', 'set', 'eth0', 'mtu', '1500']),
        code: 'MTUMismatch',
        at: 'node1',
        contains: 'flannel.1 on node1 (1450) is larger than that of its underlay eth0 (1400)',
        connects: true,
      },
      {
        name: 'ip_forward=0 on node2',
        apply: () => void runIn(ns('node2'), 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']),
        restore: () => void runIn(ns('node2'), 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']),
        code: 'ForwardingDisabled',
        at: 'node2',
        contains: 'net.ipv4.ip_forward=0 on node2',
        connects: false,
      },
      {
        name: 'cni0 down on node2',
        apply: () => void ipIn(ns('node2'), ['link', 'set', 'cni0', 'down']),
        restore: () => void ipIn(ns('node2'), ['link', 'set', 'cni0', 'up']),
        code: 'LinkDown',
        at: 'node2',
        contains: 'cni0',
        connects: false,
      },
    ];

    describe('faults in the kernel', () => {
      it.each(faults.filter((f) => f.only === undefined || f.only === backend).map((f) => [f.name, f] as const))('%s', async (_name, f) => {
        f.apply();
        try {
          const d = diagnoseNow(across);
          const hit = d.suspicions.find((s) => s.node === f.at && s.code === f.code && s.message.includes(f.contains));
          expect({ hit: hit !== undefined, suspicions: d.suspicions }).toMatchObject({ hit: true });
          expect(d.verdict === 'Reachable').toBe(f.connects);
          expect(await connects('pod1', ipOf('pod2'))).toBe(f.connects);
        } finally {
          f.restore();
        }
        // Back to health: the next case starts from flannel's layout.
        expect(await connects('pod1', ipOf('pod2'))).toBe(true);
      });
    });

    it('the Node objects carry the lease flanneld wrote (backend-type, public-ip, and for vxlan the VtepMAC of flannel.1)', () => {
      const state = cluster.dump();
      const leases = readLeases(state);
      expect(leases.map((l) => [l.node, l.backendType])).toEqual([
        ['node1', backend],
        ['node2', backend],
        ['node3', backend],
      ]);
      if (backend === 'vxlan') {
        const mac = (JSON.parse(run('ip', ['-n', ns('node2'), '-j', 'link', 'show', 'flannel.1'])) as { address: string }[])[0]?.address;
        expect(leases.find((l) => l.node === 'node2')?.vtepMac).toBe(mac);
      }
    });
  });
});
