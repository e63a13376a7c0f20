// Finds the node's network namespaces without asking any container runtime: every namespace a
// process is in (/proc/PID/ns/net) and every one bound under /run/netns, deduplicated by the
// namespace's inode. The host is the namespace the agent runs in (hostNetwork), or the one given.
// Where not every namespace of the machine belongs to the node (a lab whose nodes share one
// kernel), the caller names the node's netns directories and turns the process search off: /proc
// is then read only to find the processes of the namespaces found (their sockets' owners).
// Read-only: it lists directories, reads links, stats files.

import { readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DiscoverySource, SnapshotWarning } from '../snapshot.js';
import { errnoCode } from './errno.js';

export interface FoundNetns {
  readonly inode: number;
  /** The path to enter it by: a /run/netns bind mount when there is one (stable), else /proc/PID/ns/net. */
  path: string;
  readonly foundBy: Set<DiscoverySource>;
  readonly names: string[];
  /** Processes in it, ascending. */
  readonly pids: number[];
}

export interface DiscoveryOptions {
  /** The host's namespace; default: the agent's own (/proc/self/ns/net). */
  readonly hostNetnsPath?: string;
  readonly procRoot?: string;
  /** Directories of named namespaces (`ip netns`); default /run/netns and /var/run/netns. */
  readonly runNetnsDirs?: readonly string[];
  /**
   * Whether a process's namespace (/proc/PID/ns/net) counts as found; default true. When false,
   * only the host and the namespaces under `runNetnsDirs` are found, and /proc only tells which
   * processes are in them.
   */
  readonly procNetns?: boolean;
}

export interface DiscoveryResult {
  readonly host: FoundNetns;
  /** True when the host is the agent's own namespace (its commands need no nsenter). */
  readonly hostIsSelf: boolean;
  /** Every other namespace found, by inode. */
  readonly namespaces: Map<number, FoundNetns>;
  readonly processesScanned: number;
  readonly warnings: SnapshotWarning[];
}

const NETNS_LINK = /^net:\[(\d+)\]$/;
const PROC_BATCH = 256;

/** Stats a namespace path; undefined when it is gone or not a namespace. */
async function netnsInode(path: string): Promise<{ ino: number; dev: number } | undefined> {
  try {
    const s = await stat(path);
    return { ino: s.ino, dev: s.dev };
  } catch {
    return undefined;
  }
}

/** Adds (or merges by inode) a namespace into `found`. */
function addFound(found: Map<number, FoundNetns>, inode: number, path: string, source: DiscoverySource): FoundNetns {
  let entry = found.get(inode);
  if (entry === undefined) {
    entry = { inode, path, foundBy: new Set(), names: [], pids: [] };
    found.set(inode, entry);
  }
  entry.foundBy.add(source);
  return entry;
}

interface ProcNetns {
  readonly pid: number;
  readonly inode: number;
}

/** Every process's network namespace inode, pids ascending; `processesScanned` counts them all. */
async function scanProc(procRoot: string, searched: boolean, warnings: SnapshotWarning[]): Promise<{ processes: ProcNetns[]; processesScanned: number }> {
  let entries: string[];
  try {
    entries = await readdir(procRoot);
  } catch (error) {
    const lost = searched ? 'namespaces of processes were not searched' : 'the processes in each namespace are unknown';
    warnings.push({ code: 'proc-unreadable', message: `cannot list ${procRoot}: ${errnoCode(error)}; ${lost}` });
    return { processes: [], processesScanned: 0 };
  }
  const pids = entries.filter((e) => /^\d+$/.test(e)).map(Number).sort((a, b) => a - b);
  const processes: ProcNetns[] = [];
  let denied = 0;
  for (let i = 0; i < pids.length; i += PROC_BATCH) {
    const batch = pids.slice(i, i + PROC_BATCH);
    const links = await Promise.all(
      batch.map(async (pid) => {
        try {
          return await readlink(join(procRoot, String(pid), 'ns', 'net'));
        } catch (error) {
          // A process that exited in between is not worth a word; one we may not look at is.
          if (errnoCode(error) === 'EACCES' || errnoCode(error) === 'EPERM') denied++;
          return undefined;
        }
      }),
    );
    batch.forEach((pid, j) => {
      const m = NETNS_LINK.exec(links[j] ?? '');
      if (m !== null) processes.push({ pid, inode: Number(m[1]) });
    });
  }
  if (denied > 0) {
    warnings.push({ code: 'proc-denied', message: `the network namespace of ${denied} process(es) could not be read (permission denied): run the agent with hostPID and CAP_SYS_PTRACE` });
  }
  return { processes, processesScanned: pids.length };
}

/** Named namespaces under the /run/netns directories. */
async function scanRunNetns(dirs: readonly string[], nsfsDev: number, found: Map<number, FoundNetns>, warnings: SnapshotWarning[]): Promise<void> {
  const seenFiles = new Set<string>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      continue; // No such directory: nothing named there.
    }
    for (const name of names) {
      const path = join(dir, name);
      const s = await netnsInode(path);
      if (s === undefined) continue;
      const fileKey = `${s.dev}:${s.ino}:${name}`;
      if (seenFiles.has(fileKey)) continue; // /var/run is usually a link to /run.
      seenFiles.add(fileKey);
      if (s.dev !== nsfsDev) {
        warnings.push({ code: 'stale-netns', message: `${path} is not a mounted network namespace (a leftover file): skipped` });
        continue;
      }
      const named = found.get(s.ino)?.foundBy.has('run-netns') === true;
      const entry = addFound(found, s.ino, path, 'run-netns');
      // A bind mount is a stable handle: prefer it to a process's link, which vanishes with the process.
      if (!named) entry.path = path;
      if (!entry.names.includes(name)) entry.names.push(name);
    }
  }
}

export async function discoverNamespaces(options: DiscoveryOptions = {}): Promise<DiscoveryResult> {
  const procRoot = options.procRoot ?? '/proc';
  const warnings: SnapshotWarning[] = [];
  const selfPath = join(procRoot, 'self', 'ns', 'net');
  const self = await netnsInode(selfPath);
  if (self === undefined) throw new Error(`cannot stat ${selfPath}: is /proc mounted?`);
  const hostPath = options.hostNetnsPath ?? selfPath;
  const host = options.hostNetnsPath === undefined ? self : await netnsInode(hostPath);
  if (host === undefined) throw new Error(`the host network namespace ${hostPath} does not exist`);
  if (host.dev !== self.dev) throw new Error(`${hostPath} is not a network namespace`);

  const searchProc = options.procNetns ?? true;
  const found = new Map<number, FoundNetns>();
  const { processes, processesScanned } = await scanProc(procRoot, searchProc, warnings);
  if (searchProc) {
    for (const { pid, inode } of processes) addFound(found, inode, join(procRoot, String(pid), 'ns', 'net'), 'proc').pids.push(pid);
  }
  await scanRunNetns(options.runNetnsDirs ?? ['/run/netns', '/var/run/netns'], self.dev, found, warnings);

  const hostEntry = found.get(host.ino) ?? { inode: host.ino, path: hostPath, foundBy: new Set<DiscoverySource>(), names: [], pids: [] };
  hostEntry.path = hostPath;
  hostEntry.foundBy.add('host');
  found.delete(host.ino);
  if (!searchProc) {
    // Only the processes of the namespaces found (a namespace holds only its node's processes).
    for (const { pid, inode } of processes) (inode === host.ino ? hostEntry : found.get(inode))?.pids.push(pid);
  }
  return { host: hostEntry, hostIsSelf: host.ino === self.ino, namespaces: found, processesScanned, warnings };
}
