// Reading the JSON that `ip -j` and `bridge -j` print, field by field, so that a malformed dump
// fails with a message naming the dump, the entry and the field ("ip-route.json: route #3 (dst
// 10.0.0.0/24): field "gateway": expected an IP address, got "x"") instead of a TypeError from
// deep inside the simulation.

import { parseIp, parsePrefix, type IpAddress, type IpFamily, type IpPrefix } from '../../model/ip.js';

/** A dump as `ip -j` printed it (JSON text), or the value JSON.parse made of it. */
export type JsonDump = unknown;

/** A dump we cannot read: names the source, the entry and, where there is one, the field. */
export class RoutingParseError extends Error {
  constructor(
    readonly source: string,
    readonly entry: string | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${entry === undefined ? '' : `${entry}: `}${detail}`, options);
    this.name = 'RoutingParseError';
  }
}

/** The top-level array of a dump, given as JSON text or as already-parsed JSON. */
export function readJsonArray(json: JsonDump, source: string, what: string): unknown[] {
  let value: unknown = json;
  if (typeof json === 'string') {
    if (json.trim() === '') throw new RoutingParseError(source, undefined, `empty output where a JSON array of ${what} was expected`);
    try {
      value = JSON.parse(json);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new RoutingParseError(source, undefined, `not valid JSON (${detail})`, { cause: error });
    }
  }
  if (!Array.isArray(value)) {
    throw new RoutingParseError(source, undefined, `expected a JSON array of ${what}, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${value}`;
  return typeof value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Typed access to one JSON object of a dump; every failure names source, entry and field. */
export class EntryReader {
  private constructor(
    private readonly value: Record<string, unknown>,
    readonly source: string,
    /** e.g. `route #3 (dst 10.0.0.0/24)`. */
    readonly entry: string,
  ) {}

  static of(value: unknown, source: string, entry: string): EntryReader {
    if (!isRecord(value)) throw new RoutingParseError(source, entry, `expected a JSON object, got ${describe(value)}`);
    return new EntryReader(value, source, entry);
  }

  /** The same object, with a more telling entry label once an identifying field is known. */
  relabel(entry: string): EntryReader {
    return new EntryReader(this.value, this.source, entry);
  }

  fail(field: string | undefined, detail: string): never {
    throw new RoutingParseError(this.source, this.entry, field === undefined ? detail : `field "${field}": ${detail}`);
  }

  keys(): string[] {
    return Object.keys(this.value);
  }

  has(field: string): boolean {
    return Object.hasOwn(this.value, field);
  }

  /** A presence flag: iproute2 prints these as `"not": null` (print_null) or `"secondary": true`. */
  flag(field: string): boolean {
    if (!this.has(field)) return false;
    const v = this.value[field];
    if (v === null || v === true) return true;
    if (v === false) return false;
    return this.fail(field, `expected null or a boolean, got ${describe(v)}`);
  }

  raw(field: string): unknown {
    return this.value[field];
  }

  string(field: string): string {
    const v = this.value[field];
    if (typeof v !== 'string') return this.fail(field, this.has(field) ? `expected a string, got ${describe(v)}` : 'missing');
    return v;
  }

  optString(field: string): string | undefined {
    return this.has(field) && this.value[field] !== null ? this.string(field) : undefined;
  }

  /** A non-negative integer, also accepted as a decimal or `0x` string (iproute2 prints both). */
  integer(field: string, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.value[field];
    let n: number | undefined;
    if (typeof v === 'number' && Number.isInteger(v)) n = v;
    else if (typeof v === 'string' && /^\d+$/.test(v)) n = Number(v);
    else if (typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v)) n = Number.parseInt(v.slice(2), 16);
    if (n === undefined) return this.fail(field, this.has(field) ? `expected a non-negative integer, got ${describe(v)}` : 'missing');
    if (n < 0 || n > max) return this.fail(field, `${n} is out of range (0..${max})`);
    return n;
  }

  optInteger(field: string, max?: number): number | undefined {
    return this.has(field) && this.value[field] !== null ? this.integer(field, max) : undefined;
  }

  boolean(field: string): boolean | undefined {
    if (!this.has(field)) return undefined;
    const v = this.value[field];
    if (typeof v === 'boolean') return v;
    if (v === 0 || v === 1) return v === 1;
    return this.fail(field, `expected a boolean, got ${describe(v)}`);
  }

  stringArray(field: string): string[] {
    if (!this.has(field)) return [];
    const v: unknown = this.value[field];
    if (!Array.isArray(v)) return this.fail(field, `expected an array of strings, got ${describe(v)}`);
    const strings = v.filter((s): s is string => typeof s === 'string');
    if (strings.length !== v.length) return this.fail(field, `expected an array of strings, got ${describe(v)}`);
    return strings;
  }

  optObject(field: string): EntryReader | undefined {
    if (!this.has(field) || this.value[field] === null) return undefined;
    const v = this.value[field];
    if (!isRecord(v)) return this.fail(field, `expected an object, got ${describe(v)}`);
    return new EntryReader(v, this.source, `${this.entry}, ${field}`);
  }

  objectArray(field: string): EntryReader[] {
    if (!this.has(field)) return [];
    const v = this.value[field];
    if (!Array.isArray(v)) return this.fail(field, `expected an array, got ${describe(v)}`);
    return v.map((item, i) => EntryReader.of(item, this.source, `${this.entry}, ${field}[${i}]`));
  }

  ip(field: string, family?: IpFamily): IpAddress {
    const text = this.string(field);
    const ip = parseIp(text);
    if (ip === undefined) return this.fail(field, `expected an IP address, got ${describe(text)}`);
    if (family !== undefined && ip.family !== family) return this.fail(field, `expected an IPv${family} address, got ${text}`);
    return ip;
  }

  optIp(field: string, family?: IpFamily): IpAddress | undefined {
    return this.has(field) && this.value[field] !== null ? this.ip(field, family) : undefined;
  }

  /** A prefix written `a.b.c.d/len`, a bare address, or `default`/`all` (needs the family). */
  prefix(field: string, family: IpFamily | undefined): IpPrefix {
    const text = this.string(field);
    const prefix = parsePrefix(text, family);
    if (prefix === undefined) {
      const hint = family === undefined && (text === 'default' || text === 'all') ? ' (its family is unknown: pass family)' : '';
      return this.fail(field, `expected a prefix, got ${describe(text)}${hint}`);
    }
    if (family !== undefined && prefix.family !== family) return this.fail(field, `expected an IPv${family} prefix, got ${text}`);
    return prefix;
  }
}

/** Reads each element of a dump with `read`, labelling entries `what #i`. */
export function readEntries<T>(
  json: JsonDump,
  source: string,
  what: string,
  read: (entry: EntryReader, index: number) => T | undefined,
): T[] {
  const items = readJsonArray(json, source, `${what}s`);
  const out: T[] = [];
  items.forEach((item, i) => {
    const value = read(EntryReader.of(item, source, `${what} #${i}`), i);
    if (value !== undefined) out.push(value);
  });
  return out;
}

/** `{ key: value }` when the value is defined, `{}` otherwise (for exactOptional-friendly spreads). */
export function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
