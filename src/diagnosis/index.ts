// The public entry of the diagnosis engine: the only module outside diagnosis/ may import.

export { parseIp, isIp, formatIp, type IpAddress, type IpFamily } from './model/ip.js';
export { buildPacket, type Packet, type Protocol, type ConntrackState } from './model/packet.js';
export type { Warning } from './model/warning.js';
export { buildHostFromDumps, type Dump, type HostDumps, type HostFromDumps } from './netstack/host-dumps.js';
export { traceHost, type HostTraceInput, type HostTraceQuery, type HostTraceResult, type RuleHit } from './netstack/host-trace.js';
export { isDumpParseError } from './netstack/parse-errors.js';
export type { Outcome, TraceStep, Verdict } from './netstack/netfilter/index.js';
