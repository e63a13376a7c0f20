import { describe, expect, it } from '@jest/globals';
import { quoteWord, tokenizeLine } from './tokenizer.js';

describe('tokenizeLine', () => {
  it.each([
    ['plain words', '-A INPUT -s 10.0.0.1/32 -j ACCEPT', ['-A', 'INPUT', '-s', '10.0.0.1/32', '-j', 'ACCEPT']],
    ['empty line', '', []],
    ['leading, trailing and repeated blanks', '  -A  INPUT\t-j ACCEPT  ', ['-A', 'INPUT', '-j', 'ACCEPT']],
    [
      'a quoted comment with spaces',
      '-A X -m comment --comment "kube-system/kube-dns:dns cluster IP" -j Y',
      ['-A', 'X', '-m', 'comment', '--comment', 'kube-system/kube-dns:dns cluster IP', '-j', 'Y'],
    ],
    ['a quoted comment that looks like options', '-m comment --comment "-j DROP --x"', ['-m', 'comment', '--comment', '-j DROP --x']],
    [
      'escaped quote, backslash and single quote (iptables-save escaping)',
      String.raw`--comment "say \"hi\" and \\ backslash \'q\'" -j X`,
      ['--comment', `say "hi" and \\ backslash 'q'`, '-j', 'X'],
    ],
    ['an empty quoted word', '--comment "" -j X', ['--comment', '', '-j', 'X']],
    ['a word mixing quoted and unquoted parts', 'a"b c"d e', ['ab cd', 'e']],
    ['two quoted words', '"a b" "c"', ['a b', 'c']],
    ['a quoted word at the end', '--log-prefix "IN DROP: "', ['--log-prefix', 'IN DROP: ']],
  ])('%s', (_name, line, words) => {
    expect(tokenizeLine(line)).toEqual(words);
  });

  it.each(['--comment "never closed', 'a "b\\"'])('reports an unterminated quote in %p', (line) => {
    expect(tokenizeLine(line)).toEqual({ error: 'unterminated quoted string' });
  });

  it('gives the offsets of each word when asked, quotes included', () => {
    const bounds: number[] = [];
    const line = '-m comment --comment "a b" -m tcp';
    expect(tokenizeLine(line, bounds)).toEqual(['-m', 'comment', '--comment', 'a b', '-m', 'tcp']);
    const slices = [];
    for (let i = 0; i < bounds.length; i += 2) slices.push(line.slice(bounds[i], bounds[i + 1]));
    expect(slices).toEqual(['-m', 'comment', '--comment', '"a b"', '-m', 'tcp']);
  });

  it('gives no offsets for a line it had to read character by character', () => {
    const bounds: number[] = [1, 2];
    expect(tokenizeLine('a\t"b\\"c"', bounds)).toEqual(['a', 'b"c']);
    expect(bounds).toEqual([]);
  });
});

describe('quoteWord', () => {
  it.each([
    ['ACCEPT', 'ACCEPT'],
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['a b', '"a b"'],
    ['', '""'],
    ['say "hi"', String.raw`"say \"hi\""`],
  ])('%p is written %s', (word, quoted) => {
    expect(quoteWord(word)).toBe(quoted);
    expect(tokenizeLine(quoted)).toEqual([word]);
  });
});
