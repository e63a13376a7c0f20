// The calico plugin on live namespaces laid out as calico lays them out (test/support/calico-cluster.ts
// says what each element is and why), BGP and VXLAN modes: every diagnosis is checked against a real
// connect, healthy and after a fault made in the kernel (proxy_arp off, the /32 route of a pod
// deleted, a remote block's route deleted, a VXLAN FDB entry deleted, a pod's MTU above the tunnel's),
// and the NetworkPolicy rendered by felix drops what it should.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { diagnose, type Diagnosis, type DiagnosisQuery, type Suspicion } from '../../src/diagnosis/index.js';
import { calicoPlugin } from '../../src/diagnosis/plugins/calico.js';
import { buildCalicoCluster, CALICO_NODE_PORT, CALICO_POD_PORT, POLICY, VXLAN_DEVICE, VXLAN_MTU, type CalicoCluster } from '../support/calico-cluster.js';
import { execIn, ipIn, run, runIn } from '../support/netns.js';
import { probeTcp } from '../support/packet-probe.js';
import { describeAsRoot } from '../support/root.js';
import { withoutProviderNote } from '../support/provider-note.js';

const pod = (name: string): DiagnosisQuery['source'] => ({ kind: 'pod', namespace: 'default', name });
const tcp = (from: string, to: DiagnosisQuery['destination'], port = CALICO_POD_PORT): DiagnosisQuery => ({ source: pod(from), destination: to, port, protocol: 'TCP' });

function serious(d: Diagnosis): Suspicion[] {
  return d.suspicions.filter((s) => s.level === 'fatal' || s.level === 'critical');
}

function run1(cluster: CalicoCluster, q: DiagnosisQuery): Diagnosis {
  return diagnose(cluster.dump(), q, { plugins: [calicoPlugin] });
}

async function connects(cluster: CalicoCluster, from: string, ip: string, port = CALICO_POD_PORT): Promise<boolean> {
  return (await probeTcp(cluster.pods[from]?.ns ?? '', { dst: ip, dport: port, timeoutMs: 800 })).outcome === 'connected';
}

/** Forget the pod's ARP entry for its gateway, so that the next packet asks again. */
function flushNeighbors(cluster: CalicoCluster, name: string): void {
  ipIn(cluster.pods[name]?.ns ?? '', ['neigh', 'flush', 'dev', 'eth0']);
}

describe.each(['bgp', 'vxlan'] as const)('calico %s layout in namespaces', (mode) => {
  describeAsRoot(`calico ${mode}`, () => {
    let cluster: CalicoCluster | undefined;
    beforeAll(async () => {
      cluster = await buildCalicoCluster(`ndca${mode === 'bgp' ? 'b' : 'v'}`, mode);
    }, 60_000);
    afterAll(async () => {
      await cluster?.teardown();
    });
    const live = (): CalicoCluster => {
      if (cluster === undefined) throw new Error('the cluster was not built');
      return cluster;
    };
    const ip = (name: string): string => live().pods[name]?.ip ?? '';
    const node = (name: string): string => live().nodes[name]?.ns ?? '';

    it.each<[string, string, string, string[]]>([
      ['pod → pod on one node', 'pod1', 'pod2', ['default/pod1', 'node1', 'default/pod2']],
      ['pod → pod across nodes', 'pod1', 'pod3', ['default/pod1', 'node1', 'node2', 'default/pod3']],
      ['the other way', 'pod3', 'pod2', ['default/pod3', 'node2', 'node1', 'default/pod2']],
    ])('%s is Reachable with no serious suspicion, and connects', async (_name, from, to, path) => {
      const d = run1(live(), tcp(from, pod(to)));
      expect({ verdict: d.verdict, serious: serious(d), path: d.packetPath.nodes.map((n) => n.id) }).toEqual({ verdict: 'Reachable', serious: [], path });
      expect(withoutProviderNote(d.suspicions).filter((s) => s.code !== 'MTUMismatch')).toEqual([]);
      expect(await connects(live(), from, ip(to))).toBe(true);
    });

    it('pod → node (host network listener) is Reachable, and connects', async () => {
      const d = run1(live(), tcp('pod1', { kind: 'node', name: 'node2' }, CALICO_NODE_PORT));
      expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
      expect(await connects(live(), 'pod1', live().nodes.node2?.ip ?? '', CALICO_NODE_PORT)).toBe(true);
    });

    it('the NetworkPolicy on pod4 admits pod2 and drops pod1 in cali-tw-*, as the kernel does', async () => {
      const allowed = run1(live(), tcp('pod2', pod(POLICY.target)));
      expect({ verdict: allowed.verdict, serious: serious(allowed) }).toEqual({ verdict: 'Reachable', serious: [] });
      expect(await connects(live(), 'pod2', ip(POLICY.target))).toBe(true);
      const denied = run1(live(), tcp('pod1', pod(POLICY.target)));
      expect(denied.verdict).toBe('Unreachable');
      const veth = live().pods[POLICY.target]?.hostVeth ?? '';
      const drop = denied.suspicions.find((s) => s.code === 'IptablesDrop');
      expect(drop).toMatchObject({ level: 'fatal', node: 'node2' });
      expect(drop?.message).toContain(`cali-tw-${veth}`);
      expect(drop?.message).toContain('Drop if no policies passed packet');
      const policy = denied.suspicions.find((s) => s.code === 'NetworkPolicyDenied');
      expect(policy?.message).toContain(`default/${POLICY.name}`);
      expect(policy?.message).toContain(`cali-tw-${veth}`);
      expect(await connects(live(), 'pod1', ip(POLICY.target))).toBe(false);
    });

    it('proxy_arp off on the source pod\'s cali device: NeighborMissing names the sysctl; the kernel cannot connect', async () => {
      const veth = live().pods.pod1?.hostVeth ?? '';
      runIn(node('node1'), 'sysctl', ['-q', '-w', `net.ipv4.conf.${veth}.proxy_arp=0`]);
      flushNeighbors(live(), 'pod1');
      try {
        const d = run1(live(), tcp('pod1', pod('pod3')));
        const s = d.suspicions.find((x) => x.code === 'NeighborMissing');
        expect(s).toMatchObject({ level: 'fatal', node: 'node1' });
        expect(s?.message).toContain(`net.ipv4.conf.${veth}.proxy_arp=0`);
        expect(await connects(live(), 'pod1', ip('pod3'))).toBe(false);
      } finally {
        runIn(node('node1'), 'sysctl', ['-q', '-w', `net.ipv4.conf.${veth}.proxy_arp=1`]);
      }
    });

    it('the /32 route of the destination pod deleted: Unreachable at its block\'s blackhole, RouteMissing names the route', async () => {
      const veth = live().pods.pod3?.hostVeth ?? '';
      ipIn(node('node2'), ['route', 'del', `${ip('pod3')}/32`, 'dev', veth]);
      try {
        const d = run1(live(), tcp('pod1', pod('pod3')));
        expect(d.verdict).toBe('Unreachable');
        expect(d.suspicions.find((s) => s.code === 'RouteInvalid' && s.node === 'node2')?.message).toContain('blackhole');
        const s = d.suspicions.find((x) => x.code === 'RouteMissing' && x.node === 'node2');
        expect(s?.level).toBe('critical');
        expect(s?.message).toContain(`${ip('pod3')} dev ${veth} scope link`);
        expect(await connects(live(), 'pod1', ip('pod3'))).toBe(false);
      } finally {
        ipIn(node('node2'), ['route', 'add', `${ip('pod3')}/32`, 'dev', veth, 'scope', 'link']);
      }
    });

    it('the route to the remote block deleted: RouteMissing on node1 names the expected route; the kernel cannot connect', async () => {
      const block = live().nodes.node2?.podCIDR ?? '';
      const routes = JSON.parse(ipIn(node('node1'), ['-j', 'route', 'show', block])) as { dst: string }[];
      expect(routes).toHaveLength(1);
      const spec = mode === 'bgp' ? [block, 'via', live().nodes.node2?.ip ?? '', 'dev', 'eth0', 'proto', 'bird'] : [block, 'via', '192.168.97.128', 'dev', VXLAN_DEVICE, 'onlink'];
      ipIn(node('node1'), ['route', 'del', block]);
      try {
        const d = run1(live(), tcp('pod1', pod('pod3')));
        expect(d.verdict).not.toBe('Reachable');
        const s = d.suspicions.find((x) => x.code === 'RouteMissing' && x.node === 'node1' && x.message.includes('no route of calico'));
        expect(s?.level).toBe('critical');
        expect(s?.message).toContain(mode === 'bgp' ? `${block} via ${live().nodes.node2?.ip ?? ''} proto bird` : `${block} via 192.168.97.128 dev ${VXLAN_DEVICE} onlink`);
        expect(await connects(live(), 'pod1', ip('pod3'))).toBe(false);
      } finally {
        ipIn(node('node1'), ['route', 'add', ...spec]);
      }
    });

    if (mode === 'vxlan') {
      it('the FDB entry of node2\'s VTEP deleted on node1: VxlanFdbMissing, and the kernel agrees', async () => {
        const fdb = JSON.parse(run('ip', ['netns', 'exec', node('node1'), 'bridge', '-j', 'fdb', 'show', 'dev', VXLAN_DEVICE])) as { mac: string; dst?: string }[];
        const entry = fdb.find((e) => e.dst === live().nodes.node2?.ip);
        if (entry === undefined) throw new Error(`no FDB entry to node2: ${JSON.stringify(fdb)}`);
        run('ip', ['netns', 'exec', node('node1'), 'bridge', 'fdb', 'del', entry.mac, 'dev', VXLAN_DEVICE, 'dst', entry.dst ?? '', 'self']);
        try {
          const d = run1(live(), tcp('pod1', pod('pod3')));
          expect(d.verdict).toBe('Unreachable');
          const mine = d.suspicions.filter((s) => s.code === 'VxlanFdbMissing');
          expect(mine.map((s) => s.level).sort()).toEqual(['critical', 'fatal']);
          expect(mine.every((s) => s.message.includes(entry.mac))).toBe(true);
          expect(await connects(live(), 'pod1', ip('pod3'))).toBe(false);
        } finally {
          run('ip', ['netns', 'exec', node('node1'), 'bridge', 'fdb', 'add', entry.mac, 'dev', VXLAN_DEVICE, 'dst', entry.dst ?? '', 'self', 'permanent']);
        }
      });

      it('a pod MTU above the tunnel\'s: MTUMismatch, and a full-size packet of the pod does not pass', async () => {
        const pod1 = live().pods.pod1;
        if (pod1 === undefined) throw new Error('no pod1');
        ipIn(pod1.ns, ['link', 'set', 'eth0', 'mtu', '1500']);
        ipIn(node('node1'), ['link', 'set', pod1.hostVeth, 'mtu', '1500']);
        try {
          const d = run1(live(), tcp('pod1', pod('pod3')));
          const s = d.suspicions.find((x) => x.code === 'MTUMismatch' && x.node === 'default/pod1');
          expect(s?.message).toContain(`(${VXLAN_MTU})`);
          const big = await execIn(pod1.ns, 'ping', ['-c', '1', '-n', '-W', '1', '-M', 'do', '-s', '1472', ip('pod3')], { allowFailure: true });
          const small = await execIn(pod1.ns, 'ping', ['-c', '1', '-n', '-W', '1', '-M', 'do', '-s', String(VXLAN_MTU - 28), ip('pod3')], { allowFailure: true });
          expect({ big: big.code === 0, small: small.code === 0 }).toEqual({ big: false, small: true });
        } finally {
          ipIn(pod1.ns, ['link', 'set', 'eth0', 'mtu', String(VXLAN_MTU)]);
          ipIn(node('node1'), ['link', 'set', pod1.hostVeth, 'mtu', String(VXLAN_MTU)]);
        }
      });
    }
  });
});
