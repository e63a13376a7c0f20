// A rule set prepared for walking: per chain, an array of rules whose base matches are flattened
// into numbers (IPv4 addresses and masks as 32-bit integers) and whose jumps point at the chain
// they reach. Built once per Ruleset and cached, so that a walk allocates nothing per rule; a
// chain's rules are prepared the first time a walk enters it (a walk visits few of a large dump's
// chains).

import type { IpFamily } from '../../model/ip.js';
import type { AddressMatch, Chain, InterfaceMatch, Match, Rule, Ruleset, Table, TableName, Target } from './model.js';

export interface CompiledAddress {
  readonly family: IpFamily;
  readonly negated: boolean;
  /** IPv4 only: network and mask as unsigned 32-bit integers. */
  readonly net4: number;
  readonly mask4: number;
  readonly net: bigint;
  readonly mask: bigint;
}

export interface CompiledRule {
  readonly rule: Rule;
  readonly src: CompiledAddress | undefined;
  readonly dst: CompiledAddress | undefined;
  /** -1 without `-p`; 0 is `all`. */
  readonly protocol: number;
  readonly protocolNegated: boolean;
  /** 0 without `-f`, 1 for `-f`, 2 for `! -f`. */
  readonly fragment: 0 | 1 | 2;
  readonly inIface: InterfaceMatch | undefined;
  readonly outIface: InterfaceMatch | undefined;
  readonly matches: readonly Match[];
  readonly target: Target;
  /** The chain a `jump`/`goto` target reaches. */
  readonly jumpTo: CompiledChain | undefined;
  /**
   * The target cannot change the verdict, the packet or anything a later rule looks at (LOG,
   * NFLOG, TRACE, CHECKSUM, passthrough targets, no target): whether such a rule matches never
   * matters, so nothing about it is ever Inconclusive.
   */
  readonly effectFree: boolean;
}

export interface CompiledChain {
  readonly chain: Chain;
  /** Prepared on first use: see chainRules. */
  rules: CompiledRule[] | undefined;
  readonly table: CompiledTable;
}

export interface CompiledTable {
  readonly table: Table;
  readonly chains: Map<string, CompiledChain>;
  readonly addresses: Map<AddressMatch, CompiledAddress>;
}

export interface CompiledRuleset {
  readonly ruleset: Ruleset;
  readonly tables: ReadonlyMap<TableName, CompiledTable>;
  readonly incompatible: ReadonlySet<TableName>;
}

function isEffectFree(target: Target): boolean {
  switch (target.kind) {
    case 'none':
    case 'log':
    case 'nflog':
    case 'trace':
    case 'checksum':
    case 'passthrough':
      return true;
    case 'ct':
      return !target.notrack; // zones and helpers are not modelled: only NOTRACK changes the walk
    case 'accept':
    case 'drop':
    case 'return':
    case 'reject':
    case 'jump':
    case 'goto':
    case 'dnat':
    case 'snat':
    case 'masquerade':
    case 'redirect':
    case 'mark':
    case 'connmark':
    case 'notrack':
    case 'tproxy':
    case 'dscp':
    case 'tos':
    case 'unknown':
      return false;
  }
}

function compileAddress(table: CompiledTable, m: AddressMatch | undefined): CompiledAddress | undefined {
  if (m === undefined) return undefined;
  let c = table.addresses.get(m);
  if (c === undefined) {
    const v4 = m.address.family === 4;
    c = {
      family: m.address.family,
      negated: m.negated,
      net4: v4 ? Number(m.address.address) : 0,
      mask4: v4 ? Number(m.address.mask) : 0,
      net: m.address.address,
      mask: m.address.mask,
    };
    table.addresses.set(m, c);
  }
  return c;
}

/** The prepared rules of `compiled`, built on first use. */
export function chainRules(compiled: CompiledChain): CompiledRule[] {
  if (compiled.rules !== undefined) return compiled.rules;
  const table = compiled.table;
  const rules: CompiledRule[] = [];
  for (const rule of compiled.chain.rules) {
    const { base, target } = rule;
    const jumpTo = target.kind === 'jump' || target.kind === 'goto' ? table.chains.get(target.chain) : undefined;
    rules.push({
      rule,
      src: compileAddress(table, base.source),
      dst: compileAddress(table, base.destination),
      protocol: base.protocol === undefined ? -1 : base.protocol.protocol,
      protocolNegated: base.protocol?.negated ?? false,
      fragment: base.fragment === undefined ? 0 : base.fragment.negated ? 2 : 1,
      inIface: base.inInterface,
      outIface: base.outInterface,
      matches: rule.matches,
      target,
      jumpTo,
      effectFree: isEffectFree(target),
    });
  }
  compiled.rules = rules;
  return rules;
}

const cache = new WeakMap<Ruleset, CompiledRuleset>();

/** The compiled form of `ruleset`, built on first use (chains' rules on first entry). */
export function compileRuleset(ruleset: Ruleset): CompiledRuleset {
  const cached = cache.get(ruleset);
  if (cached !== undefined) return cached;
  const tables = new Map<TableName, CompiledTable>();
  for (const [name, table] of ruleset.tables) {
    const compiled: CompiledTable = { table, chains: new Map(), addresses: new Map() };
    for (const [chainName, chain] of table.chains) compiled.chains.set(chainName, { chain, rules: undefined, table: compiled });
    tables.set(name, compiled);
  }
  const compiled: CompiledRuleset = { ruleset, tables, incompatible: new Set(ruleset.incompatibleTables) };
  cache.set(ruleset, compiled);
  return compiled;
}
