// `netdiag cni-tap install|uninstall`: puts netdiag's CNI tap first and last in the configuration
// list the runtime uses, or takes it out again, restoring the original byte for byte
// (src/cni-tap/conflist-edit.ts plans; this carries the plan out). Every file is written to a
// temporary file in the same directory and renamed over (atomic), with the original's mode.

import { chmodSync, closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { planInstall, planUninstall, type ConfDirFile } from '../cni-tap/conflist-edit.js';
import { CliError, UsageError } from './cli-error.js';
import { parseFlags } from './flags.js';

export const CNI_TAP_USAGE = `usage: netdiag cni-tap install|uninstall [--conf-dir DIR] [--record-dir DIR]

Adds netdiag's CNI tap (the chained plugin netdiag-cni-tap, which must be in the node's CNI bin
directory) as the first and last plugin of the configuration the container runtime uses: the
first .conf, .conflist or .json file of DIR in lexical order. The original is kept as
FILE.netdiag-backup; install is idempotent; uninstall restores the original byte for byte, and
refuses when the file changed since install. A file that cannot be parsed is left untouched.

flags:
  --conf-dir DIR     the CNI configuration directory (default /etc/cni/net.d)
  --record-dir DIR   install: where the tap writes its records (default /var/log/netdiag)
`;

const DEFAULT_CONF_DIR = '/etc/cni/net.d';

function errorText(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error) return String((error).code);
  return error instanceof Error ? error.message : String(error);
}

function readDir(dir: string): ConfDirFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new CliError(`cannot list ${dir}: ${errorText(error)}`, 1, { cause: error });
  }
  const files: ConfDirFile[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      if (!statSync(path).isFile()) continue;
      files.push({ name, content: readFileSync(path, 'utf8') });
    } catch (error) {
      throw new CliError(`cannot read ${path}: ${errorText(error)}`, 1, { cause: error });
    }
  }
  return files;
}

/** Writes `data` to `dir/name` through a temporary file renamed over it, with `mode`. */
function writeAtomic(dir: string, name: string, data: Buffer | string, mode: number): void {
  const temp = join(dir, `.${name}.netdiag-tmp-${process.pid}`);
  try {
    const fd = openSync(temp, 'w', mode);
    try {
      writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    chmodSync(temp, mode);
    renameSync(temp, join(dir, name));
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // Not created.
    }
    throw new CliError(`cannot write ${join(dir, name)}: ${errorText(error)}`, 1, { cause: error });
  }
}

function modeOf(path: string): number {
  return statSync(path).mode & 0o7777;
}

function install(dir: string, recordDir: string | undefined): string {
  const plan = planInstall(readDir(dir), recordDir !== undefined ? { recordDir } : {});
  switch (plan.kind) {
    case 'refuse':
      throw new CliError(`${dir}: ${plan.message}`);
    case 'already':
      return `${join(dir, plan.target)} already holds the tap: nothing to do`;
    case 'install': {
      const source = join(dir, plan.source);
      const mode = modeOf(source);
      // The backup first (the original's exact bytes), then the tapped file; a converted single
      // plugin's file goes last: until then it sorts before the new list, so the runtime keeps it.
      writeAtomic(dir, plan.backup, readFileSync(source), mode);
      writeAtomic(dir, plan.target, plan.content, mode);
      if (plan.removeSource) unlinkSync(source);
      return `${join(dir, plan.target)}: tap installed at the head and tail of the chain (original kept as ${plan.backup})`;
    }
  }
}

function uninstall(dir: string): string {
  const plan = planUninstall(readDir(dir));
  switch (plan.kind) {
    case 'refuse':
      throw new CliError(`${dir}: ${plan.message}`);
    case 'not-installed':
      return plan.message;
    case 'restore': {
      const backup = join(dir, plan.backup);
      writeAtomic(dir, plan.restoreTo, readFileSync(backup), modeOf(join(dir, plan.target)));
      if (plan.removeTarget) unlinkSync(join(dir, plan.target));
      unlinkSync(backup);
      return `${join(dir, plan.restoreTo)}: restored from ${plan.backup}; tap removed`;
    }
  }
}

export function runCniTap(args: string[]): number {
  const [action, ...rest] = args;
  const flags = parseFlags(rest, { 'conf-dir': { type: 'string' }, 'record-dir': { type: 'string' } });
  const dir = flags['conf-dir'] ?? DEFAULT_CONF_DIR;
  switch (action) {
    case 'install':
      process.stdout.write(`${install(dir, flags['record-dir'])}\n`);
      return 0;
    case 'uninstall':
      if (flags['record-dir'] !== undefined) throw new UsageError('--record-dir is for install');
      process.stdout.write(`${uninstall(dir)}\n`);
      return 0;
    case undefined:
      throw new UsageError('install or uninstall?');
    default:
      throw new UsageError(`unknown action "${action}": install or uninstall`);
  }
}
