import { readFileSync } from 'node:fs';
import { CliError } from './cli-error.js';

/** Reads a dump named on the command line (`-` is standard input), with an error naming the flag and file. */
export function readInputFile(path: string, flag: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error && 'code' in error ? String(error.code) : String(error);
    const detail = reason === 'ENOENT' ? 'no such file' : reason === 'EACCES' ? 'permission denied' : reason;
    throw new CliError(`${flag} ${path}: cannot read: ${detail}`, 1, { cause: error });
  }
}
