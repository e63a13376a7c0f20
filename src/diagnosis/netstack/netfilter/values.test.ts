import { describe, expect, it } from '@jest/globals';
import { formatIp } from '../../model/ip.js';
import { formatNatRange } from './format.js';
import { readModuleOptions } from './options.js';
import {
  AddressParser,
  parseAddressMask,
  parseAddressRange,
  parseIcmpType,
  parseNatRange,
  parsePortList,
  parsePortRange,
  parseProtocol,
  parseUint,
  parseValueMask,
} from './values.js';

describe('parseUint', () => {
  it.each([
    ['0', 0],
    ['80', 80],
    ['0x4000', 0x4000],
    ['0XfF', 255],
    ['0xffffffff', 0xffffffff],
    ['4294967295', 0xffffffff],
  ])('%s is %d', (text, value) => {
    expect(parseUint(text)).toBe(value);
  });

  it.each(['', '-1', '1.5', '0x', '0xg', '4294967296', ' 1'])('rejects %p', (text) => {
    expect(parseUint(text)).toBeUndefined();
  });

  it('respects the maximum', () => {
    expect(parseUint('65536', 65535)).toBeUndefined();
    expect(parseUint('65535', 65535)).toBe(65535);
  });
});

describe('parseValueMask', () => {
  it.each([
    ['0x4000/0x4000', { value: 0x4000, mask: 0x4000 }],
    ['0x1', { value: 1, mask: 0xffffffff }],
    ['0x4000/0x0', { value: 0x4000, mask: 0 }],
  ])('%s', (text, expected) => {
    expect(parseValueMask(text)).toEqual(expected);
  });

  it.each(['0x1/', '/0x1', 'x'])('rejects %p', (text) => {
    expect(parseValueMask(text)).toBeUndefined();
  });
});

describe('parsePortRange / parsePortList', () => {
  it.each([
    ['80', { min: 80, max: 80 }],
    ['1000:2000', { min: 1000, max: 2000 }],
    [':1023', { min: 0, max: 1023 }],
    ['1024:', { min: 1024, max: 65535 }],
  ])('%s', (text, range) => {
    expect(parsePortRange(text)).toEqual(range);
  });

  it.each(['2000:1000', '65536', 'http', ''])('rejects %p', (text) => {
    expect(parsePortRange(text)).toBeUndefined();
  });

  it('reads NAT port ranges with a dash', () => {
    expect(parsePortRange('1024-65535', '-')).toEqual({ min: 1024, max: 65535 });
  });

  it('reads a multiport list', () => {
    expect(parsePortList('80,443,8000:8100')).toEqual([
      { min: 80, max: 80 },
      { min: 443, max: 443 },
      { min: 8000, max: 8100 },
    ]);
    expect(parsePortList('80,,443')).toBeUndefined();
  });
});

describe('parseProtocol', () => {
  it.each([
    ['tcp', 6],
    ['UDP', 17],
    ['icmp', 1],
    ['ipv6-icmp', 58],
    ['icmpv6', 58],
    ['gre', 47],
    ['sctp', 132],
    ['all', 0],
    ['47', 47],
  ])('%s is %d', (text, n) => {
    expect(parseProtocol(text)).toBe(n);
  });

  it('rejects an unknown name', () => {
    expect(parseProtocol('nosuch')).toBeUndefined();
    expect(parseProtocol('256')).toBeUndefined();
  });
});

describe('parseIcmpType', () => {
  it.each([
    ['any', false, { type: undefined, codeMin: 0, codeMax: 255 }],
    ['8', false, { type: 8, codeMin: 0, codeMax: 255 }],
    ['3/4', false, { type: 3, codeMin: 4, codeMax: 4 }],
    ['echo-request', false, { type: 8, codeMin: 0, codeMax: 255 }],
    ['port-unreachable', false, { type: 3, codeMin: 3, codeMax: 3 }],
    ['echo-request', true, { type: 128, codeMin: 0, codeMax: 255 }],
    ['neighbour-solicitation', true, { type: 135, codeMin: 0, codeMax: 255 }],
  ])('%s (v6: %p)', (text, v6, expected) => {
    expect(parseIcmpType(text, v6)).toEqual(expected);
  });

  it('rejects an unknown name', () => {
    expect(parseIcmpType('echo', false)).toBeUndefined();
  });
});

describe('parseAddressMask', () => {
  it.each([
    ['10.0.0.1', 4, 32, '10.0.0.1', 0xffffffffn],
    ['10.244.1.7/16', 4, 16, '10.244.0.0', 0xffff0000n],
    ['0.0.0.0/0', 4, 0, '0.0.0.0', 0n],
    ['10.0.0.0/255.255.255.0', 4, 24, '10.0.0.0', 0xffffff00n],
    ['fd00::1/64', 6, 64, 'fd00::', (1n << 128n) - (1n << 64n)],
    ['::1/128', 6, 128, '::1', (1n << 128n) - 1n],
  ])('%s', (text, family, length, network, mask) => {
    const a = parseAddressMask(text);
    expect(a?.family).toBe(family);
    expect(a?.prefixLength).toBe(length);
    expect(a?.mask).toBe(mask);
    expect(a && formatIp({ family: a.family, value: a.address })).toBe(network);
  });

  it('keeps a non-contiguous mask, which iptables allows', () => {
    const a = parseAddressMask('10.1.2.3/255.255.0.255');
    expect(a?.prefixLength).toBeUndefined();
    expect(a?.mask).toBe(0xffff00ffn);
    expect(a?.address).toBe(0x0a010003n);
  });

  it.each(['10.0.0', '10.0.0.256/8', '10.0.0.0/33', '10.0.0.0/255.0.x.0', 'fe80::/129', 'host'])('rejects %p', (text) => {
    expect(parseAddressMask(text)).toBeUndefined();
  });

  it('caches by text', () => {
    const parser = new AddressParser();
    expect(parser.parse('10.0.0.1')).toBe(parser.parse('10.0.0.1'));
    expect(parser.parse('bad')).toBeUndefined();
  });
});

describe('parseAddressRange / parseNatRange', () => {
  it('reads an address range', () => {
    const r = parseAddressRange('10.0.0.1-10.0.0.9');
    expect(r && [formatIp(r.from), formatIp(r.to)]).toEqual(['10.0.0.1', '10.0.0.9']);
    expect(parseAddressRange('10.0.0.9-10.0.0.1')).toBeUndefined();
    expect(parseAddressRange('10.0.0.1-fd00::1')).toBeUndefined();
  });

  it.each([
    ['10.244.1.5:8080', '10.244.1.5:8080'],
    ['10.0.0.9', '10.0.0.9'],
    ['10.0.0.1-10.0.0.3:8000-8010', '10.0.0.1-10.0.0.3:8000-8010'],
    ['[fd00:244::5]:8080', '[fd00:244::5]:8080'],
    ['fd00::1', 'fd00::1'],
    [':80', ':80'],
  ])('reads NAT range %s', (text, formatted) => {
    const r = parseNatRange(text);
    expect(r && formatNatRange(r)).toBe(formatted);
  });

  it.each(['', '10.0.0.1:', '10.0.0.1:90000', '[fd00::1', 'x:80'])('rejects NAT range %p', (text) => {
    expect(parseNatRange(text)).toBeUndefined();
  });
});

describe('readModuleOptions', () => {
  const words = (line: string): string[] => line.split(' ');

  it.each([
    ['--dport 80 -j ACCEPT', [{ name: '--dport', negated: false, values: ['80'] }], 2],
    ['! --dport 80 --sport 1:2', [
      { name: '--dport', negated: true, values: ['80'] },
      { name: '--sport', negated: false, values: ['1:2'] },
    ], 5],
    ['--dport ! 80', [{ name: '--dport', negated: true, values: ['80'] }], 3],
    ['--match-set kube src,dst --return-nomatch', [
      { name: '--match-set', negated: false, values: ['kube', 'src,dst'] },
      { name: '--return-nomatch', negated: false, values: [] },
    ], 4],
    ['--comment -j -j DROP', [{ name: '--comment', negated: false, values: ['-j'] }], 2],
    ['--dport 80 ! -s 10.0.0.1', [{ name: '--dport', negated: false, values: ['80'] }], 2],
    ['stray', [{ name: '', negated: false, values: ['stray'] }], 1],
  ])('%s', (line, options, end) => {
    expect(readModuleOptions(words(line), 0)).toEqual({ options, end });
  });

  it('only finds the end when not collecting', () => {
    expect(readModuleOptions(words('--dport 80 -j ACCEPT'), 0, false, false)).toEqual({ options: [], end: 2 });
  });
});
