import { describe, expect, it } from '@jest/globals';
import { formatIp, formatPrefix, parseIp, parsePrefix, prefixContains } from './ip.js';

describe('parseIp / formatIp', () => {
  it.each([
    ['10.0.0.1', 4, '10.0.0.1'],
    ['255.255.255.255', 4, '255.255.255.255'],
    ['fe80::1', 6, 'fe80::1'],
    ['2001:db8:0:0:1:0:0:1', 6, '2001:db8::1:0:0:1'],
    ['::', 6, '::'],
    ['::ffff:10.1.2.3', 6, '::ffff:a01:203'],
    ['1:2:3:4:5:6:7:8', 6, '1:2:3:4:5:6:7:8'],
  ])('%s round-trips', (text, family, formatted) => {
    const ip = parseIp(text);
    expect(ip?.family).toBe(family);
    expect(ip && formatIp(ip)).toBe(formatted);
  });

  it.each(['10.0.0', '10.0.0.256', '1:2:3:4:5:6:7:8:9', '1::2::3', 'x', '', '10.0.0.1/24', '01.2.3.4.5'])(
    'rejects %p',
    (text) => {
      expect(parseIp(text)).toBeUndefined();
    },
  );
});

describe('parsePrefix', () => {
  it.each([
    ['10.244.1.7/16', '10.244.0.0/16'],
    ['10.0.0.1', '10.0.0.1/32'],
    ['10.0.0.0/255.255.255.0', '10.0.0.0/24'],
    ['fd00::1/64', 'fd00::/64'],
  ])('%s is %s', (text, expected) => {
    const prefix = parsePrefix(text);
    expect(prefix && formatPrefix(prefix)).toBe(expected);
  });

  it('reads default only with a family', () => {
    expect(parsePrefix('default')).toBeUndefined();
    expect(parsePrefix('default', 4)).toEqual({ family: 4, network: 0n, length: 0 });
  });

  it.each(['10.0.0.0/33', '10.0.0.0/255.0.255.0', 'fd00::/129'])('rejects %p', (text) => {
    expect(parsePrefix(text)).toBeUndefined();
  });

  it('matches addresses inside the prefix only, of the same family', () => {
    const prefix = parsePrefix('10.244.0.0/16');
    const inside = parseIp('10.244.200.3');
    const outside = parseIp('10.245.0.1');
    const v6 = parseIp('::a:f4c8:3');
    expect(prefix && inside && prefixContains(prefix, inside)).toBe(true);
    expect(prefix && outside && prefixContains(prefix, outside)).toBe(false);
    expect(prefix && v6 && prefixContains(prefix, v6)).toBe(false);
  });
});
