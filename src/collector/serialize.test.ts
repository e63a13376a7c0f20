import { describe, expect, it } from '@jest/globals';
import { RawJson } from './raw-json.js';
import { jsonBatches, jsonPieces } from './serialize.js';

const join = (pieces: Iterable<string | Buffer>): string => [...pieces].map((p) => (typeof p === 'string' ? p : p.toString('utf8'))).join('');

describe('jsonPieces', () => {
  it.each([
    ['a deep object', { a: { b: { c: { d: { e: { f: { g: { h: { i: [1, 2, { j: 'k' }] } } } } } } } } }],
    ['undefined members and array holes as JSON.stringify writes them', { a: undefined, b: [undefined, () => 1, 'x'], c: null, d: 'é"\n' }],
    ['an empty object and array', { a: {}, b: [] }],
    ['a top-level array', [1, 'two', { three: 3 }]],
  ])('joins to JSON.stringify for %s', (_, value) => {
    expect(join(jsonPieces(value))).toBe(JSON.stringify(value));
  });

  it('writes a RawJson as its bytes, so the whole parses as the embedded value', () => {
    const raw = new RawJson(Buffer.from('{"nftables": [{"table": {"family": "ip"}}]}'));
    const text = join(jsonBatches({ a: 1, data: raw, z: [raw] }, 4));
    expect(JSON.parse(text)).toEqual({ a: 1, data: { nftables: [{ table: { family: 'ip' } }] }, z: [{ nftables: [{ table: { family: 'ip' } }] }] });
    expect(JSON.stringify({ data: raw })).toBe('{"data":{"nftables":[{"table":{"family":"ip"}}]}}');
  });

  it('batches strings to about the size asked', () => {
    const value = { list: Array.from({ length: 1000 }, (_, i) => ({ i })) };
    const batches = [...jsonBatches(value, 1000)] as string[];
    expect(batches.join('')).toBe(JSON.stringify(value));
    expect(batches.length).toBeGreaterThan(5);
    expect(batches.slice(0, -1).every((b) => b.length >= 1000 && b.length < 1100)).toBe(true);
  });
});
