import { describe, expect, it } from '@jest/globals';
import { parseIp, type IpAddress } from '../model/ip.js';
import type { ClusterObjects, KubeNamespace, KubeNetworkPolicy, KubePod } from '../model/kube-objects.js';
import { evaluateNetworkPolicies, type DirectionDecision, type PolicyConnection, type PolicyPeer, type PolicyProtocol } from './network-policy.js';

// A small cluster: two nodes; namespaces shop and monitoring (env=prod), dev (env=dev), legacy
// (no Namespace object in the snapshot) and kube-system.

function pod(namespace: string, name: string, app: string, node: string | undefined, ip: string | undefined, extra: Partial<KubePod['spec']> = {}): KubePod {
  return {
    metadata: { name, namespace, uid: `uid-${namespace}-${name}`, labels: { app } },
    spec: { ...(node === undefined ? {} : { nodeName: node }), ...extra },
    status: ip === undefined ? { phase: 'Pending' } : { phase: 'Running', podIP: ip },
  };
}

const PODS: readonly KubePod[] = [
  pod('shop', 'web', 'web', 'node1', '10.244.1.10', {
    containers: [{ name: 'web', ports: [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }],
  }),
  pod('shop', 'db', 'db', 'node2', '10.244.2.20', { containers: [{ name: 'pg', ports: [{ name: 'pg', containerPort: 5432, protocol: 'TCP' }] }] }),
  pod('shop', 'pending', 'db', undefined, undefined),
  pod('monitoring', 'prom', 'prom', 'node1', '10.244.1.30'),
  pod('dev', 'devbox', 'web', 'node2', '10.244.2.40'),
  pod('dev', 'tool', 'tool', 'node2', '10.244.2.41'),
  pod('legacy', 'old', 'old', 'node2', '10.244.2.50'),
  pod('kube-system', 'agent', 'agent', 'node1', '10.0.0.11', { hostNetwork: true }),
];

const NAMESPACES: readonly KubeNamespace[] = [
  { metadata: { name: 'shop', labels: { 'kubernetes.io/metadata.name': 'shop', team: 'shop', env: 'prod' } } },
  { metadata: { name: 'monitoring', labels: { 'kubernetes.io/metadata.name': 'monitoring', team: 'ops', env: 'prod' } } },
  // Written without its automatic label, as a hand-made object might be: the label is known anyway.
  { metadata: { name: 'dev', labels: { env: 'dev' } } },
  { metadata: { name: 'kube-system', labels: { 'kubernetes.io/metadata.name': 'kube-system' } } },
];

const NODE_IPS: Record<string, string> = { node1: '10.0.0.11', node2: '10.0.0.12' };

function ip(text: string): IpAddress {
  const address = parseIp(text);
  if (address === undefined) throw new Error(`bad address ${text}`);
  return address;
}

/** `shop/web` (a pod), `node:node1`, or an address; with the address the other end sees. */
function end(text: string): { peer: PolicyPeer; ip: IpAddress } {
  if (text.startsWith('node:')) {
    const name = text.slice(5);
    return { peer: { kind: 'node', name }, ip: ip(NODE_IPS[name] ?? '') };
  }
  if (text.includes('/')) {
    const found = PODS.find((p) => `${p.metadata.namespace}/${p.metadata.name}` === text);
    if (found === undefined) throw new Error(`no pod ${text}`);
    return { peer: { kind: 'pod', pod: found }, ip: ip(found.status?.podIP ?? '192.0.2.1') };
  }
  return { peer: { kind: 'address' }, ip: ip(text) };
}

function conn(from: string, to: string, port: number, protocol: PolicyProtocol = 'TCP', sourceIp?: string): PolicyConnection {
  const s = end(from);
  const d = end(to);
  return { source: s.peer, sourceIp: sourceIp === undefined ? s.ip : ip(sourceIp), destination: d.peer, destinationIp: d.ip, port, protocol };
}

/** `namespaces: null`: no Namespace object in the snapshot at all. */
function objects(policies: readonly KubeNetworkPolicy[], namespaces: readonly KubeNamespace[] | null = NAMESPACES): ClusterObjects {
  return { nodes: [], pods: PODS, services: [], endpointSlices: [], networkPolicies: policies, daemonSets: [], ...(namespaces === null ? {} : { namespaces }) };
}

function policy(key: string, spec: KubeNetworkPolicy['spec']): KubeNetworkPolicy {
  const [namespace, name] = key.split('/');
  return { metadata: { namespace: namespace ?? '', name: name ?? '' }, spec };
}

const NOT_ISOLATED: DirectionDecision = { kind: 'not-isolated' };
const allowed = (...by: string[]): DirectionDecision => ({ kind: 'allowed', by });
const denied = (...isolatedBy: string[]): DirectionDecision => ({ kind: 'denied', isolatedBy });

function ingressOf(policies: readonly KubeNetworkPolicy[], c: PolicyConnection, namespaces?: readonly KubeNamespace[] | null): DirectionDecision {
  return evaluateNetworkPolicies(objects(policies, namespaces), c).ingress;
}

function egressOf(policies: readonly KubeNetworkPolicy[], c: PolicyConnection): DirectionDecision {
  return evaluateNetworkPolicies(objects(policies), c).egress;
}

/** An ingress policy for shop/db with one rule. */
function dbIngress(name: string, rule: NonNullable<KubeNetworkPolicy['spec']['ingress']>[number]): KubeNetworkPolicy {
  return policy(`shop/${name}`, { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ingress: [rule] });
}

/** An egress policy for shop/web with one rule. */
function webEgress(name: string, rule: NonNullable<KubeNetworkPolicy['spec']['egress']>[number]): KubeNetworkPolicy {
  return policy(`shop/${name}`, { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [rule] });
}

const denyIngress = policy('shop/default-deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
const denyEgress = policy('shop/default-deny-egress', { podSelector: {}, policyTypes: ['Egress'] });

describe('evaluateNetworkPolicies: isolation', () => {
  it('leaves both ends alone when no policy exists', () => {
    expect(evaluateNetworkPolicies(objects([]), conn('shop/web', 'shop/db', 5432))).toEqual({ egress: NOT_ISOLATED, ingress: NOT_ISOLATED });
  });

  it.each<[string, KubeNetworkPolicy, DirectionDecision, DirectionDecision]>([
    ['default deny ingress', denyIngress, NOT_ISOLATED, denied('shop/default-deny-ingress')],
    ['default deny ingress by the policyTypes default', policy('shop/deny', { podSelector: {} }), NOT_ISOLATED, denied('shop/deny')],
    ['default deny egress', denyEgress, denied('shop/default-deny-egress'), NOT_ISOLATED],
    ['default deny both', policy('shop/deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }), denied('shop/deny-all'), denied('shop/deny-all')],
    [
      'an egress-only policy does not isolate ingress',
      policy('shop/egress-only', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: {} }] }] }),
      allowed('shop/egress-only'),
      NOT_ISOLATED,
    ],
    [
      'no policyTypes and egress rules: Ingress and Egress',
      policy('shop/implied', { podSelector: {}, egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] }),
      denied('shop/implied'),
      denied('shop/implied'),
    ],
    ['no policyTypes and an empty egress list: Ingress only', policy('shop/implied', { podSelector: {}, egress: [] }), NOT_ISOLATED, denied('shop/implied')],
    [
      'a policy selecting other pods does not isolate these',
      policy('shop/other', { podSelector: { matchLabels: { app: 'cache' } }, policyTypes: ['Ingress', 'Egress'] }),
      NOT_ISOLATED,
      NOT_ISOLATED,
    ],
    ['a policy of another namespace does not select these pods', policy('dev/deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }), NOT_ISOLATED, NOT_ISOLATED],
  ])('%s', (_name, p, egress, ingress) => {
    expect(evaluateNetworkPolicies(objects([p]), conn('shop/web', 'shop/db', 5432))).toEqual({ egress, ingress });
  });

  it('selects a pod that is Pending and has no address: selection is by labels', () => {
    const c: PolicyConnection = { ...conn('shop/web', 'shop/pending', 5432), destinationIp: ip('10.244.2.99') };
    expect(ingressOf([dbIngress('allow-web', { from: [{ podSelector: { matchLabels: { app: 'prom' } } }] })], c)).toEqual(denied('shop/allow-web'));
  });

  it('never selects a hostNetwork pod', () => {
    const p = policy('kube-system/deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    expect(evaluateNetworkPolicies(objects([p]), conn('kube-system/agent', '203.0.113.9', 443))).toEqual({ egress: NOT_ISOLATED, ingress: NOT_ISOLATED });
    expect(evaluateNetworkPolicies(objects([p]), conn('shop/web', 'kube-system/agent', 10250))).toEqual({ egress: NOT_ISOLATED, ingress: NOT_ISOLATED });
  });

  it('lets a pod reach itself however it is isolated', () => {
    const p = policy('shop/deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    expect(evaluateNetworkPolicies(objects([p]), conn('shop/web', 'shop/web', 8080))).toEqual({
      egress: { kind: 'exempt', reason: 'own-pod' },
      ingress: { kind: 'exempt', reason: 'own-pod' },
    });
  });
});

describe('evaluateNetworkPolicies: peers', () => {
  const sameNamespace = dbIngress('allow-same-namespace', { from: [{ podSelector: {} }] });
  it.each<[string, KubeNetworkPolicy, string, DirectionDecision]>([
    ['podSelector {} allows the same namespace', sameNamespace, 'shop/web', allowed('shop/allow-same-namespace')],
    ['podSelector {} does not allow another namespace', sameNamespace, 'monitoring/prom', denied('shop/allow-same-namespace')],
    ['podSelector with labels', dbIngress('allow-web', { from: [{ podSelector: { matchLabels: { app: 'web' } } }] }), 'shop/web', allowed('shop/allow-web')],
    ['podSelector looks in the policy namespace only', dbIngress('allow-web', { from: [{ podSelector: { matchLabels: { app: 'web' } } }] }), 'dev/devbox', denied('shop/allow-web')],
    ['an empty from allows every source', dbIngress('allow-all', { from: [] }), '203.0.113.9', allowed('shop/allow-all')],
    ['an absent from allows every source', dbIngress('allow-all', {}), 'dev/tool', allowed('shop/allow-all')],
    ['namespaceSelector matchLabels, matching', dbIngress('allow-ops', { from: [{ namespaceSelector: { matchLabels: { team: 'ops' } } }] }), 'monitoring/prom', allowed('shop/allow-ops')],
    ['namespaceSelector matchLabels, other namespace', dbIngress('allow-ops', { from: [{ namespaceSelector: { matchLabels: { team: 'ops' } } }] }), 'dev/devbox', denied('shop/allow-ops')],
    ['namespaceSelector {} allows every namespace', dbIngress('allow-pods', { from: [{ namespaceSelector: {} }] }), 'dev/tool', allowed('shop/allow-pods')],
    ['namespaceSelector does not match an address', dbIngress('allow-pods', { from: [{ namespaceSelector: {} }] }), '203.0.113.9', denied('shop/allow-pods')],
    [
      'the automatic name label, added when the object lacks it',
      dbIngress('allow-dev', { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'dev' } } }] }),
      'dev/tool',
      allowed('shop/allow-dev'),
    ],
  ])('%s', (_name, p, from, expected) => {
    expect(ingressOf([p], conn(from, 'shop/db', 5432))).toEqual(expected);
  });

  describe('namespaceSelector matchExpressions', () => {
    const by = (operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist', key: string, values?: string[]): KubeNetworkPolicy =>
      dbIngress(`ns-${operator}`, { from: [{ namespaceSelector: { matchExpressions: [{ key, operator, ...(values === undefined ? {} : { values }) }] } }] });
    it.each<[KubeNetworkPolicy, string, DirectionDecision]>([
      [by('In', 'team', ['ops', 'qa']), 'monitoring/prom', allowed('shop/ns-In')],
      [by('In', 'team', ['ops', 'qa']), 'dev/devbox', denied('shop/ns-In')],
      [by('NotIn', 'env', ['dev']), 'monitoring/prom', allowed('shop/ns-NotIn')],
      [by('NotIn', 'env', ['dev']), 'dev/devbox', denied('shop/ns-NotIn')],
      [by('NotIn', 'team', ['ops']), 'dev/devbox', allowed('shop/ns-NotIn')],
      [by('Exists', 'team'), 'monitoring/prom', allowed('shop/ns-Exists')],
      [by('Exists', 'team'), 'dev/devbox', denied('shop/ns-Exists')],
      [by('DoesNotExist', 'team'), 'dev/devbox', allowed('shop/ns-DoesNotExist')],
      [by('DoesNotExist', 'team'), 'monitoring/prom', denied('shop/ns-DoesNotExist')],
    ])('%#: %s from %s', (p, from, expected) => {
      expect(ingressOf([p], conn(from, 'shop/db', 5432))).toEqual(expected);
    });
  });

  describe('podSelector and namespaceSelector: one peer (AND) against two peers (OR)', () => {
    const and = dbIngress('and', { from: [{ namespaceSelector: { matchLabels: { env: 'dev' } }, podSelector: { matchLabels: { app: 'web' } } }] });
    const or = dbIngress('or', { from: [{ namespaceSelector: { matchLabels: { env: 'dev' } } }, { podSelector: { matchLabels: { app: 'web' } } }] });
    it.each<[string, DirectionDecision, DirectionDecision]>([
      // dev/devbox: app=web in an env=dev namespace: both.
      ['dev/devbox', allowed('shop/and'), allowed('shop/or')],
      // dev/tool: in an env=dev namespace, but app=tool: only the namespace peer.
      ['dev/tool', denied('shop/and'), allowed('shop/or')],
      // shop/web: app=web in the policy namespace, not env=dev: only the pod peer.
      ['shop/web', denied('shop/and'), allowed('shop/or')],
      ['monitoring/prom', denied('shop/and'), denied('shop/or')],
    ])('from %s', (from, withAnd, withOr) => {
      expect(ingressOf([and], conn(from, 'shop/db', 5432))).toEqual(withAnd);
      expect(ingressOf([or], conn(from, 'shop/db', 5432))).toEqual(withOr);
    });
  });

  describe('ipBlock', () => {
    const v4 = webEgress('egress-v4', { to: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.128/25'] } }] });
    const v6 = webEgress('egress-v6', { to: [{ ipBlock: { cidr: '2001:db8::/32', except: ['2001:db8:bad::/48'] } }] });
    it.each<[KubeNetworkPolicy, string, DirectionDecision]>([
      [v4, '203.0.113.9', allowed('shop/egress-v4')],
      [v4, '203.0.113.200', denied('shop/egress-v4')],
      [v4, '198.51.100.1', denied('shop/egress-v4')],
      [v4, '2001:db8::1', denied('shop/egress-v4')],
      [v6, '2001:db8::1', allowed('shop/egress-v6')],
      [v6, '2001:db8:bad::1', denied('shop/egress-v6')],
      [v6, '203.0.113.9', denied('shop/egress-v6')],
      // The block applies to pod addresses too.
      [webEgress('egress-pods', { to: [{ ipBlock: { cidr: '10.244.2.0/24' } }] }), 'shop/db', allowed('shop/egress-pods')],
    ])('%#: to %s', (p, to, expected) => {
      expect(egressOf([p], conn('shop/web', to, 443))).toEqual(expected);
    });
  });

  describe('nodes and hostNetwork pods are matched by ipBlock alone', () => {
    const byPods = dbIngress('from-pods', { from: [{ namespaceSelector: {} }, { podSelector: {} }] });
    const byBlock = dbIngress('from-nodes', { from: [{ ipBlock: { cidr: '10.0.0.0/24' } }] });
    it.each<[string, string, KubeNetworkPolicy, DirectionDecision]>([
      ['another node', 'node:node1', byPods, denied('shop/from-pods')],
      ['another node', 'node:node1', byBlock, allowed('shop/from-nodes')],
      ['a hostNetwork pod on another node', 'kube-system/agent', byPods, denied('shop/from-pods')],
      ['a hostNetwork pod on another node', 'kube-system/agent', byBlock, allowed('shop/from-nodes')],
      ['an address', '10.0.0.99', byBlock, allowed('shop/from-nodes')],
    ])('%s (%s)', (_name, from, p, expected) => {
      expect(ingressOf([p], conn(from, 'shop/db', 5432))).toEqual(expected);
    });

    it('matches a node by the address the pod sees, e.g. its bridge address after SNAT', () => {
      const p = dbIngress('from-pod-cidr', { from: [{ ipBlock: { cidr: '10.244.0.0/16' } }] });
      expect(ingressOf([p], conn('node:node1', 'shop/db', 5432, 'TCP', '10.244.1.1'))).toEqual(allowed('shop/from-pod-cidr'));
      expect(ingressOf([p], conn('node:node1', 'shop/db', 5432))).toEqual(denied('shop/from-pod-cidr'));
    });

    it.each<[string, string]>([
      ['the node the pod runs on', 'node:node2'],
      ['a hostNetwork pod on the node the pod runs on', 'kube-system/agent'],
    ])('always lets in %s', (_name, from) => {
      const to = from === 'node:node2' ? 'shop/db' : 'shop/web';
      expect(ingressOf([denyIngress], conn(from, to, 8080))).toEqual({ kind: 'exempt', reason: 'local-node' });
    });

    it('always lets a pod reach its own node', () => {
      expect(egressOf([denyEgress], conn('shop/web', 'node:node1', 10250))).toEqual({ kind: 'exempt', reason: 'local-node' });
      expect(egressOf([denyEgress], conn('shop/web', 'node:node2', 10250))).toEqual(denied('shop/default-deny-egress'));
    });
  });
});

describe('evaluateNetworkPolicies: ports and protocols', () => {
  const webIngress = (name: string, ports: NonNullable<NonNullable<KubeNetworkPolicy['spec']['ingress']>[number]['ports']>): KubeNetworkPolicy =>
    policy(`shop/${name}`, { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ ports }] });
  const named = webIngress('named-http', [{ port: 'http' }]);
  const namedUdp = webIngress('named-dns-udp', [{ port: 'dns', protocol: 'UDP' }]);
  const namedTcp = webIngress('named-dns-tcp', [{ port: 'dns' }]);
  const range = webIngress('range', [{ port: 32000, endPort: 32768 }]);
  const udp = webIngress('udp-53', [{ protocol: 'UDP', port: 53 }]);
  const sctp = webIngress('sctp', [{ protocol: 'SCTP', port: 9999 }]);
  const anyTcp = webIngress('any-tcp', [{ protocol: 'TCP' }]);
  const noPorts = webIngress('no-ports', []);
  it.each<[KubeNetworkPolicy, number, PolicyProtocol, DirectionDecision]>([
    [named, 8080, 'TCP', allowed('shop/named-http')],
    [named, 80, 'TCP', denied('shop/named-http')],
    [namedUdp, 53, 'UDP', allowed('shop/named-dns-udp')],
    // The rule's protocol defaults to TCP, and the pod's `dns` port is UDP.
    [namedTcp, 53, 'UDP', denied('shop/named-dns-tcp')],
    [namedTcp, 53, 'TCP', denied('shop/named-dns-tcp')],
    [range, 32000, 'TCP', allowed('shop/range')],
    [range, 32768, 'TCP', allowed('shop/range')],
    [range, 31999, 'TCP', denied('shop/range')],
    [range, 32769, 'TCP', denied('shop/range')],
    [udp, 53, 'UDP', allowed('shop/udp-53')],
    [udp, 53, 'TCP', denied('shop/udp-53')],
    [sctp, 9999, 'SCTP', allowed('shop/sctp')],
    [sctp, 9999, 'TCP', denied('shop/sctp')],
    [anyTcp, 1, 'TCP', allowed('shop/any-tcp')],
    [anyTcp, 1, 'UDP', denied('shop/any-tcp')],
    [anyTcp, 0, 'ICMP', denied('shop/any-tcp')],
    [udp, 0, 'ICMP', denied('shop/udp-53')],
    [noPorts, 0, 'ICMP', allowed('shop/no-ports')],
    [noPorts, 9999, 'SCTP', allowed('shop/no-ports')],
  ])('%#: %s to %s/%s', (p, port, protocol, expected) => {
    expect(ingressOf([p], conn('shop/db', 'shop/web', port, protocol))).toEqual(expected);
  });

  it('resolves an egress named port against the destination pod', () => {
    const p = webEgress('to-pg', { ports: [{ port: 'pg' }] });
    expect(egressOf([p], conn('shop/web', 'shop/db', 5432))).toEqual(allowed('shop/to-pg'));
    expect(egressOf([p], conn('shop/web', 'shop/db', 5433))).toEqual(denied('shop/to-pg'));
    expect(egressOf([p], conn('shop/web', 'monitoring/prom', 5432))).toEqual(denied('shop/to-pg'));
  });

  it('cannot resolve an egress named port towards something that is not a pod', () => {
    const p = webEgress('to-pg', { ports: [{ port: 'pg' }] });
    expect(egressOf([p], conn('shop/web', '203.0.113.9', 5432))).toEqual({
      kind: 'unknown',
      warnings: [
        {
          code: 'named-port-unresolved',
          message: 'NetworkPolicy shop/to-pg: spec.egress[0].ports[0] names port "pg", and the destination 203.0.113.9 is not a pod whose container ports could say which it is',
          source: 'NetworkPolicy shop/to-pg',
        },
      ],
    });
    // Another policy's definite answer is not held up by it.
    expect(egressOf([p, webEgress('to-web-ips', { to: [{ ipBlock: { cidr: '203.0.113.0/24' } }] })], conn('shop/web', '203.0.113.9', 5432))).toEqual(
      allowed('shop/to-web-ips'),
    );
  });
});

describe('evaluateNetworkPolicies: several policies', () => {
  const allowWeb = dbIngress('allow-web', { from: [{ podSelector: { matchLabels: { app: 'web' } } }], ports: [{ port: 5432 }] });
  const allowOps = dbIngress('allow-ops', { from: [{ namespaceSelector: { matchLabels: { team: 'ops' } } }] });
  const allowAll = dbIngress('allow-all', {});
  const set = [denyIngress, allowWeb, allowOps];
  it.each<[string, readonly KubeNetworkPolicy[], string, number, DirectionDecision]>([
    ['web on 5432', set, 'shop/web', 5432, allowed('shop/allow-web')],
    ['web on 22', set, 'shop/web', 22, denied('shop/default-deny-ingress', 'shop/allow-web', 'shop/allow-ops')],
    ['prom on any port', set, 'monitoring/prom', 22, allowed('shop/allow-ops')],
    ['devbox', set, 'dev/devbox', 5432, denied('shop/default-deny-ingress', 'shop/allow-web', 'shop/allow-ops')],
    ['every policy that allows is named', [...set, allowAll], 'shop/web', 5432, allowed('shop/allow-web', 'shop/allow-all')],
  ])('%s', (_name, policies, from, port, expected) => {
    expect(ingressOf(policies, conn(from, 'shop/db', port))).toEqual(expected);
  });
});

describe('evaluateNetworkPolicies: namespaces without a Namespace object', () => {
  const allowOps = dbIngress('allow-ops', { from: [{ namespaceSelector: { matchLabels: { team: 'ops' } } }] });
  const unknownTeam = (namespace: string): DirectionDecision => ({
    kind: 'unknown',
    warnings: [
      {
        code: 'namespace-labels-unknown',
        message: `NetworkPolicy shop/allow-ops: spec.ingress[0].from[0].namespaceSelector needs label team of namespace ${namespace}, whose Namespace object is not in the snapshot (only kubernetes.io/metadata.name is known)`,
        source: 'NetworkPolicy shop/allow-ops',
      },
    ],
  });

  it('does not guess a label it does not know', () => {
    expect(ingressOf([allowOps], conn('legacy/old', 'shop/db', 5432))).toEqual(unknownTeam('legacy'));
  });

  it('knows nothing but the name label of any namespace when no Namespace was collected', () => {
    expect(ingressOf([allowOps], conn('monitoring/prom', 'shop/db', 5432), null)).toEqual(unknownTeam('monitoring'));
    const byName = dbIngress('by-name', { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] });
    expect(ingressOf([byName], conn('monitoring/prom', 'shop/db', 5432), null)).toEqual(allowed('shop/by-name'));
    expect(ingressOf([byName], conn('legacy/old', 'shop/db', 5432), null)).toEqual(denied('shop/by-name'));
  });

  it('decides when the known part of the peer already fails or another policy allows', () => {
    const andProm = dbIngress('ops-prom', { from: [{ namespaceSelector: { matchLabels: { team: 'ops' } }, podSelector: { matchLabels: { app: 'prom' } } }] });
    expect(ingressOf([andProm], conn('legacy/old', 'shop/db', 5432))).toEqual(denied('shop/ops-prom'));
    const allowPg = dbIngress('allow-pg', { ports: [{ port: 5432 }] });
    expect(ingressOf([allowOps, allowPg], conn('legacy/old', 'shop/db', 5432))).toEqual(allowed('shop/allow-pg'));
    expect(ingressOf([allowOps, allowPg], conn('legacy/old', 'shop/db', 22))).toEqual(unknownTeam('legacy'));
  });
});

describe('evaluateNetworkPolicies: objects the API server would reject', () => {
  it.each<[string, KubeNetworkPolicy, string]>([
    ['a malformed CIDR', dbIngress('bad', { from: [{ ipBlock: { cidr: '10.0.0/8' } }] }), 'spec.ingress[0].from[0].ipBlock.cidr: "10.0.0/8" is not a CIDR'],
    ['a bare address as CIDR', dbIngress('bad', { from: [{ ipBlock: { cidr: '10.0.0.1' } }] }), 'spec.ingress[0].from[0].ipBlock.cidr: "10.0.0.1" is not a CIDR'],
    ['a lower-case protocol', dbIngress('bad', { ports: [{ protocol: 'tcp', port: 5432 }] }), 'spec.ingress[0].ports[0].protocol: "tcp" is not TCP, UDP or SCTP'],
    ['an empty peer', dbIngress('bad', { from: [{}] }), 'spec.ingress[0].from[0]: neither podSelector, namespaceSelector nor ipBlock'],
    [
      'ipBlock with a selector',
      dbIngress('bad', { from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }),
      'spec.ingress[0].from[0]: ipBlock together with a selector',
    ],
  ])('%s is unknown with a warning', (_name, p, what) => {
    expect(ingressOf([p], conn('shop/web', 'shop/db', 5432))).toEqual({
      kind: 'unknown',
      warnings: [{ code: 'invalid-network-policy', message: `NetworkPolicy shop/bad: ${what} (the API server would reject it)`, source: 'NetworkPolicy shop/bad' }],
    });
  });
});
