// A native nftables rule set of one network namespace, as read from `nft -j list ruleset`
// (libnftables-json(5)): tables → chains (base chains with type, hook, priority, policy) → rules,
// each rule a list of statements whose expressions are tagged unions. Sets and maps keep their
// elements (concatenated keys, prefixes, ranges, verdicts, addresses). What is not understood is
// kept as `unknown` with its JSON text, never dropped: evaluating it is Inconclusive.

import type { Warning } from '../../model/warning.js';

/** The netfilter hooks as nft names them (`type filter hook input priority 0`). */
export const NFT_HOOKS = ['prerouting', 'input', 'forward', 'output', 'postrouting', 'ingress', 'egress'] as const;
export type NftHook = (typeof NFT_HOOKS)[number];

/** Named priorities of the ip/ip6/inet families, as nft(8) lists them. */
export const NFT_PRIORITY_NAMES: Readonly<Record<string, number>> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
};

export interface NftRuleset {
  /** Where the dump came from (`node1:nft -j list ruleset`); errors and warnings name it. */
  readonly source: string;
  readonly tables: readonly NftTable[];
  /** Things read but not fully understood (an object kind the parser does not know). */
  readonly warnings: readonly Warning[];
}

export interface NftTable {
  /** ip, ip6, inet, arp, bridge, netdev. */
  readonly family: string;
  readonly name: string;
  readonly handle: number | undefined;
  /** Chains in dump order. */
  readonly chains: ReadonlyMap<string, NftChain>;
  /** Named sets and maps. */
  readonly sets: ReadonlyMap<string, NftSet>;
}

export interface NftBaseChain {
  /** filter, nat, route. */
  readonly type: string;
  readonly hook: NftHook;
  /** The numeric priority (`dstnat - 10` is -110). */
  readonly priority: number;
  readonly policy: 'accept' | 'drop';
  /** `dev` of a netdev/ingress chain. */
  readonly device?: string;
}

export interface NftChain {
  readonly family: string;
  readonly table: string;
  readonly name: string;
  readonly handle: number | undefined;
  /** Index of the chain object in the dump's `nftables` array. */
  readonly index: number;
  /** Set for a base chain (one with a hook). */
  readonly base: NftBaseChain | undefined;
  readonly rules: readonly NftRule[];
}

export interface NftRule {
  readonly handle: number | undefined;
  /** Index of the rule object in the dump's `nftables` array. */
  readonly index: number;
  readonly statements: readonly NftStatement[];
  readonly comment?: string;
  /** The rule's `expr` array as JSON, for traces and messages. */
  readonly text: string;
}

export interface NftSetElement {
  /** A literal, prefix, range or concatenation. */
  readonly key: NftExpr;
  /** A map's value (verdict, address...); undefined for a set. */
  readonly data?: NftExpr;
  readonly comment?: string;
}

export interface NftSet {
  readonly kind: 'set' | 'map';
  readonly family: string;
  readonly table: string;
  readonly name: string;
  readonly handle: number | undefined;
  /** The key type, one entry per component of a concatenation (`ipv4_addr . inet_proto . inet_service`). */
  readonly keyType: readonly string[];
  /** A map's data type (`verdict`, `ipv4_addr`...). */
  readonly dataType?: string;
  readonly flags: readonly string[];
  readonly elements: readonly NftSetElement[];
}

/** nft verdicts (`accept`, `jump services`...). */
export type NftVerdict =
  | { readonly kind: 'accept' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'continue' }
  | { readonly kind: 'return' }
  | { readonly kind: 'jump'; readonly target: string }
  | { readonly kind: 'goto'; readonly target: string };

export type NftBinaryOp = '|' | '^' | '&' | '<<' | '>>';

export type NftExpr =
  /** A number or a symbolic/string constant (`"10.0.0.1"`, `"tcp"`, `"new"`, `"eth*"`). */
  | { readonly kind: 'literal'; readonly value: string | number }
  /** A list of constants (`ct state { established, related }` printed as a JSON array). */
  | { readonly kind: 'list'; readonly items: readonly NftExpr[] }
  | { readonly kind: 'payload'; readonly protocol: string; readonly field: string }
  | { readonly kind: 'meta'; readonly key: string }
  | { readonly kind: 'ct'; readonly key: string; readonly dir?: string }
  | { readonly kind: 'fib'; readonly result: string; readonly flags: readonly string[] }
  | { readonly kind: 'numgen'; readonly mode: string; readonly mod: number; readonly offset: number }
  | { readonly kind: 'concat'; readonly items: readonly NftExpr[] }
  | { readonly kind: 'binop'; readonly op: NftBinaryOp; readonly left: NftExpr; readonly right: NftExpr }
  | { readonly kind: 'prefix'; readonly addr: string; readonly len: number }
  | { readonly kind: 'range'; readonly from: NftExpr; readonly to: NftExpr }
  /** An anonymous set `{ 53, 54 }` (elements of a vmap carry data). */
  | { readonly kind: 'set'; readonly elements: readonly NftSetElement[] }
  /** `@name`: a named set or map. */
  | { readonly kind: 'setref'; readonly name: string }
  /** `KEY map @m` / `KEY map { ... }`: the data of the element KEY matches. */
  | { readonly kind: 'map'; readonly key: NftExpr; readonly data: NftExpr }
  | { readonly kind: 'verdict'; readonly verdict: NftVerdict }
  | { readonly kind: 'unknown'; readonly json: string };

export type NftMatchOp = '==' | '!=' | 'in' | '<' | '>' | '<=' | '>=';

export type NftStatement =
  | { readonly kind: 'match'; readonly op: NftMatchOp; readonly left: NftExpr; readonly right: NftExpr }
  | { readonly kind: 'verdict'; readonly verdict: NftVerdict }
  /** `KEY vmap { ... }` / `KEY vmap @name`. */
  | { readonly kind: 'vmap'; readonly key: NftExpr; readonly data: NftExpr }
  | {
      readonly kind: 'nat';
      readonly type: 'dnat' | 'snat' | 'masquerade' | 'redirect';
      readonly addr?: NftExpr;
      readonly port?: NftExpr;
      readonly flags: readonly string[];
    }
  /** `meta mark set EXPR`, `ct mark set EXPR`. */
  | { readonly kind: 'mangle'; readonly key: NftExpr; readonly value: NftExpr }
  | { readonly kind: 'counter' }
  | { readonly kind: 'log' }
  | { readonly kind: 'reject'; readonly type?: string; readonly expr?: string }
  | { readonly kind: 'unknown'; readonly json: string };

/** Thrown for a dump that is not an `nft -j list ruleset` document; names the source and index. */
export class NftParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NftParseError';
  }
}
