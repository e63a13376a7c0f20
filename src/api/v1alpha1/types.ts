// The NetworkDiagnosis resource as TypeScript types, mirroring crds/netdiag.io_networkdiagnoses.yaml
// field for field. Plain data: what the API server stores and returns.

/** A pod; `namespace` defaults to the diagnosis's own. */
export interface PodRef {
  readonly namespace?: string;
  readonly name: string;
}

/** A service (destination only); `namespace` defaults to the diagnosis's own. */
export interface ServiceRef {
  readonly namespace?: string;
  readonly name: string;
}

/** A node: its host network namespace. */
export interface NodeRef {
  readonly name: string;
}

/** Where the packet starts: exactly one of pod, node or ip. */
export interface SourceEndpoint {
  readonly pod?: PodRef;
  /** Never valid for a source; here because the CRD accepts the field to refuse it with a clear message. */
  readonly service?: ServiceRef;
  readonly node?: NodeRef;
  /** An IPv4 or IPv6 address. */
  readonly ip?: string;
}

/** Where the packet goes: exactly one of pod, service, node or ip. */
export interface DestinationEndpoint {
  readonly pod?: PodRef;
  readonly service?: ServiceRef;
  readonly node?: NodeRef;
  readonly ip?: string;
}

export const PROTOCOLS = ['TCP', 'UDP', 'ICMP'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const NETWORK_PLUGINS = ['auto', 'generic', 'flannel', 'calico', 'bridge'] as const;
/** The CNI plugin; `auto` detects it from the nodes. */
export type NetworkPlugin = (typeof NETWORK_PLUGINS)[number];

export const NETWORK_PROVIDERS = ['generic'] as const;
/** The infrastructure the nodes run on. */
export type NetworkProvider = (typeof NETWORK_PROVIDERS)[number];

/** Overrides of what the operator detects about the cluster's network. */
export interface NetworkOverride {
  readonly plugin?: NetworkPlugin;
  readonly provider?: NetworkProvider;
}

export interface NetworkDiagnosisSpec {
  readonly source: SourceEndpoint;
  readonly destination: DestinationEndpoint;
  /** 1-65535; required for TCP and UDP, not set for ICMP. */
  readonly port?: number;
  readonly protocol: Protocol;
  readonly network?: NetworkOverride;
  /** Run again this often: a duration such as 5m or 1h30m, at least 1m. */
  readonly interval?: string;
}

export const PHASES = ['Pending', 'Collecting', 'Diagnosing', 'Completed', 'Failed'] as const;
/** Where the diagnosis is; for display only (decide on the conditions). */
export type Phase = (typeof PHASES)[number];

export const VERDICTS = ['Reachable', 'Unreachable', 'Degraded', 'Inconclusive'] as const;
export type Verdict = (typeof VERDICTS)[number];

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition. */
export interface Condition {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly observedGeneration?: number;
  /** RFC 3339. */
  readonly lastTransitionTime: string;
  readonly reason: string;
  readonly message: string;
}

export const SUSPICION_LEVELS = ['info', 'warning', 'critical', 'fatal'] as const;
export type SuspicionLevel = (typeof SUSPICION_LEVELS)[number];

export interface StatusSuspicion {
  readonly level: SuspicionLevel;
  /** The netnode id: a node name, `namespace/name` of a pod, or an IP. */
  readonly node: string;
  /** A stable code (DESIGN §6) users alert on. */
  readonly code: string;
  /** Names the device, route, rule, sysctl or object at fault. */
  readonly message: string;
}

/** What a netnode did with the packet: an object with a `kind` (send, receive, bridge, nat, deliver). */
export type StatusAction = Readonly<Record<string, unknown>>;

export interface StatusPathNode {
  readonly id: string;
  /** pod, node, external or service. */
  readonly type: string;
  readonly actions?: readonly StatusAction[];
}

export interface StatusPathLink {
  readonly source: string;
  readonly destination: string;
  /** veth, bridge, underlay, vxlan, ipip or local. */
  readonly type: string;
  readonly direction?: 'request' | 'reply';
  /** The packet as `proto src:sport > dst:dport`, entering the source netnode and leaving it on this link. */
  readonly packet?: { readonly before?: string; readonly after?: string };
  readonly attributes?: Readonly<Record<string, string>>;
}

export interface StatusPacketPath {
  readonly nodes?: readonly StatusPathNode[];
  readonly links?: readonly StatusPathLink[];
}

export interface CollectorStatus {
  readonly node: string;
  readonly pod?: string;
  /** Pending, Running, Succeeded or Failed. */
  readonly state?: string;
  readonly message?: string;
}

export interface NetworkDiagnosisStatus {
  readonly observedGeneration?: number;
  readonly phase?: Phase;
  readonly verdict?: Verdict;
  /** The source for the printer column: pod/NAMESPACE/NAME, node/NAME or the IP. */
  readonly source?: string;
  /** The destination for the printer column: pod/..., service/..., node/... or the IP. */
  readonly destination?: string;
  /** The number of suspicions at level warning or above (info-level notes left out), for the printer column. */
  readonly suspicionCount?: number;
  readonly conditions?: readonly Condition[];
  readonly suspicions?: readonly StatusSuspicion[];
  readonly packetPath?: StatusPacketPath;
  readonly collectors?: readonly CollectorStatus[];
  /** RFC 3339. */
  readonly startTime?: string;
  /** RFC 3339. */
  readonly completionTime?: string;
  /** The value of the netdiag.io/requested-at annotation last acted on. */
  readonly lastHandledRequestAt?: string;
}

/** The subset of ObjectMeta netdiag reads and writes. */
export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly finalizers?: readonly string[];
}

export interface NetworkDiagnosis {
  readonly apiVersion: 'netdiag.io/v1alpha1';
  readonly kind: 'NetworkDiagnosis';
  readonly metadata: ObjectMeta;
  readonly spec: NetworkDiagnosisSpec;
  readonly status?: NetworkDiagnosisStatus;
}

export interface NetworkDiagnosisList {
  readonly apiVersion: 'netdiag.io/v1alpha1';
  readonly kind: 'NetworkDiagnosisList';
  readonly metadata: { readonly resourceVersion?: string; readonly continue?: string };
  readonly items: readonly NetworkDiagnosis[];
}
