// Routing: parsers of `ip -j -d link|addr|route|rule`, `ip -j neigh`, `bridge -j fdb`, and the
// kernel's route lookup over them (policy rules, tables, longest prefix, route types, multipath,
// preferred source, the input path's forwarding and source checks).
export { RoutingParseError, type JsonDump } from './json-reader.js';
export { parseLinks, type Link, type ParsedLinks, type VxlanInfo, type BridgeInfo, type BridgeSlaveInfo } from './link.js';
export { parseAddresses, formatAddress, type Address, type ParsedAddresses } from './address.js';
export { parseRoutes, formatRoute, type Route, type RouteNexthop, type ParsedRoutes, type ParseRoutesOptions } from './route.js';
export {
  parseRules,
  formatRule,
  buildDefaultRules,
  type Rule,
  type RuleAction,
  type PortRange,
  type ParsedRules,
  type ParseRulesOptions,
} from './rule.js';
export { parseNeighbors, type Neighbor, type NeighborState, type ParsedNeighbors } from './neighbor.js';
export { parseFdb, type FdbEntry, type ParsedFdb } from './fdb.js';
export { buildRoutingSysctls, effectiveFlag, effectiveForwarding, effectiveRpFilter, type RoutingSysctls, type InterfaceSysctls, type EffectiveSysctl } from './sysctls.js';
export { buildRoutingState, type RoutingInput, type RoutingState } from './state.js';
export { lookupRoute, summarizeDecision, explainSteps } from './lookup.js';
export { selectIpv4Source, selectIpv6Source } from './source-address.js';
export {
  ERRNO_MESSAGES,
  type RouteQuery,
  type RouteDecision,
  type RouteErrno,
  type DecisionNexthop,
  type RuleStep,
  type RuleStepOutcome,
  type RouteAnomaly,
  type RejectReason,
  type LocalDecision,
  type UnicastDecision,
  type BroadcastDecision,
  type RejectRouteDecision,
  type NoRouteDecision,
  type RejectedDecision,
  type UnsupportedDecision,
} from './decision.js';
export {
  RT_TABLE_DEFAULT,
  RT_TABLE_LOCAL,
  RT_TABLE_MAIN,
  RT_SCOPE_HOST,
  RT_SCOPE_LINK,
  RT_SCOPE_SITE,
  RT_SCOPE_UNIVERSE,
  tableName,
  scopeName,
  type RouteType,
} from './names.js';
