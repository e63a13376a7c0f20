// `nft -j list ruleset` (libnftables-json(5)) into the model of model.ts. The document is
// `{"nftables": [ {metainfo}, {table}, {chain}, {rule}, {set}, {map}, ... ]}`; objects name their
// table by family and name. Expressions and statements the model does not know are kept as
// `unknown` with their JSON text; malformed objects are errors naming the source and the index.

import type { Warning } from '../../model/warning.js';
import {
  NFT_HOOKS,
  NFT_PRIORITY_NAMES,
  NftParseError,
  type NftBaseChain,
  type NftChain,
  type NftExpr,
  type NftHook,
  type NftMatchOp,
  type NftRule,
  type NftRuleset,
  type NftSet,
  type NftSetElement,
  type NftStatement,
  type NftTable,
  type NftVerdict,
} from './model.js';

type Json = unknown;
type JsonObject = Record<string, Json>;

function isObject(value: Json): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The single key of a `{"kind": body}` object, as libnftables writes statements and expressions. */
function singleKey(value: JsonObject): [string, Json] | undefined {
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const key = keys[0] as string;
  return [key, value[key]];
}

const unknownExpr = (json: Json): NftExpr => ({ kind: 'unknown', json: JSON.stringify(json) });

/**
 * A chain priority: a number, a named priority (`dstnat`), or `NAME + N` / `NAME - N` as nft
 * writes a priority relative to a named one. undefined when unreadable.
 */
export function parseNftPriority(value: Json): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^-?\d+$/.test(text)) return Number(text);
  const m = /^([a-z]+)\s*(?:([+-])\s*(\d+))?$/.exec(text);
  if (!m) return undefined;
  const base = NFT_PRIORITY_NAMES[m[1] ?? ''];
  if (base === undefined) return undefined;
  const offset = m[3] === undefined ? 0 : Number(m[3]);
  return m[2] === '-' ? base - offset : base + offset;
}

function parseVerdict(key: string, body: Json): NftVerdict | undefined {
  switch (key) {
    case 'accept':
    case 'drop':
    case 'continue':
    case 'return':
      return { kind: key };
    case 'jump':
    case 'goto': {
      if (!isObject(body) || typeof body.target !== 'string') return undefined;
      return { kind: key, target: body.target };
    }
    default:
      return undefined;
  }
}

function parseElement(json: Json): NftSetElement {
  // A map element is a [key, data] pair; either side may be wrapped in {"elem": {"val", ...}}.
  if (Array.isArray(json) && json.length === 2) {
    const key = parseElement(json[0]);
    return { ...key, data: parseExpr(json[1]) };
  }
  if (isObject(json) && isObject(json.elem)) {
    const comment = typeof json.elem.comment === 'string' ? json.elem.comment : undefined;
    return { key: parseExpr(json.elem.val), ...(comment !== undefined ? { comment } : {}) };
  }
  return { key: parseExpr(json) };
}

/** One expression (the `left`/`right` of a match, a key, a value). */
export function parseExpr(json: Json): NftExpr {
  if (typeof json === 'string') {
    if (json.startsWith('@')) return { kind: 'setref', name: json.slice(1) };
    return { kind: 'literal', value: json };
  }
  if (typeof json === 'number') return { kind: 'literal', value: json };
  if (Array.isArray(json)) return { kind: 'list', items: json.map(parseExpr) };
  if (!isObject(json)) return unknownExpr(json);
  const entry = singleKey(json);
  if (!entry) return unknownExpr(json);
  const [key, body] = entry;
  const verdict = parseVerdict(key, body);
  if (verdict) return { kind: 'verdict', verdict };
  switch (key) {
    case 'payload':
      if (isObject(body) && typeof body.protocol === 'string' && typeof body.field === 'string') {
        return { kind: 'payload', protocol: body.protocol, field: body.field };
      }
      return unknownExpr(json);
    case 'meta':
      if (isObject(body) && typeof body.key === 'string') return { kind: 'meta', key: body.key };
      return unknownExpr(json);
    case 'ct':
      if (isObject(body) && typeof body.key === 'string') {
        return { kind: 'ct', key: body.key, ...(typeof body.dir === 'string' ? { dir: body.dir } : {}) };
      }
      return unknownExpr(json);
    case 'fib': {
      if (!isObject(body) || typeof body.result !== 'string') return unknownExpr(json);
      const flags = typeof body.flags === 'string' ? [body.flags] : Array.isArray(body.flags) ? body.flags : [];
      if (!flags.every((f): f is string => typeof f === 'string')) return unknownExpr(json);
      return { kind: 'fib', result: body.result, flags };
    }
    case 'numgen':
      if (isObject(body) && typeof body.mode === 'string' && typeof body.mod === 'number') {
        return { kind: 'numgen', mode: body.mode, mod: body.mod, offset: typeof body.offset === 'number' ? body.offset : 0 };
      }
      return unknownExpr(json);
    case 'concat':
      return Array.isArray(body) ? { kind: 'concat', items: body.map(parseExpr) } : unknownExpr(json);
    case '|':
    case '^':
    case '&':
    case '<<':
    case '>>':
      if (Array.isArray(body) && body.length === 2) {
        return { kind: 'binop', op: key, left: parseExpr(body[0]), right: parseExpr(body[1]) };
      }
      return unknownExpr(json);
    case 'prefix':
      if (isObject(body) && typeof body.addr === 'string' && typeof body.len === 'number') {
        return { kind: 'prefix', addr: body.addr, len: body.len };
      }
      return unknownExpr(json);
    case 'range':
      if (Array.isArray(body) && body.length === 2) return { kind: 'range', from: parseExpr(body[0]), to: parseExpr(body[1]) };
      return unknownExpr(json);
    case 'set': {
      const items = Array.isArray(body) ? body : [body];
      return { kind: 'set', elements: items.map(parseElement) };
    }
    case 'map':
      if (isObject(body) && 'key' in body && 'data' in body) {
        return { kind: 'map', key: parseExpr(body.key), data: parseExpr(body.data) };
      }
      return unknownExpr(json);
    default:
      return unknownExpr(json);
  }
}

const MATCH_OPS: readonly NftMatchOp[] = ['==', '!=', 'in', '<', '>', '<=', '>='];

function flagList(value: Json): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/** One statement of a rule's `expr` array. */
export function parseStatement(json: Json): NftStatement {
  const unknown: NftStatement = { kind: 'unknown', json: JSON.stringify(json) };
  if (!isObject(json)) return unknown;
  const entry = singleKey(json);
  if (!entry) return unknown;
  const [key, body] = entry;
  const verdict = parseVerdict(key, body);
  if (verdict) return { kind: 'verdict', verdict };
  switch (key) {
    case 'match': {
      if (!isObject(body) || !('left' in body) || !('right' in body)) return unknown;
      const op = body.op === undefined ? '==' : body.op;
      if (typeof op !== 'string' || !(MATCH_OPS as readonly string[]).includes(op)) return unknown;
      return { kind: 'match', op: op as NftMatchOp, left: parseExpr(body.left), right: parseExpr(body.right) };
    }
    case 'vmap':
      if (isObject(body) && 'key' in body && 'data' in body) {
        return { kind: 'vmap', key: parseExpr(body.key), data: parseExpr(body.data) };
      }
      return unknown;
    case 'dnat':
    case 'snat':
    case 'masquerade':
    case 'redirect': {
      if (body !== null && !isObject(body)) return unknown;
      const b = body ?? {};
      // An `ip`/`ip6` family selector only names the address family of an inet-table NAT.
      return {
        kind: 'nat',
        type: key,
        ...('addr' in b ? { addr: parseExpr(b.addr) } : {}),
        ...('port' in b ? { port: parseExpr(b.port) } : {}),
        flags: flagList(b.flags),
      };
    }
    case 'mangle':
      if (isObject(body) && 'key' in body && 'value' in body) {
        return { kind: 'mangle', key: parseExpr(body.key), value: parseExpr(body.value) };
      }
      return unknown;
    case 'counter':
      return { kind: 'counter' };
    case 'log':
      return { kind: 'log' };
    case 'reject': {
      if (body !== null && !isObject(body)) return unknown;
      const b = body ?? {};
      return {
        kind: 'reject',
        ...(typeof b.type === 'string' ? { type: b.type } : {}),
        ...(typeof b.expr === 'string' ? { expr: b.expr } : {}),
      };
    }
    default:
      return unknown;
  }
}

interface MutableTable {
  readonly family: string;
  readonly name: string;
  readonly handle: number | undefined;
  readonly chains: Map<string, { chain: Omit<NftChain, 'rules'>; rules: NftRule[] }>;
  readonly sets: Map<string, NftSet>;
}

function optionalHandle(value: Json): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

/**
 * Parses the output of `nft -j list ruleset` (the text parsed as JSON). `source` names the dump
 * in errors and warnings.
 */
export function parseNftRuleset(json: unknown, source: string): NftRuleset {
  if (!isObject(json) || !Array.isArray(json.nftables)) {
    throw new NftParseError(`${source}: not an nft JSON document (no "nftables" array)`);
  }
  const tables = new Map<string, MutableTable>();
  const warnings: Warning[] = [];
  const fail = (index: number, message: string): never => {
    throw new NftParseError(`${source}: nftables[${index}]: ${message}`);
  };
  const tableOf = (index: number, body: JsonObject): MutableTable => {
    const family = body.family;
    const name = body.table;
    if (typeof family !== 'string' || typeof name !== 'string') return fail(index, 'no "family" and "table"');
    const table = tables.get(`${family} ${name}`);
    if (!table) return fail(index, `table ${family} ${name} is not declared before it`);
    return table;
  };

  json.nftables.forEach((item: Json, index: number) => {
    if (!isObject(item)) return fail(index, 'not an object');
    const entry = singleKey(item);
    if (!entry) return fail(index, `expected one key, got ${JSON.stringify(Object.keys(item))}`);
    const [kind, body] = entry;
    if (kind === 'metainfo') return undefined;
    if (!isObject(body)) return fail(index, `"${kind}" is not an object`);
    switch (kind) {
      case 'table': {
        if (typeof body.family !== 'string' || typeof body.name !== 'string') return fail(index, 'table without "family" and "name"');
        tables.set(`${body.family} ${body.name}`, {
          family: body.family,
          name: body.name,
          handle: optionalHandle(body.handle),
          chains: new Map(),
          sets: new Map(),
        });
        return undefined;
      }
      case 'chain': {
        const table = tableOf(index, body);
        if (typeof body.name !== 'string') return fail(index, 'chain without "name"');
        let base: NftBaseChain | undefined;
        if (body.hook !== undefined) {
          const hook = body.hook;
          if (typeof hook !== 'string' || !(NFT_HOOKS as readonly string[]).includes(hook)) {
            return fail(index, `chain ${body.name}: unknown hook ${JSON.stringify(hook)}`);
          }
          const priority = parseNftPriority(body.prio);
          if (priority === undefined) return fail(index, `chain ${body.name}: unreadable priority ${JSON.stringify(body.prio)}`);
          const policy = body.policy ?? 'accept';
          if (policy !== 'accept' && policy !== 'drop') return fail(index, `chain ${body.name}: unknown policy ${JSON.stringify(policy)}`);
          base = {
            type: typeof body.type === 'string' ? body.type : 'filter',
            hook: hook as NftHook,
            priority,
            policy,
            ...(typeof body.dev === 'string' ? { device: body.dev } : {}),
          };
        }
        table.chains.set(body.name, {
          chain: { family: table.family, table: table.name, name: body.name, handle: optionalHandle(body.handle), index, base },
          rules: [],
        });
        return undefined;
      }
      case 'rule': {
        const table = tableOf(index, body);
        if (typeof body.chain !== 'string') return fail(index, 'rule without "chain"');
        const chain = table.chains.get(body.chain);
        if (!chain) return fail(index, `rule of undeclared chain ${body.chain}`);
        if (!Array.isArray(body.expr)) return fail(index, `rule of chain ${body.chain} without an "expr" array`);
        chain.rules.push({
          handle: optionalHandle(body.handle),
          index,
          statements: body.expr.map(parseStatement),
          ...(typeof body.comment === 'string' ? { comment: body.comment } : {}),
          text: JSON.stringify(body.expr),
        });
        return undefined;
      }
      case 'set':
      case 'map': {
        const table = tableOf(index, body);
        if (typeof body.name !== 'string') return fail(index, `${kind} without "name"`);
        const keyType = typeof body.type === 'string' ? [body.type] : Array.isArray(body.type) ? body.type : undefined;
        if (!keyType || !keyType.every((t): t is string => typeof t === 'string')) {
          return fail(index, `${kind} ${body.name}: unreadable "type" ${JSON.stringify(body.type)}`);
        }
        if (kind === 'map' && typeof body.map !== 'string') return fail(index, `map ${body.name}: no data type ("map")`);
        const elements = body.elem === undefined ? [] : Array.isArray(body.elem) ? body.elem.map(parseElement) : fail(index, `${kind} ${body.name}: "elem" is not an array`);
        table.sets.set(body.name, {
          kind,
          family: table.family,
          table: table.name,
          name: body.name,
          handle: optionalHandle(body.handle),
          keyType,
          ...(typeof body.map === 'string' ? { dataType: body.map } : {}),
          flags: flagList(body.flags),
          elements,
        });
        return undefined;
      }
      default:
        warnings.push({
          code: 'nft-unknown-object',
          message: `nft object "${kind}" is not modelled`,
          source: `${source}: nftables[${index}]`,
        });
        return undefined;
    }
  });

  const result: NftTable[] = [...tables.values()].map((t) => ({
    family: t.family,
    name: t.name,
    handle: t.handle,
    sets: t.sets,
    chains: new Map([...t.chains].map(([name, c]) => [name, { ...c.chain, rules: c.rules }])),
  }));
  return { source, tables: result, warnings };
}
