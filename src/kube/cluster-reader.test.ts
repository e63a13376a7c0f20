import { describe, expect, it } from '@jest/globals';
import { V1NetworkPolicy, V1NetworkPolicyIngressRule, V1ObjectMeta } from '@kubernetes/client-node';
import { asClusterObjects, type ClientClusterObjects, type ClientObject } from './cluster-reader.js';

const NONE: ClientClusterObjects = { nodes: [], pods: [], services: [], endpointSlices: [], networkPolicies: [], daemonSets: [], namespaces: [] };
const PEERS = [{ podSelector: { matchLabels: { app: 'client' } } }];

/** A NetworkPolicy as a list hands it out: the client's model, whose ingress rule says `_from`. */
function listedPolicy(): V1NetworkPolicy {
  const rule = Object.assign(new V1NetworkPolicyIngressRule(), { _from: PEERS, ports: [{ port: 5432 }] });
  const metadata = Object.assign(new V1ObjectMeta(), { name: 'allow', namespace: 'db', creationTimestamp: new Date('2026-01-02T03:04:05Z') });
  return Object.assign(new V1NetworkPolicy(), { metadata, spec: { podSelector: {}, ingress: [rule, { ports: [{ port: 9187 }] }] } });
}

/** The same NetworkPolicy as a watch event hands it out: the API's JSON. */
const WATCHED_POLICY: ClientObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'allow', namespace: 'db', creationTimestamp: '2026-01-02T03:04:05Z' as unknown as Date },
  spec: { podSelector: {}, ingress: [{ from: PEERS, ports: [{ port: 5432 }] }, { ports: [{ port: 9187 }] }] },
} as ClientObject;

const ENGINE_POLICY = {
  metadata: { name: 'allow', namespace: 'db', creationTimestamp: '2026-01-02T03:04:05.000Z' },
  spec: { podSelector: {}, ingress: [{ from: PEERS, ports: [{ port: 5432 }] }, { ports: [{ port: 9187 }] }] },
};

describe('asClusterObjects', () => {
  it.each([
    ['from a list (the client model: `_from`, a Date)', listedPolicy],
    ['from a watch (the API JSON: `from`, apiVersion and kind, a string)', (): ClientObject => WATCHED_POLICY],
  ])('gives the engine a NetworkPolicy in the API names %s', (_source, policy) => {
    const input = policy();
    const before = JSON.stringify(input);
    const objects = asClusterObjects({ ...NONE, networkPolicies: [input] });
    expect(objects.networkPolicies).toStrictEqual([ENGINE_POLICY]);
    // The input (an informer cache's object) is left as it was.
    expect(JSON.stringify(input)).toBe(before);
  });

  it('leaves out an object without a name', () => {
    expect(asClusterObjects({ ...NONE, pods: [{ metadata: { namespace: 'x' } }, { metadata: { namespace: 'x', name: 'a' } }] }).pods).toEqual([{ metadata: { namespace: 'x', name: 'a' } }]);
  });
});
