// What the agent reads about the node itself: its identity and kernel, the CNI configuration the
// runtime uses, and netdiag's CNI call records. Files only; every failure is recorded, none throws.

import { open, readdir, readFile, stat } from 'node:fs/promises';
import { hostname, machine, release, version } from 'node:os';
import { join } from 'node:path';
import type { CniCapture, FileItem, NodeIdentity } from '../snapshot.js';
import { errnoCode } from './errno.js';

/** A CNI configuration file larger than this is cut (they are a few hundred bytes). */
const MAX_CONFIG_BYTES = 1024 * 1024;
/** Per records file, the most recent bytes kept. */
const MAX_RECORDS_BYTES = 4 * 1024 * 1024;

function reason(error: unknown): string {
  const code = errnoCode(error);
  return code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : code;
}

async function readTrimmed(path: string): Promise<string | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

export async function readNodeIdentity(nodeName: string | undefined): Promise<NodeIdentity> {
  const host = hostname();
  const machineId = await readTrimmed('/etc/machine-id');
  const bootId = await readTrimmed('/proc/sys/kernel/random/boot_id');
  return {
    name: nodeName ?? process.env.NODE_NAME ?? host,
    hostname: host,
    ...(machineId !== undefined ? { machineId } : {}),
    ...(bootId !== undefined ? { bootId } : {}),
    kernel: { release: release(), version: version(), machine: machine() },
  };
}

/**
 * Reads a file whole, or its last `max` bytes starting at a line boundary (the newest records of
 * an append-only log) with `truncated` set.
 */
export async function readFileItem(path: string, max: number, keep: 'head' | 'tail'): Promise<FileItem> {
  let handle;
  try {
    handle = await open(path, 'r');
    const size = (await handle.stat()).size;
    if (size <= max) return { path, size, content: (await handle.readFile()).toString('utf8') };
    const buffer = Buffer.alloc(max);
    const { bytesRead } = await handle.read(buffer, 0, max, keep === 'head' ? 0 : size - max);
    let data = buffer.subarray(0, bytesRead);
    if (keep === 'tail') {
      const newline = data.indexOf(0x0a);
      if (newline >= 0) data = data.subarray(newline + 1);
    }
    return { path, size, content: data.toString('utf8'), truncated: true };
  } catch (error) {
    return { path, error: reason(error) };
  } finally {
    await handle?.close();
  }
}

/** Regular files of `dir` (sorted), or the reason the directory cannot be listed. */
async function listFiles(dir: string, filter: (name: string) => boolean): Promise<{ files: string[] } | { error: string }> {
  try {
    const names = (await readdir(dir)).filter(filter).sort();
    const files: string[] = [];
    for (const name of names) {
      try {
        if ((await stat(join(dir, name))).isFile()) files.push(join(dir, name));
      } catch {
        // Vanished in between.
      }
    }
    return { files };
  } catch (error) {
    return { error: reason(error) };
  }
}

export async function readCni(configDir: string, recordDir: string): Promise<CniCapture> {
  const config = await listFiles(configDir, () => true);
  const configFiles = 'files' in config ? await Promise.all(config.files.map((f) => readFileItem(f, MAX_CONFIG_BYTES, 'head'))) : [];
  const records = await listFiles(recordDir, (name) => name.endsWith('.jsonl'));
  return {
    configDir,
    configFiles,
    ...('error' in config ? { configDirError: `cannot list ${configDir}: ${config.error}` } : {}),
    records: 'files' in records ? await Promise.all(records.files.map((f) => readFileItem(f, MAX_RECORDS_BYTES, 'tail'))) : [],
  };
}
