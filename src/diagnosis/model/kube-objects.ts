// The Kubernetes objects the diagnosis reads, as minimal structural types: the fields the engine
// uses, in the API's own names, so that an object from the API server (or its JSON) fits as is.
// Not imported from @kubernetes/client-node: the engine is pure and sees only plain data.

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** What controllers and node agents record on the object (flannel's lease: `flannel.alpha.coreos.com/*` on a Node). */
  readonly annotations?: Readonly<Record<string, string>>;
  readonly uid?: string;
  /** When the API server created it (RFC 3339). */
  readonly creationTimestamp?: string;
}

export interface NodeAddress {
  /** InternalIP, ExternalIP, Hostname, ... */
  readonly type: string;
  readonly address: string;
}

export interface KubeNode {
  readonly metadata: ObjectMeta;
  readonly spec?: { readonly podCIDR?: string; readonly podCIDRs?: readonly string[] };
  readonly status?: { readonly addresses?: readonly NodeAddress[] };
}

export interface ContainerPort {
  readonly containerPort: number;
  readonly protocol?: string;
  readonly name?: string;
}

export interface KubePod {
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly nodeName?: string;
    readonly hostNetwork?: boolean;
    readonly containers?: readonly { readonly name: string; readonly ports?: readonly ContainerPort[] }[];
  };
  readonly status?: { readonly podIP?: string; readonly podIPs?: readonly { readonly ip: string }[]; readonly phase?: string };
}

export interface ServicePort {
  readonly name?: string;
  readonly protocol?: string;
  readonly port: number;
  readonly targetPort?: number | string;
  readonly nodePort?: number;
}

export interface KubeService {
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly type?: string;
    readonly clusterIP?: string;
    readonly clusterIPs?: readonly string[];
    readonly externalIPs?: readonly string[];
    readonly ports?: readonly ServicePort[];
    readonly selector?: Readonly<Record<string, string>>;
  };
  readonly status?: { readonly loadBalancer?: { readonly ingress?: readonly { readonly ip?: string; readonly hostname?: string }[] } };
}

export interface EndpointSliceEndpoint {
  readonly addresses: readonly string[];
  readonly conditions?: { readonly ready?: boolean; readonly serving?: boolean; readonly terminating?: boolean };
  readonly nodeName?: string;
  readonly targetRef?: { readonly kind?: string; readonly namespace?: string; readonly name?: string };
}

export interface KubeEndpointSlice {
  /** `kubernetes.io/service-name` in labels names the service. */
  readonly metadata: ObjectMeta;
  readonly addressType?: string;
  readonly endpoints?: readonly EndpointSliceEndpoint[];
  readonly ports?: readonly { readonly name?: string; readonly port?: number; readonly protocol?: string }[];
}

/** The operators of a label selector requirement (metav1.LabelSelectorOperator). */
export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: LabelSelectorOperator;
  /** Non-empty for In and NotIn, empty or absent for Exists and DoesNotExist. */
  readonly values?: readonly string[];
}

/** metav1.LabelSelector: matchLabels and matchExpressions are ANDed; `{}` selects everything. */
export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

/** A CIDR (IPv4 or IPv6) minus the CIDRs in `except`. */
export interface IpBlock {
  readonly cidr: string;
  readonly except?: readonly string[];
}

/**
 * One entry of `from`/`to`: podSelector and/or namespaceSelector (both: pods matching the first in
 * namespaces matching the second), or ipBlock alone.
 */
export interface NetworkPolicyPeer {
  readonly podSelector?: LabelSelector;
  readonly namespaceSelector?: LabelSelector;
  readonly ipBlock?: IpBlock;
}

export interface NetworkPolicyPort {
  /** TCP (the default), UDP or SCTP. */
  readonly protocol?: string;
  /** A number or the name of a container port; absent: every port of the protocol. */
  readonly port?: number | string;
  /** With a numeric `port`: the last port of the range `port`..`endPort`. */
  readonly endPort?: number;
}

export interface NetworkPolicyIngressRule {
  readonly from?: readonly NetworkPolicyPeer[];
  readonly ports?: readonly NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  readonly to?: readonly NetworkPolicyPeer[];
  readonly ports?: readonly NetworkPolicyPort[];
}

export type PolicyType = 'Ingress' | 'Egress';

/** networking.k8s.io/v1 NetworkPolicy. */
export interface KubeNetworkPolicy {
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly podSelector?: LabelSelector;
    /** Absent or empty: Ingress, plus Egress when `egress` has rules (the API server's default). */
    readonly policyTypes?: readonly PolicyType[];
    readonly ingress?: readonly NetworkPolicyIngressRule[];
    readonly egress?: readonly NetworkPolicyEgressRule[];
  };
}

/** A Namespace: its labels are what a NetworkPolicy's namespaceSelector matches. */
export interface KubeNamespace {
  readonly metadata: ObjectMeta;
}

export interface KubeDaemonSet {
  readonly metadata: ObjectMeta;
  readonly spec?: {
    readonly template?: { readonly spec?: { readonly containers?: readonly { readonly name: string; readonly image?: string }[] } };
  };
}

export interface ClusterObjects {
  readonly nodes: readonly KubeNode[];
  readonly pods: readonly KubePod[];
  readonly services: readonly KubeService[];
  readonly endpointSlices: readonly KubeEndpointSlice[];
  readonly networkPolicies: readonly KubeNetworkPolicy[];
  readonly daemonSets: readonly KubeDaemonSet[];
  /**
   * The cluster's Namespaces, for namespaceSelectors. Absent, or a namespace missing from it: only
   * its automatic `kubernetes.io/metadata.name` label is known.
   */
  readonly namespaces?: readonly KubeNamespace[];
}

/** `namespace/name` of a namespaced object (`default` when the namespace is not set). */
export function objectKey(meta: ObjectMeta): string {
  return `${meta.namespace ?? 'default'}/${meta.name}`;
}

/** The node's InternalIP addresses. */
export function nodeInternalIps(node: KubeNode): string[] {
  return (node.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address);
}

/** Every IP of a pod (status.podIPs, else status.podIP). */
export function podIps(pod: KubePod): string[] {
  const ips = (pod.status?.podIPs ?? []).map((p) => p.ip);
  if (ips.length > 0) return ips;
  return pod.status?.podIP !== undefined ? [pod.status.podIP] : [];
}

/** The service a slice belongs to, `namespace/name`, from its `kubernetes.io/service-name` label. */
export function sliceServiceKey(slice: KubeEndpointSlice): string | undefined {
  const name = slice.metadata.labels?.['kubernetes.io/service-name'];
  return name === undefined ? undefined : `${slice.metadata.namespace ?? 'default'}/${name}`;
}
