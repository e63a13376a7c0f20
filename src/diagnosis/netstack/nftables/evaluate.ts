// One packet through the nftables base chains of one hook, with the kernel's semantics:
// - base chains of the hook run in priority order (nat-type chains all sit in the nat core's slot,
//   -100 for prerouting/output and 100 for input/postrouting, ordered among themselves by their own
//   priority); `accept` ends one base chain, the next still runs; `drop` and `reject` end the hook;
// - rules run in order; a failed match ends the rule; `jump` returns to the next rule, `goto` does
//   not; `return` (or the end) of a base chain applies its policy;
// - a map or vmap lookup that finds no element ends the rule, as a failed match does;
// - `numgen random mod N` branches N ways, each with probability 1/N;
// - `dnat`/`snat`/`masquerade` are terminal (they accept, for the nat hook), nat chains only see
//   the first packet of a connection, and once one nat chain set up the mapping of this hook the
//   later nat chains of the hook are not consulted.
// What the model does not know (an expression, a statement, a field the packet does not carry)
// ends that branch INCONCLUSIVE, naming the table, chain, rule handle and expression.

import { formatIp, parseIp, prefixContains, prefixOf, type IpAddress } from '../../model/ip.js';
import type { Packet } from '../../model/packet.js';
import type { Warning } from '../../model/warning.js';
import type { Endpoint } from '../netfilter/trace-types.js';
import type { NftChain, NftExpr, NftHook, NftRule, NftRuleset, NftSetElement, NftStatement, NftTable, NftVerdict } from './model.js';
import { assertNever } from '../../model/assert-never.js';

export interface NftEvalContext {
  /** The interface the packet came in on; undefined for a locally generated packet. */
  readonly inIface?: string;
  /** The output interface (forward, output after routing, postrouting); undefined: unknown. */
  readonly outIface?: string;
  /** `fib daddr type`: the route type of the destination (`local`, `unicast`...); undefined: unknown. */
  readonly fibDaddrType?: (packet: Packet) => string | undefined;
  /** The source address `masquerade` picks for the packet leaving `outIface`; undefined: unknown. */
  readonly masqueradeAddress?: (packet: Packet, outIface: string | undefined) => IpAddress | undefined;
  /** NAT already set up for this connection (by an earlier nat chain of this hook, iptables nat...). */
  readonly natInitialized?: { readonly source?: boolean; readonly destination?: boolean };
  /** At most this many outcomes (numgen branches multiply); default 1024. */
  readonly maxBranches?: number;
}

export type NftOutcomeVerdict = 'ACCEPT' | 'DROP' | 'REJECT' | 'INCONCLUSIVE';

/** One NAT manipulation an nftables rule applied. */
export interface NftNatApplied {
  readonly kind: 'dnat' | 'snat' | 'masquerade';
  readonly hook: NftHook;
  readonly family: string;
  readonly table: string;
  readonly chain: string;
  readonly handle: number | undefined;
  readonly ruleText: string;
  readonly before: Endpoint;
  /** undefined when masquerade could not tell the address. */
  readonly after: Endpoint | undefined;
  readonly outIface?: string;
  readonly note?: string;
}

export type NftTraceStep =
  /** A rule whose matches the packet met, and what it did (`accept`, `jump services`, `dnat`...). */
  | {
      readonly kind: 'rule';
      readonly hook: NftHook;
      readonly family: string;
      readonly table: string;
      readonly chain: string;
      readonly handle: number | undefined;
      readonly ruleText: string;
      readonly action: string;
      readonly note?: string;
    }
  /** The packet fell off (or returned from) a base chain: its policy applies. */
  | {
      readonly kind: 'policy';
      readonly hook: NftHook;
      readonly family: string;
      readonly table: string;
      readonly chain: string;
      readonly policy: 'accept' | 'drop';
    }
  /** A base chain not consulted (a nat chain for a packet that is not NEW...). */
  | { readonly kind: 'skip'; readonly hook: NftHook; readonly family: string; readonly table: string; readonly chain: string; readonly reason: string };

export interface NftOutcome {
  /** ACCEPT: the hook let the packet through (the next stage of the path runs). */
  readonly verdict: NftOutcomeVerdict;
  /** For INCONCLUSIVE: what this branch reached under the assumption its warnings state. */
  readonly candidate?: Exclude<NftOutcomeVerdict, 'INCONCLUSIVE'>;
  readonly reason: string;
  /** The packet after the hook: NAT applied, marks changed. */
  readonly packet: Packet;
  readonly rejectWith?: string;
  readonly natApplied: readonly NftNatApplied[];
  readonly marks: { readonly mark: number; readonly connmark: number };
  readonly trace: readonly NftTraceStep[];
  readonly warnings: readonly Warning[];
  /** The share of packets of this kind taking this outcome (numgen branches multiply). */
  readonly probability: number;
}

// ---------------------------------------------------------------------------------------------

interface State {
  readonly packet: Packet;
  readonly nat: readonly NftNatApplied[];
  readonly trace: readonly NftTraceStep[];
  readonly warnings: readonly Warning[];
  readonly probability: number;
}

/** How a chain (or the rest of it) ended for one branch. */
type ChainEnd =
  | { readonly kind: 'return'; readonly state: State }
  | { readonly kind: 'accept'; readonly state: State; readonly reason: string }
  | { readonly kind: 'drop'; readonly state: State; readonly reason: string }
  | { readonly kind: 'reject'; readonly state: State; readonly reason: string; readonly rejectWith: string }
  | { readonly kind: 'inconclusive'; readonly state: State; readonly reason: string; readonly candidate?: 'ACCEPT' };

/** How one statement ended for one branch. */
type StepEnd = { readonly kind: 'next'; readonly state: State } | { readonly kind: 'nomatch'; readonly state: State } | { readonly kind: 'end'; readonly end: ChainEnd };

interface Where {
  readonly hook: NftHook;
  readonly table: NftTable;
  readonly chain: NftChain;
  readonly rule: NftRule;
}

/** The address of one place in the rule set, as messages name it. */
function ruleName(w: Where): string {
  return `table ${w.table.family} ${w.table.name} chain ${w.chain.name} handle ${w.rule.handle ?? '?'}`;
}

// Values ----------------------------------------------------------------------------------------

type ValueType = 'ipv4' | 'proto' | 'port' | 'int' | 'iface' | 'ctstate' | 'fibtype' | 'nfproto';

/** What a packet-side expression evaluates to; `absent`: the header is not there (no match). */
type Value =
  | { readonly kind: 'scalar'; readonly type: ValueType; readonly value: bigint | string }
  | { readonly kind: 'concat'; readonly items: readonly Value[] }
  | { readonly kind: 'absent'; readonly why: string }
  | { readonly kind: 'unknown'; readonly why: string };

const PROTOCOLS: Readonly<Record<string, number>> = { icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, icmpv6: 58, sctp: 132 };
const SERVICES: Readonly<Record<string, number>> = { ssh: 22, domain: 53, http: 80, https: 443 };

const scalar = (type: ValueType, value: bigint | string): Value => ({ kind: 'scalar', type, value });

interface EvalEnv {
  readonly hook: NftHook;
  readonly ctx: NftEvalContext;
  readonly state: State;
  /** The value `numgen` takes on this branch. */
  readonly numgen?: bigint;
}

function packetValue(expr: NftExpr, env: EvalEnv): Value {
  const p = env.state.packet;
  switch (expr.kind) {
    case 'payload': {
      const { protocol, field } = expr;
      if (protocol === 'ip') {
        if (p.src.family !== 4) return { kind: 'absent', why: 'not an IPv4 packet' };
        if (field === 'saddr') return scalar('ipv4', p.src.value);
        if (field === 'daddr') return scalar('ipv4', p.dst.value);
        if (field === 'protocol') return scalar('proto', BigInt(PROTOCOLS[p.protocol] ?? -1));
        return { kind: 'unknown', why: `ip ${field} is not modelled` };
      }
      // An IPv6 header field in an inet table: an IPv4 packet has none, the rule does not match.
      if (protocol === 'ip6') return p.src.family === 6 ? { kind: 'unknown', why: 'ip6 fields are not modelled' } : { kind: 'absent', why: 'not an IPv6 packet' };
      if (protocol === 'tcp' || protocol === 'udp' || protocol === 'th') {
        if (protocol === 'th' ? p.protocol === 'icmp' : p.protocol !== protocol) {
          if (protocol !== 'th') return { kind: 'absent', why: `not a ${protocol} packet` };
          return { kind: 'unknown', why: `th ${field} of an ${p.protocol} packet` };
        }
        if (field === 'dport') return scalar('port', BigInt(p.dport));
        if (field === 'sport') return scalar('port', BigInt(p.sport));
        return { kind: 'unknown', why: `${protocol} ${field} is not modelled` };
      }
      return { kind: 'unknown', why: `payload ${protocol} ${field} is not modelled` };
    }
    case 'meta':
      switch (expr.key) {
        case 'l4proto':
          return scalar('proto', BigInt(PROTOCOLS[p.protocol] ?? -1));
        case 'mark':
          return scalar('int', BigInt(p.mark));
        case 'nfproto':
          return scalar('nfproto', p.src.family === 4 ? 'ipv4' : 'ipv6');
        case 'iifname':
          if (env.hook === 'output') return scalar('iface', '');
          return env.ctx.inIface === undefined ? { kind: 'unknown', why: 'input interface unknown' } : scalar('iface', env.ctx.inIface);
        case 'oifname':
          if (env.hook === 'prerouting' || env.hook === 'input') return scalar('iface', '');
          return env.ctx.outIface === undefined ? { kind: 'unknown', why: 'output interface unknown' } : scalar('iface', env.ctx.outIface);
        default:
          return { kind: 'unknown', why: `meta ${expr.key} is not modelled` };
      }
    case 'ct':
      if (expr.dir !== undefined) return { kind: 'unknown', why: `ct ${expr.dir} ${expr.key} is not modelled` };
      if (expr.key === 'mark') return scalar('int', BigInt(p.connmark));
      if (expr.key === 'state') {
        const state = { NEW: 'new', ESTABLISHED: 'established', RELATED: 'related', INVALID: 'invalid', UNTRACKED: 'untracked' }[
          p.ctState as string
        ];
        return state === undefined ? { kind: 'unknown', why: `conntrack state ${p.ctState} as ct state` } : scalar('ctstate', state);
      }
      return { kind: 'unknown', why: `ct ${expr.key} is not modelled` };
    case 'fib': {
      if (expr.result !== 'type' || expr.flags.length !== 1 || expr.flags[0] !== 'daddr') {
        return { kind: 'unknown', why: `fib ${expr.flags.join(' . ')} ${expr.result} is not modelled` };
      }
      const type = env.ctx.fibDaddrType?.(p);
      return type === undefined ? { kind: 'unknown', why: 'fib daddr type: route type of the destination unknown' } : scalar('fibtype', type);
    }
    case 'numgen':
      if (env.numgen === undefined) return { kind: 'unknown', why: `numgen ${expr.mode} outside a vmap or match key` };
      return scalar('int', env.numgen);
    case 'concat':
      return { kind: 'concat', items: expr.items.map((item) => packetValue(item, env)) };
    case 'binop': {
      const left = packetValue(expr.left, env);
      if (left.kind !== 'scalar' || typeof left.value !== 'bigint') return left.kind === 'scalar' ? { kind: 'unknown', why: `${expr.op} on a non-number` } : left;
      const right = literalNumber(expr.right);
      if (right === undefined) return { kind: 'unknown', why: `${expr.op} with ${describe(expr.right)}` };
      return scalar(left.type, binop(expr.op, left.value, right));
    }
    case 'literal': {
      const n = literalNumber(expr);
      return n === undefined ? { kind: 'unknown', why: `constant ${describe(expr)} as a value` } : scalar('int', n);
    }
    case 'list':
    case 'prefix':
    case 'range':
    case 'set':
    case 'setref':
    case 'map':
    case 'verdict':
    case 'unknown':
      return { kind: 'unknown', why: `${describe(expr)} as a packet value` };
    default:
      return assertNever(expr, 'nft expression');
  }
}

function binop(op: '|' | '^' | '&' | '<<' | '>>', a: bigint, b: bigint): bigint {
  const mask32 = 0xffffffffn;
  switch (op) {
    case '|':
      return (a | b) & mask32;
    case '^':
      return (a ^ b) & mask32;
    case '&':
      return a & b;
    case '<<':
      return (a << b) & mask32;
    case '>>':
      return a >> b;
    default:
      return assertNever(op, 'nft binary operator');
  }
}

function literalNumber(expr: NftExpr): bigint | undefined {
  if (expr.kind !== 'literal') return undefined;
  if (typeof expr.value === 'number') return Number.isInteger(expr.value) ? BigInt(expr.value) : undefined;
  return /^(0x[0-9a-fA-F]+|\d+)$/.test(expr.value) ? BigInt(expr.value) : undefined;
}

/** A constant read as a value of `type`; undefined when it cannot be one. */
function coerce(expr: NftExpr, type: ValueType): bigint | string | undefined {
  if (expr.kind !== 'literal') return undefined;
  const v = expr.value;
  switch (type) {
    case 'ipv4': {
      if (typeof v !== 'string') return undefined;
      const ip = parseIp(v);
      return ip?.family === 4 ? ip.value : undefined;
    }
    case 'proto':
      return typeof v === 'number' ? BigInt(v) : PROTOCOLS[v] !== undefined ? BigInt(PROTOCOLS[v]) : literalNumber(expr);
    case 'port':
      return typeof v === 'number' ? BigInt(v) : SERVICES[v] !== undefined ? BigInt(SERVICES[v]) : literalNumber(expr);
    case 'int':
      return literalNumber(expr);
    case 'iface':
    case 'ctstate':
    case 'fibtype':
    case 'nfproto':
      return typeof v === 'string' ? v : undefined;
    default:
      return assertNever(type, 'value type');
  }
}

/** Three-valued logic: true, false, or undecidable with a reason. */
type Tri = true | false | { readonly why: string };

const triAny = (results: readonly Tri[]): Tri => results.find((r) => r === true) ?? results.find((r) => r !== false) ?? false;
const triAll = (results: readonly Tri[]): Tri => (results.includes(false) ? false : (results.find((r) => r !== true) ?? true));

interface Lookup {
  readonly table: NftTable;
}

/** Whether `value` is matched by `pattern` (a constant, prefix, range, set, @set, concatenation). */
function matches(value: Value, pattern: NftExpr, look: Lookup): Tri {
  if (value.kind === 'unknown') return { why: value.why };
  if (value.kind === 'absent') return false;
  switch (pattern.kind) {
    case 'set':
      return triAny(pattern.elements.map((e) => matches(value, e.key, look)));
    case 'setref': {
      const set = look.table.sets.get(pattern.name);
      if (!set) return { why: `set @${pattern.name} is not in table ${look.table.family} ${look.table.name}` };
      return triAny(set.elements.map((e) => matches(value, e.key, look)));
    }
    case 'list':
      return triAny(pattern.items.map((item) => matches(value, item, look)));
    case 'concat': {
      if (value.kind !== 'concat' || value.items.length !== pattern.items.length) {
        return { why: `concatenation of ${value.kind === 'concat' ? value.items.length : 1} against ${pattern.items.length}` };
      }
      return triAll(value.items.map((item, i) => matches(item, pattern.items[i] as NftExpr, look)));
    }
    case 'literal': {
      if (value.kind === 'concat') return { why: `a concatenation against ${describe(pattern)}` };
      const c = coerce(pattern, value.type);
      if (c === undefined) return { why: `${describe(pattern)} as ${value.type}` };
      // An interface name ending in `*` is a wildcard (`\*` is a literal star).
      if (value.type === 'iface' && typeof c === 'string' && c.endsWith('*') && !c.endsWith('\\*')) {
        return String(value.value).startsWith(c.slice(0, -1));
      }
      return c === value.value;
    }
    case 'prefix': {
      const ip = parseIp(pattern.addr);
      if (value.kind !== 'scalar' || value.type !== 'ipv4' || typeof value.value !== 'bigint' || ip?.family !== 4) {
        return { why: `${describe(pattern)} against ${value.kind === 'scalar' ? value.type : 'a concatenation'}` };
      }
      return prefixContains(prefixOf(ip, pattern.len), { family: 4, value: value.value });
    }
    case 'range': {
      if (value.kind !== 'scalar') return { why: `a concatenation against ${describe(pattern)}` };
      const from = coerce(pattern.from, value.type);
      const to = coerce(pattern.to, value.type);
      if (typeof from !== 'bigint' || typeof to !== 'bigint' || typeof value.value !== 'bigint') return { why: `${describe(pattern)} against ${value.type}` };
      return from <= value.value && value.value <= to;
    }
    case 'binop':
    case 'ct':
    case 'fib':
    case 'map':
    case 'meta':
    case 'numgen':
    case 'payload':
    case 'unknown':
    case 'verdict':
      return { why: `${describe(pattern)} as a match value` };
    default:
      return assertNever(pattern, 'nft expression');
  }
}

function compare(op: '<' | '>' | '<=' | '>=', value: Value, right: NftExpr): Tri {
  if (value.kind === 'unknown') return { why: value.why };
  if (value.kind === 'absent') return false;
  if (value.kind !== 'scalar' || typeof value.value !== 'bigint') return { why: `${op} on a non-number` };
  const r = coerce(right, value.type);
  if (typeof r !== 'bigint') return { why: `${op} ${describe(right)}` };
  const v = value.value;
  return op === '<' ? v < r : op === '>' ? v > r : op === '<=' ? v <= r : v >= r;
}

/** The data of the element of a map (anonymous or named) whose key matches; a Tri when none or undecidable. */
function mapLookup(value: Value, data: NftExpr, look: Lookup): NftExpr | Exclude<Tri, true> {
  let elements: readonly NftSetElement[];
  if (data.kind === 'set') elements = data.elements;
  else if (data.kind === 'setref') {
    const set = look.table.sets.get(data.name);
    if (!set || set.kind !== 'map') return { why: `map @${data.name} is not in table ${look.table.family} ${look.table.name}` };
    elements = set.elements;
  } else return { why: `${describe(data)} as a map` };
  const undecided: Tri[] = [];
  for (const element of elements) {
    const m = matches(value, element.key, look);
    if (m === true) return element.data ?? { why: 'map element without data' };
    if (m !== false) undecided.push(m);
  }
  return (undecided[0] as Exclude<Tri, true> | undefined) ?? false;
}

function describe(expr: NftExpr): string {
  switch (expr.kind) {
    case 'literal':
      return JSON.stringify(expr.value);
    case 'payload':
      return `${expr.protocol} ${expr.field}`;
    case 'meta':
      return `meta ${expr.key}`;
    case 'ct':
      return `ct ${expr.key}`;
    case 'fib':
      return `fib ${expr.flags.join(' . ')} ${expr.result}`;
    case 'numgen':
      return `numgen ${expr.mode} mod ${expr.mod}`;
    case 'concat':
      return expr.items.map(describe).join(' . ');
    case 'binop':
      return `${describe(expr.left)} ${expr.op} ${describe(expr.right)}`;
    case 'prefix':
      return `${expr.addr}/${expr.len}`;
    case 'range':
      return `${describe(expr.from)}-${describe(expr.to)}`;
    case 'set':
      return `{ ${expr.elements.map((e) => describe(e.key) + (e.data ? ` : ${describe(e.data)}` : '')).join(', ')} }`;
    case 'setref':
      return `@${expr.name}`;
    case 'list':
      return `{ ${expr.items.map(describe).join(', ')} }`;
    case 'map':
      return `${describe(expr.key)} map ${describe(expr.data)}`;
    case 'verdict':
      return verdictText(expr.verdict);
    case 'unknown':
      return expr.json;
    default:
      return assertNever(expr, 'nft expression');
  }
}

function verdictText(v: NftVerdict): string {
  return v.kind === 'jump' || v.kind === 'goto' ? `${v.kind} ${v.target}` : v.kind;
}

// The walk -------------------------------------------------------------------------------------

const MAX_DEPTH = 64;

class Walker {
  constructor(
    private readonly hook: NftHook,
    private readonly ctx: NftEvalContext,
    private readonly sources: string,
  ) {}

  runChain(table: NftTable, chain: NftChain, state: State, depth: number): ChainEnd[] {
    if (depth > MAX_DEPTH) {
      return [{ kind: 'inconclusive', state, reason: `table ${table.family} ${table.name} chain ${chain.name}: jumps nested deeper than ${MAX_DEPTH}` }];
    }
    return this.runRules(table, chain, 0, state, depth);
  }

  private runRules(table: NftTable, chain: NftChain, from: number, state: State, depth: number): ChainEnd[] {
    const ends: ChainEnd[] = [];
    let current: State[] = [state];
    for (let i = from; i < chain.rules.length && current.length > 0; i++) {
      const rule = chain.rules[i] as NftRule;
      const next: State[] = [];
      for (const s of current) {
        for (const r of this.runRule({ hook: this.hook, table, chain, rule }, s, depth)) {
          if (r.kind === 'end') ends.push(r.end);
          else next.push(r.state);
        }
      }
      current = next;
    }
    for (const s of current) ends.push({ kind: 'return', state: s });
    return ends;
  }

  /** One rule: its statements in order, for each branch. `next`/`nomatch` both go on to the next rule. */
  private runRule(w: Where, state: State, depth: number): StepEnd[] {
    let branches: { state: State; numgen?: bigint }[] = [{ state }];
    const done: StepEnd[] = [];
    for (const stmt of w.rule.statements) {
      const following: { state: State; numgen?: bigint }[] = [];
      for (const b of branches) {
        for (const r of this.runStatement(w, stmt, b.state, b.numgen, depth)) {
          if (r.kind === 'next') following.push({ state: r.state, ...(b.numgen !== undefined ? { numgen: b.numgen } : {}) });
          else if (r.kind === 'nomatch') done.push(r);
          else done.push(r);
        }
      }
      branches = following;
    }
    for (const b of branches) done.push({ kind: 'next', state: b.state });
    return done;
  }

  private step(w: Where, state: State, action: string, note?: string): State {
    const step: NftTraceStep = {
      kind: 'rule',
      hook: w.hook,
      family: w.table.family,
      table: w.table.name,
      chain: w.chain.name,
      handle: w.rule.handle,
      ruleText: w.rule.text,
      action,
      ...(note !== undefined ? { note } : {}),
    };
    return { ...state, trace: [...state.trace, step] };
  }

  private unknown(w: Where, state: State, what: string, why: string): StepEnd[] {
    const reason = `${ruleName(w)}: ${what}: ${why}`;
    const warning: Warning = { code: 'nft-unsupported', message: reason, source: this.sources };
    return [{ kind: 'end', end: { kind: 'inconclusive', state: { ...state, warnings: [...state.warnings, warning] }, reason } }];
  }

  /** Branches of `numgen random mod N` when `expr` (or the first item of a concatenation) is one. */
  private numgenBranches(expr: NftExpr, state: State, numgen: bigint | undefined): { state: State; numgen?: bigint; note?: string }[] | string {
    if (expr.kind !== 'numgen' || numgen !== undefined) return [{ state, ...(numgen !== undefined ? { numgen } : {}) }];
    if (expr.mode !== 'random') return `numgen ${expr.mode} (only random is modelled)`;
    if (expr.mod < 1) return `numgen mod ${expr.mod}`;
    return Array.from({ length: expr.mod }, (_, i) => ({
      state: { ...state, probability: state.probability / expr.mod },
      numgen: BigInt(i + expr.offset),
      note: `numgen random mod ${expr.mod} = ${i + expr.offset} (probability 1/${expr.mod})`,
    }));
  }

  private runStatement(w: Where, stmt: NftStatement, state: State, numgen: bigint | undefined, depth: number): StepEnd[] {
    const env = (s: State, n: bigint | undefined): EvalEnv => ({ hook: this.hook, ctx: this.ctx, state: s, ...(n !== undefined ? { numgen: n } : {}) });
    const look: Lookup = { table: w.table };
    switch (stmt.kind) {
      case 'counter':
      case 'log':
        return [{ kind: 'next', state }];
      case 'match': {
        const branches = this.numgenBranches(stmt.left, state, numgen);
        if (typeof branches === 'string') return this.unknown(w, state, describe(stmt.left), branches);
        const out: StepEnd[] = [];
        for (const b of branches) {
          const value = packetValue(stmt.left, env(b.state, b.numgen));
          let result: Tri;
          switch (stmt.op) {
            case '==':
            case 'in':
              result = matches(value, stmt.right, look);
              break;
            case '!=': {
              // A missing header fails the rule whatever the operator (nft's implicit dependency).
              const m = value.kind === 'absent' ? true : matches(value, stmt.right, look);
              result = typeof m === 'boolean' ? !m : m;
              break;
            }
            case '<':
            case '>':
            case '<=':
            case '>=':
              result = compare(stmt.op, value, stmt.right);
              break;
            default:
              return assertNever(stmt.op, 'nft match operator');
          }
          if (result === true) out.push({ kind: 'next', state: b.note ? this.step(w, b.state, 'numgen', b.note) : b.state });
          else if (result === false) out.push({ kind: 'nomatch', state: b.state });
          else out.push(...this.unknown(w, b.state, `${describe(stmt.left)} ${stmt.op} ${describe(stmt.right)}`, result.why));
        }
        return out;
      }
      case 'verdict':
        return this.applyVerdict(w, stmt.verdict, state, depth);
      case 'vmap': {
        const branches = this.numgenBranches(stmt.key, state, numgen);
        if (typeof branches === 'string') return this.unknown(w, state, describe(stmt.key), branches);
        const out: StepEnd[] = [];
        for (const b of branches) {
          const value = packetValue(stmt.key, env(b.state, b.numgen));
          const found = mapLookup(value, stmt.data, look);
          if (found === false) out.push({ kind: 'nomatch', state: b.state });
          else if ('why' in found) out.push(...this.unknown(w, b.state, `${describe(stmt.key)} vmap ${describe(stmt.data)}`, found.why));
          else if (found.kind !== 'verdict') out.push(...this.unknown(w, b.state, `vmap ${describe(stmt.data)}`, `element data ${describe(found)} is not a verdict`));
          else out.push(...this.applyVerdict(w, found.verdict, b.state, depth, b.note));
        }
        return out;
      }
      case 'mangle':
        return this.mangle(w, stmt, state, env(state, numgen));
      case 'nat':
        return this.nat(w, stmt, state, env(state, numgen));
      case 'reject': {
        const rejectWith = stmt.type === undefined ? 'icmp port-unreachable' : stmt.expr === undefined ? stmt.type : `${stmt.type} ${stmt.expr}`;
        const s = this.step(w, state, `reject with ${rejectWith}`);
        return [{ kind: 'end', end: { kind: 'reject', state: s, reason: `${ruleName(w)}: reject with ${rejectWith}`, rejectWith } }];
      }
      case 'unknown':
        return this.unknown(w, state, stmt.json, 'statement not modelled');
      default:
        return assertNever(stmt, 'nft statement');
    }
  }

  private applyVerdict(w: Where, verdict: NftVerdict, state: State, depth: number, note?: string): StepEnd[] {
    const s = this.step(w, state, verdictText(verdict), note);
    switch (verdict.kind) {
      case 'accept':
        return [{ kind: 'end', end: { kind: 'accept', state: s, reason: `${ruleName(w)}: accept` } }];
      case 'drop':
        return [{ kind: 'end', end: { kind: 'drop', state: s, reason: `${ruleName(w)}: drop` } }];
      case 'continue':
        return [{ kind: 'next', state: s }];
      case 'return':
        return [{ kind: 'end', end: { kind: 'return', state: s } }];
      case 'jump':
      case 'goto': {
        const target = w.table.chains.get(verdict.target);
        if (!target) return this.unknown(w, state, verdictText(verdict), `chain ${verdict.target} is not in the table`);
        return this.runChain(w.table, target, s, depth + 1).map((end): StepEnd => {
          // A return from a jumped-to chain resumes after the jump; from a goto it returns further.
          if (end.kind === 'return' && verdict.kind === 'jump') return { kind: 'next', state: end.state };
          return { kind: 'end', end };
        });
      }
      default:
        return assertNever(verdict, 'nft verdict');
    }
  }

  private mangle(w: Where, stmt: Extract<NftStatement, { kind: 'mangle' }>, state: State, env: EvalEnv): StepEnd[] {
    const key = stmt.key;
    const target = key.kind === 'meta' && key.key === 'mark' ? 'mark' : key.kind === 'ct' && key.key === 'mark' && key.dir === undefined ? 'connmark' : undefined;
    if (!target) return this.unknown(w, state, `${describe(key)} set`, 'not modelled');
    const value = packetValue(stmt.value, env);
    if (value.kind !== 'scalar' || typeof value.value !== 'bigint') {
      return this.unknown(w, state, `${describe(key)} set ${describe(stmt.value)}`, value.kind === 'scalar' || value.kind === 'concat' ? 'not a number' : value.why);
    }
    const v = Number(value.value & 0xffffffffn) >>> 0;
    const packet = { ...state.packet, [target]: v };
    return [{ kind: 'next', state: this.step(w, { ...state, packet }, `${target === 'mark' ? 'meta mark' : 'ct mark'} set 0x${v.toString(16)}`) }];
  }

  private nat(w: Where, stmt: Extract<NftStatement, { kind: 'nat' }>, state: State, env: EvalEnv): StepEnd[] {
    const p = state.packet;
    const what = stmt.type;
    if (what === 'redirect') return this.unknown(w, state, 'redirect', 'not modelled');
    const destination = what === 'dnat';
    const before: Endpoint = destination ? { address: p.dst, port: p.dport } : { address: p.src, port: p.sport };
    let address: IpAddress | undefined;
    let port = before.port;
    const notes: string[] = [];
    if (what === 'masquerade') {
      if (stmt.addr !== undefined) return this.unknown(w, state, 'masquerade', 'with an address');
      address = this.ctx.masqueradeAddress?.(p, this.ctx.outIface);
      if (stmt.flags.includes('fully-random') || stmt.flags.includes('random')) notes.push('source port may be remapped');
    } else {
      if (stmt.addr === undefined) return this.unknown(w, state, what, 'without an address');
      let addrExpr = stmt.addr;
      if (addrExpr.kind === 'map') {
        const found = mapLookup(packetValue(addrExpr.key, env), addrExpr.data, { table: w.table });
        if (found === false) return [{ kind: 'nomatch', state }];
        if ('why' in found) return this.unknown(w, state, `${what} to ${describe(addrExpr)}`, found.why);
        addrExpr = found;
      }
      const ip = addrExpr.kind === 'literal' && typeof addrExpr.value === 'string' ? parseIp(addrExpr.value) : undefined;
      if (ip?.family !== 4) return this.unknown(w, state, `${what} to ${describe(addrExpr)}`, 'only a single IPv4 address is modelled');
      address = ip;
    }
    if (stmt.port !== undefined) {
      const n = literalNumber(stmt.port);
      if (n === undefined) return this.unknown(w, state, `${what} port ${describe(stmt.port)}`, 'only a single port is modelled');
      port = Number(n);
    }
    const otherFlags = stmt.flags.filter((f) => !['random', 'fully-random', 'persistent'].includes(f));
    if (otherFlags.length > 0) return this.unknown(w, state, `${what} ${otherFlags.join(',')}`, 'flags not modelled');
    const after: Endpoint | undefined = address === undefined ? undefined : { address, port };
    const applied: NftNatApplied = {
      kind: what,
      hook: w.hook,
      family: w.table.family,
      table: w.table.name,
      chain: w.chain.name,
      handle: w.rule.handle,
      ruleText: w.rule.text,
      before,
      after,
      ...(what === 'masquerade' && this.ctx.outIface !== undefined ? { outIface: this.ctx.outIface } : {}),
      ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
    };
    const packet: Packet = after === undefined ? p : destination ? { ...p, dst: after.address, dport: after.port } : { ...p, src: after.address, sport: after.port };
    const action = after === undefined ? what : `${what} to ${formatIp(after.address)}:${after.port}`;
    const s = this.step(w, { ...state, packet, nat: [...state.nat, applied] }, action);
    if (after === undefined) {
      const reason = `${ruleName(w)}: masquerade: the address of output interface ${this.ctx.outIface ?? '(unknown)'} is unknown`;
      const warning: Warning = { code: 'nft-masquerade-address', message: reason, source: this.sources };
      return [{ kind: 'end', end: { kind: 'inconclusive', state: { ...s, warnings: [...s.warnings, warning] }, reason, candidate: 'ACCEPT' } }];
    }
    // NAT statements are terminal: the nat chain accepts.
    return [{ kind: 'end', end: { kind: 'accept', state: s, reason: `${ruleName(w)}: ${action}` } }];
  }
}

/** Where the nat core sits in each hook: nat-type chains all run at this priority. */
const NAT_CORE_PRIORITY: Partial<Record<NftHook, number>> = { prerouting: -100, output: -100, input: 100, postrouting: 100 };

/** The NAT manipulation of a hook: destination before routing, source after. */
function natManip(hook: NftHook): 'destination' | 'source' {
  return hook === 'prerouting' || hook === 'output' ? 'destination' : 'source';
}

export interface NftHookChain {
  readonly table: NftTable;
  readonly chain: NftChain;
  /** The priority the chain runs at in the hook (the nat core's for nat chains). */
  readonly effectivePriority: number;
}

/**
 * The base chains of `hook` that see a packet of `family` (`ip` and `inet` tables for IPv4), in
 * the order the kernel runs them. For interleaving with iptables' tables, `effectivePriority`
 * places each chain among them.
 */
export function nftHookChains(ruleset: NftRuleset, family: 'ip', hook: NftHook): NftHookChain[] {
  const chains: (NftHookChain & { readonly order: number })[] = [];
  for (const table of ruleset.tables) {
    if (table.family !== family && table.family !== 'inet') continue;
    for (const chain of table.chains.values()) {
      if (chain.base?.hook !== hook) continue;
      const natCore = chain.base.type === 'nat' ? NAT_CORE_PRIORITY[hook] : undefined;
      chains.push({ table, chain, effectivePriority: natCore ?? chain.base.priority, order: chains.length });
    }
  }
  chains.sort(
    (a, b) =>
      a.effectivePriority - b.effectivePriority || (a.chain.base?.priority ?? 0) - (b.chain.base?.priority ?? 0) || a.order - b.order,
  );
  return chains.map(({ table, chain, effectivePriority }) => ({ table, chain, effectivePriority }));
}

/** The starting state of a walk: for callers that run chains one at a time (see evaluateNftChains). */
function initialState(packet: Packet): State {
  return { packet, nat: [], trace: [], warnings: [], probability: 1 };
}

/**
 * Runs `chains` (base chains of one hook, in order) for `packet`. Used by evaluateNftHook and by a
 * caller that interleaves nft base chains with iptables tables: it passes the chains of one
 * priority slot at a time and feeds each ACCEPT outcome's packet to the next slot.
 */
export function evaluateNftChains(
  source: string,
  chains: readonly NftHookChain[],
  hook: NftHook,
  packet: Packet,
  context: NftEvalContext,
): NftOutcome[] {
  const walker = new Walker(hook, context, source);
  const maxBranches = context.maxBranches ?? 1024;
  const outcomes: NftOutcome[] = [];
  let live: { state: State; natDone: boolean }[] = [
    { state: initialState(packet), natDone: natManip(hook) === 'destination' ? context.natInitialized?.destination === true : context.natInitialized?.source === true },
  ];
  const finish = (
    state: State,
    verdict: NftOutcomeVerdict,
    reason: string,
    extra: { rejectWith?: string; candidate?: Exclude<NftOutcomeVerdict, 'INCONCLUSIVE'> } = {},
  ): NftOutcome => ({
    verdict,
    ...(extra.candidate !== undefined ? { candidate: extra.candidate } : {}),
    reason,
    packet: state.packet,
    ...(extra.rejectWith !== undefined ? { rejectWith: extra.rejectWith } : {}),
    natApplied: state.nat,
    marks: { mark: state.packet.mark, connmark: state.packet.connmark },
    trace: state.trace,
    warnings: state.warnings,
    probability: state.probability,
  });
  for (const { table, chain } of chains) {
    const base = chain.base;
    if (!base) continue;
    const next: { state: State; natDone: boolean }[] = [];
    for (const { state, natDone } of live) {
      const at = { hook, family: table.family, table: table.name, chain: chain.name };
      if (base.type === 'nat' && (state.packet.ctState !== 'NEW' || natDone)) {
        const reason = state.packet.ctState !== 'NEW' ? `nat chains see only the first packet of a connection (ct state ${state.packet.ctState})` : `${natManip(hook)} NAT already set up for this connection`;
        next.push({ state: { ...state, trace: [...state.trace, { kind: 'skip', ...at, reason }] }, natDone });
        continue;
      }
      const natBefore = state.nat.length;
      for (const end of walker.runChain(table, chain, state, 0)) {
        const didNat = natDone || (base.type === 'nat' && end.state.nat.length > natBefore);
        switch (end.kind) {
          case 'return': {
            const s: State = { ...end.state, trace: [...end.state.trace, { kind: 'policy', ...at, policy: base.policy }] };
            if (base.policy === 'accept') next.push({ state: s, natDone: didNat });
            else outcomes.push(finish(s, 'DROP', `table ${table.family} ${table.name} chain ${chain.name}: policy drop`));
            break;
          }
          case 'accept':
            next.push({ state: end.state, natDone: didNat });
            break;
          case 'drop':
            outcomes.push(finish(end.state, 'DROP', end.reason));
            break;
          case 'reject':
            outcomes.push(finish(end.state, 'REJECT', end.reason, { rejectWith: end.rejectWith }));
            break;
          case 'inconclusive':
            outcomes.push(finish(end.state, 'INCONCLUSIVE', end.reason, end.candidate ? { candidate: end.candidate } : {}));
            break;
          default:
            assertNever(end, 'chain end');
        }
      }
    }
    live = next;
    if (live.length + outcomes.length > maxBranches) {
      const warning: Warning = { code: 'nft-branches-capped', message: `more than ${maxBranches} branches in hook ${hook}`, source };
      return [...outcomes, ...live.map((l) => finish({ ...l.state, warnings: [...l.state.warnings, warning] }, 'INCONCLUSIVE', warning.message))];
    }
  }
  const lastReason = chains.length === 0 ? `no nftables base chain on hook ${hook}` : `accepted by every base chain of hook ${hook}`;
  for (const { state } of live) outcomes.push(finish(state, 'ACCEPT', lastReason));
  return outcomes;
}

/** The packet through every nftables base chain of `hook` (tables of `family` and `inet`). */
export function evaluateNftHook(ruleset: NftRuleset, family: 'ip', hook: NftHook, packet: Packet, context: NftEvalContext): NftOutcome[] {
  if (packet.src.family !== 4) {
    const reason = 'only IPv4 packets are evaluated against nftables rule sets';
    const warning: Warning = { code: 'nft-family', message: reason, source: ruleset.source };
    return [
      {
        verdict: 'INCONCLUSIVE',
        reason,
        packet,
        natApplied: [],
        marks: { mark: packet.mark, connmark: packet.connmark },
        trace: [],
        warnings: [warning],
        probability: 1,
      },
    ];
  }
  return evaluateNftChains(ruleset.source, nftHookChains(ruleset, family, hook), hook, packet, context);
}
