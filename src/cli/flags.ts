// Flag parsing shared by the subcommands: strict (an unknown flag is an error), no positionals,
// and every parse failure reported as a usage error.

import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The `options` of node:util's parseArgs (the type itself is not exported). */
type FlagOptions = NonNullable<ParseArgsConfig['options']>;
import { UsageError } from './cli-error.js';

export function parseFlags<const T extends FlagOptions>(
  args: string[],
  options: T,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>>['values'] {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
