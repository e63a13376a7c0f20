import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import type { DiagnosisQuery, QueryEndpoint } from '../model/diagnosis.js';
import type { ClusterObjects } from '../model/kube-objects.js';
import { planCollection } from './plan.js';

// The recorded mini-cluster: pod1 and pod3 on node1, pod2 on node2; svc1 → pod2, pod3; `empty` has no endpoints.
const objects = JSON.parse(readFileSync(new URL('../../../test/diagnosis/fixtures/mini-cluster/objects.json', import.meta.url), 'utf8')) as ClusterObjects;
const pod = (name: string): QueryEndpoint => ({ kind: 'pod', namespace: 'default', name });
const q = (source: QueryEndpoint, destination: QueryEndpoint, port = 80): DiagnosisQuery => ({ source, destination, port, protocol: 'TCP' });
const names = (query: DiagnosisQuery, o: ClusterObjects = objects): string[] => planCollection(o, query).nodes.map((n) => n.name);

describe('planCollection', () => {
  it.each<[string, DiagnosisQuery, string[]]>([
    ['pod to pod across nodes', q(pod('pod1'), pod('pod2')), ['node1', 'node2']],
    ['pod to pod on one node', q(pod('pod1'), pod('pod3')), ['node1']],
    ['pod to a service: every endpoint node', q(pod('pod1'), { kind: 'service', namespace: 'default', name: 'svc1' }), ['node1', 'node2']],
    ['pod to a service without endpoints: the client only', q(pod('pod2'), { kind: 'service', namespace: 'default', name: 'empty' }), ['node2']],
    ['node to a pod IP', q({ kind: 'node', name: 'node2' }, { kind: 'ip', ip: '10.244.0.5' }), ['node1', 'node2']],
    ['pod to a ClusterIP', q(pod('pod2'), { kind: 'ip', ip: '10.96.0.10' }), ['node1', 'node2']],
    ['pod to an address outside the cluster', q(pod('pod2'), { kind: 'ip', ip: '192.0.2.10' }), ['node2']],
  ])('%s', (_name, query, expected) => {
    expect(names(query)).toEqual(expected);
  });

  it('says why each node is needed', () => {
    expect(planCollection(objects, q(pod('pod2'), { kind: 'service', namespace: 'default', name: 'svc1' })).nodes).toEqual([
      { name: 'node1', why: ['endpoint 10.244.0.6 of service default/svc1'] },
      { name: 'node2', why: ['the source pod default/pod2', 'endpoint 10.244.1.5 of service default/svc1'] },
    ]);
  });

  it("a node's NodePort brings in the service's endpoint nodes", () => {
    const withNodePort: ClusterObjects = {
      ...objects,
      services: objects.services.map((s) => (s.metadata.name === 'svc1' ? { ...s, spec: { ...s.spec, ports: (s.spec.ports ?? []).map((p) => ({ ...p, nodePort: 30080 })) } } : s)),
    };
    expect(names(q(pod('pod2'), { kind: 'node', name: 'node2' }, 30080), withNodePort)).toEqual(['node1', 'node2']);
  });

  it('names what it cannot place', () => {
    expect(planCollection(objects, q(pod('nope'), { kind: 'service', namespace: 'default', name: 'gone' })).warnings.map((w) => w.message)).toEqual([
      'the source pod default/nope does not exist',
      'the destination service default/gone does not exist',
    ]);
  });
});
