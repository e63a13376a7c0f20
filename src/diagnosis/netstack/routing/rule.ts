// `ip -j -d rule show` (and `ip -j rule`, `ip -6 -j rule`): the policy routing rules.

import { formatPrefix, prefixOf, type IpFamily, type IpPrefix } from '../../model/ip.js';
import { parseIp } from '../../model/ip.js';
import type { Warning } from '../../model/warning.js';
import { assertNever } from '../../model/assert-never.js';
import { optional, readEntries, type EntryReader, type JsonDump } from './json-reader.js';
import { dsfieldValue, formatTos, groupId, ipProtocolName, ipProtocolNumber, RT_TABLE_MAIN } from './names.js';
import { readTableField } from './route.js';

/** What a rule does once its selector matches (FR_ACT_*). */
export type RuleAction =
  | { readonly kind: 'lookup'; readonly table: number; readonly tableName: string }
  | { readonly kind: 'goto'; readonly target: number }
  | { readonly kind: 'nop' }
  | { readonly kind: 'blackhole' }
  | { readonly kind: 'unreachable' }
  | { readonly kind: 'prohibit' }
  /** `lookup [l3mdev-table]`: the table of the VRF the packet's device belongs to. */
  | { readonly kind: 'l3mdev' }
  | { readonly kind: 'unsupported'; readonly name: string };

export interface PortRange {
  readonly start: number;
  readonly end: number;
}

export interface Rule {
  readonly family: IpFamily;
  readonly priority: number;
  /** `not`: the selector is inverted. */
  readonly not: boolean;
  /** `from`; undefined = all. */
  readonly src?: IpPrefix;
  /** `to`; undefined = all. */
  readonly dst?: IpPrefix;
  readonly iif?: string;
  /** The `iif` device does not exist (`[detached]`): the rule never matches on it. */
  readonly iifDetached: boolean;
  readonly oif?: string;
  readonly oifDetached: boolean;
  /** `fwmark MARK/MASK`; a mask of 0 means no fwmark selector. */
  readonly fwmark: number;
  readonly fwmask: number;
  /** `tos`; 0 = any. */
  readonly tos: number;
  readonly ipproto?: number;
  readonly sport?: PortRange;
  readonly dport?: PortRange;
  readonly uidRange?: PortRange;
  readonly tunId?: number;
  readonly l3mdev: boolean;
  /** `suppress_prefixlength N`: a result with a prefix length <= N is refused. */
  readonly suppressPrefixLength?: number;
  /** `suppress_ifgroup G`: a result whose device is in group G is refused. */
  readonly suppressIfgroup?: number;
  readonly protocol?: string;
  readonly action: RuleAction;
  /** Selectors printed that we do not understand: such a rule cannot be decided. */
  readonly unsupportedSelectors: readonly string[];
  /** `unresolved` goto: the target priority has no rule. */
  readonly unresolved: boolean;
  readonly index: number;
}

export interface ParsedRules {
  readonly rules: readonly Rule[];
  readonly warnings: readonly Warning[];
}

export interface ParseRulesOptions {
  /** Family of the dump (`ip -6 rule`); otherwise inferred from `from`/`to`, else IPv4 as `ip rule` shows. */
  readonly family?: IpFamily;
  readonly tableNames?: Readonly<Record<string, number>>;
}

const KNOWN_FIELDS = new Set([
  'priority',
  'not',
  'src',
  'srclen',
  'dst',
  'dstlen',
  'tos',
  'fwmark',
  'fwmask',
  'iif',
  'iif_detached',
  'oif',
  'oif_detached',
  'l3mdev',
  'uid_start',
  'uid_end',
  'ipproto',
  'sport',
  'sport_start',
  'sport_end',
  'dport',
  'dport_start',
  'dport_end',
  'tun_id',
  'table',
  'suppress_prefixlen',
  'suppress_ifgroup',
  'flow_from',
  'flow_to',
  'goto',
  'unresolved',
  'nop',
  'action',
  'protocol',
]);

/** Parses `ip -j [-d] [-6] rule show`. */
export function parseRules(json: JsonDump, source: string, options: ParseRulesOptions = {}): ParsedRules {
  const warnings: Warning[] = [];
  const rules = readEntries(json, source, 'rule', (raw, index) => readRule(raw, index, options, warnings));
  return { rules, warnings };
}

function readSelectorPrefix(e: EntryReader, field: 'src' | 'dst', family: IpFamily | undefined): IpPrefix | undefined {
  const text = e.optString(field);
  if (text === undefined || text === 'all') return undefined;
  if (text.includes('/')) return e.prefix(field, family);
  const address = e.ip(field, family);
  const bits = address.family === 4 ? 32 : 128;
  const length = e.optInteger(`${field}len`, bits) ?? bits;
  return prefixOf(address, length);
}

function readPorts(e: EntryReader, name: 'sport' | 'dport'): PortRange | undefined {
  const single = e.optInteger(name, 0xffff);
  if (single !== undefined) return { start: single, end: single };
  const start = e.optInteger(`${name}_start`, 0xffff);
  const end = e.optInteger(`${name}_end`, 0xffff);
  if (start === undefined && end === undefined) return undefined;
  return { start: start ?? 0, end: end ?? 0xffff };
}

function inferFamily(e: EntryReader): IpFamily | undefined {
  for (const field of ['src', 'dst']) {
    const text = e.optString(field);
    const ip = text === undefined || text === 'all' ? undefined : parseIp(text.split('/')[0] ?? '');
    if (ip !== undefined) return ip.family;
  }
  return undefined;
}

function readRule(raw: EntryReader, index: number, options: ParseRulesOptions, warnings: Warning[]): Rule {
  const priority = raw.optInteger('priority', 0xffffffff) ?? 0;
  const e = raw.relabel(`${raw.entry} (priority ${priority})`);
  const family = options.family ?? inferFamily(e) ?? 4;
  const tosText = e.optString('tos') ?? (e.has('tos') ? String(e.integer('tos', 255)) : undefined);
  const tos = tosText === undefined ? 0 : (dsfieldValue(tosText) ?? e.fail('tos', `unknown TOS/DS field "${tosText}"`));
  const hasMark = e.has('fwmark') || e.has('fwmask');
  const fwmark = e.optInteger('fwmark', 0xffffffff) ?? 0;
  const fwmask = hasMark ? (e.optInteger('fwmask', 0xffffffff) ?? 0xffffffff) : 0;
  const ipprotoText = e.optString('ipproto') ?? (e.has('ipproto') ? String(e.integer('ipproto', 255)) : undefined);
  const ipproto = ipprotoText === undefined ? undefined : (ipProtocolNumber(ipprotoText) ?? e.fail('ipproto', `unknown protocol "${ipprotoText}"`));
  const uidStart = e.optInteger('uid_start', 0xffffffff);
  const uidEnd = e.optInteger('uid_end', 0xffffffff);
  const groupText = e.optString('suppress_ifgroup') ?? (e.has('suppress_ifgroup') ? String(e.integer('suppress_ifgroup')) : undefined);
  let suppressIfgroup: number | undefined;
  if (groupText !== undefined) {
    suppressIfgroup = groupId(groupText);
    if (suppressIfgroup === undefined) {
      warnings.push({
        code: 'unknown-link-group',
        message: `${e.entry}: suppress_ifgroup "${groupText}" is a site-specific group name; it is taken as matching no device`,
        source: e.source,
      });
      suppressIfgroup = -2;
    }
  }
  const unsupportedSelectors: string[] = [];
  for (const key of e.keys()) {
    if (!KNOWN_FIELDS.has(key)) unsupportedSelectors.push(key);
  }
  if (unsupportedSelectors.length > 0) {
    warnings.push({
      code: 'unsupported-rule-selector',
      message: `${e.entry}: ${unsupportedSelectors.map((k) => `"${k}"`).join(', ')} not understood; lookups reaching this rule are inconclusive`,
      source: e.source,
    });
  }
  const l3mdev = e.flag('l3mdev');
  const rule: Rule = {
    family,
    priority,
    not: e.flag('not'),
    ...optional('src', readSelectorPrefix(e, 'src', options.family ?? inferFamily(e))),
    ...optional('dst', readSelectorPrefix(e, 'dst', options.family ?? inferFamily(e))),
    ...optional('iif', e.optString('iif')),
    iifDetached: e.flag('iif_detached'),
    ...optional('oif', e.optString('oif')),
    oifDetached: e.flag('oif_detached'),
    fwmark,
    fwmask,
    tos,
    ...optional('ipproto', ipproto),
    ...optional('sport', readPorts(e, 'sport')),
    ...optional('dport', readPorts(e, 'dport')),
    ...(uidStart !== undefined || uidEnd !== undefined ? { uidRange: { start: uidStart ?? 0, end: uidEnd ?? 0xffffffff } } : {}),
    ...optional('tunId', e.optInteger('tun_id')),
    l3mdev,
    ...optional('suppressPrefixLength', readSuppressPrefixLength(e)),
    ...optional('suppressIfgroup', suppressIfgroup),
    ...optional('protocol', e.optString('protocol')),
    action: readAction(e, l3mdev, options, warnings),
    unsupportedSelectors,
    unresolved: e.flag('unresolved'),
    index,
  };
  return rule;
}

/** iproute2 prints suppress_prefixlength only when set; the kernel's "unset" is -1 (or 0xffffffff). */
function readSuppressPrefixLength(e: EntryReader): number | undefined {
  const v = e.raw('suppress_prefixlen');
  if (v === undefined || v === null || v === -1) return undefined;
  const n = e.integer('suppress_prefixlen', 0xffffffff);
  return n === 0xffffffff ? undefined : n;
}

function readAction(e: EntryReader, l3mdev: boolean, options: ParseRulesOptions, warnings: Warning[]): RuleAction {
  if (e.has('goto')) return { kind: 'goto', target: e.integer('goto', 0xffffffff) };
  if (e.flag('nop')) return { kind: 'nop' };
  const action = e.optString('action');
  if (action !== undefined) {
    switch (action) {
      case 'blackhole':
      case 'unreachable':
      case 'prohibit':
        return { kind: action };
      default:
        warnings.push({ code: 'unsupported-rule-action', message: `${e.entry}: action "${action}" is not simulated`, source: e.source });
        return { kind: 'unsupported', name: action };
    }
  }
  if (l3mdev && !e.has('table')) return { kind: 'l3mdev' };
  if (!e.has('table')) return { kind: 'lookup', table: 0, tableName: 'unspec' };
  const { table, tableName } = readTableField(e, 'table', options, warnings);
  return { kind: 'lookup', table, tableName };
}

/** The default rules of a namespace nobody touched: 0 local, 32766 main, 32767 default (IPv6: no default). */
export function buildDefaultRules(family: IpFamily): Rule[] {
  const base = {
    family,
    not: false,
    iifDetached: false,
    oifDetached: false,
    fwmark: 0,
    fwmask: 0,
    tos: 0,
    l3mdev: false,
    unsupportedSelectors: [],
    unresolved: false,
    protocol: 'kernel',
  };
  const rules: Rule[] = [
    { ...base, priority: 0, action: { kind: 'lookup', table: 255, tableName: 'local' }, index: 0 },
    { ...base, priority: 32766, action: { kind: 'lookup', table: RT_TABLE_MAIN, tableName: 'main' }, index: 1 },
  ];
  if (family === 4) rules.push({ ...base, priority: 32767, action: { kind: 'lookup', table: 253, tableName: 'default' }, index: 2 });
  return rules;
}

/** A rule in the words of `ip rule`: `32766: from all lookup main` → `rule 32766 from all lookup main`. */
export function formatRule(rule: Rule): string {
  const parts: string[] = [`rule ${rule.priority}`];
  if (rule.not) parts.push('not');
  parts.push(`from ${rule.src === undefined ? 'all' : formatPrefix(rule.src)}`);
  if (rule.dst !== undefined) parts.push(`to ${formatPrefix(rule.dst)}`);
  if (rule.tos !== 0) parts.push(`tos ${formatTos(rule.tos)}`);
  if (rule.fwmask !== 0) {
    parts.push(rule.fwmask === 0xffffffff ? `fwmark 0x${rule.fwmark.toString(16)}` : `fwmark 0x${rule.fwmark.toString(16)}/0x${rule.fwmask.toString(16)}`);
  }
  if (rule.iif !== undefined) parts.push(`iif ${rule.iif}${rule.iifDetached ? ' [detached]' : ''}`);
  if (rule.oif !== undefined) parts.push(`oif ${rule.oif}${rule.oifDetached ? ' [detached]' : ''}`);
  if (rule.l3mdev) parts.push('l3mdev');
  if (rule.uidRange !== undefined) parts.push(`uidrange ${rule.uidRange.start}-${rule.uidRange.end}`);
  if (rule.ipproto !== undefined) parts.push(`ipproto ${ipProtocolName(rule.ipproto)}`);
  if (rule.sport !== undefined) parts.push(`sport ${formatPorts(rule.sport)}`);
  if (rule.dport !== undefined) parts.push(`dport ${formatPorts(rule.dport)}`);
  if (rule.tunId !== undefined) parts.push(`tun_id ${rule.tunId}`);
  parts.push(formatAction(rule.action));
  if (rule.suppressPrefixLength !== undefined) parts.push(`suppress_prefixlength ${rule.suppressPrefixLength}`);
  if (rule.suppressIfgroup !== undefined) parts.push(`suppress_ifgroup ${rule.suppressIfgroup}`);
  return parts.join(' ');
}

function formatPorts(range: PortRange): string {
  return range.start === range.end ? String(range.start) : `${range.start}-${range.end}`;
}

export function formatAction(action: RuleAction): string {
  switch (action.kind) {
    case 'lookup':
      return `lookup ${action.tableName}`;
    case 'goto':
      return `goto ${action.target}`;
    case 'nop':
      return 'nop';
    case 'blackhole':
    case 'unreachable':
    case 'prohibit':
      return action.kind;
    case 'l3mdev':
      return 'lookup [l3mdev-table]';
    case 'unsupported':
      return action.name;
    default:
      return assertNever(action, 'rule action');
  }
}
