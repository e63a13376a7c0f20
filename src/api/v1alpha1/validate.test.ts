import { describe, expect, it } from '@jest/globals';
import { SPEC_CASES } from '../../../test/api/spec-cases.js';
import { isIpAddress, MESSAGES, parseIntervalSeconds, parseSpec, validateSpec } from './validate.js';

describe('validateSpec', () => {
  // The table the API server is held to in test/api/crd.test.ts.
  it.each(SPEC_CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(validateSpec(c.spec)).toEqual(c.refused.map((r) => ({ field: r.field, message: r.message })));
  });

  it.each([
    ['not an object', 'web', [{ field: 'spec', message: 'spec is required and must be an object' }]],
    ['a port that is not an integer', { source: { ip: '10.0.0.1' }, destination: { ip: '10.0.0.2' }, port: 80.5, protocol: 'TCP' }, [{ field: 'spec.port', message: 'port must be an integer from 1 to 65535' }]],
    ['a port given as a string', { source: { ip: '10.0.0.1' }, destination: { ip: '10.0.0.2' }, port: '80', protocol: 'TCP' }, [{ field: 'spec.port', message: 'port must be an integer from 1 to 65535' }]],
    ['an IP that is a number', { source: { ip: 10 }, destination: { ip: '10.0.0.2' }, protocol: 'ICMP' }, [{ field: 'spec.source.ip', message: 'must be a string' }]],
    // The API server stops at schema errors and skips CEL rules; validateSpec reports everything at once.
    ['several problems at once', { source: {}, destination: { service: { name: 'web' } }, protocol: 'SCTP' }, [{ field: 'spec.source', message: MESSAGES.sourceExactlyOne }, { field: 'spec.protocol', message: 'protocol must be one of TCP, UDP, ICMP' }]],
  ])('%s', (_name, spec, problems) => {
    expect(validateSpec(spec)).toEqual(problems);
  });
});

describe('isIpAddress (as CEL isIP)', () => {
  it.each([
    ['10.0.0.1', true],
    ['0.0.0.0', true],
    ['255.255.255.255', true],
    ['256.0.0.1', false],
    ['10.0.0', false],
    ['10.00.0.1', false],
    ['::', true],
    ['::1', true],
    ['2001:db8::1', true],
    ['2001:DB8:0:0:0:0:0:1', true],
    ['1:2:3:4:5:6:7:8', true],
    ['1:2:3:4:5:6:7:8:9', false],
    ['1:2:3:4:5:6:1.2.3.4', true],
    ['::1.2.3.4', true],
    ['::ffff:1.2.3.4', false],
    ['::ffff:102:304', false],
    ['1::2::3', false],
    ['12345::1', false],
    ['fe80::1%eth0', false],
    ['10.0.0.1/32', false],
    ['', false],
  ])('%s -> %s', (text, expected) => {
    expect(isIpAddress(text)).toBe(expected);
  });
});

describe('parseIntervalSeconds', () => {
  it.each([
    ['5m', 300],
    ['1h30m', 5400],
    ['90s', 90],
    ['1h0m30s', 3630],
    ['1.5h', undefined],
    ['5', undefined],
    ['-5m', undefined],
    ['', undefined],
  ])('%s -> %s', (text, seconds) => {
    expect(parseIntervalSeconds(text)).toBe(seconds);
  });
});

describe('parseSpec', () => {
  it('returns a valid spec typed', () => {
    const spec = { source: { pod: { name: 'a' } }, destination: { ip: '10.0.0.1' }, port: 80, protocol: 'TCP' };
    expect(parseSpec(spec)).toBe(spec);
  });

  it('throws naming every field at fault', () => {
    expect(() => parseSpec({ source: {}, destination: { ip: 'x' }, protocol: 'TCP' })).toThrow(
      `invalid NetworkDiagnosis spec:\n  spec.source: ${MESSAGES.sourceExactlyOne}\n  spec.destination.ip: ${MESSAGES.ip}\n  spec.port: ${MESSAGES.portRequired}`,
    );
  });
});
