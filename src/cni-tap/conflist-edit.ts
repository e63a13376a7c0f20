// Installing and removing the tap in a node's CNI configuration, as plans over the directory's
// files (names and text); the command carries them out. Pure.
//
// The runtime (libcni's ConfFiles with `.conf`, `.conflist`, `.json`, sorted byte-wise, as
// containerd and CRI-O load them) uses the first file. A `.conflist` (or a `.conf`/`.json` holding
// `plugins`) gets the tap as its first and last plugin. A single-plugin `.conf`/`.json` cannot hold a
// list (runtimes read such a file as one plugin), so it is converted: `<stem>.conflist` holding the
// tap, the plugin and the tap, provided that name is still the first; the original file moves to
// its backup. The backup is the original, byte for byte (`<file>.netdiag-backup`, an extension the
// runtime ignores); uninstall restores it only when the tapped file is still exactly what install
// wrote from it.

import type { CniTapPosition } from '../diagnosis/index.js';

/** The plugin type the tap is installed as (CNI_TAP_TYPE of the diagnosis). */
export const TAP_TYPE = 'netdiag-cni-tap';
export const BACKUP_SUFFIX = '.netdiag-backup';
const EXTENSIONS = ['.conf', '.conflist', '.json'];

export interface ConfDirFile {
  /** The file's name in the directory. */
  readonly name: string;
  readonly content: string;
}

export interface TapOptions {
  /** Written into the tap's configuration as `recordDir`. */
  readonly recordDir?: string;
}

export type InstallPlan =
  /** Write `content` to `target`; keep the original `source` as `backup` (then remove it when converted). */
  | { readonly kind: 'install'; readonly source: string; readonly target: string; readonly content: string; readonly backup: string; readonly removeSource: boolean }
  | { readonly kind: 'already'; readonly target: string }
  | { readonly kind: 'refuse'; readonly message: string };

export type UninstallPlan =
  /** Put the `backup`'s bytes back as `restoreTo`, remove the backup, and remove `target` when it is another file. */
  | { readonly kind: 'restore'; readonly target: string; readonly backup: string; readonly restoreTo: string; readonly removeTarget: boolean }
  | { readonly kind: 'not-installed'; readonly message: string }
  | { readonly kind: 'refuse'; readonly message: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** filepath.Ext: from the last dot of the name. */
function extension(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(dot);
}

/** The configuration files the runtime considers, in the order it sorts them (byte-wise). */
export function configFiles<T extends { readonly name: string }>(files: readonly T[]): T[] {
  const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
  return files.filter((f) => EXTENSIONS.includes(extension(f.name))).sort((a, b) => Buffer.compare(bytes(a.name), bytes(b.name)));
}

function tapEntry(position: CniTapPosition, chain: readonly string[], options: TapOptions): Record<string, unknown> {
  return { type: TAP_TYPE, position, chain, ...(options.recordDir !== undefined ? { recordDir: options.recordDir } : {}) };
}

/** The indentation of a JSON text (two spaces when it has none we can tell), and its final newline. */
function layoutOf(text: string): { indent: string; newline: boolean } {
  const m = /\n([ \t]+)"/.exec(text);
  return { indent: m?.[1] ?? '  ', newline: text.endsWith('\n') };
}

type Parsed = { readonly kind: 'list'; readonly json: Record<string, unknown>; readonly plugins: Record<string, unknown>[] } | { readonly kind: 'single'; readonly json: Record<string, unknown> };

/** Reads a configuration as the runtime would, or says why not. */
function parse(name: string, content: string): Parsed | { readonly error: string } {
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch (error) {
    return { error: `${name} is not valid JSON (${error instanceof Error ? error.message : String(error)})` };
  }
  if (!isObject(json)) return { error: `${name} is not a JSON object` };
  if (typeof json.name !== 'string' || json.name === '') return { error: `${name} has no network name` };
  if (json.cniVersion !== undefined && typeof json.cniVersion !== 'string') return { error: `${name}: cniVersion is not a string` };
  if (name.endsWith('.conflist') || 'plugins' in json) {
    const plugins = json.plugins;
    if (!Array.isArray(plugins) || plugins.length === 0) return { error: `${name}: plugins is missing, empty or not an array` };
    for (const [i, p] of plugins.entries()) {
      if (!isObject(p) || typeof p.type !== 'string' || p.type === '') return { error: `${name}: plugins[${i}] is not a plugin configuration with a type` };
    }
    return { kind: 'list', json, plugins: plugins as Record<string, unknown>[] };
  }
  if (typeof json.type !== 'string' || json.type === '') return { error: `${name} has neither plugins nor a type` };
  return { kind: 'single', json };
}

type TapState = 'none' | 'installed' | 'partial';

function tapState(plugins: readonly Record<string, unknown>[]): TapState {
  const taps = plugins.filter((p) => p.type === TAP_TYPE).length;
  if (taps === 0) return 'none';
  const first = plugins[0];
  const last = plugins[plugins.length - 1];
  const ok = taps === 2 && plugins.length > 2 && first?.type === TAP_TYPE && first.position === 'head' && last?.type === TAP_TYPE && last.position === 'tail';
  return ok ? 'installed' : 'partial';
}

/**
 * The tapped version of one untapped configuration file: the file to write and its text, or why
 * it cannot be tapped.
 */
export function buildTapped(name: string, content: string, options: TapOptions = {}): { target: string; content: string } | { error: string } {
  const parsed = parse(name, content);
  if ('error' in parsed) return parsed;
  const { indent, newline } = layoutOf(content);
  const write = (json: unknown): string => `${JSON.stringify(json, null, indent)}${newline ? '\n' : ''}`;
  switch (parsed.kind) {
    case 'list': {
      if (tapState(parsed.plugins) !== 'none') return { error: `${name} already holds ${TAP_TYPE}` };
      const chain = parsed.plugins.map((p) => String(p.type));
      const plugins = [tapEntry('head', chain, options), ...parsed.plugins, tapEntry('tail', chain, options)];
      return { target: name, content: write({ ...parsed.json, plugins }) };
    }
    case 'single': {
      if (parsed.json.type === TAP_TYPE) return { error: `${name} is the tap alone` };
      const chain = [String(parsed.json.type)];
      const list = {
        ...(parsed.json.cniVersion !== undefined ? { cniVersion: parsed.json.cniVersion } : {}),
        name: parsed.json.name,
        plugins: [tapEntry('head', chain, options), parsed.json, tapEntry('tail', chain, options)],
      };
      return { target: `${name.slice(0, name.length - extension(name).length)}.conflist`, content: write(list) };
    }
  }
}

/** What `install` does in a directory holding `files`. */
export function planInstall(files: readonly ConfDirFile[], options: TapOptions = {}): InstallPlan {
  const configs = configFiles(files);
  const first = configs[0];
  if (first === undefined) return { kind: 'refuse', message: 'no .conf, .conflist or .json file: no CNI configuration to tap' };
  const parsed = parse(first.name, first.content);
  if ('error' in parsed) return { kind: 'refuse', message: `${parsed.error}: refusing to touch it` };
  if (parsed.kind === 'list') {
    const state = tapState(parsed.plugins);
    if (state === 'installed') return { kind: 'already', target: first.name };
    if (state === 'partial') return { kind: 'refuse', message: `${first.name} holds ${TAP_TYPE} but not as the first (head) and last (tail) plugin: fix it by hand or restore its backup` };
  }
  const backup = `${first.name}${BACKUP_SUFFIX}`;
  if (files.some((f) => f.name === backup)) return { kind: 'refuse', message: `${backup} exists already (left by an earlier install?): remove it or run uninstall first` };
  const tapped = buildTapped(first.name, first.content, options);
  if ('error' in tapped) return { kind: 'refuse', message: tapped.error };
  const converted = tapped.target !== first.name;
  if (converted) {
    if (files.some((f) => f.name === tapped.target)) return { kind: 'refuse', message: `${first.name} is a single plugin's configuration and ${tapped.target}, the list it would become, exists already` };
    const ahead = configFiles([...configs.slice(1), { name: tapped.target }])[0];
    if (ahead?.name !== tapped.target) {
      return { kind: 'refuse', message: `${first.name} is a single plugin's configuration; the list it would become, ${tapped.target}, would not be the first file (${ahead?.name ?? '?'} sorts before it)` };
    }
  }
  return { kind: 'install', source: first.name, target: tapped.target, content: tapped.content, backup, removeSource: converted };
}

/** The `recordDir` the installed tap was given, to rebuild what install wrote. */
function installedOptions(plugins: readonly Record<string, unknown>[]): TapOptions {
  const dir = plugins[0]?.recordDir;
  return typeof dir === 'string' ? { recordDir: dir } : {};
}

/** What `uninstall` does in a directory holding `files` (backups included). */
export function planUninstall(files: readonly ConfDirFile[]): UninstallPlan {
  const first = configFiles(files)[0];
  if (first === undefined) return { kind: 'not-installed', message: 'no .conf, .conflist or .json file: nothing to uninstall' };
  const parsed = parse(first.name, first.content);
  if ('error' in parsed) return { kind: 'refuse', message: `${parsed.error}: refusing to touch it` };
  if (parsed.kind === 'single' || tapState(parsed.plugins) === 'none') return { kind: 'not-installed', message: `${first.name} does not hold ${TAP_TYPE}: nothing to uninstall` };
  if (tapState(parsed.plugins) === 'partial') return { kind: 'refuse', message: `${first.name} holds ${TAP_TYPE} but not as head and tail: it changed since install; fix it by hand` };
  const stem = first.name.endsWith('.conflist') ? first.name.slice(0, -'.conflist'.length) : undefined;
  const sources = [first.name, ...(stem !== undefined ? [`${stem}.conf`, `${stem}.json`] : [])];
  const options = installedOptions(parsed.plugins);
  const backups: string[] = [];
  for (const source of sources) {
    const backup = files.find((f) => f.name === `${source}${BACKUP_SUFFIX}`);
    if (backup === undefined) continue;
    backups.push(backup.name);
    const rebuilt = buildTapped(source, backup.content, options);
    if (!('error' in rebuilt) && rebuilt.target === first.name && rebuilt.content === first.content) {
      return { kind: 'restore', target: first.name, backup: backup.name, restoreTo: source, removeTarget: source !== first.name };
    }
  }
  if (backups.length === 0) return { kind: 'refuse', message: `${first.name} holds ${TAP_TYPE} but no backup (${first.name}${BACKUP_SUFFIX}) is there to restore` };
  return { kind: 'refuse', message: `${first.name} changed since install (it is not what install wrote from ${backups.join(', ')}): refusing to overwrite it; restore the backup by hand` };
}
