// The diagnostor on the recorded mini-cluster (golden dumps of real namespaces, no root needed):
// healthy queries give their verdict and path; faults made by editing one dump give theirs; and
// on random edits every verdict is explained (property test).
import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { diagnose, type ClusterState, type Diagnosis, type DiagnosisQuery, type NetnsDumps } from '../../src/diagnosis/index.js';
import { isProviderNote } from '../support/provider-note.js';
import { loadRecordedCluster } from '../support/recorded-cluster.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/mini-cluster', import.meta.url));
const healthy = loadRecordedCluster(FIXTURES);

const pod = (name: string): DiagnosisQuery['source'] => ({ kind: 'pod', namespace: 'default', name });
const query = (destination: DiagnosisQuery['destination'], port = 8080, source = pod('pod1')): DiagnosisQuery => ({ source, destination, port, protocol: 'TCP' });

function serious(d: Diagnosis): string[] {
  return d.suspicions.filter((s) => s.level === 'fatal' || s.level === 'critical').map((s) => `${s.node} ${s.code}`);
}

function requestLinks(d: Diagnosis): string[] {
  return d.packetPath.links.filter((l) => l.direction === 'request').map((l) => `${l.source} -${l.type}-> ${l.destination}`);
}

describe('healthy recorded cluster', () => {
  it.each<[string, DiagnosisQuery, string[], string[]]>([
    [
      'pod1 → pod2 (across nodes)',
      query(pod('pod2')),
      ['default/pod1', 'node1', 'node2', 'default/pod2'],
      ['default/pod1 -veth-> node1', 'node1 -underlay-> node2', 'node2 -bridge-> default/pod2'],
    ],
    ['pod1 → pod3 (one node, bridged)', query(pod('pod3')), ['default/pod1', 'node1', 'default/pod3'], ['default/pod1 -veth-> node1', 'node1 -bridge-> default/pod3']],
    [
      'pod2 → pod1 (the other way)',
      query(pod('pod1'), 8080, pod('pod2')),
      ['default/pod2', 'node2', 'node1', 'default/pod1'],
      ['default/pod2 -veth-> node2', 'node2 -underlay-> node1', 'node1 -bridge-> default/pod1'],
    ],
  ])('%s', (_name, q, path, links) => {
    // pod1 listens on nothing: for pod2 → pod1 expect NoListener, else Reachable.
    const d = diagnose(healthy, q);
    expect(d.packetPath.nodes.map((n) => n.id)).toEqual(path);
    expect(requestLinks(d)).toEqual(links);
    if (q.destination.kind === 'pod' && q.destination.name === 'pod1') {
      expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Unreachable', serious: ['default/pod1 NoListener'] });
    } else {
      expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
    }
  });

  it('pod → service: both endpoints, DNAT on node1, replies un-DNATed on the way back', () => {
    const d = diagnose(healthy, query({ kind: 'service', namespace: 'default', name: 'svc1' }, 80));
    expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
    const node1 = d.packetPath.nodes.find((n) => n.id === 'node1');
    const nat = node1?.actions.filter((a) => a.kind === 'nat').map((a) => (a.kind === 'nat' ? `${a.direction} ${a.nat} ${a.before} > ${a.after}` : ''));
    expect(nat?.sort()).toEqual([
      'reply un-DNAT 10.244.0.6:8080 > 10.96.0.10:80',
      'reply un-DNAT 10.244.1.5:8080 > 10.96.0.10:80',
      'request DNAT 10.96.0.10:80 > 10.244.0.6:8080',
      'request DNAT 10.96.0.10:80 > 10.244.1.5:8080',
    ]);
  });

  it('node → pod and pod → node are walked from the host netns', () => {
    const d = diagnose(healthy, { source: { kind: 'node', name: 'node1' }, destination: pod('pod2'), port: 8080, protocol: 'TCP' });
    expect({ verdict: d.verdict, path: d.packetPath.nodes.map((n) => n.id) }).toEqual({ verdict: 'Reachable', path: ['node1', 'node2', 'default/pod2'] });
    const icmp = diagnose(healthy, { source: pod('pod1'), destination: { kind: 'node', name: 'node2' }, port: 0, protocol: 'ICMP' });
    expect({ verdict: icmp.verdict, path: icmp.packetPath.nodes.map((n) => n.id) }).toEqual({ verdict: 'Reachable', path: ['default/pod1', 'node1', 'node2'] });
  });

  it('an address outside the cluster is Reachable as far as the cluster goes: handed to the gateway, named as leaving', () => {
    const d = diagnose(healthy, query({ kind: 'ip', ip: '8.8.8.8' }, 53));
    expect(d.verdict).toBe('Reachable');
    expect(d.warnings.map((w) => w.code)).not.toContain('leaves-cluster');
    expect(d.suspicions.filter((s) => s.code === 'LeavesCluster').map((s) => `${s.level} ${s.node}`)).toEqual(['info node1']);
    expect(d.packetPath.nodes.map((n) => n.id)).toEqual(['default/pod1', 'node1', '10.99.0.1']);
  });

  it('an unknown pod is Inconclusive with a warning, not a crash', () => {
    const d = diagnose(healthy, query(pod('nope')));
    expect(d.verdict).toBe('Inconclusive');
    expect(d.warnings[0]?.code).toBe('unknown-destination');
  });
});

type Edit = (id: string, dumps: NetnsDumps) => NetnsDumps;

function editText(target: string, key: 'routes' | 'sysctls' | 'sockets' | 'iptablesSave' | 'links', change: (text: string) => string): Edit {
  return (id, dumps) => {
    if (id !== target) return dumps;
    const dump = dumps[key];
    return dump === undefined ? dumps : { ...dumps, [key]: { ...dump, text: change(dump.text) } };
  };
}

const dropRoutes = (dsts: readonly string[]) => (text: string): string =>
  JSON.stringify((JSON.parse(text) as { dst: string; table?: string }[]).filter((r) => !(dsts.includes(r.dst) && (r.table ?? 'main') === 'main')));

describe('faults made by editing one recorded dump', () => {
  it.each<[string, Edit, DiagnosisQuery, Diagnosis['verdict'], string, string]>([
    ['node1 without its routes to 10.244.1.0/24 and default', editText('nodes/node1', 'routes', dropRoutes(['10.244.1.0/24', 'default'])), query(pod('pod2')), 'Unreachable', 'node1', 'NoRouteToHost'],
    ['node2 not forwarding', editText('nodes/node2', 'sysctls', (t) => t.replace(/(\.forwarding|ip_forward) = 1/g, '$1 = 0')), query(pod('pod2')), 'Unreachable', 'node2', 'ForwardingDisabled'],
    ['pod2 listening on nothing', editText('pods/pod2', 'sockets', () => ''), query(pod('pod2')), 'Unreachable', 'default/pod2', 'NoListener'],
    [
      'a DROP in node2 FORWARD',
      editText('nodes/node2', 'iptablesSave', (t) => t.replace(':KUBE-SERVICES - [0:0]\n-A FORWARD', ':KUBE-SERVICES - [0:0]\n-A FORWARD -d 10.244.1.5/32 -j DROP\n-A FORWARD')),
      query(pod('pod2')),
      'Unreachable',
      'node2',
      'IptablesDrop',
    ],
    ['node1 cni0 down', editText('nodes/node1', 'links', (t) => t.replace(/"ifname":"cni0","flags":\[[^\]]*\]/, '"ifname":"cni0","flags":["NO-CARRIER","BROADCAST","MULTICAST"]')), query(pod('pod2')), 'Unreachable', 'node1', 'LinkDown'],
  ])('%s', (_name, edit, q, verdict, node, code) => {
    const d = diagnose(loadRecordedCluster(FIXTURES, edit), q);
    expect(d.verdict).toBe(verdict);
    expect(d.suspicions.filter((s) => s.level === 'fatal').map((s) => `${s.node} ${s.code}`)).toContain(`${node} ${code}`);
  });
});

describe('missing namespaces', () => {
  it.each<[string, (s: ClusterState) => ClusterState, string]>([
    ['the source node', (s) => ({ ...s, netns: { ...s.netns, nodes: { ...s.netns.nodes, node1: { kind: 'missing', reason: 'collector failed' } } } }), 'node1'],
    ['the destination node', (s) => ({ ...s, netns: { ...s.netns, nodes: { ...s.netns.nodes, node2: { kind: 'missing', reason: 'collector failed' } } } }), 'node2'],
    ['the destination pod', (s) => ({ ...s, netns: { ...s.netns, pods: { ...s.netns.pods, 'default/pod2': { kind: 'missing', reason: 'no netns found' } } } }), 'default/pod2'],
    ['the source pod', (s) => ({ ...s, netns: { ...s.netns, pods: { ...s.netns.pods, 'default/pod1': { kind: 'missing', reason: 'no netns found' } } } }), 'default/pod1'],
  ])('%s: Inconclusive with SnapshotIncomplete on it', (_name, cut, node) => {
    const d = diagnose(cut(healthy), query(pod('pod2')));
    expect(d.verdict).toBe('Inconclusive');
    expect(d.suspicions.map((s) => `${s.node} ${s.code}`)).toContain(`${node} SnapshotIncomplete`);
  });
});

describe('stale kube-proxy rules', () => {
  it("a DNAT to an address that is no ready endpoint is named on the node whose rules hold it", () => {
    const stale = editText('nodes/node1', 'iptablesSave', (t) => t.replace('--to-destination 10.244.0.6:8080', '--to-destination 10.244.0.99:8080'));
    const d = diagnose(loadRecordedCluster(FIXTURES, stale), query({ kind: 'service', namespace: 'default', name: 'svc1' }, 80));
    expect(d.verdict).toBe('Degraded');
    expect(d.suspicions.filter((s) => s.code === 'ServiceRulesStale').map((s) => `${s.level} ${s.node}: ${s.message}`)).toEqual([
      expect.stringMatching(/^critical node1: the rules of node1 DNAT 10\.96\.0\.10:80 \(service default\/svc1\) to 10\.244\.0\.99 \(PREROUTING KUBE-SEP-SVC1B line \d+\), which is no ready endpoint of the service/),
    ]);
  });

  it('a healthy service has none', () => {
    expect(diagnose(healthy, query({ kind: 'service', namespace: 'default', name: 'svc1' }, 80)).suspicions.filter((s) => s.code === 'ServiceRulesStale')).toEqual([]);
  });
});

describe('NodePort', () => {
  const NODE_PORT = 30080;
  /** svc1 gets nodePort 30080, and (unless `rules` is false) kube-proxy's NodePort rules on node2. */
  const withNodePort = (rules: boolean): ClusterState => {
    const addRules = editText('nodes/node2', 'iptablesSave', (t) =>
      t
        .replace(':KUBE-SERVICES - [0:0]\n:KUBE-SVC-SVC1', ':KUBE-NODEPORTS - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-SVC1')
        .replace(
          '-A KUBE-SVC-SVC1 ! -s',
          `-A KUBE-NODEPORTS -p tcp -m comment --comment "default/svc1:http" -m tcp --dport ${NODE_PORT} -j KUBE-MARK-MASQ\n-A KUBE-NODEPORTS -p tcp -m comment --comment "default/svc1:http" -m tcp --dport ${NODE_PORT} -j KUBE-SVC-SVC1\n-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n-A KUBE-SVC-SVC1 ! -s`,
        ),
    );
    const state = loadRecordedCluster(FIXTURES, rules ? addRules : undefined);
    const services = state.objects.services.map((svc) => (svc.metadata.name === 'svc1' ? { ...svc, spec: { ...svc.spec, type: 'NodePort', ports: (svc.spec.ports ?? []).map((p) => ({ ...p, nodePort: NODE_PORT })) } } : svc));
    return { ...state, objects: { ...state.objects, services } };
  };
  const toNode2 = query({ kind: 'node', name: 'node2' }, NODE_PORT);

  it("node2's NodePort is DNATed to both endpoints of svc1: Reachable", () => {
    const d = diagnose(withNodePort(true), toNode2);
    expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
    const dnats = d.packetPath.nodes.find((n) => n.id === 'node2')?.actions.filter((a) => a.kind === 'nat' && a.nat === 'DNAT');
    expect(dnats?.map((a) => (a.kind === 'nat' ? a.after : ''))).toEqual(['10.244.1.5:8080', '10.244.0.6:8080']);
  });

  it('without the NodePort rules: Unreachable, ServiceRulesMissing for svc1 and nothing listening on the port', () => {
    const d = diagnose(withNodePort(false), toNode2);
    expect(d.verdict).toBe('Unreachable');
    expect(serious(d)).toEqual(expect.arrayContaining(['node1 ServiceRulesMissing', 'node2 NoListener']));
  });
});

describe('the generic provider', () => {
  it('says once that it checks nothing between the nodes, naming the crossings', () => {
    const d = diagnose(healthy, query(pod('pod2')));
    expect(d.suspicions.filter(isProviderNote)).toEqual([
      {
        level: 'info',
        node: 'node1',
        code: 'UnsupportedConfig',
        message: 'the network between and beyond the nodes is not checked (generic provider: no security groups, route tables or firewalls of the infrastructure are known) for node1 -> node2 (underlay), node2 -> node1 (underlay)',
      },
    ]);
  });

  it('has nothing to say about a path within one node', () => {
    expect(diagnose(healthy, query(pod('pod3'))).suspicions.filter(isProviderNote)).toEqual([]);
  });
});

describe('namespaces parsed on first use', () => {
  const deferAll = (s: ClusterState, loaded: string[], broken?: string): ClusterState => {
    const defer = (records: ClusterState['netns']['nodes']): ClusterState['netns']['nodes'] =>
      Object.fromEntries(
        Object.entries(records).map(([id, record]) => [
          id,
          record.kind !== 'present'
            ? record
            : {
                kind: 'deferred' as const,
                load: () => {
                  loaded.push(id);
                  if (id === broken) throw new Error(`pods/pod2/iptables-save:3: unknown match "--frobnicate"`);
                  return record.state;
                },
              },
        ]),
      );
    return { ...s, netns: { nodes: defer(s.netns.nodes), pods: defer(s.netns.pods) } };
  };

  it('parses only the namespaces on the path, each once', () => {
    const loaded: string[] = [];
    const d = diagnose(deferAll(healthy, loaded), query(pod('pod3')));
    expect(d.verdict).toBe('Reachable');
    // pod1 → node1 → pod3 on one node; pod2 (node1 looks for the veth peer among its pods) and node2 are never read.
    expect([...loaded].sort()).toEqual(['default/pod1', 'default/pod3', 'node1']);
  });

  it('a malformed rule line in a chain the walk enters makes the diagnosis Inconclusive, naming the namespace, dump and line', () => {
    const badRule = editText('nodes/node1', 'iptablesSave', (t) => t.replace('-A PREROUTING -m comment', '-A PREROUTING -s 10.0.0.300 -j DROP\n-A PREROUTING -m comment'));
    const d = diagnose(loadRecordedCluster(FIXTURES, badRule), query(pod('pod2')));
    expect(d.verdict).toBe('Inconclusive');
    expect(d.suspicions).toEqual([
      { level: 'warning', node: 'node1', code: 'SnapshotIncomplete', message: 'the dumps of node1 cannot be read: nodes/node1/iptables-save:24: bad address "10.0.0.300" in -s' },
    ]);
  });

  it('a namespace whose dumps cannot be parsed makes the diagnosis Inconclusive, naming it and the dump', () => {
    const d = diagnose(deferAll(healthy, [], 'default/pod2'), query(pod('pod2')));
    expect(d.verdict).toBe('Inconclusive');
    expect(d.suspicions).toEqual([
      { level: 'warning', node: 'default/pod2', code: 'SnapshotIncomplete', message: 'the dumps of default/pod2 cannot be read: pods/pod2/iptables-save:3: unknown match "--frobnicate"' },
    ]);
  });
});

describe('a failed collector', () => {
  it('is named as such (CollectorFailed), not as an incomplete snapshot', () => {
    const failed = { kind: 'missing' as const, reason: 'the collector on node2 failed: pod netdiag-collect-x ended Failed (OOMKilled)', collectorFailed: true };
    const d = diagnose({ ...healthy, netns: { nodes: { ...healthy.netns.nodes, node2: failed }, pods: { ...healthy.netns.pods, 'default/pod2': failed } } }, query(pod('pod2')));
    expect(d.verdict).toBe('Inconclusive');
    expect(d.suspicions.map((s) => `${s.level} ${s.node} ${s.code}`)).toContain('warning default/pod2 CollectorFailed');
    expect(d.suspicions.find((s) => s.code === 'CollectorFailed')?.message).toContain('OOMKilled');
  });
});

describe('MTU', () => {
  it("a pod's eth0 larger than the underlay's MTU is a warning, not a failure", () => {
    const narrowUnderlay = editText('nodes/node1', 'links', (t) => t.replace(/("ifname":"eth0","flags":\[[^\]]*\],"mtu":)1500/, '$11400'));
    const d = diagnose(loadRecordedCluster(FIXTURES, narrowUnderlay), query(pod('pod2')));
    expect({ verdict: d.verdict, serious: serious(d) }).toEqual({ verdict: 'Reachable', serious: [] });
    const mtu = d.suspicions.filter((s) => s.code === 'MTUMismatch');
    // Both ends send through node1's eth0: the client its requests, the server its replies.
    expect(mtu.map((s) => `${s.level} ${s.node}`)).toEqual(['warning default/pod1', 'warning default/pod2']);
    for (const s of mtu) expect(s.message).toContain('eth0 on node1 (1400)');
  });
});

describe('service checks', () => {
  it('a ClusterIP that no rule DNATs although the service has endpoints: ServiceRulesMissing', () => {
    const noRule = editText('nodes/node1', 'iptablesSave', (t) => t.split('\n').filter((l) => !l.startsWith('-A KUBE-SERVICES -d 10.96.0.10/32')).join('\n'));
    const d = diagnose(loadRecordedCluster(FIXTURES, noRule), query({ kind: 'service', namespace: 'default', name: 'svc1' }, 80));
    // Without the DNAT the packet follows node1's default route out of the cluster: beyond is unknown.
    expect(d.verdict).toBe('Inconclusive');
    const missing = d.suspicions.find((s) => s.code === 'ServiceRulesMissing');
    expect(missing).toMatchObject({ level: 'fatal', node: 'node1' });
    expect(missing?.message).toContain('10.96.0.10:80');
  });

  it('a service without endpoints: ServiceNoEndpoints, and the REJECT rule kube-proxy put in filter KUBE-SERVICES', () => {
    const d = diagnose(healthy, query({ kind: 'service', namespace: 'default', name: 'empty' }, 80));
    expect(d.verdict).toBe('Unreachable');
    expect(d.suspicions.map((s) => `${s.level} ${s.node} ${s.code}`)).toEqual(['fatal default/empty ServiceNoEndpoints', 'fatal node1 IptablesReject']);
    expect(d.suspicions[1]?.message).toContain('filter KUBE-SERVICES (FORWARD)');
  });
});

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('property: on random edits every verdict is explained, the walk ends, the path is continuous and no branch is lost', () => {
  const targets = ['nodes/node1', 'nodes/node2', 'pods/pod1', 'pods/pod2', 'pods/pod3'];
  const routeDsts = ['default', '10.244.0.0/24', '10.244.1.0/24', '10.99.0.0/24'];
  const queries: DiagnosisQuery[] = [
    query(pod('pod2')),
    query(pod('pod3')),
    query({ kind: 'service', namespace: 'default', name: 'svc1' }, 80),
    query(pod('pod1'), 8080, pod('pod2')),
    { source: pod('pod3'), destination: { kind: 'node', name: 'node2' }, port: 0, protocol: 'ICMP' },
  ];

  it.each(Array.from({ length: 40 }, (_, i) => i + 1))('seed %i', (seed) => {
    const random = prng(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const edits: Edit[] = [];
    for (let i = 0; i < 1 + Math.floor(random() * 3); i++) {
      const target = pick(targets);
      const what = Math.floor(random() * 4);
      if (what === 0) edits.push(editText(target, 'routes', dropRoutes([pick(routeDsts)])));
      else if (what === 1) edits.push(editText(target, 'sysctls', (t) => t.replace(/(\.forwarding|ip_forward) = 1/g, '$1 = 0')));
      else if (what === 2) edits.push(editText(target, 'sysctls', (t) => t.replace(/rp_filter = 0/g, 'rp_filter = 1')));
      else edits.push(editText(target, 'sockets', () => ''));
    }
    let state: ClusterState = loadRecordedCluster(FIXTURES, (id, d) => edits.reduce((acc, e) => e(id, acc), d));
    if (random() < 0.2) state = { ...state, netns: { ...state.netns, pods: { ...state.netns.pods, [`default/${pick(['pod2', 'pod3'])}`]: { kind: 'missing', reason: 'test' } } } };
    for (const q of queries) {
      const d = diagnose(state, q);
      const fatal = d.suspicions.filter((s) => s.level === 'fatal');
      switch (d.verdict) {
        case 'Reachable':
          expect(fatal).toEqual([]);
          break;
        case 'Unreachable':
        case 'Degraded':
          expect(fatal.length).toBeGreaterThan(0);
          break;
        case 'Inconclusive':
          expect(d.warnings.length).toBeGreaterThan(0);
          break;
      }
      // Every link joins netnodes of the path.
      const ids = new Set(d.packetPath.nodes.map((n) => n.id));
      for (const l of d.packetPath.links) expect([ids.has(l.source), ids.has(l.destination)]).toEqual([true, true]);
      // Continuity: a request link leaves the client or a netnode an earlier link reached; a reply
      // link leaves a netnode the request or an earlier reply link reached.
      const client = `default/${q.source.kind === 'pod' ? q.source.name : ''}`;
      const reached = new Set([client]);
      for (const l of d.packetPath.links.filter((x) => x.direction === 'request')) {
        expect({ link: `${l.source} -> ${l.destination}`, continues: reached.has(l.source) }).toEqual({ link: `${l.source} -> ${l.destination}`, continues: true });
        reached.add(l.destination);
      }
      for (const l of d.packetPath.links.filter((x) => x.direction === 'reply')) {
        expect({ link: `${l.source} -> ${l.destination}`, continues: reached.has(l.source) }).toEqual({ link: `${l.source} -> ${l.destination}`, continues: true });
        reached.add(l.destination);
      }
      // No branch lost: a reachable service reached every ready endpoint (kube-proxy's statistic branches).
      if (q.destination.kind === 'service' && d.verdict === 'Reachable') expect([ids.has('default/pod2'), ids.has('default/pod3')]).toEqual([true, true]);
    }
  });
});
