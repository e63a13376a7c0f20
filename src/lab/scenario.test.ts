import { describe, expect, it } from '@jest/globals';
import { expandTemplates, parseScenario, ScenarioError, templateRefs, type Scenario, type TemplateValues } from './scenario.js';

/** What `run` throws (it must throw an Error). */
function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`threw a non-Error: ${String(error)}`, { cause: error });
  }
  throw new Error('did not throw');
}

// The example of the lab's contract, verbatim.
const DESIGN_EXAMPLE = `name: pod to pod, cni0 down on the source node
network: flannel-vxlan          # flannel-hostgw | flannel-vxlan | calico-bgp | calico-vxlan | bridge
nodes:
  - name: node1
    faults: ["ip link set dev cni0 down"]     # run in the node's netns after setup
    listen: [{port: 10250, protocol: TCP}]   # listeners on the node itself (host network)
    pods: [{name: pod1}]
  - name: node2
    pods:
      - name: pod2
        listen: [{port: 80, protocol: TCP}]
        faults: ["ip link set dev eth0 mtu 1400"]   # run in the pod's netns
services:
  - {name: svc1, port: 80, targetPort: 80, protocol: TCP, endpoints: [pod2]}
policies: []                     # NetworkPolicy manifests, applied as is
diagnose: {source: pod1, destination: pod2, port: 80, protocol: TCP}   # pod/node/service name or IP
expect:
  completed: true                # false: the diagnosis itself must end Failed/Stalled
  verdict: Unreachable
  path: [pod1, node1, node2, pod2]   # netnodes on the request path, in order
  suspicions:                    # each must be present (more are allowed)
    - {node: node1, level: fatal, code: LinkDown, contains: cni0}
  noOtherFatal: true
`;

describe('parseScenario', () => {
  it('reads the example of the contract', () => {
    const expected: Scenario = {
      file: 'scenarios/example.yaml',
      name: 'pod to pod, cni0 down on the source node',
      network: 'flannel-vxlan',
      nodes: [
        { name: 'node1', faults: ['ip link set dev cni0 down'], listen: [{ port: 10250, protocol: 'TCP' }], pods: [{ name: 'pod1' }] },
        { name: 'node2', pods: [{ name: 'pod2', listen: [{ port: 80, protocol: 'TCP' }], faults: ['ip link set dev eth0 mtu 1400'] }] },
      ],
      services: [{ name: 'svc1', port: 80, targetPort: 80, protocol: 'TCP', endpoints: ['pod2'] }],
      policies: [],
      diagnose: { source: 'pod1', destination: 'pod2', port: 80, protocol: 'TCP' },
      expect: {
        completed: true,
        verdict: 'Unreachable',
        path: ['pod1', 'node1', 'node2', 'pod2'],
        suspicions: [{ node: 'node1', level: 'fatal', code: 'LinkDown', contains: 'cni0' }],
        noOtherFatal: true,
      },
    };
    expect(parseScenario(DESIGN_EXAMPLE, 'scenarios/example.yaml')).toStrictEqual(expected);
  });

  it('defaults services and policies to none and keeps a policy manifest as plain data', () => {
    const text = `name: deny all
network: calico-bgp
nodes: [{name: n1, pods: [{name: a}, {name: b}]}]
policies:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: deny-all, namespace: default}
    spec: {podSelector: {}, policyTypes: [Ingress]}
diagnose: {source: a, destination: 10.244.0.9, protocol: ICMP}
expect: {verdict: Unreachable, suspicions: [{code: NetworkPolicyDenied}]}
`;
    const scenario = parseScenario(text, 'p.yaml');
    expect(scenario.services).toStrictEqual([]);
    expect(scenario.policies).toStrictEqual([
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'deny-all', namespace: 'default' },
        spec: { podSelector: {}, policyTypes: ['Ingress'] },
      },
    ]);
    expect(scenario.diagnose).toStrictEqual({ source: 'a', destination: '10.244.0.9', protocol: 'ICMP' });
  });

  it('resolves anchors and aliases', () => {
    const text = `name: aliases
network: bridge
nodes:
  - {name: n1, pods: [{name: a, listen: &web [{port: 80, protocol: TCP}]}]}
  - {name: n2, pods: [{name: b, listen: *web}]}
diagnose: {source: a, destination: b, port: 80, protocol: TCP}
expect: {}
`;
    const scenario = parseScenario(text, 'a.yaml');
    expect(scenario.nodes[1]?.pods?.[0]?.listen).toStrictEqual([{ port: 80, protocol: 'TCP' }]);
  });

  // Lines 1-5; tests add services/policies (line 6 on), then diagnose and expect.
  const head = `name: t
network: bridge
nodes:
  - name: node1
    pods: [{name: pod1}, {name: pod2, listen: [{port: 80, protocol: TCP}]}]
`;
  const diagnose = 'diagnose: {source: pod1, destination: pod2, port: 80, protocol: TCP}\n';
  const tail = `${diagnose}expect: {verdict: Reachable}\n`;

  it.each([
    // invalid YAML
    ['a bad flow sequence', 'name: [a, b\nnetwork: bridge\n', 'f.yaml:2: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['a duplicate key', 'name: a\nnetwork: bridge\nname: b\n', 'f.yaml:3: invalid YAML: Map keys must be unique'],
    ['tabs as indentation', 'name: a\nnodes:\n\t- x\n', 'f.yaml:3: invalid YAML: Tabs are not allowed as indentation'],
    ['two documents', `${head}${tail}---\nname: b\n`, 'f.yaml:8: invalid YAML: a scenario file holds one YAML document'],
    ['an empty file', '# nothing\n', 'f.yaml:1: scenario: the file is empty'],
    ['a list at the top', '- a\n- b\n', 'f.yaml:1: scenario: expected a mapping, got a list'],
    ['an unknown alias', `${head}services: *nope\n${tail}`, 'f.yaml:6: services: unknown alias *nope'],
    // unknown fields at several depths
    ['an unknown top-level field', `${head}kind: Scenario\n${tail}`,
      'f.yaml:6: kind: unknown field (expected name, network, cniTap, nodes, services, policies, diagnose or expect)'],
    ['an unknown node field', 'name: t\nnetwork: bridge\nnodes:\n  - name: node1\n    pod: [{name: pod1}]\n',
      'f.yaml:5: nodes[0].pod: unknown field (expected name, faults, listen or pods)'],
    ['an unknown pod field', 'name: t\nnetwork: bridge\nnodes:\n  - name: node1\n    pods:\n      - name: pod1\n        image: nginx\n',
      'f.yaml:7: nodes[0].pods[0].image: unknown field (expected name, labels, listen, faults or start)'],
    ['an unknown listen field', 'name: t\nnetwork: bridge\nnodes:\n  - name: n\n    pods:\n      - name: p\n        listen:\n          - {port: 80, proto: TCP}\n',
      'f.yaml:8: nodes[0].pods[0].listen[0].proto: unknown field (expected port or protocol)'],
    ['an unknown expected-suspicion field', `${head}${diagnose}expect:\n  suspicions:\n    - {code: LinkDown, message: x}\n`,
      'f.yaml:9: expect.suspicions[0].message: unknown field (expected node, level, code or contains)'],
    ['an unknown diagnose field', `${head}diagnose: {source: pod1, destination: pod2, port: 80, protocol: TCP, namespace: x}\nexpect: {}\n`,
      'f.yaml:6: diagnose.namespace: unknown field (expected source, destination, port or protocol)'],
    // missing fields and wrong types
    ['a missing name', 'network: bridge\nnodes: [{name: n}]\n', 'f.yaml:1: name: required field is missing'],
    ['a missing pod name', 'name: t\nnetwork: bridge\nnodes:\n  - name: n\n    pods:\n      - listen: []\n',
      'f.yaml:6: nodes[0].pods[0].name: required field is missing'],
    ['a missing diagnose', `${head}expect: {}\n`, 'f.yaml:1: diagnose: required field is missing'],
    ['a missing port', `${head}diagnose: {source: pod1, destination: pod2, protocol: UDP}\nexpect: {}\n`, 'f.yaml:6: diagnose.port: required field is missing'],
    ['an empty name', 'name:\nnetwork: bridge\n', 'f.yaml:1: name: expected a non-empty string, got nothing'],
    ['nodes as a mapping', 'name: t\nnetwork: bridge\nnodes:\n  node1: {}\n', 'f.yaml:4: nodes: expected a list, got a mapping'],
    ['no nodes', 'name: t\nnetwork: bridge\nnodes: []\n', 'f.yaml:3: nodes: expected at least one node'],
    ['a fault as a list', 'name: t\nnetwork: bridge\nnodes:\n  - name: n\n    faults: [[ip, link]]\n',
      'f.yaml:5: nodes[0].faults[0]: expected a single value, got a list'],
    ['a number as a name', 'name: t\nnetwork: bridge\nnodes:\n  - name: 42\n', 'f.yaml:4: nodes[0].name: expected a non-empty string, got 42'],
    ['a port as text', 'name: t\nnetwork: bridge\nnodes:\n  - name: n\n    listen: [{port: "80", protocol: TCP}]\n',
      'f.yaml:5: nodes[0].listen[0].port: expected a port number (1-65535), got "80"'],
    ['completed as text', `${head}${diagnose}expect: {completed: "yes"}\n`, 'f.yaml:7: expect.completed: expected true or false, got "yes"'],
    ['an invalid pod name', 'name: t\nnetwork: bridge\nnodes:\n  - name: n\n    pods: [{name: Pod_1}]\n',
      'f.yaml:5: nodes[0].pods[0].name: "Pod_1" is not a valid pod name (a DNS label: lower-case letters, digits and "-", at most 63)'],
    // enums
    ['a bad network', 'name: t\nnetwork: cilium\n', 'f.yaml:2: network: expected flannel-hostgw, flannel-vxlan, calico-bgp, calico-vxlan or bridge, got "cilium"'],
    ['a bad listen protocol', 'name: t\nnetwork: bridge\nnodes:\n  - name: node1\n    pods:\n      - name: pod1\n      - name: pod2\n        listen: [{port: 80, protocol: SCTP}]\n',
      'f.yaml:8: nodes[0].pods[1].listen[0].protocol: expected TCP or UDP, got "SCTP"'],
    ['a bad diagnose protocol', `${head}diagnose: {source: pod1, destination: pod2, port: 80, protocol: tcp}\nexpect: {}\n`,
      'f.yaml:6: diagnose.protocol: expected TCP, UDP or ICMP, got "tcp"'],
    ['a bad verdict', `${head}${diagnose}expect:\n  verdict: Blocked\n`, 'f.yaml:8: expect.verdict: expected Reachable, Unreachable, Degraded or Inconclusive, got "Blocked"'],
    ['a bad level', `${head}${diagnose}expect:\n  suspicions:\n    - {level: error}\n`, 'f.yaml:9: expect.suspicions[0].level: expected info, warning, critical or fatal, got "error"'],
    ['a bad suspicion code', `${head}${diagnose}expect:\n  suspicions: [{code: link down}]\n`, 'f.yaml:8: expect.suspicions[0].code: "link down" is not a suspicion code (e.g. LinkDown), nor a prefix of codes ending in * (e.g. Cni*)'],
    ['an empty expected suspicion', `${head}${diagnose}expect:\n  suspicions: [{}]\n`, 'f.yaml:8: expect.suspicions[0]: expected at least one of node, level, code or contains'],
    ['a verdict for a diagnosis that must fail', `${head}${diagnose}expect:\n  completed: false\n  verdict: Unreachable\n`,
      'f.yaml:9: expect.verdict: a diagnosis expected not to complete has no verdict (completed: false)'],
    // ports
    ['port 0', `${head}services: [{name: s, port: 0, endpoints: []}]\n${tail}`, 'f.yaml:6: services[0].port: expected a port number (1-65535), got 0'],
    ['port 65536', `${head}services:\n  - {name: s, port: 80, targetPort: 65536, endpoints: []}\n${tail}`,
      'f.yaml:7: services[0].targetPort: expected a port number (1-65535), got 65536'],
    ['a fractional port', `${head}diagnose: {source: pod1, destination: pod2, port: 80.5, protocol: TCP}\nexpect: {}\n`,
      'f.yaml:6: diagnose.port: expected a port number (1-65535), got 80.5'],
    ['a listener listed twice', 'name: t\nnetwork: bridge\nnodes:\n  - name: n\n    listen:\n      - {port: 80, protocol: TCP}\n      - {port: 80, protocol: TCP}\n',
      'f.yaml:7: nodes[0].listen[1]: 80/TCP is already listed at nodes[0].listen[0]'],
    // names and cross references
    ['a duplicate node', 'name: t\nnetwork: bridge\nnodes:\n  - name: n1\n  - name: n1\n', 'f.yaml:5: nodes[1].name: "n1" is already the name of nodes[0]'],
    ['a pod name used on two nodes', 'name: t\nnetwork: bridge\nnodes:\n  - {name: n1, pods: [{name: p}]}\n  - name: n2\n    pods:\n      - name: p\n',
      'f.yaml:7: nodes[1].pods[0].name: "p" is already the name of nodes[0].pods[0]'],
    ['a pod named as a node', 'name: t\nnetwork: bridge\nnodes:\n  - {name: n1, pods: [{name: n1}]}\n', 'f.yaml:4: nodes[0].pods[0].name: "n1" is already the name of nodes[0]'],
    ['a duplicate service', `${head}services:\n  - {name: s, port: 80, endpoints: []}\n  - {name: s, port: 81, endpoints: []}\n${tail}`,
      'f.yaml:8: services[1].name: "s" is already the name of services[0]'],
    ['a dangling endpoint', `${head}services:\n  - name: svc1\n    port: 80\n    endpoints: [pod2, pod3]\n${tail}`, 'f.yaml:9: services[0].endpoints[1]: no pod named "pod3"'],
    ['a node as an endpoint', `${head}services: [{name: s, port: 80, endpoints: [node1]}]\n${tail}`, 'f.yaml:6: services[0].endpoints[0]: no pod named "node1"'],
    ['an unknown source', `${head}diagnose:\n  source: pod9\n  destination: pod2\n  port: 80\n  protocol: TCP\nexpect: {}\n`,
      'f.yaml:7: diagnose.source: no pod or node named "pod9", and not an IP address'],
    ['an unknown destination', `${head}diagnose: {source: 10.0.0.1, destination: 10.0.0.300, port: 80, protocol: TCP}\nexpect: {}\n`,
      'f.yaml:6: diagnose.destination: no pod, node or service named "10.0.0.300", and not an IP address'],
    ['a service as the source', `${head}services: [{name: s, port: 80, endpoints: []}]\ndiagnose: {source: s, destination: pod2, port: 80, protocol: TCP}\nexpect: {}\n`,
      'f.yaml:7: diagnose.source: "s" is a service: a service can only be a destination'],
    ['an ambiguous destination', `${head}services: [{name: pod2, port: 80, endpoints: []}]\n${tail}`,
      'f.yaml:7: diagnose.destination: "pod2" names both a pod and a service: rename one'],
    ['an unknown netnode in the path', `${head}${diagnose}expect:\n  path: [pod1, node1, nodeX]\n`, 'f.yaml:8: expect.path[2]: no pod or node named "nodeX", and not an IP address'],
    ['an unknown suspicion node', `${head}${diagnose}expect:\n  suspicions: [{node: svc1, code: LinkDown}]\n`,
      'f.yaml:8: expect.suspicions[0].node: no pod or node named "svc1", and not an IP address'],
    // policies
    ['a policy of another kind', `${head}policies:\n  - apiVersion: v1\n    kind: Service\n    metadata: {name: x}\n${tail}`,
      'f.yaml:7: policies[0]: expected kind: NetworkPolicy, got "Service"'],
    ['a policy without a kind', `${head}policies:\n  - metadata: {name: x}\n${tail}`, 'f.yaml:7: policies[0]: expected kind: NetworkPolicy, got no kind'],
    ['a policy without a name', `${head}policies:\n  - apiVersion: networking.k8s.io/v1\n    kind: NetworkPolicy\n    spec: {podSelector: {}}\n${tail}`,
      "f.yaml:7: policies[0]: expected metadata.name, the policy's name"],
    ['a policy of another API version', `${head}policies:\n  - {apiVersion: extensions/v1beta1, kind: NetworkPolicy, metadata: {name: x}}\n${tail}`,
      'f.yaml:7: policies[0]: expected apiVersion: networking.k8s.io/v1, got "extensions/v1beta1"'],
    ['a policy as text', `${head}policies: [deny-all]\n${tail}`, 'f.yaml:6: policies[0]: expected a NetworkPolicy manifest, got "deny-all"'],
    // templates in faults are checked against the scenario
    ['a template of an unknown node', 'name: t\nnetwork: flannel-vxlan\nnodes:\n  - name: n1\n    faults:\n      - ip route del {{nodes.n2.podCIDR}}\n',
      'f.yaml:6: nodes[0].faults[0]: {{nodes.n2.podCIDR}}: no node named "n2"'],
    ['a template of an unknown pod', 'name: t\nnetwork: bridge\nnodes:\n  - name: n1\n    pods:\n      - {name: p, faults: ["ip neigh del {{pods.q.ip}} dev eth0"]}\n',
      'f.yaml:6: nodes[0].pods[0].faults[0]: {{pods.q.ip}}: no pod named "q"'],
    ['a pod template naming a node', 'name: t\nnetwork: bridge\nnodes:\n  - name: n1\n    faults: ["ip link del {{pods.n1.hostVeth}}"]\n',
      'f.yaml:5: nodes[0].faults[0]: {{pods.n1.hostVeth}}: no pod named "n1"'],
    ['a VXLAN address on a network without one', 'name: t\nnetwork: flannel-hostgw\nnodes:\n  - name: n1\n    faults: ["ip neigh del {{nodes.n1.vtep}}"]\n',
      'f.yaml:5: nodes[0].faults[0]: {{nodes.n1.vtep}}: network flannel-hostgw has no VXLAN device'],
    ['an unknown template attribute', 'name: t\nnetwork: bridge\nnodes:\n  - name: n1\n    faults: ["ip addr del {{nodes.n1.address}} dev eth0"]\n',
      'f.yaml:5: nodes[0].faults[0]: unknown template {{nodes.n1.address}} (expected {{nodes.NAME.ip}}, {{nodes.NAME.podCIDR}}, {{nodes.NAME.vtep}}, {{pods.NAME.ip}} or {{pods.NAME.hostVeth}})'],
  ])('rejects %s', (_what, text, message) => {
    const error = thrown(() => parseScenario(text, 'f.yaml'));
    expect(error).toBeInstanceOf(ScenarioError);
    expect(error.message).toBe(message);
  });
});

describe('expandTemplates', () => {
  const values: TemplateValues = {
    nodes: {
      node1: { ip: '172.30.0.11', podCIDR: '10.244.1.0/24', vtep: '10.244.1.0' },
      node2: { ip: '172.30.0.12', podCIDR: '10.244.2.0/24' },
    },
    pods: { pod1: { ip: '10.244.1.5', hostVeth: 'veth3a1b2c4d' } },
  };
  const where = 'scenarios/a.yaml:7: nodes[0].faults[0]';

  it.each([
    ['ip link set dev cni0 down', 'ip link set dev cni0 down'],
    ['ip route del {{nodes.node2.podCIDR}} via {{nodes.node2.ip}}', 'ip route del 10.244.2.0/24 via 172.30.0.12'],
    ['bridge fdb del {{ nodes.node1.vtep }} dev flannel.1', 'bridge fdb del 10.244.1.0 dev flannel.1'],
    ['ip link set {{pods.pod1.hostVeth}} down; ip neigh del {{pods.pod1.ip}} dev cni0', 'ip link set veth3a1b2c4d down; ip neigh del 10.244.1.5 dev cni0'],
    ['{{pods.pod1.ip}}{{pods.pod1.ip}}', '10.244.1.510.244.1.5'],
  ])('expands %s', (command, expanded) => {
    expect(expandTemplates(command, values, where)).toBe(expanded);
  });

  it.each([
    ['ip route del {{nodes.node3.podCIDR}}', `${where}: {{nodes.node3.podCIDR}}: no node named "node3"`],
    ['ip route del {{nodes.toString.ip}}', `${where}: {{nodes.toString.ip}}: no node named "toString"`],
    ['ip neigh del {{pods.pod9.ip}}', `${where}: {{pods.pod9.ip}}: no pod named "pod9"`],
    ['bridge fdb del {{nodes.node2.vtep}}', `${where}: {{nodes.node2.vtep}}: node "node2" has no VXLAN device address`],
    ['ip link del {{pods.pod1.mac}}', `${where}: unknown template {{pods.pod1.mac}} (expected {{nodes.NAME.ip}}, {{nodes.NAME.podCIDR}}, {{nodes.NAME.vtep}}, {{pods.NAME.ip}} or {{pods.NAME.hostVeth}})`],
    ['echo {{services.svc1.ip}}', `${where}: unknown template {{services.svc1.ip}} (expected {{nodes.NAME.ip}}, {{nodes.NAME.podCIDR}}, {{nodes.NAME.vtep}}, {{pods.NAME.ip}} or {{pods.NAME.hostVeth}})`],
    ['echo {{nodes.node1}}', `${where}: unknown template {{nodes.node1}} (expected {{nodes.NAME.ip}}, {{nodes.NAME.podCIDR}}, {{nodes.NAME.vtep}}, {{pods.NAME.ip}} or {{pods.NAME.hostVeth}})`],
    ['echo {{nodes.node1.ip', `${where}: unterminated template "{{nodes.node1.ip"`],
    ['echo nodes.node1.ip}}', `${where}: "}}" without "{{" in "echo nodes.node1.ip}}"`],
  ])('rejects %s', (command, message) => {
    const error = thrown(() => expandTemplates(command, values, where));
    expect(error).toBeInstanceOf(ScenarioError);
    expect(error.message).toBe(message);
  });

  it('lists the references of a command', () => {
    expect(templateRefs('ip route add {{nodes.n2.podCIDR}} via {{ pods.p.ip }}', where)).toStrictEqual([
      { kind: 'nodes', name: 'n2', attribute: 'podCIDR', text: '{{nodes.n2.podCIDR}}' },
      { kind: 'pods', name: 'p', attribute: 'ip', text: '{{ pods.p.ip }}' },
    ]);
  });
});

describe('parseScenario: the CNI tap and pods started after the faults', () => {
  const TAPPED = `name: tapped
network: bridge
cniTap: true
nodes:
  - name: node1
    pods: [{name: pod1}]
  - name: node2
    faults: ["ip link add cni0 type veth peer name cni0-peer"]
    pods:
      - {name: pod2, start: afterFaults, listen: [{port: 80, protocol: TCP}]}
      - {name: pod3, start: beforeFaults}
diagnose: {source: pod1, destination: pod2, port: 80, protocol: TCP}
expect:
  verdict: Inconclusive
  suspicions: [{node: pod2, code: CniAddFailed}]
  noOtherCritical: true
  absent: [{code: "Cni*"}, {node: pod1, level: warning}]
`;

  it('reads cniTap, start, noOtherCritical and absent (a code prefix ending in *)', () => {
    const s = parseScenario(TAPPED, 't.yaml');
    expect(s.cniTap).toBe(true);
    expect(s.nodes[1]?.pods).toEqual([
      { name: 'pod2', start: 'afterFaults', listen: [{ port: 80, protocol: 'TCP' }] },
      { name: 'pod3', start: 'beforeFaults' },
    ]);
    expect(s.expect).toEqual({
      verdict: 'Inconclusive',
      suspicions: [{ node: 'pod2', code: 'CniAddFailed' }],
      noOtherCritical: true,
      absent: [{ code: 'Cni*' }, { node: 'pod1', level: 'warning' }],
    });
  });

  it('leaves cniTap and start out when absent', () => {
    const s = parseScenario(TAPPED.replace('cniTap: true\n', '').replace('start: afterFaults, ', '').replace(', start: beforeFaults', ''), 't.yaml');
    expect(s.cniTap).toBeUndefined();
    expect(s.nodes[1]?.pods?.map((p) => p.start)).toEqual([undefined, undefined]);
  });

  it.each([
    ['cniTap on a calico mode', TAPPED.replace('network: bridge', 'network: calico-bgp'),
      "t.yaml:3: cniTap: the CNI tap needs a network whose pods are wired by running a CNI configuration list; calico-bgp reproduces calico's CNI plugin in the lab's own code (no chain is executed, so there would be no call to record)"],
    ['cniTap not a boolean', TAPPED.replace('cniTap: true', 'cniTap: yes please'), 't.yaml:3: cniTap: expected true or false, got "yes please"'],
    ['an unknown start', TAPPED.replace('start: beforeFaults', 'start: later'), 't.yaml:11: nodes[1].pods[1].start: expected beforeFaults or afterFaults, got "later"'],
    ['faults on a pod started after them', TAPPED.replace('start: afterFaults,', 'start: afterFaults, faults: ["ip link set eth0 down"],'),
      't.yaml:10: nodes[1].pods[0].faults: a pod with start: afterFaults has no faults of its own (they run before it exists)'],
    ['a template naming a pod started after the faults', TAPPED.replace('cni0-peer"', 'cni0-peer; echo {{pods.pod2.ip}}"'),
      't.yaml:8: nodes[1].faults[0]: {{pods.pod2.ip}}: pod "pod2" starts after the faults (start: afterFaults), so it has no address when they run'],
    ['a service backed by a pod started after the faults', TAPPED.replace('diagnose:', 'services: [{name: svc, port: 80, endpoints: [pod2]}]\ndiagnose:'),
      't.yaml:12: services[0].endpoints[0]: pod "pod2" starts after the faults (start: afterFaults): a service\'s endpoints are waited for before the faults'],
    ['noOtherCritical not a boolean', TAPPED.replace('noOtherCritical: true', 'noOtherCritical: 1'), 't.yaml:16: expect.noOtherCritical: expected true or false, got 1'],
    ['an absent entry with nothing to match', TAPPED.replace('absent: [{code: "Cni*"}', 'absent: [{}'), 't.yaml:17: expect.absent[0]: expected at least one of node, level, code or contains'],
    ['a star inside a code', TAPPED.replace('"Cni*"', '"C*ni"'), 't.yaml:17: expect.absent[0].code: "C*ni" is not a suspicion code (e.g. LinkDown), nor a prefix of codes ending in * (e.g. Cni*)'],
  ])('refuses %s', (_what, text, message) => {
    expect(thrown(() => parseScenario(text, 't.yaml')).message).toBe(message);
  });
});

describe('parseScenario: pod labels', () => {
  // Line 6 holds the labels of pod2.
  const labelled = (labels: string): string => `name: labels
network: calico-bgp
nodes:
  - name: node1
    pods:
      - {name: pod1, labels: ${labels}}
      - {name: pod2, listen: [{port: 80, protocol: TCP}]}
diagnose: {source: pod1, destination: pod2, port: 80, protocol: TCP}
expect: {}
`;

  it('reads labels as the API takes them, a prefixed key and an empty value too', () => {
    const s = parseScenario(labelled('{role: frontend, app.kubernetes.io/name: web, example.com/Tier_1.a: "", v: "1.0"}'), 'l.yaml');
    expect(s.nodes[0]?.pods?.[0]).toStrictEqual({ name: 'pod1', labels: { role: 'frontend', 'app.kubernetes.io/name': 'web', 'example.com/Tier_1.a': '', v: '1.0' } });
    expect(s.nodes[0]?.pods?.[1]).toStrictEqual({ name: 'pod2', listen: [{ port: 80, protocol: 'TCP' }] });
  });

  it('reads labels written as a block mapping, through an alias', () => {
    const text = labelled('&front {role: frontend}').replace('- {name: pod2,', '- {name: pod2, labels: *front,');
    expect(parseScenario(text, 'l.yaml').nodes[0]?.pods?.map((p) => p.labels)).toStrictEqual([{ role: 'frontend' }, { role: 'frontend' }]);
  });

  it.each([
    ['labels as a list', '[role, frontend]', 'l.yaml:6: nodes[0].pods[0].labels: expected a mapping, got a list'],
    ['a number as a value', '{tier: 1}', 'l.yaml:6: nodes[0].pods[0].labels.tier: expected a label value (a string), got 1 (quote it: "1")'],
    ['a boolean as a value', '{canary: true}', 'l.yaml:6: nodes[0].pods[0].labels.canary: expected a label value (a string), got true (quote it: "true")'],
    ['no value', '{role: }', 'l.yaml:6: nodes[0].pods[0].labels.role: expected a label value (a string), got nothing'],
    ['a mapping as a value', '{role: {a: b}}', 'l.yaml:6: nodes[0].pods[0].labels.role: expected a single value, got a mapping'],
    ['a value with a space', '{role: front end}', 'l.yaml:6: nodes[0].pods[0].labels.role: "front end" is not a valid label value (at most 63 of letters, digits, "-", "_" and ".", a letter or digit at both ends)'],
    ['a value ending in "-"', '{role: front-}', 'l.yaml:6: nodes[0].pods[0].labels.role: "front-" is not a valid label value (at most 63 of letters, digits, "-", "_" and ".", a letter or digit at both ends)'],
    ['a value of 64', `{role: ${'a'.repeat(64)}}`, `l.yaml:6: nodes[0].pods[0].labels.role: "${'a'.repeat(64)}" is not a valid label value (at most 63 of letters, digits, "-", "_" and ".", a letter or digit at both ends)`],
    ['a number as a key', '{1: a}', 'l.yaml:6: nodes[0].pods[0].labels: expected a label key, got 1'],
    ['a key with a space', '{"my role": a}', 'l.yaml:6: nodes[0].pods[0].labels.my role: "my role" is not a valid label key (its name: at most 63 of letters, digits, "-", "_" and ".", a letter or digit at both ends)'],
    ['a key with two slashes', '{a/b/c: x}', 'l.yaml:6: nodes[0].pods[0].labels.a/b/c: "a/b/c" is not a valid label key (its name after the "/": at most 63 of letters, digits, "-", "_" and ".", a letter or digit at both ends)'],
    ['a key with an empty name', '{example.com/: x}', 'l.yaml:6: nodes[0].pods[0].labels.example.com/: "example.com/" is not a valid label key (its name after the "/": at most 63 of letters, digits, "-", "_" and ".", a letter or digit at both ends)'],
    ['a key with an upper-case prefix', '{Example.com/role: x}', 'l.yaml:6: nodes[0].pods[0].labels.Example.com/role: "Example.com/role" is not a valid label key (its prefix before the "/": a DNS subdomain, lower-case letters, digits, "-" and ".", at most 253)'],
    ["the lab's part-of label", '{app.kubernetes.io/part-of: x}', 'l.yaml:6: nodes[0].pods[0].labels.app.kubernetes.io/part-of: "app.kubernetes.io/part-of" is a label the lab sets itself'],
    ["a label of the lab's own prefix", '{lab.netdiag.io/svc-web: "true"}', 'l.yaml:6: nodes[0].pods[0].labels.lab.netdiag.io/svc-web: "lab.netdiag.io/svc-web" is a label the lab sets itself'],
  ])('refuses %s', (_what, labels, message) => {
    const error = thrown(() => parseScenario(labelled(labels), 'l.yaml'));
    expect(error).toBeInstanceOf(ScenarioError);
    expect(error.message).toBe(message);
  });
});
