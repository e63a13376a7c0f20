// iptables in netdiag: `iptables-save` parsed into tables, chains and rules (tagged unions of
// matches and targets), and one packet walked through the netfilter hooks in kernel order.
//
//   const ruleset = parseIptablesSave(text, 'node1:iptables-save');
//   const result = traceIptables(ruleset, packet, { kind: 'incoming', inIface: 'eth0' }, host);
//   for (const o of result.outcomes) console.log(o.verdict, o.reason, o.probability);

export { parseIptablesSave, IptablesParseError, type ParseIptablesOptions } from './ruleset-parser.js';
export { traceIptables, DEFAULT_MAX_BRANCHES } from './traversal.js';
export { formatTarget, formatNatRange } from './format.js';
export { tokenizeLine } from './tokenizer.js';
export {
  INCOMING_STAGES,
  LOCAL_IN_STAGES,
  FORWARD_STAGES,
  OUTGOING_STAGES,
  type Stage,
} from './hooks.js';
export type {
  AddrType,
  AddrTypeSet,
  AddressMask,
  AddressMatch,
  AddressRange,
  AddrtypeMatch,
  BaseMatch,
  Chain,
  CommentMatch,
  ConnmarkTarget,
  ConntrackMatch,
  Counters,
  CtStatus,
  DscpMatch,
  HookName,
  IcmpMatch,
  InterfaceMatch,
  IprangeMatch,
  LengthMatch,
  LimitMatch,
  MacMatch,
  MarkMatch,
  MarkTarget,
  Match,
  MatchKind,
  MultiportMatch,
  NatRange,
  NegatableRange,
  NumberRange,
  OwnerMatch,
  PacketType,
  PhysdevMatch,
  PkttypeMatch,
  ProtocolMatch,
  Rule,
  Ruleset,
  SetFlag,
  SetMatch,
  SocketMatch,
  StateMatch,
  StateSetMatch,
  StatisticMatch,
  Table,
  TableName,
  Target,
  TargetKind,
  TcpFlagsMatch,
  TcpMatch,
  TosMatch,
  TtlMatch,
  UdpMatch,
  UnknownMatch,
} from './model.js';
export { BUILTIN_CHAINS, TABLE_NAMES } from './model.js';
export type {
  ConntrackTuple,
  Delivery,
  Endpoint,
  HostContext,
  IpsetLookup,
  NatApplied,
  Outcome,
  PacketDirection,
  NetfilterRouteDecision,
  NetfilterRouteLookup,
  NetfilterRouteQuery,
  SocketQuery,
  TraceOptions,
  TraceResult,
  TraceStep,
  Verdict,
} from './trace-types.js';
