import { describe, expect, it } from '@jest/globals';
import { encodeDriverJob, parseDriverMarker } from './capture-driver.js';

describe('encodeDriverJob', () => {
  it('writes the length in bytes, then each field ended by a unit separator', () => {
    const job = encodeDriverJob(7, '/run/netns/é', ['netdiag-capture', 'B', 'link show\naddress show', '']);
    const [length, rest] = [job.subarray(0, job.indexOf(0x0a)).toString(), job.subarray(job.indexOf(0x0a) + 1)];
    expect(Number(length)).toBe(rest.length);
    expect(rest.toString('utf8')).toBe('7\x1f/run/netns/é\x1fnetdiag-capture\x1fB\x1flink show\naddress show\x1f\x1f');
  });

  it('writes an empty field for the agent own namespace', () => {
    expect(encodeDriverJob(1, undefined, ['x']).toString()).toBe('5\n1\x1f\x1fx\x1f');
  });

  it.each([['a NUL', 'a\0b'], ['a unit separator', 'a\x1fb']])('refuses an argument with %s', (_, arg) => {
    expect(() => encodeDriverJob(1, undefined, [arg])).toThrow(/NUL byte or a unit separator/);
  });
});

describe('parseDriverMarker', () => {
  it.each([
    ['J 3 4242', { kind: 'started', id: 3, pid: 4242 }],
    ['D 3 137', { kind: 'done', id: 3, status: 137 }],
    ['X 3 1', undefined],
    ['D 3', undefined],
  ])('%s', (text, marker) => {
    expect(parseDriverMarker(text)).toEqual(marker);
  });
});
