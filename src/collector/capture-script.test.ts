import { describe, expect, it } from '@jest/globals';
import { CaptureProgress, encodeCaptureArgs, splitCaptureStdout, type CaptureStep } from './capture-script.js';

const B = '--netdiag-test';

describe('encodeCaptureArgs', () => {
  it('encodes each step as ID KIND FLAGS STDIN GUARD NGUARD GUARDARGS NARGV ARGV', () => {
    const steps: CaptureStep[] = [
      { id: 'a', action: { kind: 'exec', argv: ['ip', '-V'] } },
      { id: 'b', action: { kind: 'exec', argv: ['ip', '-batch', '-'], stdin: 'link show' }, capture: true },
      { id: 'c', action: { kind: 'exec', argv: ['x'] }, guard: { kind: 'file-has-content', path: '/proc/net/ip_vs', skipped: 'no' } },
      { id: 'd', action: { kind: 'exec', argv: ['y'] }, guard: { kind: 'output-contains', step: 'b', anyOf: ['p', 'q'], skipped: 'no' } },
      { id: 'e', action: { kind: 'read-sysctls', groups: [{ dir: '/proc/sys/net/ipv4', keys: ['ip_forward'] }] } },
      { id: 'f', action: { kind: 'exec', argv: ['z'] }, guard: { kind: 'output-lines-beyond', step: 'b', prefix: 'table ', lines: ['table ip nat {'], skipped: 'no' } },
    ];
    expect(encodeCaptureArgs(B, steps)).toEqual([
      'netdiag-capture', B,
      'a', 'x', '-', '', '-', '0', '2', 'ip', '-V',
      'b', 'x', 'ci', 'link show', '-', '0', '3', 'ip', '-batch', '-',
      'c', 'x', '-', '', 'f', '1', '/proc/net/ip_vs', '1', 'x',
      'd', 'x', '-', '', 'o', '3', 'b', 'p', 'q', '1', 'y',
      'e', 's', '-', '', '-', '0', '3', '/proc/sys/net/ipv4', '1', 'ip_forward',
      'f', 'x', '-', '', 'l', '3', 'b', 'table ', 'table ip nat {', '1', 'z',
    ]);
  });

  it.each([['two steps with one id', ['a', 'a']], ['an id with a space', ['a b']], ['an empty id', ['']]])('refuses %s', (_, ids) => {
    const steps = ids.map((id): CaptureStep => ({ id, action: { kind: 'exec', argv: ['true'] } }));
    expect(() => encodeCaptureArgs(B, steps)).toThrow(/unique \[a-z0-9-\] name/);
  });
});

describe('CaptureProgress', () => {
  it('follows markers split across chunks, with each step stderr and times', () => {
    const progress = new CaptureProgress(B);
    const text = `bash: warning\n\n${B} S one 1700000000.250000\noops\nno newline\n${B} E one 3 1700000000.500000\n\n${B} K two\n\n${B} S three 1700000001.000000\n`;
    const events = [];
    for (let i = 0; i < text.length; i += 7) events.push(...progress.push(text.slice(i, i + 7)));
    expect(events).toEqual([
      { kind: 'started', id: 'one' },
      { kind: 'finished', id: 'one' },
      { kind: 'finished', id: 'two' },
      { kind: 'started', id: 'three' },
    ]);
    expect(progress.preamble).toBe('bash: warning\n');
    expect(progress.steps.get('one')).toEqual({ id: 'one', state: 'ended', startedAt: 1700000000250, endedAt: 1700000000500, exitCode: 3, stderr: 'oops\nno newline', stderrTruncated: false });
    expect(progress.steps.get('two')?.state).toBe('skipped');
    expect(progress.running?.id).toBe('three');
    expect(progress.order).toEqual(['one', 'two', 'three']);
  });
});

describe('splitCaptureStdout', () => {
  it('cuts each step output between its markers, keeping output without a trailing newline intact', () => {
    const out = Buffer.from(`${B} S one\nfirst\nline\n${B} E one 0\n${B} K two\n${B} S three\nno newline\n${B} E three 1\n${B} S four\npartial`);
    const parts = splitCaptureStdout(B, out);
    expect(parts.get('one')).toEqual({ output: Buffer.from('first\nline'), complete: true });
    expect(parts.get('three')).toEqual({ output: Buffer.from('no newline'), complete: true });
    expect(parts.get('four')).toEqual({ output: Buffer.from('partial'), complete: false });
    expect(parts.has('two')).toBe(false);
  });
});
