// The calico plugin on the recorded calico fixtures (BGP, VXLAN, and IPIP by edit; what each
// element is and why: test/support/calico-cluster.ts and each fixture's README.md). Healthy queries
// give no serious suspicion; each check of the plugin is then broken by editing one dump in memory
// and must name what is wrong. No root needed.
import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { diagnose, type ClusterState, type Diagnosis, type DiagnosisQuery, type NetnsDumps, type Suspicion } from '../../src/diagnosis/index.js';
import { calicoPlugin, calicoVethName } from '../../src/diagnosis/plugins/calico.js';
import { CALICO_NODE_PORT, CALICO_POD_PORT, POLICY } from '../support/calico-cluster.js';
import { deferAllNetns, loadRecordedCluster } from '../support/recorded-cluster.js';
import { withoutProviderNote } from '../support/provider-note.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const BGP = fixture('calico-bgp');
const VXLAN = fixture('calico-vxlan');
const IPIP = fixture('calico-ipip');

const pod = (name: string): DiagnosisQuery['source'] => ({ kind: 'pod', namespace: 'default', name });
const tcp = (from: string, to: DiagnosisQuery['destination'], port = CALICO_POD_PORT): DiagnosisQuery => ({ source: pod(from), destination: to, port, protocol: 'TCP' });
const acrossNodes = tcp('pod1', pod('pod3'));
const veth = (name: string): string => calicoVethName('default', name);

function run(state: ClusterState, q: DiagnosisQuery = acrossNodes): Diagnosis {
  return diagnose(state, q, { plugins: [calicoPlugin] });
}

function serious(d: Diagnosis): string[] {
  return d.suspicions.filter((s) => s.level === 'fatal' || s.level === 'critical').map((s) => `${s.node} ${s.code}`);
}

type Json = Record<string, unknown>;

/** Edits one JSON dump of one namespace (`nodes/node1`, `pods/pod1`). */
function editJson(target: string, key: 'links' | 'addresses' | 'routes' | 'neighbors' | 'fdb', edit: (entries: Json[]) => Json[]): (id: string, d: NetnsDumps) => NetnsDumps {
  return (id, d) => {
    const dump = d[key];
    if (id !== target || dump === undefined) return d;
    return { ...d, [key]: { ...dump, text: JSON.stringify(edit(JSON.parse(dump.text) as Json[])) } };
  };
}

/** Sets sysctl lines of one namespace (replacing existing keys). */
function setSysctls(target: string, values: Record<string, string>): (id: string, d: NetnsDumps) => NetnsDumps {
  return (id, d) => {
    if (id !== target) return d;
    const lines = d.sysctls.text.split('\n').map((line) => {
      const key = line.split('=')[0]?.trim() ?? '';
      return key in values ? `${key} = ${values[key] ?? ''}` : line;
    });
    return { ...d, sysctls: { ...d.sysctls, text: lines.join('\n') } };
  };
}

const mapLink = (name: string, f: (l: Json) => Json) => (ls: Json[]): Json[] => ls.map((l) => (l.ifname === name ? f(l) : l));
const dropRoute = (dst: string) => (rs: Json[]): Json[] => rs.filter((r) => r.dst !== dst || (r.table !== undefined && r.table !== 'main'));
const mapRoute = (dst: string, f: (r: Json) => Json) => (rs: Json[]): Json[] => rs.map((r) => (r.dst === dst && (r.table === undefined || r.table === 'main') ? f(r) : r));

describe.each([
  ['calico-bgp', BGP],
  ['calico-vxlan', VXLAN],
])('healthy %s', (_name, dir) => {
  const healthy = loadRecordedCluster(dir);
  it.each<[string, DiagnosisQuery, string[]]>([
    ['pod → pod on one node', tcp('pod1', pod('pod2')), ['default/pod1', 'node1', 'default/pod2']],
    ['pod → pod across nodes', acrossNodes, ['default/pod1', 'node1', 'node2', 'default/pod3']],
    ['pod → node', tcp('pod1', { kind: 'node', name: 'node2' }, CALICO_NODE_PORT), ['default/pod1', 'node1', 'node2']],
    ['node → pod', { source: { kind: 'node', name: 'node2' }, destination: pod('pod2'), port: CALICO_POD_PORT, protocol: 'TCP' }, ['node2', 'node1', 'default/pod2']],
  ])('%s: Reachable, no suspicion at all', (_q, q, path) => {
    const d = run(healthy, q);
    expect({ verdict: d.verdict, suspicions: withoutProviderNote(d.suspicions), path: d.packetPath.nodes.map((n) => n.id) }).toEqual({ verdict: 'Reachable', suspicions: [], path });
    expect(d.warnings).toEqual([]);
  });

  it('pod → pod4 from pod1 is dropped by the NetworkPolicy rendered in cali-tw-*, named with its rule', () => {
    const d = run(healthy, tcp('pod1', pod(POLICY.target)));
    expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Unreachable', serious: ['node2 IptablesDrop', 'node2 NetworkPolicyDenied'] });
    const drop = d.suspicions.find((s) => s.code === 'IptablesDrop');
    expect(drop?.message).toMatch(new RegExp(`iptables filter cali-tw-${veth(POLICY.target)} \\(FORWARD\\), line \\d+: .*"Drop if no policies passed packet" -m mark --mark 0x0/0x20000 -j DROP`));
    expect(d.suspicions.find((s) => s.code === 'NetworkPolicyDenied')?.message).toBe(
      `felix's ingress chain cali-tw-${veth(POLICY.target)} of pod default/${POLICY.target} drops the packet ("Drop if no policies passed packet"): no rule of the NetworkPolicies selecting it (default/${POLICY.name}) allows 192.168.21.65 → 192.168.97.130:${CALICO_POD_PORT}`,
    );
    expect(run(healthy, tcp(POLICY.allowedFrom, pod(POLICY.target))).verdict).toBe('Reachable');
  });
});

describe('the VXLAN overlay is followed through vxlan.calico', () => {
  it('pod1 → pod3 crosses vxlan.calico with VNI 4096 to node2', () => {
    const d = run(loadRecordedCluster(VXLAN));
    expect(d.packetPath.links.find((l) => l.direction === 'request' && l.type === 'vxlan')).toMatchObject({
      source: 'node1',
      destination: 'node2',
      attributes: { sourceInterface: 'vxlan.calico', destinationInterface: 'vxlan.calico', vni: '4096', remote: '10.99.0.12', nextHop: '192.168.97.128' },
    });
  });
});

describe('calico-ipip (recording edited to add tunl0)', () => {
  const ipip = loadRecordedCluster(IPIP);
  it('pod → pod on one node is Reachable, with no suspicion', () => {
    const d = run(ipip, tcp('pod1', pod('pod2')));
    expect({ verdict: d.verdict, suspicions: d.suspicions }).toEqual({ verdict: 'Reachable', suspicions: [] });
  });

  it('across nodes the walk crosses tunl0 to the gateway node, decapsulated on its tunl0: Reachable, with no suspicion', () => {
    const d = run(ipip);
    expect({ verdict: d.verdict, suspicions: withoutProviderNote(d.suspicions) }).toEqual({ verdict: 'Reachable', suspicions: [] });
    const tunnel = d.packetPath.links.find((l) => l.direction === 'request' && l.type === 'ipip');
    expect(tunnel).toMatchObject({ source: 'node1', destination: 'node2', attributes: { sourceInterface: 'tunl0', destinationInterface: 'tunl0' } });
  });

  it('tunl0 down on the receiving node: Unreachable, LinkDown there', () => {
    const d = run(loadRecordedCluster(IPIP, editJson('nodes/node2', 'links', mapLink('tunl0', (l) => ({ ...l, flags: ['NOARP'], operstate: 'DOWN' })))));
    expect(d.verdict).toBe('Unreachable');
    expect(serious(d)).toContain('node2 LinkDown');
  });

  it('tunl0 with MTU 1500 over a 1500 underlay: MTUMismatch names the 20 bytes of IP-in-IP', () => {
    const d = run(loadRecordedCluster(IPIP, editJson('nodes/node1', 'links', mapLink('tunl0', (l) => ({ ...l, mtu: 1500 })))));
    expect(d.suspicions).toContainEqual({
      level: 'warning',
      node: 'node1',
      code: 'MTUMismatch',
      message: 'tunl0 on node1 has MTU 1500: with 20 bytes of IP-in-IP encapsulation that exceeds the MTU of eth0 (1500); calico sets the tunnel MTU to the underlay\'s minus 20 (1480)',
    });
  });
});

type Edit = (id: string, d: NetnsDumps) => NetnsDumps;

interface Broken {
  readonly fixture: string;
  readonly edit: Edit;
  readonly query?: DiagnosisQuery;
  readonly verdict?: Diagnosis['verdict'];
  readonly expected: Partial<Suspicion> & { readonly contains?: readonly string[] };
}

const P1 = veth('pod1');
const P3 = veth('pod3');

describe.each<[string, Broken]>([
  [
    'proxy_arp off on the source pod\'s cali device',
    {
      fixture: BGP,
      edit: setSysctls('nodes/node1', { [`net.ipv4.conf.${P1}.proxy_arp`]: '0' }),
      expected: { level: 'fatal', node: 'node1', code: 'NeighborMissing', contains: [`net.ipv4.conf.${P1}.proxy_arp=0`, '169.254.1.1', 'default/pod1'] },
    },
  ],
  [
    'forwarding off on the source pod\'s cali device',
    {
      fixture: BGP,
      edit: setSysctls('nodes/node1', { [`net.ipv4.conf.${P1}.forwarding`]: '0' }),
      verdict: 'Unreachable',
      expected: { level: 'fatal', node: 'node1', code: 'ForwardingDisabled', contains: [`net.ipv4.conf.${P1}.forwarding=0`, 'not answered by proxy'] },
    },
  ],
  [
    'the node routes 169.254.1.1 nowhere (no default route): proxy ARP cannot answer',
    {
      fixture: VXLAN,
      edit: editJson('nodes/node1', 'routes', dropRoute('default')),
      expected: { level: 'fatal', node: 'node1', code: 'NeighborMissing', contains: ['does not route 169.254.1.1 out of a device other than', P1] },
    },
  ],
  [
    'the /32 route of the destination pod deleted',
    {
      fixture: VXLAN,
      edit: editJson('nodes/node2', 'routes', dropRoute('192.168.97.129')),
      verdict: 'Unreachable',
      expected: { level: 'critical', node: 'node2', code: 'RouteMissing', contains: [`no route \`192.168.97.129 dev ${P3} scope link\``, 'blackhole 192.168.97.128/26'] },
    },
  ],
  [
    'the /32 route of the destination pod on another device',
    {
      fixture: BGP,
      edit: editJson('nodes/node2', 'routes', mapRoute('192.168.97.129', (r) => ({ ...r, dev: veth('pod4') }))),
      verdict: 'Unreachable',
      expected: { level: 'critical', node: 'node2', code: 'RouteInvalid', contains: [`192.168.97.129 dev ${veth('pod4')}`, `not ${P3}`] },
    },
  ],
  [
    'the destination pod\'s cali device down',
    {
      fixture: BGP,
      edit: editJson('nodes/node2', 'links', mapLink(P3, (l) => ({ ...l, flags: ['BROADCAST', 'MULTICAST'] }))),
      expected: { level: 'critical', node: 'node2', code: 'LinkDown', contains: [P3, 'default/pod3'] },
    },
  ],
  [
    'the source pod without its default route via 169.254.1.1',
    {
      fixture: BGP,
      edit: editJson('pods/pod1', 'routes', dropRoute('default')),
      verdict: 'Unreachable',
      expected: { level: 'critical', node: 'default/pod1', code: 'RouteMissing', contains: ['no default route via 169.254.1.1'] },
    },
  ],
  [
    'the source pod\'s default route through another gateway',
    {
      fixture: BGP,
      edit: editJson('pods/pod1', 'routes', mapRoute('default', (r) => ({ ...r, gateway: '169.254.1.2' }))),
      expected: { level: 'critical', node: 'default/pod1', code: 'RouteInvalid', contains: ['default via 169.254.1.2 dev eth0', 'not via 169.254.1.1'] },
    },
  ],
  [
    'no blackhole for the node\'s own block',
    {
      fixture: BGP,
      edit: editJson('nodes/node1', 'routes', dropRoute('192.168.21.64/26')),
      verdict: 'Reachable',
      expected: { level: 'info', node: 'node1', code: 'RouteMissing', contains: ['blackhole <block> proto bird', '192.168.21.65'] },
    },
  ],
  [
    'BGP: the route to the remote block missing (BIRD did not install it)',
    {
      fixture: BGP,
      edit: editJson('nodes/node1', 'routes', dropRoute('192.168.97.128/26')),
      verdict: 'Inconclusive',
      expected: { level: 'critical', node: 'node1', code: 'RouteMissing', contains: ['block 192.168.97.128/26', 'only `default via 10.99.0.1 dev eth0', '`192.168.97.128/26 via 10.99.0.12 proto bird` (BIRD)'] },
    },
  ],
  [
    'BGP: the route to the remote block through the wrong node',
    {
      fixture: BGP,
      edit: editJson('nodes/node2', 'routes', mapRoute('192.168.21.64/26', (r) => ({ ...r, gateway: '10.99.0.12' }))),
      query: tcp('pod3', pod('pod1')),
      expected: { level: 'critical', node: 'node2', code: 'RouteInvalid', contains: ['10.99.0.12, the InternalIP of node node2', '`192.168.21.64/26 via 10.99.0.11 proto bird`'] },
    },
  ],
  [
    'VXLAN: the route to the remote block missing',
    {
      fixture: VXLAN,
      edit: editJson('nodes/node1', 'routes', dropRoute('192.168.97.128/26')),
      expected: { level: 'critical', node: 'node1', code: 'RouteMissing', contains: ['`192.168.97.128/26 via 192.168.97.128 dev vxlan.calico onlink` (felix)'] },
    },
  ],
  [
    'VXLAN: the FDB entry of the remote VTEP gone',
    {
      fixture: VXLAN,
      edit: editJson('nodes/node1', 'fdb', (fs) => fs.filter((f) => f.ifname !== 'vxlan.calico' || f.dst === undefined)),
      verdict: 'Unreachable',
      expected: { level: 'critical', node: 'node1', code: 'VxlanFdbMissing', contains: ['66:4e:3b:91:61:80 dev vxlan.calico dst 10.99.0.12 self permanent'] },
    },
  ],
  [
    'VXLAN: the FDB entry of the remote VTEP pointing elsewhere',
    {
      fixture: VXLAN,
      edit: editJson('nodes/node1', 'fdb', (fs) => fs.map((f) => (f.dst === '10.99.0.12' ? { ...f, dst: '10.99.0.13' } : f))),
      expected: { level: 'critical', node: 'node1', code: 'VxlanFdbMissing', contains: ['sends to 10.99.0.13', 'is 10.99.0.12'] },
    },
  ],
  [
    'VXLAN: the ARP entry of the remote tunnel address gone',
    {
      fixture: VXLAN,
      edit: editJson('nodes/node1', 'neighbors', (ns) => ns.filter((n) => n.dev !== 'vxlan.calico')),
      verdict: 'Unreachable',
      expected: { level: 'critical', node: 'node1', code: 'NeighborMissing', contains: ['no ARP entry for 192.168.97.128', '192.168.97.128 lladdr 66:4e:3b:91:61:80 PERMANENT'] },
    },
  ],
  [
    'VXLAN: the ARP entry of the remote tunnel address with another MAC',
    {
      fixture: VXLAN,
      edit: editJson('nodes/node1', 'neighbors', (ns) => ns.map((n) => (n.dev === 'vxlan.calico' ? { ...n, lladdr: '66:00:00:00:00:01' } : n))),
      verdict: 'Unreachable',
      expected: { level: 'critical', node: 'node1', code: 'NeighborMissing', contains: ['is lladdr 66:00:00:00:00:01', 'VTEP MAC of node node2 is 66:4e:3b:91:61:80'] },
    },
  ],
  [
    'VXLAN: another VNI on the remote node',
    {
      fixture: VXLAN,
      edit: editJson('nodes/node2', 'links', mapLink('vxlan.calico', (l) => ({ ...l, linkinfo: { ...(l.linkinfo as Json), info_data: { ...((l.linkinfo as Json).info_data as Json), id: 4097 } } }))),
      verdict: 'Unreachable',
      expected: { level: 'critical', node: 'node1', code: 'TunnelMisconfigured', contains: ['VNI 4096 on node1 but 4097 on node2'] },
    },
  ],
  [
    'VXLAN: another UDP port on the remote node',
    {
      fixture: VXLAN,
      edit: editJson('nodes/node2', 'links', mapLink('vxlan.calico', (l) => ({ ...l, linkinfo: { ...(l.linkinfo as Json), info_data: { ...((l.linkinfo as Json).info_data as Json), port: 8472 } } }))),
      expected: { level: 'critical', node: 'node1', code: 'TunnelMisconfigured', contains: ['UDP port 4789 on node1 but listens on 8472 on node2'] },
    },
  ],
  [
    'VXLAN: vxlan.calico MTU 1500 over a 1500 underlay',
    {
      fixture: VXLAN,
      edit: editJson('nodes/node1', 'links', mapLink('vxlan.calico', (l) => ({ ...l, mtu: 1500 }))),
      expected: { level: 'warning', node: 'node1', code: 'MTUMismatch', contains: ['vxlan.calico on node1 has MTU 1500', 'MTU of eth0 (1500)', '(1450)'] },
    },
  ],
  [
    'VXLAN: the pod\'s MTU above the tunnel\'s (the engine\'s path MTU check)',
    {
      fixture: VXLAN,
      edit: (id, d) => editJson('nodes/node1', 'links', mapLink(P1, (l) => ({ ...l, mtu: 1500 })))(id, editJson('pods/pod1', 'links', mapLink('eth0', (l) => ({ ...l, mtu: 1500 })))(id, d)),
      verdict: 'Reachable',
      expected: { level: 'warning', node: 'default/pod1', code: 'MTUMismatch', contains: ['eth0 of default/pod1 has MTU 1500', 'vxlan.calico on node1 (1450)'] },
    },
  ],
  [
    'VXLAN: vxlan.calico sending from an address the node does not have',
    {
      fixture: VXLAN,
      edit: editJson('nodes/node1', 'links', mapLink('vxlan.calico', (l) => ({ ...l, linkinfo: { ...(l.linkinfo as Json), info_data: { ...((l.linkinfo as Json).info_data as Json), local: '10.99.0.99' } } }))),
      expected: { level: 'critical', node: 'node1', code: 'TunnelMisconfigured', contains: ['local 10.99.0.99'] },
    },
  ],
  [
    'VXLAN: vxlan.calico without the node\'s tunnel address',
    {
      fixture: VXLAN,
      edit: editJson('nodes/node1', 'addresses', (as) => as.map((a) => (a.ifname === 'vxlan.calico' ? { ...a, addr_info: [] } : a))),
      expected: { level: 'warning', node: 'node1', code: 'AddressMissing', contains: ['192.168.21.64/32', 'projectcalico.org/IPv4VXLANTunnelAddr'] },
    },
  ],
])('broken: %s', (_name, broken) => {
  it('is named by the suspicion the check makes', () => {
    const d = run(loadRecordedCluster(broken.fixture, broken.edit), broken.query ?? acrossNodes);
    const { contains = [], ...fields } = broken.expected;
    const found = d.suspicions.filter((s) => Object.entries(fields).every(([k, v]) => s[k as keyof Suspicion] === v));
    expect(found.map((s) => s.message).filter((m) => contains.every((c) => m.includes(c)))).toHaveLength(1);
    if (broken.verdict !== undefined) expect(d.verdict).toBe(broken.verdict);
  });
});

describe('checks on namespaces parsed on demand (as from real snapshots)', () => {
  it('the pod check still finds a missing default route via 169.254.1.1', () => {
    const d = run(deferAllNetns(loadRecordedCluster(BGP, editJson('pods/pod1', 'routes', dropRoute('default')))));
    expect(d.suspicions.filter((s) => s.node === 'default/pod1' && s.code === 'RouteMissing').map((s) => s.message)).toEqual([expect.stringContaining('no default route via 169.254.1.1')]);
  });
});

