// Kubernetes NetworkPolicy (networking.k8s.io/v1) for one connection: does the source pod's
// egress allow it, and does the destination pod's ingress?
//
// The API's rules, as its reference and the "Network Policies" concept page state them:
// - A policy selects pods of its own namespace by spec.podSelector (`{}`: all of them). A pod is
//   isolated for ingress when a policy selecting it has Ingress in policyTypes, for egress when one
//   has Egress. policyTypes absent or empty: Ingress, plus Egress when spec.egress has rules.
// - An isolated pod accepts (sends) what at least one rule of one selecting policy of that type
//   allows: policies and rules are ORed. A rule allows when one of its peers AND one of its ports
//   match; an empty or absent from/to is every peer, an empty or absent ports every port of every
//   protocol.
// - A peer's podSelector alone means pods of the policy's namespace, namespaceSelector alone all
//   pods of the matching namespaces, both in one peer the matching pods of the matching namespaces;
//   ipBlock is the cidr minus `except`, matched against the address the pod sees.
// - A port's protocol defaults to TCP; a numeric port may open a range up to endPort; a named port
//   is a container port of the destination pod with that name and protocol.
// - Exceptions: a pod cannot block traffic to or from itself, nor to or from the node it runs on.
//
// What the specification leaves to the network plugin, decided here and said where it is decided:
// - hostNetwork pods: the concept page allows a plugin either to treat them like other pods or to
//   ignore them for podSelector and namespaceSelector and see only their node's address. The
//   latter is the common case and the one taken: a hostNetwork pod is never selected by a policy,
//   and as a peer it is its node, matched by ipBlock alone.
// - NetworkPolicy is defined for TCP, UDP and SCTP. ICMP is taken as most plugins treat it: a rule
//   without ports allows it, a rule that lists ports never does.
// - ipBlock applies to pod addresses as well (the API's conformance tests rely on it; some plugins
//   restrict CIDR rules to traffic leaving the cluster).
// - Which address policy sees after SNAT/DNAT is up to the plugin: the caller passes the
//   connection as the destination pod receives it (see PolicyConnection).
//
// What the snapshot cannot answer is a warning and an `unknown` decision, never a guess: a
// namespace whose Namespace object is missing (only kubernetes.io/metadata.name is known of it), a
// named egress port towards something that is not a pod, a field the API server would have
// rejected.

import { assertNever } from '../model/assert-never.js';
import { formatIp, parsePrefix, prefixContains, type IpAddress } from '../model/ip.js';
import {
  objectKey,
  type ClusterObjects,
  type KubeNamespace,
  type KubeNetworkPolicy,
  type KubePod,
  type LabelSelector,
  type NetworkPolicyPeer,
  type NetworkPolicyPort,
  type ObjectMeta,
  type PolicyType,
} from '../model/kube-objects.js';
import type { Warning } from '../model/warning.js';
import { matchLabelSelector } from './label-selector.js';

/** One end of a connection as NetworkPolicy sees it. */
export type PolicyPeer =
  /** A pod; a hostNetwork pod counts as its node. */
  | { readonly kind: 'pod'; readonly pod: KubePod }
  /** A node (any of its addresses, including those of its bridges and tunnels). */
  | { readonly kind: 'node'; readonly name: string }
  /** Anything else: outside the cluster, a load balancer, an unowned address. */
  | { readonly kind: 'address' };

export type PolicyProtocol = 'TCP' | 'UDP' | 'SCTP' | 'ICMP';

/**
 * The connection as the destination pod receives it: after service DNAT (the destination pod's
 * address and target port) and after any SNAT (`source`/`sourceIp` are then the owner and the
 * address the packet carries, e.g. a node).
 */
export interface PolicyConnection {
  readonly source: PolicyPeer;
  readonly sourceIp: IpAddress;
  readonly destination: PolicyPeer;
  readonly destinationIp: IpAddress;
  /** The destination port; ignored for ICMP. */
  readonly port: number;
  readonly protocol: PolicyProtocol;
}

export type DirectionDecision =
  /** No policy selects the pod for this direction, or this end is not a (pod-network) pod. */
  | { readonly kind: 'not-isolated' }
  /** Isolated, but the API exempts this traffic: to or from the pod itself, or its own node. */
  | { readonly kind: 'exempt'; readonly reason: 'own-pod' | 'local-node' }
  /** `namespace/name` of every policy with a rule that allows the connection. */
  | { readonly kind: 'allowed'; readonly by: readonly string[] }
  /** The policies that isolate the pod for this direction; none allows the connection. */
  | { readonly kind: 'denied'; readonly isolatedBy: readonly string[] }
  | { readonly kind: 'unknown'; readonly warnings: readonly Warning[] };

export interface PolicyDecision {
  /** The source pod's egress. */
  readonly egress: DirectionDecision;
  /** The destination pod's ingress. */
  readonly ingress: DirectionDecision;
}

/** The automatic label the control plane sets on every namespace. */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** Evaluates the source pod's egress and the destination pod's ingress policies for `c`. */
export function evaluateNetworkPolicies(objects: ClusterObjects, c: PolicyConnection): PolicyDecision {
  const index = policyIndexOf(objects);
  return {
    egress: evaluateDirection(index, 'Egress', c.source, c.destination, c.destinationIp, c),
    ingress: evaluateDirection(index, 'Ingress', c.destination, c.source, c.sourceIp, c),
  };
}

// ---- three-valued logic: yes, no, or unknown with the warnings that say why ----

type Tri = { readonly kind: 'yes' } | { readonly kind: 'no' } | { readonly kind: 'unknown'; readonly warnings: readonly Warning[] };

const YES: Tri = { kind: 'yes' };
const NO: Tri = { kind: 'no' };

function tri(value: boolean): Tri {
  return value ? YES : NO;
}

/** AND, left to right; `no` wins over `unknown`, and stops the evaluation. */
function both(first: () => Tri, second: () => Tri): Tri {
  const a = first();
  if (a.kind === 'no') return NO;
  const b = second();
  if (b.kind === 'no') return NO;
  if (a.kind === 'yes' && b.kind === 'yes') return YES;
  return { kind: 'unknown', warnings: [...(a.kind === 'unknown' ? a.warnings : []), ...(b.kind === 'unknown' ? b.warnings : [])] };
}

/** OR over items; `yes` wins over `unknown`, and stops the evaluation. Empty: `no`. */
function anyOf<T>(items: readonly T[], f: (item: T, i: number) => Tri): Tri {
  const warnings: Warning[] = [];
  let unknown = false;
  for (const [i, item] of items.entries()) {
    const r = f(item, i);
    if (r.kind === 'yes') return YES;
    if (r.kind === 'unknown') {
      unknown = true;
      warnings.push(...r.warnings);
    }
  }
  return unknown ? { kind: 'unknown', warnings } : NO;
}

// ---- indexes, built once per object list (the lists are immutable snapshot data) ----

interface PolicyIndex {
  readonly byNamespace: ReadonlyMap<string, readonly KubeNetworkPolicy[]>;
  readonly namespaceLabels: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

const policyIndexes = new WeakMap<readonly KubeNetworkPolicy[], ReadonlyMap<string, readonly KubeNetworkPolicy[]>>();
const namespaceIndexes = new WeakMap<readonly KubeNamespace[], ReadonlyMap<string, Readonly<Record<string, string>>>>();
const NO_NAMESPACES: ReadonlyMap<string, Readonly<Record<string, string>>> = new Map();

function policyIndexOf(objects: ClusterObjects): PolicyIndex {
  let byNamespace = policyIndexes.get(objects.networkPolicies);
  if (byNamespace === undefined) {
    const map = new Map<string, KubeNetworkPolicy[]>();
    for (const policy of objects.networkPolicies) {
      const ns = namespaceOf(policy.metadata);
      const list = map.get(ns);
      if (list === undefined) map.set(ns, [policy]);
      else list.push(policy);
    }
    byNamespace = map;
    policyIndexes.set(objects.networkPolicies, byNamespace);
  }
  let namespaceLabels = objects.namespaces === undefined ? NO_NAMESPACES : namespaceIndexes.get(objects.namespaces);
  if (namespaceLabels === undefined && objects.namespaces !== undefined) {
    const map = new Map<string, Readonly<Record<string, string>>>();
    // The control plane sets the automatic label on every namespace; add it to hand-written objects.
    for (const ns of objects.namespaces) map.set(ns.metadata.name, { ...ns.metadata.labels, [NAMESPACE_NAME_LABEL]: ns.metadata.name });
    namespaceLabels = map;
    namespaceIndexes.set(objects.namespaces, namespaceLabels);
  }
  return { byNamespace, namespaceLabels: namespaceLabels ?? NO_NAMESPACES };
}

function namespaceOf(meta: ObjectMeta): string {
  return meta.namespace ?? 'default';
}

// ---- one direction ----

/** What one direction's evaluation needs besides the policy. */
interface DirectionContext {
  readonly index: PolicyIndex;
  readonly direction: PolicyType;
  /** The pod whose policies are evaluated. */
  readonly pod: KubePod;
  /** The other end and the address the pod sees it at. */
  readonly peer: PolicyPeer;
  readonly peerIp: IpAddress;
  /** The pod whose container ports name a named port: the destination, if it is a pod-network pod. */
  readonly portsPod: KubePod | undefined;
  readonly c: PolicyConnection;
}

const NOT_ISOLATED: DirectionDecision = { kind: 'not-isolated' };

function evaluateDirection(index: PolicyIndex, direction: PolicyType, self: PolicyPeer, peer: PolicyPeer, peerIp: IpAddress, c: PolicyConnection): DirectionDecision {
  // A hostNetwork pod shares its node's stack; plugins cannot tell its traffic from the node's, so
  // policies do not select it (implementation-defined: see the top of this file).
  if (self.kind !== 'pod' || self.pod.spec.hostNetwork === true) return NOT_ISOLATED;
  const pod = self.pod;
  const destination = direction === 'Ingress' ? self : peer;
  const ctx: DirectionContext = {
    index,
    direction,
    pod,
    peer,
    peerIp,
    portsPod: destination.kind === 'pod' && destination.pod.spec.hostNetwork !== true ? destination.pod : undefined,
    c,
  };

  // Selection is by labels alone: a pod that is Pending or has no address is selected all the same.
  const applying: { readonly key: string; readonly policy: KubeNetworkPolicy; readonly selects: Tri }[] = [];
  for (const policy of index.byNamespace.get(namespaceOf(pod.metadata)) ?? []) {
    const selects = both(
      () => appliesTo(policy, direction),
      () => selectorResult(policy, 'spec.podSelector', policy.spec.podSelector ?? {}, pod.metadata.labels, true, ''),
    );
    if (selects.kind !== 'no') applying.push({ key: objectKey(policy.metadata), policy, selects });
  }
  if (applying.length === 0) return NOT_ISOLATED;

  const exemption = exemptionOf(pod, peer);
  if (exemption !== undefined) return { kind: 'exempt', reason: exemption };

  const allowedBy: string[] = [];
  const warnings: Warning[] = [];
  for (const a of applying) {
    const allows = both(
      () => a.selects,
      () => rulesAllow(ctx, a.policy),
    );
    if (allows.kind === 'yes') allowedBy.push(a.key);
    else if (allows.kind === 'unknown') warnings.push(...allows.warnings);
  }
  if (allowedBy.length > 0) return { kind: 'allowed', by: allowedBy };
  const isolated = anyOf(applying, (a) => a.selects);
  if (isolated.kind === 'yes' && warnings.length === 0) {
    return { kind: 'denied', isolatedBy: applying.filter((a) => a.selects.kind === 'yes').map((a) => a.key) };
  }
  if (isolated.kind === 'unknown') warnings.push(...isolated.warnings);
  return { kind: 'unknown', warnings: dedupe(warnings) };
}

/** Whether the policy is of this direction's type (policyTypes, or the API server's default). */
function appliesTo(policy: KubeNetworkPolicy, direction: PolicyType): Tri {
  const declared: readonly string[] = policy.spec.policyTypes ?? [];
  if (declared.length === 0) return tri(direction === 'Ingress' || (policy.spec.egress ?? []).length > 0);
  if (declared.includes(direction)) return YES;
  const invalid = declared.filter((t) => t !== 'Ingress' && t !== 'Egress');
  if (invalid.length > 0) return invalidPolicy(policy, `spec.policyTypes: ${invalid.map((t) => JSON.stringify(t)).join(', ')} is neither Ingress nor Egress`);
  return NO;
}

/** The API's exceptions: a pod always reaches itself and is always reached by its own node. */
function exemptionOf(pod: KubePod, peer: PolicyPeer): 'own-pod' | 'local-node' | undefined {
  const nodeName = pod.spec.nodeName;
  switch (peer.kind) {
    case 'pod':
      if (peer.pod.spec.hostNetwork === true) return nodeName !== undefined && peer.pod.spec.nodeName === nodeName ? 'local-node' : undefined;
      return isSamePod(peer.pod, pod) ? 'own-pod' : undefined;
    case 'node':
      return nodeName !== undefined && peer.name === nodeName ? 'local-node' : undefined;
    case 'address':
      return undefined;
    default:
      return assertNever(peer, 'policy peer');
  }
}

function isSamePod(a: KubePod, b: KubePod): boolean {
  if (a.metadata.uid !== undefined && b.metadata.uid !== undefined) return a.metadata.uid === b.metadata.uid;
  return objectKey(a.metadata) === objectKey(b.metadata);
}

/** Whether one of the policy's rules of this direction allows the connection. */
function rulesAllow(ctx: DirectionContext, policy: KubeNetworkPolicy): Tri {
  switch (ctx.direction) {
    case 'Ingress':
      return anyOf(policy.spec.ingress ?? [], (rule, i) =>
        both(
          () => portsAllow(ctx, policy, rule.ports, `spec.ingress[${i}]`),
          () => peersAllow(ctx, policy, rule.from, `spec.ingress[${i}].from`),
        ),
      );
    case 'Egress':
      return anyOf(policy.spec.egress ?? [], (rule, i) =>
        both(
          () => portsAllow(ctx, policy, rule.ports, `spec.egress[${i}]`),
          () => peersAllow(ctx, policy, rule.to, `spec.egress[${i}].to`),
        ),
      );
    default:
      return assertNever(ctx.direction, 'policy type');
  }
}

// ---- peers ----

function peersAllow(ctx: DirectionContext, policy: KubeNetworkPolicy, peers: readonly NetworkPolicyPeer[] | undefined, path: string): Tri {
  if (peers === undefined || peers.length === 0) return YES;
  return anyOf(peers, (peer, i) => peerMatches(ctx, policy, peer, `${path}[${i}]`));
}

function peerMatches(ctx: DirectionContext, policy: KubeNetworkPolicy, peer: NetworkPolicyPeer, path: string): Tri {
  const bySelector = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
  if (peer.ipBlock !== undefined) {
    if (bySelector) return invalidPolicy(policy, `${path}: ipBlock together with a selector`);
    return ipBlockContains(policy, peer.ipBlock.cidr, peer.ipBlock.except ?? [], ctx.peerIp, `${path}.ipBlock`);
  }
  if (!bySelector) return invalidPolicy(policy, `${path}: neither podSelector, namespaceSelector nor ipBlock`);
  // Selectors match pod-network pods only; nodes, hostNetwork pods and other addresses are matched
  // by ipBlock alone.
  if (ctx.peer.kind !== 'pod' || ctx.peer.pod.spec.hostNetwork === true) return NO;
  const other = ctx.peer.pod;
  const otherNamespace = namespaceOf(other.metadata);
  const namespaceSelector = peer.namespaceSelector;
  return both(
    () => (peer.podSelector === undefined ? YES : selectorResult(policy, `${path}.podSelector`, peer.podSelector, other.metadata.labels, true, '')),
    () =>
      namespaceSelector === undefined
        ? tri(otherNamespace === namespaceOf(policy.metadata))
        : namespaceMatches(ctx.index, policy, `${path}.namespaceSelector`, namespaceSelector, otherNamespace),
  );
}

function namespaceMatches(index: PolicyIndex, policy: KubeNetworkPolicy, path: string, selector: LabelSelector, namespace: string): Tri {
  const labels = index.namespaceLabels.get(namespace);
  if (labels !== undefined) return selectorResult(policy, path, selector, labels, true, namespace);
  return selectorResult(policy, path, selector, { [NAMESPACE_NAME_LABEL]: namespace }, false, namespace);
}

/** A selector's match as Tri; `namespace` names the namespace whose labels are matched, if any. */
function selectorResult(
  policy: KubeNetworkPolicy,
  path: string,
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> | undefined,
  complete: boolean,
  namespace: string,
): Tri {
  const m = matchLabelSelector(selector, labels, complete);
  switch (m.kind) {
    case 'match':
      return YES;
    case 'no-match':
      return NO;
    case 'unknown':
      return {
        kind: 'unknown',
        warnings: m.keys.map((key) => ({
          code: 'namespace-labels-unknown',
          message: `NetworkPolicy ${objectKey(policy.metadata)}: ${path} needs label ${key} of namespace ${namespace}, whose Namespace object is not in the snapshot (only ${NAMESPACE_NAME_LABEL} is known)`,
          source: `NetworkPolicy ${objectKey(policy.metadata)}`,
        })),
      };
    case 'invalid':
      return invalidPolicy(policy, `${path}: ${m.reason}`);
    default:
      return assertNever(m, 'selector match');
  }
}

function ipBlockContains(policy: KubeNetworkPolicy, cidr: string, except: readonly string[], ip: IpAddress, path: string): Tri {
  const block = cidr.includes('/') ? parsePrefix(cidr) : undefined;
  if (block === undefined) return invalidPolicy(policy, `${path}.cidr: ${JSON.stringify(cidr)} is not a CIDR`);
  if (!prefixContains(block, ip)) return NO;
  for (const [i, text] of except.entries()) {
    const hole = text.includes('/') ? parsePrefix(text) : undefined;
    if (hole === undefined) return invalidPolicy(policy, `${path}.except[${i}]: ${JSON.stringify(text)} is not a CIDR`);
    if (prefixContains(hole, ip)) return NO;
  }
  return YES;
}

// ---- ports ----

const PORT_PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);

function portsAllow(ctx: DirectionContext, policy: KubeNetworkPolicy, ports: readonly NetworkPolicyPort[] | undefined, path: string): Tri {
  if (ports === undefined || ports.length === 0) return YES;
  // A port entry names TCP, UDP or SCTP: ICMP is allowed only by rules without ports.
  if (ctx.c.protocol === 'ICMP') return NO;
  return anyOf(ports, (port, i) => portMatches(ctx, policy, port, `${path}.ports[${i}]`));
}

function portMatches(ctx: DirectionContext, policy: KubeNetworkPolicy, p: NetworkPolicyPort, path: string): Tri {
  const protocol = p.protocol ?? 'TCP';
  if (!PORT_PROTOCOLS.has(protocol)) return invalidPolicy(policy, `${path}.protocol: ${JSON.stringify(protocol)} is not TCP, UDP or SCTP`);
  if (protocol !== ctx.c.protocol) return NO;
  const { port, endPort } = p;
  if (port === undefined) {
    return endPort === undefined ? YES : invalidPolicy(policy, `${path}: endPort without port`);
  }
  if (typeof port === 'number') {
    if (endPort === undefined) return tri(ctx.c.port === port);
    if (endPort < port) return invalidPolicy(policy, `${path}: endPort ${endPort} is below port ${port}`);
    return tri(ctx.c.port >= port && ctx.c.port <= endPort);
  }
  if (endPort !== undefined) return invalidPolicy(policy, `${path}: endPort with the named port ${JSON.stringify(port)}`);
  const pod = ctx.portsPod;
  if (pod === undefined) {
    return {
      kind: 'unknown',
      warnings: [
        {
          code: 'named-port-unresolved',
          message: `NetworkPolicy ${objectKey(policy.metadata)}: ${path} names port ${JSON.stringify(port)}, and the destination ${formatIp(ctx.c.destinationIp)} is not a pod whose container ports could say which it is`,
          source: `NetworkPolicy ${objectKey(policy.metadata)}`,
        },
      ],
    };
  }
  // The name resolves to the destination pod's container port of that name and protocol.
  const named = (pod.spec.containers ?? []).some((container) =>
    (container.ports ?? []).some((cp) => cp.name === port && (cp.protocol ?? 'TCP') === protocol && cp.containerPort === ctx.c.port),
  );
  return tri(named);
}

// ---- warnings ----

function invalidPolicy(policy: KubeNetworkPolicy, what: string): Tri {
  const key = objectKey(policy.metadata);
  return {
    kind: 'unknown',
    warnings: [{ code: 'invalid-network-policy', message: `NetworkPolicy ${key}: ${what} (the API server would reject it)`, source: `NetworkPolicy ${key}` }],
  };
}

function dedupe(warnings: readonly Warning[]): Warning[] {
  const seen = new Set<string>();
  return warnings.filter((w) => {
    const id = `${w.code}\u0000${w.message}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
