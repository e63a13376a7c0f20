// Parser of `ipset save` (also `ipset list -o save` and hand-written `ipset restore` files):
//   create NAME TYPE [create-options]
//   add NAME ELEMENT [add-options]
// Malformed input is an IpsetParseError naming the source and line. A set of a type we cannot
// evaluate, or with an option we do not know, is kept as `unsupported` with a warning, so that
// rules referring to it come out Inconclusive instead of guessed.

import { familyBits, parseIp, type IpFamily } from '../../model/ip.js';
import type { Warning } from '../../model/warning.js';
import { ElementError, MAX_EXPANSION, parseAddressSpan, parseHashElement } from './elements.js';
import type {
  IpsetBitmapIpEntry,
  IpsetBitmapPortEntry,
  IpsetCreateOptions,
  IpsetElementKind,
  IpsetEntryExtras,
  IpsetHashEntry,
  IpsetHashType,
  IpsetListEntry,
  IpsetSet,
} from './types.js';

/** The dimensions of each hash type, in element order. */
export const HASH_TYPE_DIMENSIONS: Readonly<Record<IpsetHashType, readonly IpsetElementKind[]>> = {
  'hash:ip': ['ip'],
  'hash:net': ['net'],
  'hash:ip,port': ['ip', 'port'],
  'hash:net,port': ['net', 'port'],
  'hash:ip,port,ip': ['ip', 'port', 'ip'],
  'hash:ip,port,net': ['ip', 'port', 'net'],
};

function isHashType(type: string): type is IpsetHashType {
  return Object.hasOwn(HASH_TYPE_DIMENSIONS, type);
}

export interface IpsetDump {
  /** Sets by name, in the order of the dump. */
  readonly sets: ReadonlyMap<string, IpsetSet>;
  readonly warnings: readonly Warning[];
}

export class IpsetParseError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}:${line}: ${detail}`, options);
    this.name = 'IpsetParseError';
  }
}

/** Splits a line on blanks, keeping a double-quoted word (a comment) as one token without quotes. */
function tokenize(line: string): string[] | undefined {
  const tokens: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(line)) !== null) {
    if (line.slice(consumed, m.index).trim() !== '' || m[2]?.includes('"')) return undefined;
    tokens.push(m[1] ?? m[2] ?? '');
    consumed = m.index + m[0].length;
  }
  return line.slice(consumed).trim() === '' ? tokens : undefined;
}

interface Builder {
  readonly name: string;
  readonly typeName: string;
  readonly line: number;
  family: IpFamily | undefined;
  options: Mutable<IpsetCreateOptions>;
  unsupported?: string;
  mask: bigint;
  rangeFirst: bigint;
  rangeLast: bigint;
  netmask?: number;
  size?: number;
  hashEntries: IpsetHashEntry[];
  bitmapIpEntries: IpsetBitmapIpEntry[];
  bitmapPortEntries: IpsetBitmapPortEntry[];
  listEntries: IpsetListEntry[];
  entryCount: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const SUPPORTED_TYPES = new Set<string>([...Object.keys(HASH_TYPE_DIMENSIONS), 'bitmap:ip', 'bitmap:port', 'list:set']);

export function parseIpsetSave(text: string, source = 'ipset save'): IpsetDump {
  const builders = new Map<string, Builder>();
  const warnings: Warning[] = [];
  const lines = text.split('\n');

  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fail = (detail: string, cause?: unknown): never => {
      throw new IpsetParseError(source, lineNo, detail, cause === undefined ? undefined : { cause });
    };
    const tokens = tokenize(line) ?? fail(`unbalanced quotes in "${line}"`);
    const [command, name, third, ...rest] = tokens;
    if (command !== 'create' && command !== 'add') {
      fail(`unexpected command "${command ?? ''}" (expected create or add)`);
    }
    if (name === undefined || third === undefined) fail(`incomplete "${command}" line`);
    const setName = name ?? '';
    const arg = third ?? '';
    try {
      if (command === 'create') {
        if (builders.has(setName)) fail(`set "${setName}" is created twice`);
        const builder = parseCreate(setName, arg, rest, lineNo);
        if (builder.unsupported !== undefined) {
          warnings.push({
            code: 'ipset-unsupported',
            message: `ipset "${setName}" (${arg}): ${builder.unsupported}; its membership is unknown`,
            source: `${source}:${lineNo}`,
          });
        }
        builders.set(setName, builder);
      } else {
        const builder = builders.get(setName) ?? fail(`"add" to set "${setName}", which was not created before`);
        const hadReason = builder.unsupported !== undefined;
        parseAdd(builder, arg, rest, lineNo);
        if (!hadReason && builder.unsupported !== undefined) {
          warnings.push({
            code: 'ipset-unsupported',
            message: `ipset "${setName}": ${builder.unsupported}; its membership is unknown`,
            source: `${source}:${lineNo}`,
          });
        }
      }
    } catch (error) {
      if (error instanceof IpsetParseError) throw error;
      if (error instanceof ElementError) fail(error.message);
      throw error;
    }
  });

  const sets = new Map<string, IpsetSet>();
  for (const b of builders.values()) sets.set(b.name, finish(b, `${source}:${b.line}`));
  for (const set of sets.values()) {
    if (set.type !== 'list:set') continue;
    for (const member of set.entries) {
      if (!sets.has(member.name)) {
        warnings.push({
          code: 'ipset-missing-member',
          message: `list:set "${set.name}" names set "${member.name}", which is not in the dump`,
          source: `${source}:${member.line}`,
        });
      }
    }
  }
  return { sets, warnings };
}

function parseCount(text: string | undefined, what: string): number {
  if (text === undefined || !/^\d+$/.test(text)) throw new ElementError(`${what} needs a number, got "${text ?? ''}"`);
  return Number(text);
}

function parseCreate(name: string, typeName: string, args: string[], line: number): Builder {
  const b: Builder = {
    name,
    typeName,
    line,
    family: typeName.startsWith('hash:') || typeName.startsWith('bitmap:ip') ? 4 : undefined,
    options: { counters: false, comment: false, skbinfo: false, forceadd: false },
    mask: 0n,
    rangeFirst: 0n,
    rangeLast: -1n,
    hashEntries: [],
    bitmapIpEntries: [],
    bitmapPortEntries: [],
    listEntries: [],
    entryCount: 0,
  };
  if (!SUPPORTED_TYPES.has(typeName)) b.unsupported = `set type "${typeName}" is not supported`;
  let netmask: number | undefined;
  let bitmask: string | undefined;
  let range: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const key = args[i] ?? '';
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new ElementError(`create option "${key}" needs a value`);
      return v;
    };
    switch (key) {
      case 'family': {
        const f = value();
        if (f === 'inet') b.family = 4;
        else if (f === 'inet6') b.family = 6;
        else throw new ElementError(`unknown family "${f}"`);
        break;
      }
      case 'hashsize':
        b.options.hashsize = parseCount(value(), key);
        break;
      case 'maxelem':
        b.options.maxelem = parseCount(value(), key);
        break;
      case 'timeout':
        b.options.timeout = parseCount(value(), key);
        break;
      case 'bucketsize':
      case 'initval':
      case 'markmask':
        value();
        break;
      case 'counters':
      case 'comment':
      case 'skbinfo':
      case 'forceadd':
        b.options[key] = true;
        break;
      case 'netmask':
        netmask = parseCount(value(), key);
        break;
      case 'bitmask':
        bitmask = value();
        break;
      case 'range':
        range = value();
        break;
      case 'size':
        b.size = parseCount(value(), key);
        break;
      default:
        // An option we do not know may change matching: do not guess what the set contains.
        b.unsupported ??= `unknown create option "${key}"`;
        return b;
    }
  }
  if (b.unsupported !== undefined) return b;

  const family = b.family ?? 4;
  const all = (1n << BigInt(familyBits(family))) - 1n;
  b.mask = all;
  if (isHashType(typeName)) {
    if ((netmask !== undefined || bitmask !== undefined) && typeName !== 'hash:ip') {
      throw new ElementError(`netmask/bitmask is not an option of ${typeName}`);
    }
    if (netmask !== undefined) {
      if (netmask < 1 || netmask > familyBits(family)) throw new ElementError(`invalid netmask ${netmask}`);
      b.mask = all & ~((1n << BigInt(familyBits(family) - netmask)) - 1n);
    }
    if (bitmask !== undefined) {
      const m = parseIp(bitmask);
      if (!m || m.family !== family) throw new ElementError(`invalid bitmask "${bitmask}"`);
      b.mask = m.value;
    }
  } else if (typeName === 'bitmap:ip') {
    if (range === undefined) throw new ElementError('bitmap:ip needs a range');
    const span = parseAddressSpan(range, 4);
    b.netmask = netmask ?? 32;
    if (b.netmask < 1 || b.netmask > 32) throw new ElementError(`invalid netmask ${b.netmask}`);
    b.mask = 0xffffffffn & ~((1n << BigInt(32 - b.netmask)) - 1n);
    b.rangeFirst = span.first & b.mask;
    b.rangeLast = span.last;
  } else if (typeName === 'bitmap:port') {
    const m = range === undefined ? null : /^(\d{1,5})-(\d{1,5})$/.exec(range);
    if (!m) throw new ElementError(`bitmap:port needs "range FROM-TO", got "${range ?? ''}"`);
    const a = BigInt(m[1] ?? '0');
    const z = BigInt(m[2] ?? '0');
    if (a > 65535n || z > 65535n) throw new ElementError(`invalid port range "${range}"`);
    b.rangeFirst = a < z ? a : z;
    b.rangeLast = a < z ? z : a;
  }
  return b;
}

function parseAdd(b: Builder, element: string, args: string[], line: number): void {
  b.entryCount++;
  if (b.unsupported !== undefined) return;
  const extras: Mutable<IpsetEntryExtras> = { line };
  let nomatch = false;
  let before: string | undefined;
  let after: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const key = args[i] ?? '';
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new ElementError(`option "${key}" needs a value`);
      return v;
    };
    switch (key) {
      case 'timeout':
        extras.timeout = parseCount(value(), key);
        break;
      case 'nomatch':
        nomatch = true;
        break;
      case 'packets':
        extras.packets = BigInt(parseCount(value(), key));
        break;
      case 'bytes':
        extras.bytes = BigInt(parseCount(value(), key));
        break;
      case 'comment':
        extras.comment = value();
        break;
      case 'skbmark':
        extras.skbmark = value();
        break;
      case 'skbprio':
        extras.skbprio = value();
        break;
      case 'skbqueue':
        extras.skbqueue = parseCount(value(), key);
        break;
      case 'before':
        before = value();
        break;
      case 'after':
        after = value();
        break;
      default:
        b.unsupported = `unknown element option "${key}"`;
        return;
    }
  }
  const type = b.typeName;
  if (nomatch && type !== 'hash:net' && type !== 'hash:net,port' && type !== 'hash:ip,port,net') {
    throw new ElementError(`"nomatch" is not an option of ${type}`);
  }
  if ((before !== undefined || after !== undefined) && type !== 'list:set') {
    throw new ElementError(`"before"/"after" are options of list:set only`);
  }
  if (isHashType(type)) {
    const family = b.family ?? 4;
    for (const parts of parseHashElement(element, HASH_TYPE_DIMENSIONS[type], family, b.mask)) {
      b.hashEntries.push({ parts, nomatch, ...extras });
    }
    return;
  }
  switch (type) {
    case 'bitmap:ip': {
      const span = parseAddressSpan(element, 4);
      if (span.first < b.rangeFirst || span.last > b.rangeLast) {
        throw new ElementError(`element "${element}" is outside the range of the set`);
      }
      // One bit per netmask block: every block the span touches.
      const step = 1n << BigInt(32 - (b.netmask ?? 32));
      if ((span.last - (span.first & b.mask)) / step >= BigInt(MAX_EXPANSION)) throw new ElementError(`range "${element}" is too large`);
      for (let v = span.first & b.mask; v <= span.last; v += step) b.bitmapIpEntries.push({ address: { family: 4, value: v }, ...extras });
      return;
    }
    case 'bitmap:port': {
      const m = /^(?:(?:tcp|udp):)?(\d{1,5})(?:-(\d{1,5}))?$/.exec(element);
      if (!m) throw new ElementError(`invalid port "${element}"`);
      let from = Number(m[1]);
      let to = m[2] === undefined ? from : Number(m[2]);
      if (from > to) [from, to] = [to, from];
      if (BigInt(from) < b.rangeFirst || BigInt(to) > b.rangeLast) {
        throw new ElementError(`port "${element}" is outside the range of the set`);
      }
      for (let port = from; port <= to; port++) b.bitmapPortEntries.push({ port, ...extras });
      return;
    }
    case 'list:set': {
      const entry: IpsetListEntry = { name: element, ...extras };
      const ref = before ?? after;
      if (ref === undefined) {
        b.listEntries.push(entry);
        return;
      }
      const at = b.listEntries.findIndex((e) => e.name === ref);
      if (at < 0) throw new ElementError(`list:set member "${ref}" named by before/after is not in the set`);
      b.listEntries.splice(before !== undefined ? at : at + 1, 0, entry);
      return;
    }
    default:
      throw new ElementError(`cannot add to a set of type "${type}"`);
  }
}

function finish(b: Builder, source: string): IpsetSet {
  const base = { name: b.name, source, options: b.options };
  if (b.unsupported !== undefined) {
    return { ...base, type: 'unsupported', typeName: b.typeName, family: b.family, reason: b.unsupported, entryCount: b.entryCount };
  }
  const type = b.typeName;
  if (isHashType(type)) return { ...base, type, family: b.family ?? 4, mask: b.mask, entries: b.hashEntries };
  switch (type) {
    case 'bitmap:ip':
      return { ...base, type, family: 4, first: b.rangeFirst, last: b.rangeLast, netmask: b.netmask ?? 32, entries: b.bitmapIpEntries };
    case 'bitmap:port':
      return { ...base, type, family: undefined, first: Number(b.rangeFirst), last: Number(b.rangeLast), entries: b.bitmapPortEntries };
    case 'list:set':
      return { ...base, type, family: undefined, ...(b.size === undefined ? {} : { size: b.size }), entries: b.listEntries };
    default:
      throw new Error(`unreachable: set type ${type} passed the supported check`);
  }
}
