import { describe, expect, it } from '@jest/globals';
import { parseScenario } from './scenario.js';
import { nodeListenerPodName, scenarioManifests, serviceLabel } from './scenario-manifests.js';

const SCENARIO = parseScenario(
  `
name: manifests
network: bridge
nodes:
  - name: node1
    listen: [{port: 10250, protocol: TCP}]
    pods: [{name: client}]
  - name: node2
    pods:
      - name: web
        listen: [{port: 8080, protocol: TCP}, {port: 53, protocol: UDP}]
services:
  - {name: websvc, port: 80, targetPort: 8080, endpoints: [web]}
  - {name: empty, port: 81, endpoints: []}
policies:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: deny}
    spec: {podSelector: {}, policyTypes: [Ingress]}
diagnose: {source: client, destination: websvc, port: 80, protocol: TCP}
expect: {verdict: Reachable}
`,
  'm.yaml',
);

describe('scenarioManifests', () => {
  const m = scenarioManifests(SCENARIO, 'lab-1');

  it('binds every pod to its node and declares one containerPort per listener', () => {
    expect(m.pods.map((p) => [(p.metadata as { name: string }).name, (p.spec as { nodeName: string }).nodeName])).toEqual([
      [nodeListenerPodName('node1'), 'node1'],
      ['client', 'node1'],
      ['web', 'node2'],
    ]);
    const web = m.pods[2] as { spec: { containers: { ports: unknown[] }[] } };
    expect(web.spec.containers[0]?.ports).toEqual([
      { containerPort: 8080, protocol: 'TCP' },
      { containerPort: 53, protocol: 'UDP' },
    ]);
  });

  it('keeps the pods that start after the faults apart, bound to their node like the others', () => {
    expect(m.podsAfterFaults).toEqual([]);
    const late = parseScenario(
      'name: late\nnetwork: bridge\nnodes:\n  - name: node1\n    pods: [{name: a}, {name: b, start: afterFaults, listen: [{port: 80, protocol: TCP}]}, {name: c, start: beforeFaults}]\ndiagnose: {source: a, destination: b, port: 80, protocol: TCP}\nexpect: {}\n',
      'late.yaml',
    );
    const split = scenarioManifests(late, 'lab-1');
    expect(split.pods.map((p) => (p.metadata as { name: string }).name)).toEqual(['a', 'c']);
    expect(split.podsAfterFaults).toEqual([
      expect.objectContaining({ metadata: expect.objectContaining({ name: 'b', namespace: 'lab-1' }), spec: expect.objectContaining({ nodeName: 'node1', containers: [expect.objectContaining({ ports: [{ containerPort: 80, protocol: 'TCP' }] })] }) }),
    ]);
  });

  it('holds node listeners in a host-network pod', () => {
    expect(m.pods[0]).toMatchObject({ spec: { hostNetwork: true, containers: [{ ports: [{ containerPort: 10250, protocol: 'TCP' }] }] } });
  });

  it('selects a service endpoints by a label only they carry; a service without endpoints selects nothing', () => {
    expect(m.pods[2]).toMatchObject({ metadata: { labels: { [serviceLabel('websvc')]: 'true' } } });
    expect(m.services[0]).toMatchObject({ spec: { selector: { [serviceLabel('websvc')]: 'true' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } });
    expect(m.services[1]).toMatchObject({ spec: { selector: { [serviceLabel('empty')]: 'true' }, ports: [{ port: 81, targetPort: 81 }] } });
    expect(m.pods.filter((p) => JSON.stringify(p).includes(serviceLabel('empty')))).toEqual([]);
  });

  it("gives a pod its scenario labels beside the lab's own, whatever its start", () => {
    const labelled = parseScenario(
      'name: labelled\nnetwork: bridge\nnodes:\n  - name: node1\n    pods:\n      - {name: a, labels: {role: frontend, app.example.com/tier: web}}\n      - {name: b, start: afterFaults, labels: {role: db}, listen: [{port: 80, protocol: TCP}]}\nservices: [{name: svc, port: 80, endpoints: [a]}]\ndiagnose: {source: a, destination: b, port: 80, protocol: TCP}\nexpect: {}\n',
      'labelled.yaml',
    );
    const manifests = scenarioManifests(labelled, 'lab-1');
    expect(manifests.pods[0]?.metadata).toEqual({
      name: 'a',
      namespace: 'lab-1',
      labels: { 'app.kubernetes.io/part-of': 'netdiag-lab', role: 'frontend', 'app.example.com/tier': 'web', [serviceLabel('svc')]: 'true' },
    });
    expect(manifests.podsAfterFaults[0]?.metadata).toEqual({ name: 'b', namespace: 'lab-1', labels: { 'app.kubernetes.io/part-of': 'netdiag-lab', role: 'db' } });
  });

  it('puts policies in the namespace as written', () => {
    expect(m.policies[0]).toEqual({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny', namespace: 'lab-1' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } });
  });

  it.each([
    ['client', 'websvc', { pod: { name: 'client' } }, { service: { name: 'websvc' } }],
    ['node1', 'web', { node: { name: 'node1' } }, { pod: { name: 'web' } }],
    ['10.1.2.3', 'node2', { ip: '10.1.2.3' }, { node: { name: 'node2' } }],
  ])('diagnosis from %s to %s', (source, destination, src, dst) => {
    const s = { ...SCENARIO, diagnose: { ...SCENARIO.diagnose, source, destination } };
    expect(scenarioManifests(s, 'lab-1').diagnosis).toEqual({
      apiVersion: 'netdiag.io/v1alpha1',
      kind: 'NetworkDiagnosis',
      metadata: { name: 'scenario', namespace: 'lab-1' },
      spec: { source: src, destination: dst, protocol: 'TCP', port: 80 },
    });
  });
});
