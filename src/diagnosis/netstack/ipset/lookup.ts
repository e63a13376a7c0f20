// Membership of a packet in a set, as the kernel's `-m set --match-set NAME FLAGS` decides it
// (ip_set_core.c ip_set_test and each type's kadt):
// - the match gives one flag per dimension; with fewer flags than the set has dimensions, or a
//   packet of another family than the set's, the set does not match (bitmap:port and list:set
//   have no family);
// - `ip`/`net` dimensions take the packet's source or destination address, `port` dimensions the
//   packet's protocol and its source or destination port; for ICMP the "port" is
//   `type << 8 | code` whatever the flag;
// - hash types with a `net` dimension try the prefix lengths present in the set from the most
//   specific down; the first length with an equal element decides, and a `nomatch` element there
//   means "not in the set" (mtype_test_cidrs);
// - bitmap:port matches TCP and UDP packets only (ip_set_get_ip_port);
// - list:set tries its member sets in order; a member's nomatch is just "no", the next is tried.
// Lookups use indexes built once per set: hash types are hash maps keyed by the element packed
// into a bigint, one map per prefix length for the `net` dimension.

import { familyBits } from '../../model/ip.js';
import type { Packet } from '../../model/packet.js';
import { assertNever } from '../../model/assert-never.js';
import { HASH_TYPE_DIMENSIONS, type IpsetDump } from './parse.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './protocols.js';
import type { IpsetElementKind, IpsetEntryExtras, IpsetFlag, IpsetHashSet, IpsetLookup, IpsetSet } from './types.js';

/** `nomatch`: an element matched but is a nomatch element; `miss`: no element matched. */
export type IpsetTestResult = 'match' | 'nomatch' | 'miss';

export interface IpsetEvaluationOptions {
  /**
   * Seconds between the save and the moment being evaluated: elements whose saved `timeout` is at
   * most this have expired by then. Default 0 (the set as saved).
   */
  readonly elapsedSeconds?: number;
}

export interface IpsetContext extends IpsetEvaluationOptions {
  /** Finds the member sets of a list:set. Without it, a list:set's membership is unknown. */
  readonly resolve?: (name: string) => IpsetSet | undefined;
}

const PORT_WIDTH = 24n; // protocol (8 bits) and port (16 bits)

interface HashIndex {
  readonly kinds: readonly IpsetElementKind[];
  /** Bits each dimension takes in the packed key. */
  readonly widths: readonly bigint[];
  /** Position of the `net` dimension, -1 when the type has none. */
  readonly netDimension: number;
  /** Prefix lengths present in the set, most specific first, with the network mask of each. */
  readonly lengths: readonly { readonly length: number; readonly mask: bigint; readonly table: ReadonlyMap<bigint, boolean> }[];
  /** Types without a net: packed element -> nomatch (always false). */
  readonly exact: ReadonlyMap<bigint, boolean> | undefined;
}

type Index =
  | { readonly type: 'hash'; readonly hash: HashIndex }
  | { readonly type: 'bitmap:ip'; readonly members: ReadonlySet<bigint> }
  | { readonly type: 'bitmap:port'; readonly members: ReadonlySet<number> };

const indexCache = new WeakMap<IpsetSet, Map<number, Index>>();

function isLive(entry: IpsetEntryExtras, elapsed: number): boolean {
  return entry.timeout === undefined || entry.timeout === 0 || entry.timeout > elapsed;
}

function packParts(values: readonly bigint[], widths: readonly bigint[]): bigint {
  let key = 0n;
  for (let i = 0; i < values.length; i++) key = (key << (widths[i] ?? 0n)) | (values[i] ?? 0n);
  return key;
}

function widthsOf(kinds: readonly IpsetElementKind[], bits: number): bigint[] {
  return kinds.map((k) => (k === 'port' ? PORT_WIDTH : BigInt(bits)));
}

function buildHashIndex(set: IpsetHashSet, elapsed: number): HashIndex {
  const kinds = HASH_TYPE_DIMENSIONS[set.type];
  const netDimension = kinds.indexOf('net');
  const widths = widthsOf(kinds, familyBits(set.family));
  const tables = new Map<number, Map<bigint, boolean>>();
  for (const entry of set.entries) {
    if (!isLive(entry, elapsed)) continue;
    let length = -1;
    const values = entry.parts.map((part): bigint => {
      switch (part.kind) {
        case 'ip':
          return part.address.value;
        case 'net':
          length = part.prefix.length;
          return part.prefix.network;
        case 'port':
          return (BigInt(part.protocol) << 16n) | BigInt(part.port);
        default:
          return assertNever(part, 'ipset element part');
      }
    });
    let table = tables.get(length);
    if (!table) tables.set(length, (table = new Map<bigint, boolean>()));
    table.set(packParts(values, widths), entry.nomatch);
  }
  const bits = familyBits(set.family);
  const all = (1n << BigInt(bits)) - 1n;
  const lengths = [...tables.keys()]
    .filter((l) => l >= 0)
    .sort((a, b) => b - a)
    .map((length) => ({ length, mask: all & ~((1n << BigInt(bits - length)) - 1n), table: tables.get(length) ?? new Map<bigint, boolean>() }));
  return { kinds, widths, netDimension, lengths, exact: netDimension < 0 ? (tables.get(-1) ?? new Map<bigint, boolean>()) : undefined };
}

function buildIndex(set: IpsetSet, elapsed: number): Index | undefined {
  switch (set.type) {
    case 'hash:ip':
    case 'hash:net':
    case 'hash:ip,port':
    case 'hash:net,port':
    case 'hash:ip,port,ip':
    case 'hash:ip,port,net':
      return { type: 'hash', hash: buildHashIndex(set, elapsed) };
    case 'bitmap:ip':
      return { type: 'bitmap:ip', members: new Set(set.entries.filter((e) => isLive(e, elapsed)).map((e) => e.address.value)) };
    case 'bitmap:port':
      return { type: 'bitmap:port', members: new Set(set.entries.filter((e) => isLive(e, elapsed)).map((e) => e.port)) };
    case 'list:set':
    case 'unsupported':
      return undefined;
    default:
      return assertNever(set, 'ipset type');
  }
}

function indexOf(set: IpsetSet, elapsed: number): Index | undefined {
  let byElapsed = indexCache.get(set);
  if (!byElapsed) indexCache.set(set, (byElapsed = new Map<number, Index>()));
  let index = byElapsed.get(elapsed);
  if (!index) {
    index = buildIndex(set, elapsed);
    if (index) byElapsed.set(elapsed, index);
  }
  return index;
}

function packetProtocol(packet: Packet): number {
  switch (packet.protocol) {
    case 'tcp':
      return IPPROTO_TCP;
    case 'udp':
      return IPPROTO_UDP;
    case 'icmp':
      return packet.dst.family === 6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
    default:
      return assertNever(packet.protocol, 'protocol');
  }
}

/** The "port" ipset reads from a packet (ip_set_getport.c get_port). */
function packetPort(packet: Packet, flag: IpsetFlag): number {
  switch (packet.protocol) {
    case 'tcp':
    case 'udp':
      return flag === 'src' ? packet.sport : packet.dport;
    case 'icmp':
      return (((packet.icmpType ?? 0) & 0xff) << 8) | ((packet.icmpCode ?? 0) & 0xff);
    default:
      return assertNever(packet.protocol, 'protocol');
  }
}

function dimensionOf(set: IpsetSet): number {
  switch (set.type) {
    case 'hash:ip':
    case 'hash:net':
    case 'hash:ip,port':
    case 'hash:net,port':
    case 'hash:ip,port,ip':
    case 'hash:ip,port,net':
      return HASH_TYPE_DIMENSIONS[set.type].length;
    case 'bitmap:ip':
    case 'bitmap:port':
    case 'list:set':
    case 'unsupported':
      return 1;
    default:
      return assertNever(set, 'ipset type');
  }
}

function testHash(set: IpsetHashSet, index: HashIndex, packet: Packet, flags: readonly IpsetFlag[]): IpsetTestResult {
  const protocol = BigInt(packetProtocol(packet));
  const values = index.kinds.map((kind, i): bigint => {
    const flag = flags[i] ?? 'dst';
    switch (kind) {
      case 'ip':
        return (flag === 'src' ? packet.src.value : packet.dst.value) & set.mask;
      case 'net':
        return flag === 'src' ? packet.src.value : packet.dst.value;
      case 'port':
        return (protocol << 16n) | BigInt(packetPort(packet, flag));
      default:
        return assertNever(kind, 'ipset dimension');
    }
  });
  if (index.exact) {
    const nomatch = index.exact.get(packParts(values, index.widths));
    return nomatch === undefined ? 'miss' : nomatch ? 'nomatch' : 'match';
  }
  // Pack the dimensions around the net once; per prefix length only the masked net changes.
  const n = index.netDimension;
  const before = packParts(values.slice(0, n), index.widths.slice(0, n));
  const afterWidth = index.widths.slice(n + 1).reduce((sum, w) => sum + w, 0n);
  const after = packParts(values.slice(n + 1), index.widths.slice(n + 1));
  const netWidth = index.widths[n] ?? 0n;
  const address = values[n] ?? 0n;
  for (const { mask, table } of index.lengths) {
    const key = (((before << netWidth) | (address & mask)) << afterWidth) | after;
    const nomatch = table.get(key);
    if (nomatch !== undefined) return nomatch ? 'nomatch' : 'match';
  }
  return 'miss';
}

/**
 * How the kernel answers `-m set --match-set SET FLAGS` for this packet: `match`, `nomatch` (a
 * nomatch element decided), `miss`; undefined when it cannot be known (unsupported set, a
 * list:set member that cannot be resolved).
 */
export function ipsetTest(
  set: IpsetSet,
  packet: Packet,
  flags: readonly IpsetFlag[],
  context: IpsetContext = {},
): IpsetTestResult | undefined {
  if (set.type === 'unsupported') return undefined;
  if (flags.length < dimensionOf(set)) return 'miss';
  if (set.family !== undefined && set.family !== packet.dst.family) return 'miss';
  const elapsed = context.elapsedSeconds ?? 0;
  if (set.type === 'list:set') {
    let unknown = false;
    for (const member of set.entries) {
      if (!isLive(member, elapsed)) continue;
      const memberSet = context.resolve?.(member.name);
      // The kernel refuses a list:set inside a list:set; a dump with one is not something we know.
      if (!memberSet || memberSet.type === 'list:set') {
        unknown = true;
        continue;
      }
      const result = ipsetTest(memberSet, packet, flags, context);
      if (result === 'match') return 'match';
      if (result === undefined) unknown = true;
    }
    return unknown ? undefined : 'miss';
  }
  const index = indexOf(set, elapsed);
  if (!index) return undefined;
  switch (index.type) {
    case 'hash':
      if (set.type === 'bitmap:ip' || set.type === 'bitmap:port') return undefined;
      return testHash(set, index.hash, packet, flags);
    case 'bitmap:ip': {
      if (set.type !== 'bitmap:ip') return undefined;
      const address = flags[0] === 'src' ? packet.src.value : packet.dst.value;
      if (address < set.first || address > set.last) return 'miss';
      return index.members.has(address & (0xffffffffn & ~((1n << BigInt(32 - set.netmask)) - 1n))) ? 'match' : 'miss';
    }
    case 'bitmap:port': {
      if (set.type !== 'bitmap:port') return undefined;
      if (packet.protocol !== 'tcp' && packet.protocol !== 'udp') return 'miss';
      const port = packetPort(packet, flags[0] ?? 'dst');
      if (port < set.first || port > set.last) return 'miss';
      return index.members.has(port) ? 'match' : 'miss';
    }
    default:
      return assertNever(index, 'ipset index');
  }
}

/** Whether `-m set --match-set SET FLAGS` matches the packet; undefined when it cannot be known. */
export function ipsetHas(
  set: IpsetSet,
  packet: Packet,
  flags: readonly IpsetFlag[],
  context: IpsetContext = {},
): boolean | undefined {
  const result = ipsetTest(set, packet, flags, context);
  return result === undefined ? undefined : result === 'match';
}

/** The sets of one network namespace, answering the iptables traversal's `-m set` questions. */
export class IpsetTable implements IpsetLookup {
  private readonly sets: ReadonlyMap<string, IpsetSet>;
  private readonly context: IpsetContext;

  constructor(sets: Iterable<IpsetSet> | IpsetDump, options: IpsetEvaluationOptions = {}) {
    const list = 'sets' in sets ? sets.sets.values() : sets;
    const byName = new Map<string, IpsetSet>();
    for (const set of list) byName.set(set.name, set);
    this.sets = byName;
    this.context = { ...options, resolve: (name) => byName.get(name) };
  }

  has(name: string, packet: Packet, flags: readonly ('src' | 'dst')[]): boolean | undefined {
    const set = this.sets.get(name);
    return set === undefined ? undefined : ipsetHas(set, packet, flags, this.context);
  }

  /** Like `has`, but tells a nomatch element from no element (for `--return-nomatch`). */
  test(name: string, packet: Packet, flags: readonly IpsetFlag[]): IpsetTestResult | undefined {
    const set = this.sets.get(name);
    return set === undefined ? undefined : ipsetTest(set, packet, flags, this.context);
  }

  get(name: string): IpsetSet | undefined {
    return this.sets.get(name);
  }

  names(): string[] {
    return [...this.sets.keys()];
  }
}
