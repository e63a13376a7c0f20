import { describe, expect, it } from '@jest/globals';
import { isValidJson } from './raw-json.js';

const valid = (text: string): boolean => isValidJson(Buffer.from(text, 'utf8'));
const parses = (text: string): boolean => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

describe('isValidJson', () => {
  it.each([
    '{}', '[]', ' [ ] ', '0', '-0.5e+10', '"a\\u00e9\\n"', 'true', 'null', '{"a":[1,{"b":null}],"c":"d"}', '[[[[[]]]]]', '\n{"x" : 1 }\n',
  ])('accepts %j', (text) => {
    expect(valid(text)).toBe(true);
  });

  it.each([
    '', '{', '}', '[1,]', '{"a":1,}', '{"a" 1}', '{a:1}', "'a'", '01', '1.', '.5', '-', '1e', '"\\x"', '"\\u12"', '"a\nb"', '[1] [2]', 'tru', 'nul', '{"a":1}}', '[}', '{]',
  ])('rejects %j', (text) => {
    expect(valid(text)).toBe(false);
  });

  it('agrees with JSON.parse on random near-JSON text', () => {
    // A fixed sequence of mutations of valid documents: deletions, insertions, swaps.
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const alphabet = '{}[]":,0123456789-+.eE truefalsnl\\u\n';
    const base = ['{"nftables":[{"table":{"family":"ip","name":"nat","handle":1}},{"rule":{"expr":[{"match":{"op":"==","right":-1.5e3}}]}}]}', '[1,[2,[3,{"a":"\\"b\\u0041"}]],true,false,null]'];
    for (let i = 0; i < 3000; i++) {
      let text = base[random(base.length)] ?? '';
      for (let m = random(3); m >= 0; m--) {
        const at = random(text.length + 1);
        const op = random(3);
        if (op === 0) text = text.slice(0, at) + text.slice(at + 1);
        else if (op === 1) text = text.slice(0, at) + alphabet[random(alphabet.length)] + text.slice(at);
        else text = text.slice(0, at) + text.slice(at + 1, at + 2) + text.slice(at, at + 1) + text.slice(at + 2);
      }
      if (valid(text) !== parses(text)) throw new Error(`isValidJson and JSON.parse disagree on ${JSON.stringify(text)}`);
    }
    expect(true).toBe(true);
  });
});
