import { describe, expect, it } from '@jest/globals';
import type { LabelSelector } from '../model/kube-objects.js';
import { matchLabelSelector, type SelectorMatch } from './label-selector.js';

const MATCH: SelectorMatch = { kind: 'match' };
const NO_MATCH: SelectorMatch = { kind: 'no-match' };
const labels = { app: 'web', tier: 'front' };

describe('matchLabelSelector on complete labels', () => {
  it.each<[string, LabelSelector, Record<string, string> | undefined, SelectorMatch]>([
    ['{} selects everything', {}, labels, MATCH],
    ['{} selects an object without labels', {}, undefined, MATCH],
    ['matchLabels equal', { matchLabels: { app: 'web' } }, labels, MATCH],
    ['matchLabels, other value', { matchLabels: { app: 'db' } }, labels, NO_MATCH],
    ['matchLabels, key absent', { matchLabels: { team: 'a' } }, labels, NO_MATCH],
    ['matchLabels, every pair must hold', { matchLabels: { app: 'web', tier: 'back' } }, labels, NO_MATCH],
    ['In, value listed', { matchExpressions: [{ key: 'app', operator: 'In', values: ['db', 'web'] }] }, labels, MATCH],
    ['In, value not listed', { matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] }, labels, NO_MATCH],
    ['In, key absent', { matchExpressions: [{ key: 'team', operator: 'In', values: ['a'] }] }, labels, NO_MATCH],
    ['NotIn, value listed', { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }, labels, NO_MATCH],
    ['NotIn, value not listed', { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['db'] }] }, labels, MATCH],
    ['NotIn, key absent holds', { matchExpressions: [{ key: 'team', operator: 'NotIn', values: ['a'] }] }, labels, MATCH],
    ['Exists, present', { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, labels, MATCH],
    ['Exists, absent', { matchExpressions: [{ key: 'team', operator: 'Exists' }] }, labels, NO_MATCH],
    ['DoesNotExist, present', { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist', values: [] }] }, labels, NO_MATCH],
    ['DoesNotExist, absent', { matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }, labels, MATCH],
    ['a key inherited from Object.prototype is not a label', { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, labels, NO_MATCH],
    [
      'matchLabels AND matchExpressions',
      { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] },
      labels,
      NO_MATCH,
    ],
  ])('%s', (_name, selector, objectLabels, expected) => {
    expect(matchLabelSelector(selector, objectLabels)).toEqual(expected);
  });
});

describe('matchLabelSelector on incomplete labels', () => {
  const known = { 'kubernetes.io/metadata.name': 'legacy' };
  it.each<[string, LabelSelector, SelectorMatch]>([
    ['a known key decides', { matchLabels: { 'kubernetes.io/metadata.name': 'legacy' } }, MATCH],
    ['a known key fails', { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } }, NO_MATCH],
    ['an unknown key has no answer', { matchLabels: { team: 'ops' } }, { kind: 'unknown', keys: ['team'] }],
    ['NotIn on an unknown key has no answer', { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }] }, { kind: 'unknown', keys: ['env'] }],
    ['DoesNotExist on an unknown key has no answer', { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }, { kind: 'unknown', keys: ['env'] }],
    [
      'each unknown key is named once',
      { matchLabels: { team: 'ops' }, matchExpressions: [{ key: 'team', operator: 'Exists' }, { key: 'env', operator: 'Exists' }] },
      { kind: 'unknown', keys: ['team', 'env'] },
    ],
    [
      'a failing known requirement decides over an unknown one',
      { matchLabels: { team: 'ops' }, matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['shop'] }] },
      NO_MATCH,
    ],
    ['{} still selects everything', {}, MATCH],
  ])('%s', (_name, selector, expected) => {
    expect(matchLabelSelector(selector, known, false)).toEqual(expected);
  });
});

describe('matchLabelSelector on selectors the API server rejects', () => {
  it.each<[string, LabelSelector, string]>([
    ['an unknown operator', { matchExpressions: [{ key: 'app', operator: 'Equals' as 'In', values: ['web'] }] }, 'unknown operator "Equals" for key "app"'],
    ['In without values', { matchExpressions: [{ key: 'app', operator: 'In', values: [] }] }, 'In on key "app" has no values'],
    ['NotIn without values', { matchExpressions: [{ key: 'app', operator: 'NotIn' }] }, 'NotIn on key "app" has no values'],
    ['Exists with values', { matchExpressions: [{ key: 'app', operator: 'Exists', values: ['web'] }] }, 'Exists on key "app" has values'],
  ])('%s is invalid, never a guess', (_name, selector, reason) => {
    expect(matchLabelSelector(selector, labels)).toEqual({ kind: 'invalid', reason });
  });
});
