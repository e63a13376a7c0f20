// Whether a packet meets a rule's matches, as the kernel's match functions decide it
// (net/ipv4/netfilter/ip_tables.c ip_packet_match for the base matches, net/netfilter/xt_*.c for
// the rest). A match can also be undecidable (it needs something the caller did not give: an
// ipset, the sending socket, the packet's length...) or random (statistic): the walk branches.

import type { IpAddress, IpFamily } from '../../model/ip.js';
import type { ConntrackState, Packet } from '../../model/packet.js';
import { assertNever } from '../../model/assert-never.js';
import type { CompiledAddress } from './compile.js';
import type {
  AddrType,
  AddrtypeMatch,
  AddressMatch,
  ConntrackMatch,
  CtStatus,
  HookName,
  InterfaceMatch,
  Match,
  NegatableRange,
  OwnerMatch,
  PhysdevMatch,
} from './model.js';
import type { ConntrackTuple, HostContext, PacketDirection, TraceOptions } from './trace-types.js';

/** Results of evaluating a match. */
export const NO = 0;
export const YES = 1;
/** Not decidable from what the walk knows: `env.reason` says why. */
export const UNDECIDED = 2;
/** Matches with probability `env.probability` (statistic). */
export const RANDOM = 3;
export type MatchResult = typeof NO | typeof YES | typeof UNDECIDED | typeof RANDOM;

/** What the walk knows that matches look at, precomputed once per walk. */
export interface WalkContext {
  readonly host: HostContext;
  readonly options: TraceOptions;
  readonly direction: PacketDirection;
  readonly local4: ReadonlySet<number>;
  readonly local6: ReadonlySet<bigint>;
  readonly broadcast4: ReadonlySet<number>;
  readonly broadcast6: ReadonlySet<bigint>;
}

/** The packet and its position in the walk, as matches see them. */
export interface MatchEnv {
  readonly packet: Packet;
  /** IPv4 source and destination as unsigned integers (0 for IPv6). */
  readonly src4: number;
  readonly dst4: number;
  /** The packet's TCP flags as bits (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32). */
  readonly flagBits: number;
  readonly hook: HookName;
  /** The input interface; '' where there is none (OUTPUT, POSTROUTING of a local packet). */
  readonly inIface: string;
  /** The output interface; '' where there is none (PREROUTING, INPUT); undefined when unknown. */
  readonly outIface: string | undefined;
  /** The conntrack entry's original-direction tuple; undefined when unknown. */
  readonly original: ConntrackTuple | undefined;
  /** Whether the connection is destination / source NATed; undefined when unknown (not NEW). */
  readonly dnat: boolean | undefined;
  readonly snat: boolean | undefined;
  readonly ctx: WalkContext;
  /** Set by a match that returns UNDECIDED: why. */
  reason: string;
  /**
   * Set with UNDECIDED: the unknown fact the match depends on when several matches may share it
   * (set membership: `set NAME FLAGS`), '' for a fact of this match alone; the match holds when
   * the fact differs from `factNegated`. A walk assumes each fact one way and keeps to it.
   */
  factKey: string;
  factNegated: boolean;
  /** Set by a match that returns RANDOM. */
  probability: number;
}

const TCP_FLAG_BITS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;

export function tcpFlagBits(packet: Packet): number {
  let bits = 0;
  for (const flag of packet.tcpFlags) bits |= TCP_FLAG_BITS[flag];
  return bits;
}

export function packetProtocolNumber(packet: Packet): number {
  switch (packet.protocol) {
    case 'tcp':
      return 6;
    case 'udp':
      return 17;
    case 'icmp':
      return packet.src.family === 6 ? 58 : 1;
    default:
      return assertNever(packet.protocol, 'protocol');
  }
}

export function ipv4Number(address: IpAddress): number {
  return address.family === 4 ? Number(address.value) : 0;
}

/** `-s`/`-d`: the address under the mask, negation applied. */
export function addressMatches(m: CompiledAddress, address: IpAddress, address4: number): boolean {
  if (m.family !== address.family) return m.negated;
  const inside = m.family === 4 ? ((address4 & m.mask4) >>> 0) === m.net4 : (address.value & m.mask) === m.net;
  return inside !== m.negated;
}

function addressMatchMatches(m: AddressMatch, address: IpAddress): boolean {
  const inside = m.address.family === address.family && (address.value & m.address.mask) === m.address.address;
  return inside !== m.negated;
}

/** `-i`/`-o`/`--physdev-in`: exact name, or prefix with `+`; '' (no device) matches only `+`. */
export function interfaceMatches(m: InterfaceMatch, name: string): boolean {
  const same = m.wildcard ? name.startsWith(m.name) : name === m.name;
  return same !== m.negated;
}

function inRange(r: NegatableRange, value: number): boolean {
  return (value >= r.min && value <= r.max) !== r.negated;
}

/** The route type of an address as addrtype sees it (inet_dev_addr_type; ipv6 approximated). */
export function addressType(ctx: WalkContext, address: IpAddress, onIface: string | undefined): AddrType | undefined {
  if (address.family === 4) {
    const a = Number(address.value);
    if (a >>> 24 === 0 || a === 0xffffffff) return 'BROADCAST'; // zeronet and limited broadcast
    if (a >>> 28 === 0xe) return 'MULTICAST';
    const local = ctx.local4.has(a) || a >>> 24 === 127;
    if (local || ctx.broadcast4.has(a)) {
      if (onIface === undefined) return local ? 'LOCAL' : 'BROADCAST';
      const onDevice = addressOnInterface(ctx, address, onIface);
      if (onDevice === undefined) return undefined;
      // With --limit-iface-*, a local address of another device is just UNICAST.
      return onDevice ? (local ? 'LOCAL' : 'BROADCAST') : 'UNICAST';
    }
    return 'UNICAST';
  }
  const v = address.value;
  if (v >> 120n === 0xffn) return 'MULTICAST';
  const local = ctx.local6.has(v) || v === 1n;
  if (!local) return ctx.broadcast6.has(v) ? 'BROADCAST' : 'UNICAST';
  if (onIface === undefined) return 'LOCAL';
  const onDevice = addressOnInterface(ctx, address, onIface);
  return onDevice === undefined ? undefined : onDevice ? 'LOCAL' : 'UNICAST';
}

function addressOnInterface(ctx: WalkContext, address: IpAddress, iface: string): boolean | undefined {
  if (iface === 'lo' && isLoopback(address)) return true;
  const addresses = ctx.host.interfaceAddresses?.get(iface);
  if (addresses === undefined) return ctx.host.interfaceAddresses === undefined ? undefined : false;
  return addresses.some((a) => a.family === address.family && a.value === address.value);
}

function isLoopback(address: IpAddress): boolean {
  return address.family === 4 ? Number(address.value) >>> 24 === 127 : address.value === 1n;
}

function evaluateAddrtype(m: AddrtypeMatch, env: MatchEnv): MatchResult {
  let iface: string | undefined;
  if (m.limitIfaceIn) iface = env.inIface;
  else if (m.limitIfaceOut) {
    if (env.outIface === undefined) return undecided(env, 'addrtype --limit-iface-out needs the output interface, which is unknown');
    iface = env.outIface;
  }
  for (const [set, address] of [
    [m.src, env.packet.src],
    [m.dst, env.packet.dst],
  ] as const) {
    if (set === undefined) continue;
    const type = addressType(env.ctx, address, iface);
    if (type === undefined) return undecided(env, `addrtype needs the addresses of interface ${iface ?? ''}, which are unknown`);
    if (set.types.includes(type) === set.negated) return NO;
  }
  return YES;
}

const CT_STATUS_BITS: Readonly<Record<CtStatus, number>> = { NONE: 0, EXPECTED: 1, SEEN_REPLY: 2, ASSURED: 4, CONFIRMED: 8 };

/** Whether the packet has a conntrack entry (xt_conntrack's `ct != NULL`). */
function hasConntrack(state: ConntrackState): boolean {
  return state !== 'INVALID' && state !== 'UNTRACKED';
}

/**
 * `--state` / `--ctstate`: the packet's state bit, plus (conntrack only) the SNAT/DNAT bits of a
 * connection with NAT set up (xt_conntrack's IPS_SRC_NAT/IPS_DST_NAT).
 */
function stateMatches(states: readonly ConntrackState[], negated: boolean, env: MatchEnv, withNat: boolean): MatchResult {
  const s = env.packet.ctState;
  let hit = states.includes(s);
  if (!hit && withNat && hasConntrack(s) && (states.includes('DNAT') || states.includes('SNAT'))) {
    if (env.dnat === undefined || env.snat === undefined) return undecided(env, `whether the ${s} connection is NATed is unknown`);
    hit = (env.dnat && states.includes('DNAT')) || (env.snat && states.includes('SNAT'));
  }
  return hit !== negated ? YES : NO;
}

function tupleMatch(
  env: MatchEnv,
  which: 'original' | 'reply',
  get: (t: ConntrackTuple) => IpAddress | number,
  test: (v: IpAddress | number) => boolean,
): MatchResult {
  const tuple = which === 'original' ? originalTuple(env) : replyTuple(env);
  if (tuple === undefined) return undecided(env, `conntrack ${which} tuple of a ${env.packet.ctState} connection is unknown`);
  return test(get(tuple)) ? YES : NO;
}

function originalTuple(env: MatchEnv): ConntrackTuple | undefined {
  return env.original;
}

/** The reply tuple as NAT has made it so far: from the current destination to the current source. */
function replyTuple(env: MatchEnv): ConntrackTuple | undefined {
  const given = env.ctx.options.conntrack?.reply;
  if (given !== undefined) return given;
  if (env.original === undefined) return undefined;
  const p = env.packet;
  return { src: p.dst, dst: p.src, sport: p.dport, dport: p.sport };
}

function evaluateConntrack(m: ConntrackMatch, env: MatchEnv): MatchResult {
  const packet = env.packet;
  if (m.state !== undefined) {
    const r = stateMatches(m.state.states, m.state.negated, env, true);
    if (r !== YES) return r;
  }
  // Without a conntrack entry the rest is not looked at (conntrack_mt: `return match_flags & STATE`).
  if (!hasConntrack(packet.ctState)) return m.state !== undefined ? YES : NO;
  if (m.direction !== undefined) {
    const direction = env.ctx.options.conntrack?.direction ?? 'ORIGINAL';
    if (direction !== m.direction) return NO;
  }
  if (m.proto !== undefined) {
    if ((packetProtocolNumber(packet) === m.proto.protocol) === m.proto.negated) return NO;
  }
  const checks: [AddressMatch | NegatableRange | undefined, 'original' | 'reply', 'src' | 'dst' | 'sport' | 'dport'][] = [
    [m.origSrc, 'original', 'src'],
    [m.origDst, 'original', 'dst'],
    [m.replSrc, 'reply', 'src'],
    [m.replDst, 'reply', 'dst'],
    [m.origSrcPort, 'original', 'sport'],
    [m.origDstPort, 'original', 'dport'],
    [m.replSrcPort, 'reply', 'sport'],
    [m.replDstPort, 'reply', 'dport'],
  ];
  for (const [check, which, field] of checks) {
    if (check === undefined) continue;
    const r = tupleMatch(
      env,
      which,
      (t) => t[field],
      (v) => (typeof v === 'number' ? inRange(check as NegatableRange, v) : addressMatchMatches(check as AddressMatch, v)),
    );
    if (r !== YES) return r;
  }
  if (m.status !== undefined) {
    const statuses = ctStatusBits(env);
    if (statuses === undefined) return undecided(env, `conntrack status of a ${packet.ctState} connection is unknown`);
    let mask = 0;
    for (const s of m.status.statuses) mask |= CT_STATUS_BITS[s];
    if (((statuses & mask) !== 0) === m.status.negated) return NO;
  }
  return YES;
}

/** Status bits: given by the caller, else known for a connection the walk creates (NEW, RELATED). */
function ctStatusBits(env: MatchEnv): number | undefined {
  const given = env.ctx.options.conntrack?.statuses;
  if (given !== undefined) return given.reduce((bits, s) => bits | CT_STATUS_BITS[s], 0);
  if (env.packet.ctState === 'NEW') return 0; // not CONFIRMED before the end of POSTROUTING/INPUT
  if (env.packet.ctState === 'RELATED') return CT_STATUS_BITS.EXPECTED;
  return undefined;
}

function evaluatePhysdev(m: PhysdevMatch, env: MatchEnv): MatchResult {
  // xt_physdev.c: without bridge information, a match holds only if every option it uses is negated.
  const bridge = env.ctx.options.bridge;
  if (bridge === undefined) {
    for (const o of [m.isBridged, m.isIn, m.isOut, m.in, m.out]) if (o !== undefined && !o.negated) return NO;
    return YES;
  }
  const indev = bridge.inPort;
  const outdev = bridge.outPort;
  if (m.isBridged !== undefined && (outdev !== undefined) === m.isBridged.negated) return NO;
  if (m.isIn !== undefined && (indev !== undefined) === m.isIn.negated) return NO;
  if (m.isOut !== undefined && (outdev !== undefined) === m.isOut.negated) return NO;
  if (m.in !== undefined && indev !== undefined && !interfaceMatches(m.in, indev)) return NO;
  if (m.out !== undefined && outdev !== undefined && !interfaceMatches(m.out, outdev)) return NO;
  return YES;
}

function evaluateOwner(m: OwnerMatch, env: MatchEnv): MatchResult {
  const local = env.ctx.direction.kind === 'outgoing';
  // xt_owner.c: without a socket, the match holds only if every option it uses is negated.
  if (!local) {
    for (const o of [m.uid, m.gid, m.socketExists]) if (o !== undefined && !o.negated) return NO;
    return YES;
  }
  const owner = env.ctx.options.socketOwner;
  if (m.socketExists?.negated === true) return NO;
  if (m.uid === undefined && m.gid === undefined) return YES;
  if (owner === undefined) return undecided(env, 'owner needs the uid/gid of the sending socket, which are unknown');
  if (m.uid !== undefined && !inRange(m.uid, owner.uid)) return NO;
  const gid = m.gid;
  if (gid !== undefined) {
    const gids = m.suppGroups ? [owner.gid, ...(owner.supplementaryGids ?? [])] : [owner.gid];
    const inside = gids.some((g) => g >= gid.min && g <= gid.max);
    if (inside === gid.negated) return NO;
  }
  return YES;
}

function undecided(env: MatchEnv, reason: string, factKey = '', factNegated = false): MatchResult {
  env.reason = reason;
  env.factKey = factKey;
  env.factNegated = factNegated;
  return UNDECIDED;
}

function isBroadcast(ctx: WalkContext, address: IpAddress): boolean {
  if (address.family === 4) {
    const a = Number(address.value);
    return a === 0xffffffff || ctx.broadcast4.has(a);
  }
  return ctx.broadcast6.has(address.value);
}

function isMulticast(address: IpAddress): boolean {
  return address.family === 4 ? Number(address.value) >>> 28 === 0xe : address.value >> 120n === 0xffn;
}

function familyOf(packet: Packet): IpFamily {
  return packet.src.family;
}

/** Evaluates one `-m` match. */
export function evaluateMatch(m: Match, env: MatchEnv): MatchResult {
  const p = env.packet;
  switch (m.kind) {
    case 'tcp':
      if (p.protocol !== 'tcp') return NO;
      if (m.sport !== undefined && !inRange(m.sport, p.sport)) return NO;
      if (m.dport !== undefined && !inRange(m.dport, p.dport)) return NO;
      if (m.flags !== undefined && ((env.flagBits & m.flags.mask) === m.flags.comp) === m.flags.negated) return NO;
      return YES;
    case 'udp':
      if (p.protocol !== 'udp') return NO;
      if (m.sport !== undefined && !inRange(m.sport, p.sport)) return NO;
      if (m.dport !== undefined && !inRange(m.dport, p.dport)) return NO;
      return YES;
    case 'multiport': {
      if (p.protocol !== 'tcp' && p.protocol !== 'udp') return NO;
      let hit = false;
      for (const r of m.ports) {
        if (
          ((m.direction === 'source' || m.direction === 'either') && p.sport >= r.min && p.sport <= r.max) ||
          ((m.direction === 'destination' || m.direction === 'either') && p.dport >= r.min && p.dport <= r.max)
        ) {
          hit = true;
          break;
        }
      }
      return hit !== m.negated ? YES : NO;
    }
    case 'icmp':
    case 'icmp6': {
      if (p.protocol !== 'icmp' || familyOf(p) !== (m.kind === 'icmp' ? 4 : 6)) return NO;
      if (m.type === undefined) return m.negated ? NO : YES;
      if (p.icmpType === undefined) return undecided(env, 'the ICMP type of the packet is unknown');
      const code = p.icmpCode ?? 0;
      const hit = p.icmpType === m.type && code >= m.codeMin && code <= m.codeMax;
      return hit !== m.negated ? YES : NO;
    }
    case 'comment':
    case 'limit': // a single packet is within the burst of a limit: the first one always passes
      return YES;
    case 'mark':
    case 'connmark': {
      // xt_mark: (mark & mask) == value; connmark likewise on the conntrack entry's mark.
      if (m.kind === 'connmark' && !hasConntrack(p.ctState)) return NO;
      const mark = m.kind === 'mark' ? p.mark : p.connmark;
      return (((mark & m.mask) >>> 0) === m.value) !== m.negated ? YES : NO;
    }
    case 'conntrack':
      return evaluateConntrack(m, env);
    case 'state':
      return stateMatches(m.states, m.negated, env, false);
    case 'addrtype':
      return evaluateAddrtype(m, env);
    case 'set': {
      // The fact is the membership: `! --match-set X` elsewhere must agree with `--match-set X`.
      const fact = `set ${m.name} ${m.flags.join(',')}${m.returnNomatch ? ' return-nomatch' : ''}`;
      const ipsets = env.ctx.host.ipsets;
      if (ipsets === undefined) return undecided(env, `ipset ${m.name}: no ipset data`, fact, m.negated);
      let hit: boolean | undefined;
      if (m.returnNomatch) {
        if (ipsets.lookup === undefined) return undecided(env, `ipset ${m.name}: --return-nomatch needs nomatch-aware lookups`, fact, m.negated);
        const r = ipsets.lookup(m.name, p, m.flags);
        hit = r === undefined ? undefined : r === 'nomatch';
      } else {
        hit = ipsets.has(m.name, p, m.flags);
      }
      if (hit === undefined) return undecided(env, `ipset ${m.name} is unknown or cannot be evaluated`, fact, m.negated);
      return hit !== m.negated ? YES : NO;
    }
    case 'statistic': {
      const probability = m.mode === 'random' ? m.probability : 1 / m.every;
      const p1 = m.negated ? 1 - probability : probability;
      if (p1 >= 1) return YES;
      if (p1 <= 0) return NO;
      env.probability = p1;
      return RANDOM;
    }
    case 'iprange': {
      for (const [range, address] of [
        [m.src, p.src],
        [m.dst, p.dst],
      ] as const) {
        if (range === undefined) continue;
        const inside = range.from.family === address.family && address.value >= range.from.value && address.value <= range.to.value;
        if (inside === range.negated) return NO;
      }
      return YES;
    }
    case 'physdev':
      return evaluatePhysdev(m, env);
    case 'pkttype': {
      // The link-layer type, approximated from the destination address.
      const type = isMulticast(p.dst) ? 'multicast' : isBroadcast(env.ctx, p.dst) ? 'broadcast' : 'host';
      const wanted = m.type === 'unicast' ? 'host' : m.type;
      return (type === wanted) !== m.negated ? YES : NO;
    }
    case 'owner':
      return evaluateOwner(m, env);
    case 'socket': {
      const lookup = env.ctx.host.socketLookup;
      const found = lookup?.({ packet: p, transparent: m.transparent, nowildcard: m.nowildcard });
      if (found === undefined) return undecided(env, 'socket needs the local sockets, which are unknown');
      return found ? YES : NO;
    }
    case 'mac': {
      const mac = env.ctx.options.sourceMac;
      if (mac === undefined) return undecided(env, 'mac needs the source MAC address, which is unknown');
      return (mac.toLowerCase() === m.address) !== m.negated ? YES : NO;
    }
    case 'length': {
      const length = env.ctx.options.packetLength;
      if (length === undefined) return undecided(env, 'length needs the packet length, which is unknown');
      return (length >= m.min && length <= m.max) !== m.negated ? YES : NO;
    }
    case 'ttl': {
      const ttl = env.ctx.options.ttl;
      if (ttl === undefined) return undecided(env, `${m.module} needs the packet's TTL, which is unknown`);
      const hit = m.op === 'eq' ? ttl === m.value : m.op === 'lt' ? ttl < m.value : ttl > m.value;
      return hit !== m.negated ? YES : NO;
    }
    case 'dscp':
      return (p.tos >> 2 === m.value) !== m.negated ? YES : NO;
    case 'tos':
      return ((p.tos & m.mask) === m.value) !== m.negated ? YES : NO;
    case 'unknown':
      return undecided(env, m.reason);
    default:
      return assertNever(m, 'match');
  }
}
