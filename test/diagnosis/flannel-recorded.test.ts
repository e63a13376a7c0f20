// The flannel plugin on golden dumps of namespaces programmed by the real flanneld (vxlan and
// host-gw, --kube-subnet-mgr, --ip-masq) and the real flannel CNI plugin (no root needed): healthy
// queries raise no fatal or critical suspicion; each fault, made by editing one recorded dump, is
// named by the check that knows flannel's layout (the expected route or entry and what is there).
import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { buildPacket, diagnose, flannelPlugin, parseIp, type ClusterState, type Diagnosis, type DiagnosisQuery, type IpAddress, type NetnsDumps, type NetnsRef } from '../../src/diagnosis/index.js';
import { loadRecordedCluster } from '../support/recorded-cluster.js';
import { withoutProviderNote } from '../support/provider-note.js';

type Backend = 'vxlan' | 'host-gw';
const fixtures = (backend: Backend): string => fileURLToPath(new URL(`./fixtures/flannel-${backend}`, import.meta.url));
const healthy: Record<Backend, ClusterState> = { vxlan: loadRecordedCluster(fixtures('vxlan')), 'host-gw': loadRecordedCluster(fixtures('host-gw')) };

const pod = (name: string): DiagnosisQuery['source'] => ({ kind: 'pod', namespace: 'default', name });
const node = (name: string): DiagnosisQuery['source'] => ({ kind: 'node', name });
const tcp = (source: DiagnosisQuery['source'], destination: DiagnosisQuery['destination'], port = 8080): DiagnosisQuery => ({ source, destination, port, protocol: 'TCP' });
const run = (state: ClusterState, q: DiagnosisQuery): Diagnosis => diagnose(state, q, { plugins: [flannelPlugin] });

function serious(d: Diagnosis): string[] {
  return d.suspicions.filter((s) => s.level === 'fatal' || s.level === 'critical').map((s) => `${s.node} ${s.code}: ${s.message}`);
}

describe.each<[Backend]>([['vxlan'], ['host-gw']])('healthy flannel-%s cluster', (backend) => {
  it.each<[string, DiagnosisQuery, string[]]>([
    ['pod → pod across nodes', tcp(pod('pod1'), pod('pod2')), ['default/pod1', 'node1', 'node2', 'default/pod2']],
    ['pod → pod on one node', tcp(pod('pod1'), pod('pod3')), ['default/pod1', 'node1', 'default/pod3']],
    ['pod → pod on the third node', tcp(pod('pod2'), pod('pod4')), ['default/pod2', 'node2', 'node3', 'default/pod4']],
    ['node → pod', tcp(node('node1'), pod('pod2')), ['node1', 'node2', 'default/pod2']],
    ['pod → node (ICMP)', { source: pod('pod1'), destination: node('node2'), port: 0, protocol: 'ICMP' }, ['default/pod1', 'node1', 'node2']],
    ['pod → service', tcp(pod('pod1'), { kind: 'service', namespace: 'default', name: 'svc1' }, 80), ['default/pod1', 'node1', 'node2', 'default/pod2', 'default/pod3']],
  ])('%s: Reachable, no fatal or critical suspicion', (_name, q, path) => {
    const d = run(healthy[backend], q);
    expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
    expect(d.packetPath.nodes.map((n) => n.id)).toEqual(path);
  });

  it('pod → an address outside the cluster: Reachable up to the gateway, masqueraded, named as leaving the cluster', () => {
    const d = run(healthy[backend], tcp(pod('pod1'), { kind: 'ip', ip: '203.0.113.10' }, 443));
    expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
    expect(d.packetPath.nodes.map((n) => n.id)).toEqual(['default/pod1', 'node1', '10.99.0.1']);
    const leaves = d.suspicions.filter((s) => s.code === 'LeavesCluster');
    expect(leaves).toEqual([expect.objectContaining({ level: 'info', node: 'node1' })]);
    // flannel's --ip-masq rules rewrite the source to the node's address before it leaves.
    expect(leaves[0]?.message).toMatch(/^node1 sends tcp 10\.99\.0\.11:\d+ > 203\.0\.113\.10:443 out of eth0 to 10\.99\.0\.1, outside the cluster/);
  });

  it('no suspicion at all from the flannel checks on the healthy cluster', () => {
    const d = run(healthy[backend], tcp(pod('pod1'), pod('pod2')));
    expect(withoutProviderNote(d.suspicions).map((s) => `${s.level} ${s.node} ${s.code}`)).toEqual([]);
  });
});

// ---- faults made by editing one recorded dump ---------------------------------------------------

type Edit = (id: string, dumps: NetnsDumps) => NetnsDumps;
type Key = 'routes' | 'links' | 'fdb' | 'neighbors' | 'sysctls';

function edit(target: string, key: Key, change: (text: string) => string): Edit {
  return (id, dumps) => {
    if (id !== target) return dumps;
    const dump = dumps[key];
    return dump === undefined ? dumps : { ...dumps, [key]: { ...dump, text: change(dump.text) } };
  };
}

function editJson<T>(change: (entries: T[]) => T[]): (text: string) => string {
  return (text) => JSON.stringify(change(JSON.parse(text) as T[]));
}

interface RawRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  table?: string;
}
interface RawLink {
  ifname: string;
  flags: string[];
  mtu: number;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

const onLink = (name: string, change: (l: RawLink) => void) =>
  editJson<RawLink>((links) =>
    links.map((l) => {
      if (l.ifname === name) change(l);
      return l;
    }),
  );
const down = (l: RawLink): void => {
  l.flags = l.flags.filter((f) => f !== 'UP' && f !== 'LOWER_UP');
};
const dropRoute = (dst: string) => editJson<RawRoute>((routes) => routes.filter((r) => !(r.dst === dst && (r.table ?? 'main') === 'main')));
const rerouteVia = (dst: string, gateway: string) =>
  editJson<RawRoute>((routes) =>
    routes.map((r) => (r.dst === dst && (r.table ?? 'main') === 'main' ? { ...r, gateway } : r)),
  );

interface FaultCase {
  readonly name: string;
  readonly backend: Backend;
  readonly edit: Edit;
  readonly query?: DiagnosisQuery;
  /** The suspicion expected: `NODE CODE`, and words its message must contain. */
  readonly expect: { readonly at: string; readonly code: string; readonly level?: string; readonly contains: readonly string[] };
  readonly verdict?: Diagnosis['verdict'];
}

const across = tcp(pod('pod1'), pod('pod2'));

const faults: FaultCase[] = [
  {
    name: 'route to node2 deleted (vxlan)',
    backend: 'vxlan',
    edit: edit('nodes/node1', 'routes', dropRoute('10.244.1.0/24')),
    expect: { at: 'node1', code: 'RouteMissing', level: 'critical', contains: ['10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink', 'node node2', 'public-ip 10.99.0.12', 'default via 10.99.0.1 dev eth0'] },
    verdict: 'Inconclusive',
  },
  {
    name: 'route to node2 deleted (host-gw)',
    backend: 'host-gw',
    edit: edit('nodes/node1', 'routes', dropRoute('10.244.1.0/24')),
    expect: { at: 'node1', code: 'RouteMissing', level: 'critical', contains: ['10.244.1.0/24 via 10.99.0.12 dev eth0', 'backend-type host-gw'] },
    verdict: 'Inconclusive',
  },
  {
    name: 'route to node2 via the wrong gateway (vxlan: node3 VTEP)',
    backend: 'vxlan',
    edit: edit('nodes/node1', 'routes', rerouteVia('10.244.1.0/24', '10.244.2.0')),
    expect: { at: 'node1', code: 'RouteInvalid', level: 'critical', contains: ['"10.244.1.0/24 via 10.244.2.0 dev flannel.1 onlink"', 'installs "10.244.1.0/24 via 10.244.1.0 dev flannel.1 onlink"'] },
  },
  {
    name: 'route to node2 via the wrong gateway (host-gw: node3)',
    backend: 'host-gw',
    edit: edit('nodes/node1', 'routes', rerouteVia('10.244.1.0/24', '10.99.0.13')),
    expect: { at: 'node1', code: 'RouteInvalid', level: 'critical', contains: ['"10.244.1.0/24 via 10.99.0.13 dev eth0"', 'installs "10.244.1.0/24 via 10.99.0.12 dev eth0"'] },
  },
  {
    name: 'flannel.1 down',
    backend: 'vxlan',
    edit: edit('nodes/node1', 'links', onLink('flannel.1', down)),
    // The kernel drops the routes through a device that is down: the packet takes the default route out of the cluster.
    expect: { at: 'node1', code: 'LinkDown', level: 'critical', contains: ['flannel.1 is down on node1', "flannel's VXLAN device"] },
    verdict: 'Inconclusive',
  },
  {
    name: 'FDB entry for node2 gone',
    backend: 'vxlan',
    edit: edit('nodes/node1', 'fdb', editJson<{ dst?: string }>((entries) => entries.filter((e) => e.dst !== '10.99.0.12'))),
    expect: { at: 'node1', code: 'VxlanFdbMissing', level: 'critical', contains: ['dev flannel.1 dst 10.99.0.12 self permanent', 'node node2'] },
    verdict: 'Unreachable',
  },
  {
    name: 'neighbour of node2 VTEP gone',
    backend: 'vxlan',
    edit: edit('nodes/node1', 'neighbors', editJson<{ dst: string }>((entries) => entries.filter((e) => e.dst !== '10.244.1.0'))),
    expect: { at: 'node1', code: 'NeighborMissing', level: 'critical', contains: ['10.244.1.0 dev flannel.1 lladdr', 'PERMANENT'] },
    verdict: 'Unreachable',
  },
  {
    name: 'neighbour of node2 VTEP with the wrong MAC',
    backend: 'vxlan',
    edit: edit('nodes/node1', 'neighbors', editJson<{ dst: string; lladdr?: string }>((entries) => entries.map((e) => (e.dst === '10.244.1.0' ? { ...e, lladdr: '02:00:00:00:00:99' } : e)))),
    expect: { at: 'node1', code: 'NeighborMissing', level: 'critical', contains: ['is 02:00:00:00:00:99 PERMANENT', "node2's VtepMAC"] },
  },
  {
    name: 'wrong VNI on flannel.1',
    backend: 'vxlan',
    edit: edit('nodes/node1', 'links', onLink('flannel.1', (l) => ((l.linkinfo?.info_data ?? {}).id = 2))),
    expect: { at: 'node1', code: 'TunnelMisconfigured', level: 'critical', contains: ['VNI 2', 'says VNI 1'] },
    verdict: 'Unreachable',
  },
  {
    name: 'wrong dstport on flannel.1',
    backend: 'vxlan',
    edit: edit('nodes/node1', 'links', onLink('flannel.1', (l) => ((l.linkinfo?.info_data ?? {}).port = 4789))),
    expect: { at: 'node1', code: 'TunnelMisconfigured', level: 'critical', contains: ['UDP port 4789', 'uses 8472'] },
  },
  {
    name: 'flannel.1 MTU too large for the underlay',
    backend: 'vxlan',
    edit: edit('nodes/node1', 'links', onLink('eth0', (l) => (l.mtu = 1400))),
    expect: { at: 'node1', code: 'MTUMismatch', level: 'warning', contains: ['flannel.1 on node1 (1450)', 'eth0 (1400)', 'overhead of 50 bytes (1350)'] },
    verdict: 'Reachable',
  },
  {
    name: "a pod's eth0 MTU larger than flannel.1's",
    backend: 'vxlan',
    edit: edit('pods/pod1', 'links', onLink('eth0', (l) => (l.mtu = 1500))),
    expect: { at: 'default/pod1', code: 'MTUMismatch', level: 'warning', contains: ['eth0 in pod default/pod1 (1500)', 'flannel.1 on node1 (1450)'] },
    verdict: 'Reachable',
  },
  {
    name: 'ip_forward=0 on node2 (vxlan)',
    backend: 'vxlan',
    edit: edit('nodes/node2', 'sysctls', (t) => t.replace(/(\.forwarding|ip_forward) = 1/g, '$1 = 0')),
    expect: { at: 'node2', code: 'ForwardingDisabled', level: 'critical', contains: ['net.ipv4.ip_forward=0 on node2', 'between cni0 and flannel.1'] },
    verdict: 'Unreachable',
  },
  {
    name: 'ip_forward=0 on node1 (host-gw)',
    backend: 'host-gw',
    edit: edit('nodes/node1', 'sysctls', (t) => t.replace(/(\.forwarding|ip_forward) = 1/g, '$1 = 0')),
    expect: { at: 'node1', code: 'ForwardingDisabled', level: 'critical', contains: ['net.ipv4.ip_forward=0 on node1', 'between cni0 and eth0'] },
    verdict: 'Unreachable',
  },
  {
    name: 'cni0 down on node2',
    backend: 'host-gw',
    edit: edit('nodes/node2', 'links', onLink('cni0', down)),
    expect: { at: 'node2', code: 'LinkDown', level: 'critical', contains: ['cni0 is down on node2', 'flannel CNI plugin'] },
    verdict: 'Inconclusive',
  },
  {
    name: 'cni0 without the gateway address',
    backend: 'vxlan',
    edit: (id, dumps) => (id === 'nodes/node2' ? { ...dumps, addresses: { ...dumps.addresses, text: dumps.addresses.text.replace('"local":"10.244.1.1"', '"local":"10.244.9.1"') } } : dumps),
    expect: { at: 'node2', code: 'AddressMissing', level: 'critical', contains: ['cni0 on node2 holds 10.244.9.1/24, not 10.244.1.1/24', 'podCIDR 10.244.1.0/24'] },
  },
  {
    name: 'br_netfilter off while kube-proxy rules are loaded',
    backend: 'vxlan',
    edit: edit('nodes/node1', 'sysctls', (t) => t.replace('net.bridge.bridge-nf-call-iptables = 1', 'net.bridge.bridge-nf-call-iptables = 0')),
    query: tcp(pod('pod1'), pod('pod3')),
    expect: { at: 'node1', code: 'BridgeNetfilterDisabled', level: 'warning', contains: ['net.bridge.bridge-nf-call-iptables is 0 on node1', 'nat KUBE-SERVICES'] },
  },
];

describe('faults made by editing one recorded dump', () => {
  it.each(faults.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    const d = run(loadRecordedCluster(fixtures(f.backend), f.edit), f.query ?? across);
    const found = d.suspicions.filter((s) => s.node === f.expect.at && s.code === f.expect.code && (f.expect.level === undefined || s.level === f.expect.level));
    const message = found.map((s) => s.message).find((m) => f.expect.contains.every((c) => m.includes(c)));
    expect({ message: message !== undefined, all: d.suspicions }).toMatchObject({ message: true });
    if (f.verdict !== undefined) expect(d.verdict).toBe(f.verdict);
  });
});

describe("flannel's --ip-masq (checkNetns with the request packet)", () => {
  const packet = buildPacket({ protocol: 'tcp', src: parseIp('10.244.0.2') as IpAddress, dst: parseIp('192.0.2.80') as IpAddress, sport: 40000, dport: 443 });
  function check(state: ClusterState): string[] {
    const nodeRecord = state.netns.nodes.node1;
    const podRecord = state.netns.pods['default/pod1'];
    if (nodeRecord?.kind !== 'present' || podRecord?.kind !== 'present') throw new Error('fixture without node1 or pod1');
    const node1: NetnsRef = { id: 'node1', type: 'node', nodeName: 'node1', state: nodeRecord.state };
    const pod1: NetnsRef = { id: 'default/pod1', type: 'pod', nodeName: 'node1', state: podRecord.state };
    return (flannelPlugin.checkNetns?.(state, node1, { source: pod1, packet }) ?? []).map((s) => `${s.level} ${s.node} ${s.code}: ${s.message}`);
  }

  it.each<[Backend]>([['vxlan'], ['host-gw']])('flannel-%s: a pod packet leaving the cluster network is masqueraded by FLANNEL-POSTRTG: no suspicion', (backend) => {
    expect(check(healthy[backend])).toEqual([]);
  });

  it('without the FLANNEL-POSTRTG rules (flanneld without --ip-masq): MasqueradeMissing naming the chain', () => {
    const noMasq: Edit = (id, dumps) =>
      id !== 'nodes/node1' || dumps.iptablesSave === undefined
        ? dumps
        : { ...dumps, iptablesSave: { ...dumps.iptablesSave, text: dumps.iptablesSave.text.split('\n').filter((l) => !l.includes('FLANNEL-POSTRTG')).join('\n') } };
    const found = check(loadRecordedCluster(fixtures('vxlan'), noMasq));
    expect(found).toEqual([
      'critical node1 MasqueradeMissing: 10.244.0.2 → 192.0.2.80 leaves node1 by eth0 with the pod\'s own address: no MASQUERADE or SNAT in nat POSTROUTING rewrites it (no chain FLANNEL-POSTRTG: flanneld runs without --ip-masq), and the outside has no route back to the pod network',
    ]);
  });
});
