import { describe, expect, it } from '@jest/globals';
import { diagnosisKey, labelValueOf } from './labels.js';

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe('labelValueOf', () => {
  it.each(['default.web', 'node-1', 'a', ''])('keeps a valid label value %j as is', (value) => {
    expect(labelValueOf(value)).toBe(value);
  });

  it.each([
    ['too long', `default.${'x'.repeat(80)}`],
    ['bad characters', 'ns.name with spaces/and:colons'],
    ['a non-alphanumeric end', 'node-'],
    ['nothing readable', '////'],
  ])('turns %s into a valid, deterministic value with a hash', (_, value) => {
    const label = labelValueOf(value);
    expect(label).toMatch(LABEL_VALUE);
    expect(label.length).toBeLessThanOrEqual(63);
    expect(label).toMatch(/[0-9a-f]{16}$/);
    expect(labelValueOf(value)).toBe(label);
    expect(labelValueOf(`${value}2`)).not.toBe(label);
  });

  it('names a diagnosis namespace.name', () => {
    expect(diagnosisKey({ namespace: 'default', name: 'web' })).toBe('default.web');
  });
});
