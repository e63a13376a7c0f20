// Which process holds each listening socket: the socket inodes `ss -e` printed, looked up among the
// file descriptors of the processes in the same network namespace (a socket nearly always lives
// with a process of its namespace). One pass per namespace over only its processes, where
// `ss -p` would walk every process of the node for every namespace.

import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { SocketOwner } from '../snapshot.js';

export interface OwnerSearch {
  readonly owners: SocketOwner[];
  /** Why some sockets have no owner: not found among the namespace's processes, or out of time. */
  readonly incomplete?: string;
}

const SOCKET_LINK = /^socket:\[(\d+)\]$/;

/** Looks for the owners of `inodes` among `pids` until all are found or `untilMs` (epoch ms) passes. */
export async function findSocketOwners(inodes: readonly number[], pids: readonly number[], untilMs: number, procRoot = '/proc'): Promise<OwnerSearch> {
  const wanted = new Set(inodes);
  const owners: SocketOwner[] = [];
  if (wanted.size === 0) return { owners };
  let searched = 0;
  for (const pid of pids) {
    if (wanted.size === 0) break;
    if (Date.now() >= untilMs) {
      return { owners, incomplete: `out of time after ${searched} of ${pids.length} processes; ${wanted.size} socket(s) without owner` };
    }
    searched++;
    const fdDir = join(procRoot, String(pid), 'fd');
    let fds: string[];
    try {
      fds = await readdir(fdDir);
    } catch {
      continue; // Exited, or not ours to look at.
    }
    const links = await Promise.all(fds.map((fd) => readlink(join(fdDir, fd)).catch(() => '')));
    const mine = new Set<number>();
    for (const link of links) {
      const m = SOCKET_LINK.exec(link);
      const inode = m === null ? NaN : Number(m[1]);
      if (wanted.has(inode)) mine.add(inode);
    }
    if (mine.size === 0) continue;
    const comm = (await readFile(join(procRoot, String(pid), 'comm'), 'utf8').catch(() => '')).trim();
    for (const inode of mine) {
      owners.push({ inode, pid, comm });
      wanted.delete(inode);
    }
  }
  owners.sort((a, b) => a.inode - b.inode || a.pid - b.pid);
  return wanted.size === 0 ? { owners } : { owners, incomplete: `${wanted.size} socket(s) held by no process of the namespace the agent can see` };
}
