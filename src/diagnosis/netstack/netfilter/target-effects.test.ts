import { describe, expect, it } from '@jest/globals';
import { formatIp } from '../../model/ip.js';
import { applyConnmark, applyDscp, applyMark, applyTos, MAX_NAT_ADDRESSES, natChoices, natPort, rewriteDestination, rewriteSource } from './target-effects.js';
import { ip, packet } from './testing/helpers.js';

describe('applyMark', () => {
  it.each([
    ['--set-xmark 0x4000/0x4000 (or)', 0x1, 0x4000, 0x4000, 0x4001],
    ['--set-xmark 0x4000/0x0 (xor) on a set bit', 0x4001, 0x4000, 0, 0x1],
    ['--set-xmark 0x0/0xffffff00 (and 0xff)', 0x12345678, 0, 0xffffff00, 0x78],
    ['--set-xmark 0x1/0xffffffff (set)', 0xffffffff, 1, 0xffffffff, 1],
    ['--set-xmark 0x5/0xf', 0xabcd, 5, 0xf, 0xabc5],
  ])('%s', (_name, mark, value, mask, expected) => {
    expect(applyMark(mark, value, mask)).toBe(expected);
  });
});

describe('applyConnmark', () => {
  it.each([
    ['set', { kind: 'connmark', mode: 'set', value: 0x2, mask: 0xff } as const, 0x10, 0x1ff, { mark: 0x10, connmark: 0x102 }],
    ['save with masks', { kind: 'connmark', mode: 'save', nfmask: 0xff, ctmask: 0xf0 } as const, 0x1234, 0xabcd, { mark: 0x1234, connmark: 0xab0d ^ 0x34 }],
    ['save everything', { kind: 'connmark', mode: 'save', nfmask: 0xffffffff, ctmask: 0xffffffff } as const, 0x4000, 0x1, { mark: 0x4000, connmark: 0x4000 }],
    ['restore everything', { kind: 'connmark', mode: 'restore', nfmask: 0xffffffff, ctmask: 0xffffffff } as const, 0x1, 0x4000, { mark: 0x4000, connmark: 0x4000 }],
    ['restore under masks', { kind: 'connmark', mode: 'restore', nfmask: 0xff, ctmask: 0xff } as const, 0x1100, 0x22ab, { mark: 0x11ab, connmark: 0x22ab }],
  ])('%s', (_name, target, mark, connmark, expected) => {
    expect(applyConnmark(target, mark, connmark)).toEqual(expected);
  });
});

describe('DSCP and TOS', () => {
  it('sets the upper six bits for DSCP, keeping ECN', () => {
    expect(applyDscp(0x03, 0x2e)).toBe(0xbb);
  });
  it('applies TOS value/mask', () => {
    expect(applyTos(0xff, 0x08, 0xff)).toBe(0x08);
    expect(applyTos(0xf0, 0x01, 0x0f)).toBe(0xf1);
  });
});

describe('natPort', () => {
  it.each([
    ['no range keeps the port', undefined, 40000, 'destination', false, 40000, undefined],
    ['a single port', { minPort: 8080, maxPort: 8080 }, 80, 'destination', false, 8080, undefined],
    ['a port inside the range is kept', { minPort: 8000, maxPort: 8010 }, 8005, 'destination', false, 8005, undefined],
    ['DNAT outside the range takes the first port', { minPort: 8000, maxPort: 8010 }, 80, 'destination', false, 8000, undefined],
    ['SNAT outside the range picks at random', { minPort: 1000, maxPort: 2000 }, 40000, 'source', false, 40000, 'port picked at random from 1000-2000'],
    ['--random-fully', undefined, 40000, 'source', true, 40000, 'source port randomised (--random-fully)'],
  ] as const)('%s', (_name, range, port, manip, random, expected, note) => {
    expect(natPort(range, port, manip, random)).toEqual(note === undefined ? { port: expected } : { port: expected, note });
  });
});

describe('natChoices', () => {
  it('gives one choice for one address', () => {
    expect(natChoices([{ minAddress: ip('10.244.1.5'), maxAddress: ip('10.244.1.5'), minPort: 8080, maxPort: 8080 }], 80, 'destination', false)).toEqual([
      { address: ip('10.244.1.5'), port: 8080, probability: 1 },
    ]);
  });

  it('gives one equally likely choice per address of a range', () => {
    const choices = natChoices([{ minAddress: ip('10.0.0.1'), maxAddress: ip('10.0.0.3') }], 80, 'destination', false);
    expect(choices.map((c) => (c.address ? formatIp(c.address) : ''))).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(choices.map((c) => c.probability)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(choices[0]?.note).toBe('one of 3 addresses, picked by a hash of the connection');
  });

  it('follows at most MAX_NAT_ADDRESSES addresses and says so', () => {
    const choices = natChoices([{ minAddress: ip('10.0.0.0'), maxAddress: ip('10.0.3.255') }], 80, 'destination', false);
    expect(choices).toHaveLength(MAX_NAT_ADDRESSES);
    expect(choices[0]?.note).toBe(`one of 1024 addresses, picked by a hash of the connection; only the first ${MAX_NAT_ADDRESSES} are followed`);
  });

  it('keeps the address for a ports-only range', () => {
    expect(natChoices([{ minPort: 3128, maxPort: 3128 }], 80, 'destination', false)).toEqual([{ address: undefined, port: 3128, probability: 1 }]);
  });
});

describe('rewrite', () => {
  it('rewrites the destination or the source, never the ports of ICMP', () => {
    const p = packet('tcp', '10.0.0.1', '10.96.0.10', 80);
    expect(rewriteDestination(p, ip('10.244.1.5'), 8080)).toMatchObject({ dst: ip('10.244.1.5'), dport: 8080, src: ip('10.0.0.1') });
    expect(rewriteSource(p, ip('192.168.1.10'), 1234)).toMatchObject({ src: ip('192.168.1.10'), sport: 1234, dport: 80 });
    const icmp = packet('icmp', '10.0.0.1', '10.96.0.10');
    expect(rewriteDestination(icmp, ip('10.244.1.5'), 8080)).toMatchObject({ dst: ip('10.244.1.5'), dport: 0 });
  });
});
