// Parsers of `-j` target extensions, one per target, from the target's options to a `Target`. A
// target netdiag does not model, or one with an option it does not model, is reported as a reason
// string; the rule parser turns it into an `unknown` target carrying the text.

import type { NatRange, NumberRange, Target } from './model.js';
import type { ModuleOption } from './options.js';
import { parseNatRange, parsePortRange, parseUint, parseValueMask } from './values.js';
import { parseIp } from '../../model/ip.js';

/**
 * Targets that never end the walk and change nothing netdiag models: they are followed through
 * without a warning. (SET changes set membership for later packets, TTL/HL the hop limit, TEE
 * sends a copy: none changes what happens to this packet in netfilter.)
 */
const PASSTHROUGH_TARGETS: ReadonlySet<string> = new Set([
  'TCPMSS',
  'CLASSIFY',
  'SECMARK',
  'CONNSECMARK',
  'AUDIT',
  'IDLETIMER',
  'LED',
  'RATEEST',
  'SET',
  'TEE',
  'TTL',
  'HL',
  'ECN',
  'TCPOPTSTRIP',
]);

/**
 * Target extensions netdiag models. `-j NAME` means the extension even if a chain has that name
 * (iptables looks the extension up first; `iptables -N` refuses such names, iptables-restore
 * does not), so these names skip the chain lookup.
 */
export const MODELLED_TARGETS: ReadonlySet<string> = new Set([
  'ACCEPT',
  'DROP',
  'RETURN',
  'REJECT',
  'DNAT',
  'SNAT',
  'MASQUERADE',
  'REDIRECT',
  'MARK',
  'CONNMARK',
  'LOG',
  'NFLOG',
  'TRACE',
  'CT',
  'NOTRACK',
  'CHECKSUM',
  'TPROXY',
  'DSCP',
  'TOS',
]);

/** Whether `name` is a target followed through as `passthrough`. */
export function isPassthroughTarget(name: string): boolean {
  return PASSTHROUGH_TARGETS.has(name);
}

type Parsed = Target | string;

export const ACCEPT: Target = { kind: 'accept' };
export const DROP: Target = { kind: 'drop' };
export const RETURN: Target = { kind: 'return' };
export const NO_TARGET: Target = { kind: 'none' };

function unsupported(option: ModuleOption): string {
  return option.name === '' ? `unexpected word "${option.values.join(' ')}"` : `unsupported option ${option.name}`;
}

function one(option: ModuleOption): string | undefined {
  return option.values.length === 1 ? option.values[0] : undefined;
}

function bad(option: ModuleOption): string {
  return `cannot read ${option.name} ${option.values.join(' ')}`.trimEnd();
}

function noOptions(target: Target, options: readonly ModuleOption[]): Parsed {
  return options.length === 0 ? target : unsupported(options[0] as ModuleOption);
}

function natRanges(
  kind: 'dnat' | 'snat',
  options: readonly ModuleOption[],
): { ranges: NatRange[]; random: boolean; randomFully: boolean; persistent: boolean } | string {
  const ranges: NatRange[] = [];
  let random = false;
  let randomFully = false;
  let persistent = false;
  const rangeOption = kind === 'dnat' ? '--to-destination' : '--to-source';
  for (const o of options) {
    if (o.name === rangeOption || (o.name === '--to' && kind === 'dnat')) {
      const text = one(o);
      const range = text === undefined ? undefined : parseNatRange(text);
      if (range === undefined) return bad(o);
      ranges.push(range);
    } else if (o.name === '--random') random = true;
    else if (o.name === '--random-fully' && kind === 'snat') randomFully = true;
    else if (o.name === '--persistent') persistent = true;
    else return unsupported(o);
  }
  if (ranges.length === 0) return `${kind.toUpperCase()} without ${rangeOption}`;
  return { ranges, random, randomFully, persistent };
}

function portsOption(o: ModuleOption): NumberRange | undefined {
  const text = one(o);
  return text === undefined ? undefined : parsePortRange(text, '-');
}

function parseMasqueradeRedirect(kind: 'masquerade' | 'redirect', options: readonly ModuleOption[]): Parsed {
  let ports: NumberRange | undefined;
  let random = false;
  let randomFully = false;
  for (const o of options) {
    if (o.name === '--to-ports') {
      ports = portsOption(o);
      if (ports === undefined) return bad(o);
    } else if (o.name === '--random') random = true;
    else if (o.name === '--random-fully' && kind === 'masquerade') randomFully = true;
    else return unsupported(o);
  }
  if (kind === 'redirect') return { kind, ports, random };
  return { kind, ports, random, randomFully };
}

/** The MARK/CONNMARK operations as `(old & ~mask) ^ value` (libxt_MARK, libxt_CONNMARK). */
function markOperation(o: ModuleOption): { value: number; mask: number } | undefined {
  const text = one(o);
  if (text === undefined) return undefined;
  switch (o.name) {
    case '--set-xmark':
      return parseValueMask(text);
    case '--set-mark': {
      const vm = parseValueMask(text);
      return vm && { value: vm.value, mask: (vm.mask | vm.value) >>> 0 };
    }
    case '--and-mark': {
      const v = parseUint(text);
      return v === undefined ? undefined : { value: 0, mask: ~v >>> 0 };
    }
    case '--or-mark': {
      const v = parseUint(text);
      return v === undefined ? undefined : { value: v, mask: v };
    }
    case '--xor-mark': {
      const v = parseUint(text);
      return v === undefined ? undefined : { value: v, mask: 0 };
    }
    default:
      return undefined;
  }
}

const MARK_OPTIONS: ReadonlySet<string> = new Set(['--set-xmark', '--set-mark', '--and-mark', '--or-mark', '--xor-mark']);

function parseMarkTarget(options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  if (o === undefined) return 'MARK without an operation';
  if (rest.length > 0) return unsupported(rest[0] as ModuleOption);
  const op = markOperation(o);
  if (op === undefined) return MARK_OPTIONS.has(o.name) ? bad(o) : unsupported(o);
  return { kind: 'mark', value: op.value, mask: op.mask };
}

function parseConnmarkTarget(options: readonly ModuleOption[]): Parsed {
  let mode: 'set' | 'save' | 'restore' | undefined;
  let set: { value: number; mask: number } | undefined;
  let nfmask = 0xffffffff;
  let ctmask = 0xffffffff;
  for (const o of options) {
    switch (o.name) {
      case '--set-xmark':
      case '--set-mark':
      case '--and-mark':
      case '--or-mark':
      case '--xor-mark':
        set = markOperation(o);
        if (set === undefined) return bad(o);
        mode = 'set';
        break;
      case '--save-mark':
        mode = 'save';
        break;
      case '--restore-mark':
        mode = 'restore';
        break;
      case '--nfmask':
      case '--ctmask':
      case '--mask': {
        const text = one(o);
        const v = text === undefined ? undefined : parseUint(text);
        if (v === undefined) return bad(o);
        if (o.name !== '--ctmask') nfmask = v;
        if (o.name !== '--nfmask') ctmask = v;
        break;
      }
      default:
        return unsupported(o);
    }
  }
  if (mode === 'set' && set !== undefined) return { kind: 'connmark', mode, value: set.value, mask: set.mask };
  if (mode === 'save' || mode === 'restore') return { kind: 'connmark', mode, nfmask, ctmask };
  return 'CONNMARK without --set-xmark, --save-mark or --restore-mark';
}

function parseTproxy(options: readonly ModuleOption[]): Parsed {
  let port: number | undefined;
  let address;
  let markValue = 0;
  let markMask = 0;
  for (const o of options) {
    const text = one(o);
    if (text === undefined) return bad(o);
    if (o.name === '--on-port') {
      port = parseUint(text, 65535);
      if (port === undefined) return bad(o);
    } else if (o.name === '--on-ip') {
      address = parseIp(text);
      if (address === undefined) return bad(o);
    } else if (o.name === '--tproxy-mark') {
      const vm = parseValueMask(text);
      if (vm === undefined) return bad(o);
      markValue = vm.value;
      markMask = vm.mask;
    } else return unsupported(o);
  }
  if (port === undefined) return 'TPROXY without --on-port';
  return { kind: 'tproxy', port, address, markValue, markMask };
}

function parseTosTarget(options: readonly ModuleOption[]): Parsed {
  const [o, ...rest] = options;
  if (o === undefined || rest.length > 0) return o ? unsupported(rest[0] as ModuleOption) : 'TOS without an operation';
  const text = one(o);
  if (text === undefined) return bad(o);
  if (o.name === '--set-tos') {
    const vm = parseValueMask(text, 255);
    return vm === undefined ? bad(o) : { kind: 'tos', value: vm.value, mask: vm.mask };
  }
  const v = parseUint(text, 255);
  if (v === undefined) return bad(o);
  if (o.name === '--and-tos') return { kind: 'tos', value: 0, mask: ~v & 0xff };
  if (o.name === '--or-tos') return { kind: 'tos', value: v, mask: v };
  if (o.name === '--xor-tos') return { kind: 'tos', value: v, mask: 0 };
  return unsupported(o);
}

/**
 * The target `name` with `options` (not a user chain: the rule parser resolves those first), or
 * why it is not modelled. Passthrough targets (isPassthroughTarget) are the caller's.
 */
export function parseTargetModule(name: string, options: readonly ModuleOption[], v6: boolean): Target | string {
  switch (name) {
    case 'ACCEPT':
      return noOptions(ACCEPT, options);
    case 'DROP':
      return noOptions(DROP, options);
    case 'RETURN':
      return noOptions(RETURN, options);
    case 'REJECT': {
      let rejectWith = v6 ? 'icmp6-port-unreachable' : 'icmp-port-unreachable';
      for (const o of options) {
        const value = one(o);
        if (o.name !== '--reject-with' || value === undefined) return unsupported(o);
        rejectWith = value;
      }
      return { kind: 'reject', rejectWith };
    }
    case 'DNAT': {
      const r = natRanges('dnat', options);
      return typeof r === 'string' ? r : { kind: 'dnat', ranges: r.ranges, random: r.random, persistent: r.persistent };
    }
    case 'SNAT': {
      const r = natRanges('snat', options);
      return typeof r === 'string' ? r : { kind: 'snat', ...r };
    }
    case 'MASQUERADE':
      return parseMasqueradeRedirect('masquerade', options);
    case 'REDIRECT':
      return parseMasqueradeRedirect('redirect', options);
    case 'MARK':
      return parseMarkTarget(options);
    case 'CONNMARK':
      return parseConnmarkTarget(options);
    case 'LOG': {
      let prefix: string | undefined;
      let level: string | undefined;
      for (const o of options) {
        if (o.name === '--log-prefix') prefix = one(o);
        else if (o.name === '--log-level') level = one(o);
        else if (!o.name.startsWith('--log-')) return unsupported(o);
      }
      return { kind: 'log', prefix, level };
    }
    case 'NFLOG': {
      let group: number | undefined;
      let prefix: string | undefined;
      for (const o of options) {
        if (o.name === '--nflog-prefix') prefix = one(o);
        else if (o.name === '--nflog-group') group = parseUint(one(o) ?? '', 0xffff);
        else if (!o.name.startsWith('--nflog-')) return unsupported(o);
      }
      return { kind: 'nflog', group, prefix };
    }
    case 'TRACE':
      return noOptions({ kind: 'trace' }, options);
    case 'CT': {
      let notrack = false;
      let zone: string | undefined;
      let helper: string | undefined;
      for (const o of options) {
        if (o.name === '--notrack') notrack = true;
        else if (o.name === '--zone' || o.name === '--zone-orig' || o.name === '--zone-reply') zone = one(o);
        else if (o.name === '--helper') helper = one(o);
        else if (!['--ct-events', '--expect-events', '--timeout'].includes(o.name)) return unsupported(o);
      }
      return { kind: 'ct', notrack, zone, helper };
    }
    case 'NOTRACK':
      return noOptions({ kind: 'notrack' }, options);
    case 'CHECKSUM':
      return options.every((o) => o.name === '--checksum-fill') ? { kind: 'checksum' } : unsupported(options[0] as ModuleOption);
    case 'TPROXY':
      return parseTproxy(options);
    case 'DSCP': {
      const [o, ...rest] = options;
      const value = o?.name === '--set-dscp' && rest.length === 0 ? parseUint(one(o) ?? '', 63) : undefined;
      return value === undefined ? (o ? unsupported(o) : 'DSCP without --set-dscp') : { kind: 'dscp', value };
    }
    case 'TOS':
      return parseTosTarget(options);
    default:
      return `target ${name} is not modelled`;
  }
}
