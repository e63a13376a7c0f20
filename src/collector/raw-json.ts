// A large JSON dump kept as the bytes the tool printed, checked to be valid JSON without building
// it, and written into the snapshot as is (see serialize.ts) instead of being parsed into objects
// and stringified again: a node's nftables ruleset can print tens of MiB, and its objects would
// take several times that in the agent's memory. A reader of the snapshot sees ordinary parsed
// JSON. Pure code.

/** JSON dumps longer than this (bytes) are kept raw. */
export const RAW_JSON_THRESHOLD = 256 * 1024;

export class RawJson {
  constructor(readonly bytes: Buffer) {}

  /** For JSON.stringify (the sinks never call it): the parsed value. */
  toJSON(): unknown {
    return JSON.parse(this.bytes.toString('utf8')) as unknown;
  }
}

/** The bytes the scanner looks at. */
const C = {
  Tab: 0x09,
  Lf: 0x0a,
  Cr: 0x0d,
  Space: 0x20,
  Quote: 0x22,
  Plus: 0x2b,
  Comma: 0x2c,
  Minus: 0x2d,
  Dot: 0x2e,
  Zero: 0x30,
  Nine: 0x39,
  Colon: 0x3a,
  E: 0x45,
  OpenBracket: 0x5b,
  Backslash: 0x5c,
  CloseBracket: 0x5d,
  LowerE: 0x65,
  OpenBrace: 0x7b,
  CloseBrace: 0x7d,
} as const;

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= C.Zero && c <= C.Nine;
const isHex = (c: number | undefined): boolean => c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));

/**
 * Whether `bytes` is exactly one JSON value (RFC 8259), surrounded by optional whitespace. A
 * scanner with an explicit stack: no recursion, nothing allocated per value. UTF-8 inside strings
 * is not checked (the tools print valid UTF-8; Buffer decoding would replace anything else).
 */
export function isValidJson(bytes: Uint8Array): boolean {
  const n = bytes.length;
  let i = 0;
  // Open containers: true for an object, false for an array.
  const stack: boolean[] = [];
  const ws = (): void => {
    for (let c = bytes[i]; c === C.Space || c === C.Lf || c === C.Cr || c === C.Tab; c = bytes[++i]);
  };
  const literal = (word: string): boolean => {
    for (let k = 0; k < word.length; k++) if (bytes[i + k] !== word.charCodeAt(k)) return false;
    i += word.length;
    return true;
  };
  const string = (): boolean => {
    i++; // opening quote
    for (;;) {
      const c = bytes[i];
      if (c === undefined || c < 0x20) return false;
      if (c === C.Quote) {
        i++;
        return true;
      }
      if (c === C.Backslash) {
        const e = bytes[i + 1];
        if (e === 0x75) {
          if (!(isHex(bytes[i + 2]) && isHex(bytes[i + 3]) && isHex(bytes[i + 4]) && isHex(bytes[i + 5]))) return false;
          i += 6;
        } else if (e === C.Quote || e === C.Backslash || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          i += 2;
        } else {
          return false;
        }
      } else {
        i++;
      }
    }
  };
  const number = (): boolean => {
    if (bytes[i] === C.Minus) i++;
    if (bytes[i] === C.Zero) i++;
    else if (isDigit(bytes[i])) while (isDigit(bytes[i])) i++;
    else return false;
    if (bytes[i] === C.Dot) {
      i++;
      if (!isDigit(bytes[i])) return false;
      while (isDigit(bytes[i])) i++;
    }
    if (bytes[i] === C.E || bytes[i] === C.LowerE) {
      i++;
      if (bytes[i] === C.Plus || bytes[i] === C.Minus) i++;
      if (!isDigit(bytes[i])) return false;
      while (isDigit(bytes[i])) i++;
    }
    return true;
  };
  /** An object member's `"key":` and the white space after it. */
  const memberKey = (): boolean => {
    if (bytes[i] !== C.Quote || !string()) return false;
    ws();
    if (bytes[i] !== C.Colon) return false;
    i++;
    ws();
    return true;
  };

  ws();
  // Expecting a value here; after it, close containers or continue them.
  for (;;) {
    const c = bytes[i];
    if (c === C.OpenBrace || c === C.OpenBracket) {
      const object = c === C.OpenBrace;
      i++;
      ws();
      if (bytes[i] === (object ? C.CloseBrace : C.CloseBracket)) {
        i++;
      } else {
        stack.push(object);
        if (object && !memberKey()) return false;
        continue;
      }
    } else if (c === C.Quote) {
      if (!string()) return false;
    } else if (c === C.Minus || isDigit(c)) {
      if (!number()) return false;
    } else if (!(literal('true') || literal('false') || literal('null'))) {
      return false;
    }
    // A value ended: close what ends here, or go on to the next member or element.
    for (;;) {
      ws();
      if (stack.length === 0) {
        return i === n;
      }
      const object = stack[stack.length - 1] === true;
      const d = bytes[i];
      if (d === C.Comma) {
        i++;
        ws();
        if (object && !memberKey()) return false;
        break;
      }
      if (d !== (object ? C.CloseBrace : C.CloseBracket)) return false;
      stack.pop();
      i++;
    }
  }
}

/**
 * The value of a JSON dump for the snapshot's `data`: parsed, or for a long one a RawJson after
 * checking that it is JSON. Throws a SyntaxError when it is not.
 */
export function jsonDataOf(bytes: Buffer): unknown {
  if (bytes.length <= RAW_JSON_THRESHOLD) return JSON.parse(bytes.toString('utf8')) as unknown;
  if (!isValidJson(bytes)) throw new SyntaxError(`not a single valid JSON value (${bytes.length} bytes)`);
  // A slice of a larger buffer (other commands' output) would keep all of it alive: copy it out.
  return new RawJson(bytes.byteLength < bytes.buffer.byteLength / 2 ? Buffer.from(bytes) : bytes);
}
