// The public entry of the diagnosis engine: the only module outside diagnosis/ may import.

export { parseIp, isIp, formatIp, type IpAddress, type IpFamily } from './model/ip.js';
export { buildPacket, type Packet, type Protocol, type ConntrackState } from './model/packet.js';
export type { Warning } from './model/warning.js';
export { buildHostFromDumps, type Dump, type HostDumps, type HostFromDumps } from './netstack/host-dumps.js';
export { traceHost, type HostTraceInput, type HostTraceQuery, type HostTraceResult, type RuleHit } from './netstack/host-trace.js';
export { isDumpParseError } from './netstack/parse-errors.js';
export type { Outcome, TraceStep, Verdict } from './netstack/netfilter/index.js';

// The diagnostor.
export { diagnose, type DiagnoseOptions } from './engine/diagnose.js';
export { buildIpCache, type IpCache, type IpOwner } from './engine/ip-cache.js';
export type {
  Diagnosis,
  DiagnosisQuery,
  DiagnosisVerdict,
  Direction,
  NetNodeAction,
  NetNodeType,
  PacketPath,
  PathLink,
  PathLinkType,
  PathNode,
  QueryEndpoint,
  QueryProtocol,
  Suspicion,
  SuspicionCode,
  SuspicionLevel,
} from './model/diagnosis.js';
export type {
  ClusterObjects,
  IpBlock,
  KubeDaemonSet,
  KubeEndpointSlice,
  KubeNamespace,
  KubeNetworkPolicy,
  KubeNode,
  KubePod,
  KubeService,
  LabelSelector,
  LabelSelectorOperator,
  LabelSelectorRequirement,
  NetworkPolicyEgressRule,
  NetworkPolicyIngressRule,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  ObjectMeta,
  PolicyType,
} from './model/kube-objects.js';
export type { ClusterState, CniConfigFile, NetnsRecord } from './plugins/cluster-state.js';
export {
  CNI_RECORD_VERSION,
  CNI_TAP_TYPE,
  parseCniRecordFiles,
  parseCniRecordLine,
  parseCniArgs,
  type CniCallRecord,
  type CniRecordFile,
  type CniRecordLog,
  type CniTapPosition,
} from './plugins/cni-records.js';
export { cniRecordFindings, type CniRecordCheckInput, type CniRecordFindings } from './plugins/cni-record-check.js';
export { parseCniConfig, selectCniConfigFile, isCniConfigFileName } from './plugins/cni-config.js';
export { buildNetnsState, parseListeners, type Listener, type NetnsDumps, type NetnsState } from './plugins/netns-state.js';
export type { Plugin, Expectation, HopContext, FailureContext, FailureCause, NetnsRef, Subjects } from './plugins/plugin.js';
export { genericPlugin } from './plugins/generic.js';
export { bridgePlugin } from './plugins/bridge.js';
export { calicoPlugin } from './plugins/calico.js';
export { flannelPlugin, readLease, readLeases, flannelMode, type FlannelLease, type FlannelMode } from './plugins/flannel.js';
export { PLUGINS, detectPlugin, requestedPlugin, type PluginChoice } from './plugins/registry.js';
export { genericProvider } from './providers/generic.js';
export type { InfraShim, Provider, UnderlayCrossing } from './providers/provider.js';
export { planCollection, type CollectionPlan } from './engine/plan.js';
