// The diagnostor on the two-node cluster with flannel's VXLAN layout between the nodes: the walk
// follows flannel.1 through its neighbour and FDB entries to the remote VTEP's node, and a missing
// FDB entry is named. The real kernel agrees.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { diagnose, type DiagnosisQuery } from '../../src/diagnosis/index.js';
import { buildMiniCluster, POD_PORT, VXLAN_DEVICE, type MiniCluster } from '../support/mini-cluster.js';
import { run } from '../support/netns.js';
import { probeTcp } from '../support/packet-probe.js';
import { describeAsRoot } from '../support/root.js';
import { withoutProviderNote } from '../support/provider-note.js';

const toPod2: DiagnosisQuery = { source: { kind: 'pod', namespace: 'default', name: 'pod1' }, destination: { kind: 'pod', namespace: 'default', name: 'pod2' }, port: POD_PORT, protocol: 'TCP' };

describeAsRoot('diagnose across a VXLAN overlay (flannel layout) of namespaces', () => {
  let cluster: MiniCluster;
  beforeAll(async () => {
    cluster = await buildMiniCluster('ndvx', 'vxlan');
  }, 30_000);
  afterAll(async () => {
    await cluster.teardown();
  });

  const connects = async (): Promise<boolean> => (await probeTcp(cluster.pods.pod1?.ns ?? '', { dst: '10.244.1.5', dport: POD_PORT, timeoutMs: 800 })).outcome === 'connected';

  it('pod to pod across nodes is Reachable through flannel.1, with the path MTU as the only remark', async () => {
    const d = diagnose(cluster.dump(), toPod2);
    expect({ verdict: d.verdict, serious: d.suspicions.filter((s) => s.level === 'fatal' || s.level === 'critical') }).toEqual({ verdict: 'Reachable', serious: [] });
    expect(d.packetPath.nodes.map((n) => n.id)).toEqual(['default/pod1', 'node1', 'node2', 'default/pod2']);
    const overlay = d.packetPath.links.find((l) => l.direction === 'request' && l.type === 'vxlan');
    expect(overlay).toMatchObject({ source: 'node1', destination: 'node2', attributes: { sourceInterface: VXLAN_DEVICE, destinationInterface: VXLAN_DEVICE, vni: '1', remote: '10.99.0.12' } });
    // The pods keep MTU 1500 over a 1450 tunnel: a warning on each sender.
    expect(withoutProviderNote(d.suspicions).map((s) => `${s.level} ${s.node} ${s.code}`)).toEqual(['warning default/pod1 MTUMismatch', 'warning default/pod2 MTUMismatch']);
    expect(await connects()).toBe(true);
  });

  it('without the FDB entry for the remote VTEP: Unreachable, VxlanFdbMissing on node1, and the kernel agrees', async () => {
    const ns = cluster.nodes.node1?.ns ?? '';
    const fdb = JSON.parse(run('ip', ['netns', 'exec', ns, 'bridge', '-j', 'fdb', 'show', 'dev', VXLAN_DEVICE])) as { mac: string; dst?: string }[];
    const entry = fdb.find((e) => e.dst === '10.99.0.12');
    if (entry === undefined) throw new Error(`no FDB entry to 10.99.0.12: ${JSON.stringify(fdb)}`);
    run('ip', ['netns', 'exec', ns, 'bridge', 'fdb', 'del', entry.mac, 'dev', VXLAN_DEVICE, 'dst', '10.99.0.12']);
    try {
      const d = diagnose(cluster.dump(), toPod2);
      expect(d.verdict).toBe('Unreachable');
      const s = d.suspicions.find((x) => x.code === 'VxlanFdbMissing');
      expect(s).toMatchObject({ level: 'fatal', node: 'node1' });
      expect(s?.message).toContain(entry.mac);
      expect(await connects()).toBe(false);
    } finally {
      run('ip', ['netns', 'exec', ns, 'bridge', 'fdb', 'append', entry.mac, 'dev', VXLAN_DEVICE, 'dst', '10.99.0.12']);
    }
  });

  it.each([
    ['node2 drops the VXLAN port in INPUT', 'node2', ['-I', 'INPUT', '-p', 'udp', '--dport', '8472', '-j', 'DROP'], 'filter INPUT (INPUT)'],
    ['node1 drops it in OUTPUT', 'node1', ['-I', 'OUTPUT', '-p', 'udp', '--dport', '8472', '-j', 'DROP'], 'filter OUTPUT (OUTPUT)'],
  ])('%s: the encapsulated packet is dropped, Unreachable with the rule named, and the kernel agrees', async (_name, node, rule, where) => {
    const ns = cluster.nodes[node]?.ns ?? '';
    run('ip', ['netns', 'exec', ns, 'iptables', ...rule]);
    try {
      const d = diagnose(cluster.dump(), toPod2);
      expect(d.verdict).toBe('Unreachable');
      const s = d.suspicions.find((x) => x.code === 'IptablesDrop' && x.node === node);
      expect(s?.message).toContain('the VXLAN packet udp');
      expect(s?.message).toContain(`iptables ${where}`);
      expect(s?.message).toContain('--dport 8472 -j DROP');
      expect(await connects()).toBe(false);
    } finally {
      run('ip', ['netns', 'exec', ns, 'iptables', '-D', ...rule.slice(1)]);
    }
  });
});
