// The bridge plugin on the recorded bridge-CNI cluster (dumps of namespaces the real `bridge` and
// `host-local` CNI plugins set up, and the nodes' conflist; no root needed): healthy queries raise
// nothing fatal or critical; each fault, made by editing one recorded dump in memory, gives the
// suspicion naming the device, address, route or sysctl at fault.
import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { diagnose, type ClusterState, type Diagnosis, type DiagnosisQuery, type NetnsDumps } from '../../src/diagnosis/index.js';
import { bridgePlugin } from '../../src/diagnosis/plugins/bridge.js';

import { loadRecordedCluster, readRecordedCniConfigs, withCniConfigs } from '../support/recorded-cluster.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/bridge', import.meta.url));
const CNI = readRecordedCniConfigs(FIXTURES);

type Edit = (id: string, dumps: NetnsDumps) => NetnsDumps;
type DumpKey = 'routes' | 'sysctls' | 'links' | 'addresses' | 'iptablesSave';

function load(edit?: Edit, cni = CNI): ClusterState {
  return withCniConfigs(loadRecordedCluster(FIXTURES, edit), cni);
}

const pod = (name: string): DiagnosisQuery['source'] => ({ kind: 'pod', namespace: 'default', name });
const node = (name: string): DiagnosisQuery['source'] => ({ kind: 'node', name });
const tcp = (source: DiagnosisQuery['source'], destination: DiagnosisQuery['destination'], port = 8080): DiagnosisQuery => ({ source, destination, port, protocol: 'TCP' });

function run(state: ClusterState, q: DiagnosisQuery): Diagnosis {
  return diagnose(state, q, { plugins: [bridgePlugin] });
}

function serious(d: Diagnosis): string[] {
  return d.suspicions.filter((s) => s.level === 'fatal' || s.level === 'critical').map((s) => `${s.node} ${s.code}: ${s.message}`);
}

function explain(d: Diagnosis): string {
  return JSON.stringify({ verdict: d.verdict, suspicions: d.suspicions, path: d.packetPath.nodes.map((n) => n.id), warnings: d.warnings }, null, 1);
}

/** Edits one dump of one namespace (`nodes/NAME` or `pods/NAME`). */
function editDump(target: string, key: DumpKey, change: (text: string) => string): Edit {
  return (id, dumps) => (id === target ? { ...dumps, [key]: { ...dumps[key], text: change(dumps[key].text) } } : dumps);
}

/** Edits the JSON array of a dump (links, addresses, routes). */
function editJson(target: string, key: DumpKey, change: (entries: Record<string, unknown>[]) => Record<string, unknown>[]): Edit {
  return editDump(target, key, (text) => JSON.stringify(change(JSON.parse(text) as Record<string, unknown>[])));
}

/** The name of the host veth of a recorded pod (the peer of its eth0) on its node. */
function hostVethOf(podName: string, nodeName: string): string {
  const state = loadRecordedCluster(FIXTURES);
  const podRecord = state.netns.pods[`default/${podName}`];
  const nodeRecord = state.netns.nodes[nodeName];
  if (podRecord?.kind !== 'present' || nodeRecord?.kind !== 'present') throw new Error('the fixture lacks a namespace');
  const eth0 = podRecord.state.routing.links.get('eth0');
  const veth = nodeRecord.state.routing.linkList.find((l) => l.ifindex === eth0?.linkIndex);
  if (veth === undefined) throw new Error(`no host veth of ${podName} on ${nodeName}`);
  return veth.name;
}

describe('healthy recorded bridge-CNI cluster', () => {
  const healthy = load();
  it.each<[string, DiagnosisQuery, string[]]>([
    ['pod → pod on one node', tcp(pod('pod1'), pod('pod3')), ['default/pod1', 'node1', 'default/pod3']],
    ['pod → pod across nodes', tcp(pod('pod1'), pod('pod2')), ['default/pod1', 'node1', 'node2', 'default/pod2']],
    ['pod → pod across nodes, the third node', tcp(pod('pod2'), pod('pod4')), ['default/pod2', 'node2', 'node3', 'default/pod4']],
    ['pod → another node', tcp(pod('pod1'), node('node2'), 10250), ['default/pod1', 'node1', 'node2']],
    ['pod → its own node', tcp(pod('pod1'), node('node1'), 10250), ['default/pod1', 'node1']],
    ['node → pod on another node', tcp(node('node1'), pod('pod2')), ['node1', 'node2', 'default/pod2']],
    ['node → pod on the node', tcp(node('node1'), pod('pod3')), ['node1', 'default/pod3']],
  ])('%s: Reachable, no fatal or critical suspicion', (_name, q, path) => {
    const d = run(healthy, q);
    expect({ verdict: d.verdict, serious: serious(d), path: d.packetPath.nodes.map((n) => n.id) }).toEqual({ verdict: 'Reachable', serious: [], path });
    expect(d.suspicions.filter((s) => s.level === 'warning')).toEqual([]);
  });

  it('pod → service through kube-proxy rules on top of the CNI chains: Reachable', () => {
    const d = run(healthy, tcp(pod('pod1'), { kind: 'service', namespace: 'default', name: 'svc1' }, 80));
    expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
  });

  it('masquerades pod traffic leaving the node (ipMasq): pod1 reaches node2 as node1', () => {
    const d = run(healthy, tcp(pod('pod1'), node('node2'), 10250));
    const nat = d.packetPath.nodes.find((n) => n.id === 'node1')?.actions.filter((a) => a.kind === 'nat' && a.direction === 'request');
    expect(nat?.map((a) => (a.kind === 'nat' ? `${a.nat} ${a.before} > ${a.after}` : ''))).toEqual(['MASQUERADE 10.244.0.2:40000 > 10.99.0.11:40000']);
  });
});

describe('a node that has never held a pod', () => {
  // The bridge plugin creates cni0 and turns forwarding on at its first ADD: node3 without pod4, as
  // a fresh node is, has neither, and needs neither to send from its own address.
  const fresh = (() => {
    const state = load(
      (id, dumps) =>
        id === 'nodes/node3'
          ? {
              ...dumps,
              sysctls: { ...dumps.sysctls, text: dumps.sysctls.text.replace(/(\.forwarding|ip_forward) = 1/g, '$1 = 0') },
              links: { ...dumps.links, text: JSON.stringify((JSON.parse(dumps.links.text) as { ifname: string; master?: string }[]).filter((l) => l.ifname !== 'cni0' && l.master !== 'cni0')) },
            }
          : dumps,
    );
    return { ...state, objects: { ...state.objects, pods: state.objects.pods.filter((p) => p.spec.nodeName !== 'node3') } };
  })();

  it('node → pod from it: Reachable, no missing cni0 nor forwarding named on it', () => {
    const d = run(fresh, tcp(node('node3'), pod('pod2')));
    expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
    expect(d.suspicions.filter((s) => s.node === 'node3' && (s.code === 'LinkMissing' || s.code === 'ForwardingDisabled'))).toEqual([]);
  });

  it('the same node with a pod bound to it again: both are named', () => {
    const withPod = { ...fresh, objects: { ...fresh.objects, pods: [...fresh.objects.pods, ...load().objects.pods.filter((p) => p.spec.nodeName === 'node3')] } };
    const codes = run(withPod, tcp(node('node3'), pod('pod2'))).suspicions.filter((s) => s.node === 'node3').map((s) => `${s.level} ${s.code}`);
    expect(codes).toEqual(expect.arrayContaining(['critical LinkMissing', 'critical ForwardingDisabled']));
  });
});

interface Fault {
  readonly name: string;
  readonly edit: Edit;
  readonly query: DiagnosisQuery;
  readonly verdict: Diagnosis['verdict'];
  /** The suspicion of the bridge plugin: node, code, level, a part of the message. */
  readonly expected: { readonly node: string; readonly code: string; readonly level: string; readonly contains: readonly string[] };
}

const toPod2 = tcp(pod('pod1'), pod('pod2'));
const pod2Veth = hostVethOf('pod2', 'node2');
const setFlags = (name: string, flags: readonly string[]) => (links: Record<string, unknown>[]) => links.map((l) => (l.ifname === name ? { ...l, flags } : l));

const faults: Fault[] = [
  {
    name: "inter-node route missing (node1 has no route to node2's podCIDR, the default route remains)",
    edit: editJson('nodes/node1', 'routes', (rs) => rs.filter((r) => r.dst !== '10.244.1.0/24')),
    query: toPod2,
    verdict: 'Inconclusive',
    expected: { node: 'node1', code: 'RouteMissing', level: 'critical', contains: ['10.244.1.0/24', '10.99.0.12 (node node2)', 'only the default route'] },
  },
  {
    name: 'inter-node route and default route missing',
    edit: editJson('nodes/node1', 'routes', (rs) => rs.filter((r) => r.dst !== '10.244.1.0/24' && r.dst !== 'default')),
    query: toPod2,
    verdict: 'Unreachable',
    expected: { node: 'node1', code: 'RouteMissing', level: 'fatal', contains: ['static route 10.244.1.0/24 via 10.99.0.12 (node node2) is missing on node1'] },
  },
  {
    // As the kernel leaves it: the device down and the routes through it gone.
    name: 'cni0 down on the source node',
    edit: (id, dumps) =>
      editJson('nodes/node1', 'routes', (rs) => rs.filter((r) => r.dev !== 'cni0'))(id, editJson('nodes/node1', 'links', setFlags('cni0', ['NO-CARRIER', 'BROADCAST', 'MULTICAST']))(id, dumps)),
    query: toPod2,
    verdict: 'Unreachable',
    expected: { node: 'node1', code: 'LinkDown', level: 'critical', contains: ['cni0 is down on node1', '10-bridge.conflist'] },
  },
  {
    name: "the destination pod's veth not enslaved to cni0 (nomaster)",
    edit: editJson('nodes/node2', 'links', (ls) =>
      ls.map((l) => {
        if (l.ifname !== pod2Veth) return l;
        const { master: _master, linkinfo, ...rest } = l;
        const { info_slave_kind: _kind, info_slave_data: _data, ...info } = linkinfo as Record<string, unknown>;
        return { ...rest, linkinfo: info };
      }),
    ),
    query: toPod2,
    verdict: 'Unreachable',
    expected: { node: 'node2', code: 'LinkMissing', level: 'critical', contains: [`${pod2Veth} on node2`, 'is not a port of cni0 (it has no master)'] },
  },
  {
    name: 'the source pod without a default route',
    edit: editJson('pods/pod1', 'routes', (rs) => rs.filter((r) => r.dst !== 'default')),
    query: toPod2,
    verdict: 'Unreachable',
    expected: { node: 'default/pod1', code: 'RouteMissing', level: 'critical', contains: ['pod default/pod1 has no route default via 10.244.0.1 dev eth0'] },
  },
  {
    name: 'ip_forward=0 on the destination node',
    edit: editDump('nodes/node2', 'sysctls', (t) => t.replace(/(\.forwarding|ip_forward) = 1/g, '$1 = 0')),
    query: toPod2,
    verdict: 'Unreachable',
    expected: { node: 'node2', code: 'ForwardingDisabled', level: 'critical', contains: ['net.ipv4.ip_forward=0', 'isGateway'] },
  },
  {
    name: 'the gateway address removed from cni0 on the source node',
    edit: editJson('nodes/node1', 'addresses', (as) =>
      as.map((a) => (a.ifname === 'cni0' ? { ...a, addr_info: (a.addr_info as { local: string }[]).filter((i) => i.local !== '10.244.0.1') } : a)),
    ),
    query: toPod2,
    verdict: 'Unreachable',
    expected: { node: 'node1', code: 'AddressMissing', level: 'critical', contains: ['cni0 on node1 does not hold 10.244.0.1/24'] },
  },
  {
    name: "an MTU mismatch between the destination pod's eth0 and its veth",
    edit: editJson('pods/pod2', 'links', (ls) => ls.map((l) => (l.ifname === 'eth0' ? { ...l, mtu: 1400 } : l))),
    query: toPod2,
    verdict: 'Reachable',
    expected: { node: 'node2', code: 'MTUMismatch', level: 'warning', contains: ['eth0 of pod default/pod2 has MTU 1400', `${pod2Veth} on node2`] },
  },
  {
    name: 'hairpin off on the port of the source pod',
    edit: editJson('nodes/node1', 'links', (ls) =>
      ls.map((l) => {
        const info = l.linkinfo as { info_slave_kind?: string; info_slave_data?: Record<string, unknown> } | undefined;
        return info?.info_slave_kind === 'bridge' ? { ...l, linkinfo: { ...info, info_slave_data: { ...info.info_slave_data, hairpin: false } } } : l;
      }),
    ),
    query: toPod2,
    verdict: 'Reachable',
    expected: { node: 'node1', code: 'HairpinDisabled', level: 'warning', contains: ['hairpin is off', 'port of pod default/pod1 on cni0'] },
  },
  {
    name: "the bridge plugin's masquerade rule of the source pod missing",
    edit: editDump('nodes/node1', 'iptablesSave', (t) => t.split('\n').filter((l) => !l.startsWith('-A POSTROUTING -s 10.244.0.2/32')).join('\n')),
    query: tcp(pod('pod1'), node('node2'), 10250),
    verdict: 'Reachable',
    expected: { node: 'node1', code: 'MasqueradeMissing', level: 'warning', contains: ['10.244.0.2 (pod default/pod1)', 'ipMasq'] },
  },
];

describe('faults made by editing one recorded dump', () => {
  it.each(faults)('$name', (fault) => {
    const d = run(load(fault.edit), fault.query);
    expect(d.verdict).toBe(fault.verdict);
    const match = d.suspicions.find((s) => s.node === fault.expected.node && s.code === fault.expected.code && fault.expected.contains.every((c) => s.message.includes(c)));
    if (match === undefined) throw new Error(`expected ${fault.expected.code} on ${fault.expected.node} missing: ${explain(d)}`);
    expect(match.level).toBe(fault.expected.level);
  });
});

describe('the CNI configuration', () => {
  it('an unreadable conflist is a warning naming the file and field, and no layout check runs', () => {
    const broken = { ...CNI, node1: [{ path: '/etc/cni/net.d/10-bridge.conflist', content: '{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","isGateway":"yes","ipam":{"type":"host-local","subnet":"10.244.0.0/24"}}]}' }] };
    const d = run(load(undefined, broken), toPod2);
    expect(d.verdict).toBe('Reachable');
    expect(d.suspicions).toContainEqual({
      level: 'warning',
      node: 'node1',
      code: 'UnsupportedConfig',
      message: 'the CNI configuration of node1 cannot be read: /etc/cni/net.d/10-bridge.conflist: plugins[0].isGateway: must be true or false, not "yes"',
    });
  });

  it('the runtime takes the first file in lexical order: a flannel conflist before it means the node is not bridge-managed', () => {
    const other = { path: '/etc/cni/net.d/05-flannel.conflist', content: '{"cniVersion":"1.0.0","name":"cbr0","plugins":[{"type":"flannel","delegate":{"hairpinMode":true}}]}' };
    const state = load(editJson('nodes/node1', 'links', setFlags('cni0', ['BROADCAST', 'MULTICAST'])), { ...CNI, node1: [other, ...(CNI.node1 ?? [])] });
    const d = run(state, toPod2);
    expect(d.suspicions.filter((s) => s.message.includes('10-bridge.conflist'))).toEqual([]);
  });

  it('a state without CNI configuration gets no bridge check at all', () => {
    const d = diagnose(loadRecordedCluster(FIXTURES, editJson('nodes/node1', 'routes', (rs) => rs.filter((r) => r.dst !== '10.244.1.0/24'))), toPod2, { plugins: [bridgePlugin] });
    expect(d.suspicions.filter((s) => s.message.includes('conflist'))).toEqual([]);
  });
});
