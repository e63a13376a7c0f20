import { describe, expect, it } from '@jest/globals';
import { buildMergePatch, jsonEqual } from './status-writer.js';

describe('jsonEqual', () => {
  it.each<[string, unknown, unknown, boolean]>([
    ['key order ignored', { a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 }, true],
    ['undefined member is no member', { a: 1, b: undefined }, { a: 1 }, true],
    ['array order matters', [1, 2], [2, 1], false],
    ['array vs object', [], {}, false],
    ['null vs absent', { a: null }, {}, false],
    ['number vs string', { a: 1 }, { a: '1' }, false],
    ['extra key', { a: 1 }, { a: 1, b: 2 }, false],
  ])('%s', (_name, a, b, equal) => {
    expect(jsonEqual(a, b)).toBe(equal);
    expect(jsonEqual(b, a)).toBe(equal);
  });
});

describe('buildMergePatch', () => {
  it.each<[string, unknown, unknown, unknown]>([
    ['nothing changed', { a: 1, b: [{ x: 1 }] }, { b: [{ x: 1 }], a: 1 }, undefined],
    ['a changed member only', { a: 1, b: 2 }, { a: 1, b: 3 }, { b: 3 }],
    ['a removed member is null', { a: 1, b: 2 }, { a: 1 }, { b: null }],
    ['a member set to undefined is removed', { a: 1, b: 2 }, { a: 1, b: undefined }, { b: null }],
    ['nested objects patched member by member', { p: { nodes: [1], links: [2] } }, { p: { nodes: [1], links: [3] } }, { p: { links: [3] } }],
    ['arrays sent whole', { c: [{ t: 'A', s: 'x' }, { t: 'B', s: 'y' }] }, { c: [{ t: 'A', s: 'x' }, { t: 'B', s: 'z' }] }, { c: [{ t: 'A', s: 'x' }, { t: 'B', s: 'z' }] }],
    ['from nothing: the whole desired value, undefined left out', {}, { a: 1, b: undefined, c: { d: undefined, e: 2 } }, { a: 1, c: { e: 2 } }],
  ])('%s', (_name, current, desired, patch) => {
    expect(buildMergePatch(current, desired)).toEqual(patch);
  });
});
