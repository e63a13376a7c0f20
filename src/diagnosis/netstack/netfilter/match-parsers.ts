// Parsers of `-m` match modules, one per module, from the module's options to a `Match`. A module
// netdiag does not model, or an option of a known module it does not model, is reported as a
// reason string; the rule parser turns it into an `unknown` match carrying the text.

import type { ConntrackState } from '../../model/packet.js';
import type {
  AddrType,
  AddrTypeSet,
  AddressMatch,
  AddressRange,
  ConntrackMatch,
  CtStatus,
  InterfaceMatch,
  Match,
  NegatableRange,
  PacketType,
  SetFlag,
  TcpFlagsMatch,
} from './model.js';
import type { ModuleOption } from './options.js';
import {
  parseAddressRange,
  parseIcmpType,
  parsePortList,
  parsePortRange,
  parseProtocol,
  parseUint,
  parseValueMask,
  type AddressParser,
} from './values.js';

export interface MatchParseContext {
  /** The rule set is IPv6 (`ip6tables-save`): ICMP names are ICMPv6 names. */
  readonly v6: boolean;
  readonly addresses: AddressParser;
}

type Parsed = Match | string;

function unsupported(option: ModuleOption): string {
  return option.name === '' ? `unexpected word "${option.values.join(' ')}"` : `unsupported option ${option.name}`;
}

function one(option: ModuleOption): string | undefined {
  return option.values.length === 1 ? option.values[0] : undefined;
}

function bad(option: ModuleOption): string {
  return `cannot read ${option.name} ${option.values.join(' ')}`.trimEnd();
}

function portRange(option: ModuleOption): NegatableRange | string {
  const text = one(option);
  const range = text === undefined ? undefined : parsePortRange(text);
  return range === undefined ? bad(option) : { min: range.min, max: range.max, negated: option.negated };
}

const TCP_FLAG_BITS: ReadonlyMap<string, number> = new Map([
  ['FIN', 0x01],
  ['SYN', 0x02],
  ['RST', 0x04],
  ['PSH', 0x08],
  ['ACK', 0x10],
  ['URG', 0x20],
  ['ALL', 0x3f],
  ['NONE', 0],
]);

function tcpFlagBits(text: string): number | undefined {
  let bits = 0;
  for (const name of text.split(',')) {
    const bit = TCP_FLAG_BITS.get(name.toUpperCase());
    if (bit === undefined) return undefined;
    bits |= bit;
  }
  return bits;
}

/** `--syn` is `--tcp-flags FIN,SYN,RST,ACK SYN`. */
const SYN_FLAGS = { mask: 0x17, comp: 0x02 };

function parseTcpUdp(kind: 'tcp' | 'udp', options: readonly ModuleOption[]): Parsed {
  let sport: NegatableRange | undefined;
  let dport: NegatableRange | undefined;
  let flags: TcpFlagsMatch | undefined;
  for (const o of options) {
    switch (o.name) {
      case '--sport':
      case '--source-port': {
        const r = portRange(o);
        if (typeof r === 'string') return r;
        sport = r;
        break;
      }
      case '--dport':
      case '--destination-port': {
        const r = portRange(o);
        if (typeof r === 'string') return r;
        dport = r;
        break;
      }
      case '--tcp-flags': {
        if (kind !== 'tcp' || o.values.length !== 2) return kind === 'tcp' ? bad(o) : unsupported(o);
        const mask = tcpFlagBits(o.values[0] as string);
        const comp = tcpFlagBits(o.values[1] as string);
        if (mask === undefined || comp === undefined) return bad(o);
        flags = { mask, comp, negated: o.negated };
        break;
      }
      case '--syn':
        if (kind !== 'tcp') return unsupported(o);
        flags = { ...SYN_FLAGS, negated: o.negated };
        break;
      default:
        return unsupported(o);
    }
  }
  const m: { kind: 'tcp' | 'udp'; sport?: NegatableRange; dport?: NegatableRange; flags?: TcpFlagsMatch } = { kind };
  if (sport) m.sport = sport;
  if (dport) m.dport = dport;
  if (flags && kind === 'tcp') m.flags = flags;
  return m;
}

function parseMultiport(options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  if (o === undefined) return 'multiport without ports';
  if (rest.length > 0) return unsupported(rest[0] as ModuleOption);
  const direction =
    o.name === '--sports' || o.name === '--source-ports'
      ? 'source'
      : o.name === '--dports' || o.name === '--destination-ports'
        ? 'destination'
        : o.name === '--ports'
          ? 'either'
          : undefined;
  if (direction === undefined) return unsupported(o);
  const text = one(o);
  const ports = text === undefined ? undefined : parsePortList(text);
  if (ports === undefined) return bad(o);
  return { kind: 'multiport', direction, ports, negated: o.negated };
}

function parseIcmp(kind: 'icmp' | 'icmp6', options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  const optionName = kind === 'icmp' ? '--icmp-type' : '--icmpv6-type';
  if (o === undefined) return `${kind} without ${optionName}`;
  if (rest.length > 0 || o.name !== optionName) return unsupported(rest[0] ?? o);
  const text = one(o);
  const parsed = text === undefined ? undefined : parseIcmpType(text, kind === 'icmp6');
  if (parsed === undefined) return bad(o);
  return { kind, type: parsed.type, codeMin: parsed.codeMin, codeMax: parsed.codeMax, negated: o.negated };
}

function parseMark(kind: 'mark' | 'connmark', options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  if (o === undefined || o.name !== '--mark' || rest.length > 0) return o ? unsupported(rest[0] ?? o) : 'no --mark';
  const text = one(o);
  const vm = text === undefined ? undefined : parseValueMask(text);
  if (vm === undefined) return bad(o);
  // The kernel compares `(mark & mask) == value` with the value as given (xt_mark).
  return { kind, value: vm.value, mask: vm.mask, negated: o.negated };
}

const CT_STATES: ReadonlySet<string> = new Set(['INVALID', 'NEW', 'ESTABLISHED', 'RELATED', 'UNTRACKED', 'SNAT', 'DNAT']);

function parseStates(text: string, allowNat: boolean): ConntrackState[] | undefined {
  const states: ConntrackState[] = [];
  for (const s of text.split(',')) {
    if (!CT_STATES.has(s) || (!allowNat && (s === 'SNAT' || s === 'DNAT'))) return undefined;
    states.push(s as ConntrackState);
  }
  return states;
}

const CT_STATUSES: ReadonlySet<string> = new Set(['NONE', 'EXPECTED', 'SEEN_REPLY', 'ASSURED', 'CONFIRMED']);

function parseConntrack(options: readonly ModuleOption[], ctx: MatchParseContext): Parsed {
  const m: { -readonly [K in keyof ConntrackMatch]: ConntrackMatch[K] } = { kind: 'conntrack' };
  const address = (o: ModuleOption): AddressMatch | undefined => {
    const text = one(o);
    const parsed = text === undefined ? undefined : ctx.addresses.parse(text);
    return parsed === undefined ? undefined : { address: parsed, negated: o.negated };
  };
  for (const o of options) {
    switch (o.name) {
      case '--ctstate': {
        const text = one(o);
        const states = text === undefined ? undefined : parseStates(text, true);
        if (states === undefined) return bad(o);
        m.state = { states, negated: o.negated };
        break;
      }
      case '--ctproto': {
        const text = one(o);
        const protocol = text === undefined ? undefined : parseProtocol(text);
        if (protocol === undefined) return bad(o);
        m.proto = { protocol, negated: o.negated };
        break;
      }
      case '--ctorigsrc':
      case '--ctorigdst':
      case '--ctreplsrc':
      case '--ctrepldst': {
        const a = address(o);
        if (a === undefined) return bad(o);
        if (o.name === '--ctorigsrc') m.origSrc = a;
        else if (o.name === '--ctorigdst') m.origDst = a;
        else if (o.name === '--ctreplsrc') m.replSrc = a;
        else m.replDst = a;
        break;
      }
      case '--ctorigsrcport':
      case '--ctorigdstport':
      case '--ctreplsrcport':
      case '--ctrepldstport': {
        const r = portRange(o);
        if (typeof r === 'string') return r;
        if (o.name === '--ctorigsrcport') m.origSrcPort = r;
        else if (o.name === '--ctorigdstport') m.origDstPort = r;
        else if (o.name === '--ctreplsrcport') m.replSrcPort = r;
        else m.replDstPort = r;
        break;
      }
      case '--ctdir': {
        const text = one(o);
        if (text !== 'ORIGINAL' && text !== 'REPLY') return bad(o);
        m.direction = text;
        break;
      }
      case '--ctstatus': {
        const text = one(o);
        const statuses = text?.split(',');
        if (statuses === undefined || !statuses.every((s) => CT_STATUSES.has(s))) return bad(o);
        m.status = { statuses: statuses as CtStatus[], negated: o.negated };
        break;
      }
      default:
        return unsupported(o);
    }
  }
  return m;
}

function parseState(options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  if (o === undefined || o.name !== '--state' || rest.length > 0) return o ? unsupported(rest[0] ?? o) : 'no --state';
  const text = one(o);
  const states = text === undefined ? undefined : parseStates(text, false);
  if (states === undefined) return bad(o);
  return { kind: 'state', states, negated: o.negated };
}

const ADDR_TYPES: ReadonlySet<string> = new Set([
  'UNSPEC',
  'UNICAST',
  'LOCAL',
  'BROADCAST',
  'ANYCAST',
  'MULTICAST',
  'BLACKHOLE',
  'UNREACHABLE',
  'PROHIBIT',
  'THROW',
  'NAT',
  'XRESOLVE',
]);

function parseAddrtype(options: readonly ModuleOption[]): Parsed {
  let src: AddrTypeSet | undefined;
  let dst: AddrTypeSet | undefined;
  let limitIfaceIn = false;
  let limitIfaceOut = false;
  for (const o of options) {
    switch (o.name) {
      case '--src-type':
      case '--dst-type': {
        const types = one(o)?.split(',');
        if (types === undefined || !types.every((t) => ADDR_TYPES.has(t))) return bad(o);
        const set = { types: types as AddrType[], negated: o.negated };
        if (o.name === '--src-type') src = set;
        else dst = set;
        break;
      }
      case '--limit-iface-in':
        limitIfaceIn = true;
        break;
      case '--limit-iface-out':
        limitIfaceOut = true;
        break;
      default:
        return unsupported(o);
    }
  }
  return { kind: 'addrtype', ...(src ? { src } : {}), ...(dst ? { dst } : {}), limitIfaceIn, limitIfaceOut };
}

function parseSet(options: readonly ModuleOption[]): Parsed {
  let name: string | undefined;
  let flags: SetFlag[] = [];
  let negated = false;
  let returnNomatch = false;
  for (const o of options) {
    switch (o.name) {
      case '--match-set':
      case '--set': {
        if (o.values.length !== 2) return bad(o);
        const [setName, flagText] = o.values as [string, string];
        const parts = flagText.split(',');
        if (!parts.every((f) => f === 'src' || f === 'dst')) return bad(o);
        name = setName;
        flags = parts;
        negated = o.negated;
        break;
      }
      case '--return-nomatch':
        returnNomatch = true;
        break;
      // Counter bookkeeping: no effect on whether the packet matches.
      case '--update-counters':
      case '--update-subcounters':
        break;
      default:
        return unsupported(o);
    }
  }
  if (name === undefined) return 'set without --match-set';
  return { kind: 'set', name, flags, negated, returnNomatch };
}

function parseStatistic(options: readonly ModuleOption[]): Parsed {
  let mode: string | undefined;
  let probability: number | undefined;
  let every: number | undefined;
  let packet = 0;
  let negated = false;
  for (const o of options) {
    negated ||= o.negated;
    const text = one(o);
    switch (o.name) {
      case '--mode':
        mode = text;
        break;
      case '--probability': {
        const p = text === undefined ? NaN : Number(text);
        if (!(p >= 0 && p <= 1)) return bad(o);
        probability = p;
        break;
      }
      case '--every':
        every = text === undefined ? undefined : parseUint(text);
        if (every === undefined || every === 0) return bad(o);
        break;
      case '--packet': {
        const p = text === undefined ? undefined : parseUint(text);
        if (p === undefined) return bad(o);
        packet = p;
        break;
      }
      default:
        return unsupported(o);
    }
  }
  if (mode === 'random' && probability !== undefined) return { kind: 'statistic', mode, probability, negated };
  if (mode === 'nth' && every !== undefined) return { kind: 'statistic', mode, every, packet, negated };
  return `statistic --mode ${mode ?? '(none)'} without its options`;
}

function parseIprange(options: readonly ModuleOption[]): Parsed {
  let src: AddressRange | undefined;
  let dst: AddressRange | undefined;
  for (const o of options) {
    if (o.name !== '--src-range' && o.name !== '--dst-range') return unsupported(o);
    const text = one(o);
    const range = text === undefined ? undefined : parseAddressRange(text);
    if (range === undefined) return bad(o);
    if (o.name === '--src-range') src = { ...range, negated: o.negated };
    else dst = { ...range, negated: o.negated };
  }
  return { kind: 'iprange', ...(src ? { src } : {}), ...(dst ? { dst } : {}) };
}

/** An interface name with an optional trailing `+` wildcard (also used for -i/-o). */
export function parseInterface(text: string, negated: boolean): InterfaceMatch {
  const wildcard = text.endsWith('+');
  return { name: wildcard ? text.slice(0, -1) : text, wildcard, negated };
}

function parsePhysdev(options: readonly ModuleOption[]): Parsed {
  const m: {
    in?: InterfaceMatch;
    out?: InterfaceMatch;
    isIn?: { negated: boolean };
    isOut?: { negated: boolean };
    isBridged?: { negated: boolean };
  } = {};
  for (const o of options) {
    switch (o.name) {
      case '--physdev-in':
      case '--physdev-out': {
        const text = one(o);
        if (text === undefined) return bad(o);
        if (o.name === '--physdev-in') m.in = parseInterface(text, o.negated);
        else m.out = parseInterface(text, o.negated);
        break;
      }
      case '--physdev-is-in':
        m.isIn = { negated: o.negated };
        break;
      case '--physdev-is-out':
        m.isOut = { negated: o.negated };
        break;
      case '--physdev-is-bridged':
        m.isBridged = { negated: o.negated };
        break;
      default:
        return unsupported(o);
    }
  }
  return { kind: 'physdev', ...m };
}

function parseLimit(options: readonly ModuleOption[]): Parsed {
  let rate = '3/hour'; // iptables' default
  let burst = 5;
  for (const o of options) {
    const text = one(o);
    if (o.name === '--limit' && text !== undefined && !o.negated) rate = text;
    else if (o.name === '--limit-burst' && text !== undefined && parseUint(text) !== undefined) burst = parseUint(text) ?? 5;
    else return unsupported(o);
  }
  return { kind: 'limit', rate, burst };
}

const PACKET_TYPES: ReadonlySet<string> = new Set(['unicast', 'broadcast', 'multicast', 'host', 'otherhost']);

function parsePkttype(options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  if (o === undefined || o.name !== '--pkt-type' || rest.length > 0) return o ? unsupported(rest[0] ?? o) : 'no --pkt-type';
  const text = one(o)?.toLowerCase();
  if (text === undefined || !PACKET_TYPES.has(text)) return bad(o);
  return { kind: 'pkttype', type: text as PacketType, negated: o.negated };
}

function idRange(o: ModuleOption): NegatableRange | undefined {
  const text = one(o);
  if (text === undefined) return undefined;
  const dash = text.indexOf('-');
  const min = parseUint(dash < 0 ? text : text.slice(0, dash));
  const max = dash < 0 ? min : parseUint(text.slice(dash + 1));
  if (min === undefined || max === undefined || min > max) return undefined;
  return { min, max, negated: o.negated };
}

function parseOwner(options: readonly ModuleOption[]): Parsed {
  let uid: NegatableRange | undefined;
  let gid: NegatableRange | undefined;
  let socketExists: { negated: boolean } | undefined;
  let suppGroups = false;
  for (const o of options) {
    switch (o.name) {
      case '--uid-owner':
        uid = idRange(o);
        if (uid === undefined) return bad(o); // a user name iptables-save would have written as a number
        break;
      case '--gid-owner':
        gid = idRange(o);
        if (gid === undefined) return bad(o);
        break;
      case '--socket-exists':
        socketExists = { negated: o.negated };
        break;
      case '--suppl-groups':
        suppGroups = true;
        break;
      default:
        return unsupported(o);
    }
  }
  return { kind: 'owner', ...(uid ? { uid } : {}), ...(gid ? { gid } : {}), ...(socketExists ? { socketExists } : {}), suppGroups };
}

function parseSocket(options: readonly ModuleOption[]): Parsed {
  let transparent = false;
  let nowildcard = false;
  let restoreSkmark = false;
  for (const o of options) {
    if (o.name === '--transparent') transparent = true;
    else if (o.name === '--nowildcard') nowildcard = true;
    else if (o.name === '--restore-skmark') restoreSkmark = true;
    else return unsupported(o);
  }
  return { kind: 'socket', transparent, nowildcard, restoreSkmark };
}

function parseMac(options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  if (o === undefined || o.name !== '--mac-source' || rest.length > 0) return o ? unsupported(rest[0] ?? o) : 'no --mac-source';
  const text = one(o)?.toLowerCase();
  if (text === undefined || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(text)) return bad(o);
  return { kind: 'mac', address: text, negated: o.negated };
}

function parseLength(options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  if (o === undefined || o.name !== '--length' || rest.length > 0) return o ? unsupported(rest[0] ?? o) : 'no --length';
  const text = one(o);
  const colon = text?.indexOf(':') ?? -1;
  const min = text === undefined ? undefined : parseUint(colon < 0 ? text : text.slice(0, colon), 65535);
  const max = text === undefined ? undefined : colon < 0 ? min : parseUint(text.slice(colon + 1), 65535);
  if (min === undefined || max === undefined || min > max) return bad(o);
  return { kind: 'length', min, max, negated: o.negated };
}

function parseTtl(module: 'ttl' | 'hl', options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  if (o === undefined || rest.length > 0) return o ? unsupported(rest[0] as ModuleOption) : `no --${module}-eq`;
  const op = o.name === `--${module}-eq` ? 'eq' : o.name === `--${module}-lt` ? 'lt' : o.name === `--${module}-gt` ? 'gt' : undefined;
  if (op === undefined) return unsupported(o);
  const text = one(o);
  const value = text === undefined ? undefined : parseUint(text, 255);
  if (value === undefined) return bad(o);
  return { kind: 'ttl', module, op, value, negated: o.negated };
}

function parseDscp(options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  if (o === undefined || o.name !== '--dscp' || rest.length > 0) return o ? unsupported(rest[0] ?? o) : 'no --dscp';
  const text = one(o);
  const value = text === undefined ? undefined : parseUint(text, 63);
  if (value === undefined) return bad(o);
  return { kind: 'dscp', value, negated: o.negated };
}

function parseTos(options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  if (o === undefined || o.name !== '--tos' || rest.length > 0) return o ? unsupported(rest[0] ?? o) : 'no --tos';
  const text = one(o);
  const vm = text === undefined ? undefined : parseValueMask(text, 255);
  if (vm === undefined) return bad(o);
  return { kind: 'tos', value: vm.value, mask: vm.mask, negated: o.negated };
}

function parseComment(options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  if (o === undefined || o.name !== '--comment' || rest.length > 0) return o ? unsupported(rest[0] ?? o) : 'no --comment';
  return { kind: 'comment', comment: one(o) ?? '' };
}

/** The match of module `name` with `options`, or why it is not modelled. */
export function parseMatchModule(name: string, options: readonly ModuleOption[], ctx: MatchParseContext): Match | string {
  switch (name) {
    case 'tcp':
    case 'udp':
      return parseTcpUdp(name, options);
    case 'multiport':
      return parseMultiport(options);
    case 'icmp':
      return parseIcmp('icmp', options);
    case 'icmp6':
    case 'icmpv6':
    case 'ipv6-icmp':
      return parseIcmp('icmp6', options);
    case 'comment':
      return parseComment(options);
    case 'mark':
    case 'connmark':
      return parseMark(name, options);
    case 'conntrack':
      return parseConntrack(options, ctx);
    case 'state':
      return parseState(options);
    case 'addrtype':
      return parseAddrtype(options);
    case 'set':
      return parseSet(options);
    case 'statistic':
      return parseStatistic(options);
    case 'iprange':
      return parseIprange(options);
    case 'physdev':
      return parsePhysdev(options);
    case 'limit':
      return parseLimit(options);
    case 'pkttype':
      return parsePkttype(options);
    case 'owner':
      return parseOwner(options);
    case 'socket':
      return parseSocket(options);
    case 'mac':
      return parseMac(options);
    case 'length':
      return parseLength(options);
    case 'ttl':
    case 'hl':
      return parseTtl(name, options);
    case 'dscp':
      return parseDscp(options);
    case 'tos':
      return parseTos(options);
    default:
      return `match module "${name}" is not modelled`;
  }
}
