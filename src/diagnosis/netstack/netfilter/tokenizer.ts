// Splits one line of an iptables-save dump into words the way iptables-restore does
// (add_param_to_argv in iptables' xshared.c): blanks separate words; a double quote opens and
// closes a quoted part; inside quotes a backslash makes the next character literal (iptables-save
// writes `"` `\` and `'` as `\"` `\\` `\'`). A word may mix quoted and unquoted parts.

export interface TokenizeError {
  readonly error: string;
}

/**
 * The words of `line`, or an error for an unterminated quote. A quoted empty string (`""`) is an
 * empty word, so `--comment ""` keeps its argument.
 */
export function tokenizeLine(line: string, bounds?: number[]): string[] | TokenizeError {
  if (line.indexOf('\t') < 0) {
    const words = scanSimple(line, bounds);
    if (words !== undefined) return words;
  }
  if (bounds !== undefined) bounds.length = 0;
  return tokenizeSlow(line);
}

/**
 * The fast path for what iptables-save writes: words separated by spaces, a quoted word being
 * whole (`"..."` between spaces) and without backslashes. Undefined for anything else. When
 * `bounds` is given, it receives each word's start and end offsets in `line` (quotes included).
 */
function scanSimple(line: string, bounds: number[] | undefined): string[] | undefined {
  const words: string[] = [];
  if (bounds !== undefined) bounds.length = 0;
  const n = line.length;
  let nextQuote = line.indexOf('"');
  let i = 0;
  while (i < n) {
    if (line.charCodeAt(i) === 0x20) {
      i++;
      continue;
    }
    if (i === nextQuote) {
      const close = line.indexOf('"', i + 1);
      if (close < 0) return undefined;
      if (close + 1 < n && line.charCodeAt(close + 1) !== 0x20) return undefined;
      const backslash = line.indexOf('\\', i + 1);
      if (backslash >= 0 && backslash < close) return undefined;
      words.push(line.slice(i + 1, close));
      if (bounds !== undefined) bounds.push(i, close + 1);
      i = close + 1;
      nextQuote = line.indexOf('"', i);
      continue;
    }
    const space = line.indexOf(' ', i);
    const end = space < 0 ? n : space;
    if (nextQuote >= 0 && nextQuote < end) return undefined; // a quote inside a word
    words.push(line.slice(i, end));
    if (bounds !== undefined) bounds.push(i, end);
    i = end;
  }
  return words;
}

/** The general case, character by character (escapes, tabs, runs of blanks). */
function tokenizeSlow(line: string): string[] | TokenizeError {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  // Copies runs of ordinary characters with one slice each rather than character by character.
  let runStart = 0;
  const n = line.length;
  for (let i = 0; i < n; i++) {
    const c = line.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c /* \ */ && i + 1 < n) {
        word += line.slice(runStart, i);
        i++;
        runStart = i; // the escaped character starts the next run
      } else if (c === 0x22 /* " */) {
        word += line.slice(runStart, i);
        quoted = false;
        runStart = i + 1;
      }
      continue;
    }
    if (c === 0x22) {
      word += line.slice(runStart, i);
      quoted = true;
      inWord = true;
      runStart = i + 1;
    } else if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      if (inWord) words.push(word + line.slice(runStart, i));
      word = '';
      inWord = false;
      runStart = i + 1;
    } else {
      inWord = true;
    }
  }
  if (quoted) return { error: 'unterminated quoted string' };
  if (inWord) words.push(word + line.slice(runStart, n));
  return words;
}

/** Quotes a word as iptables-save would, for showing parsed words back as text. */
export function quoteWord(word: string): string {
  if (word.length > 0 && /^[\w./:,+!*@%=-]+$/.test(word)) return word;
  return `"${word.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}
