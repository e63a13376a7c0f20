// Groups the words after `-m NAME` or `-j NAME` into that module's options. An option is a `--word`
// with its values; `!` before it (or, in the old syntax, right after it) negates it. The module's
// options end at the next single-dash word (`-j`, `-m`, `-s`...).

export interface ModuleOption {
  /** `--dport`; the empty string for values that follow no option (a malformed module). */
  readonly name: string;
  readonly negated: boolean;
  readonly values: readonly string[];
}

/**
 * Options whose values are always taken verbatim, whatever they look like: free text (a comment
 * may read `--x` or `-j`) and options with a fixed number of values.
 */
const FIXED_ARITY: ReadonlyMap<string, number> = new Map([
  ['--comment', 1],
  ['--log-prefix', 1],
  ['--nflog-prefix', 1],
  ['--string', 1],
  ['--hex-string', 1],
  ['--u32', 1],
  ['--helper', 1],
  ['--name', 1],
  ['--hashlimit-name', 1],
  ['--match-set', 2],
  ['--add-set', 2],
  ['--del-set', 2],
  ['--map-set', 2],
  ['--to-destination', 1],
  ['--to-source', 1],
  ['--to-ports', 1],
  ['--reject-with', 1],
  ['--log-level', 1],
]);

const NONE: ModuleOption[] = [];
const NO_VALUES: string[] = [];

export interface ModuleOptions {
  readonly options: ModuleOption[];
  /** Index of the first word after the module's options. */
  readonly end: number;
}

/**
 * Reads a module's options from `words[start]` on; `negateFirst` when a `!` came just before.
 * With `collect` false it only finds where they end (`options` is then empty).
 */
export function readModuleOptions(words: readonly string[], start: number, negateFirst = false, collect = true): ModuleOptions {
  const options: ModuleOption[] = collect ? [] : NONE;
  let negated = negateFirst;
  let i = start;
  const n = words.length;
  while (i < n) {
    const word = words[i] as string;
    if (word === '!') {
      const next = words[i + 1];
      if (next === undefined || !next.startsWith('--')) break; // negates a base option: not ours
      negated = true;
      i++;
      continue;
    }
    if (word.length > 1 && word.charCodeAt(0) === 0x2d /* - */) {
      if (word.charCodeAt(1) !== 0x2d) break; // -j, -m, -s...: the module ends
      i++;
      const values: string[] = collect ? [] : NO_VALUES;
      const arity = FIXED_ARITY.get(word);
      if (arity !== undefined) {
        for (let k = 0; k < arity && i < n; k++, i++) if (collect) values.push(words[i] as string);
      } else {
        // Old syntax: `--dport ! 80`.
        if (words[i] === '!' && i + 1 < n && !(words[i + 1] as string).startsWith('-')) {
          negated = !negated;
          i++;
        }
        while (i < n) {
          const value = words[i] as string;
          if (value === '!' || (value.length > 1 && value.charCodeAt(0) === 0x2d && !/^-\d/.test(value))) break;
          if (collect) values.push(value);
          i++;
        }
      }
      if (collect) options.push({ name: word, negated, values });
      negated = false;
      continue;
    }
    // A value after an option's values: keep it so the module parser can reject it.
    if (collect) options.push({ name: '', negated, values: [word] });
    negated = false;
    i++;
  }
  return { options, end: i };
}
