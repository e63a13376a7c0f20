// The lab's state file: everything the lab creates (processes, network namespaces, links) is
// recorded here as it is created, so that `netdiag lab down` can remove it even after the lab's
// process crashed. Written atomically (a temporary file renamed over it) after every change.

import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killProcess, processMatches, tryRun } from './process.js';

export const STATE_FILE = 'state.json';

export type LabPhase = 'starting' | 'ready' | 'stopping' | 'failed' | 'stopped';

export interface RecordedProcess {
  readonly name: string;
  readonly pid: number;
  /** A string of its command line, checked before signalling (a pid may be reused). */
  readonly marker: string;
}

export interface RecordedNode {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  readonly podCIDR?: string;
  readonly vtep?: string;
}

export interface LabStateData {
  /** The process running the lab (`netdiag lab serve`, or a test). */
  readonly pid: number;
  readonly pidMarker: string;
  readonly phase: LabPhase;
  readonly dir: string;
  readonly network: string;
  readonly kubeconfig?: string;
  readonly server?: string;
  readonly bridge?: string;
  readonly gateway?: string;
  readonly netns: readonly string[];
  readonly links: readonly string[];
  readonly processes: readonly RecordedProcess[];
  readonly nodes: readonly RecordedNode[];
  /** Why the lab failed (phase failed). */
  readonly error?: string;
  readonly startedAt: string;
  readonly readyMs?: number;
}

export function statePath(dir: string): string {
  return join(dir, STATE_FILE);
}

export function readState(dir: string): LabStateData | undefined {
  const path = statePath(dir);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LabStateData;
  } catch {
    // Being rewritten (renames are atomic, so only a truncated file by hand gets here).
    return undefined;
  }
}

/** The state of a running lab, kept in memory and on disk. */
export class LabState {
  private data: LabStateData;

  constructor(
    readonly dir: string,
    network: string,
  ) {
    this.data = {
      pid: process.pid,
      pidMarker: process.argv.slice(1).join(' ').slice(0, 200) || 'node',
      phase: 'starting',
      dir,
      network,
      netns: [],
      links: [],
      processes: [],
      nodes: [],
      startedAt: new Date().toISOString(),
    };
    this.write();
  }

  get current(): LabStateData {
    return this.data;
  }

  update(change: Partial<LabStateData>): void {
    this.data = { ...this.data, ...change };
    this.write();
  }

  addNetns(name: string): void {
    this.update({ netns: [...this.data.netns, name] });
  }

  removeNetns(name: string): void {
    this.update({ netns: this.data.netns.filter((n) => n !== name) });
  }

  addLink(name: string): void {
    this.update({ links: [...this.data.links, name] });
  }

  addProcess(process: RecordedProcess): void {
    this.update({ processes: [...this.data.processes.filter((p) => p.pid !== process.pid), process] });
  }

  removeProcess(pid: number): void {
    this.update({ processes: this.data.processes.filter((p) => p.pid !== pid) });
  }

  setNode(node: RecordedNode): void {
    this.update({ nodes: [...this.data.nodes.filter((n) => n.name !== node.name), node] });
  }

  private write(): void {
    const path = statePath(this.dir);
    writeFileSync(`${path}.tmp`, `${JSON.stringify(this.data, null, 2)}\n`);
    renameSync(`${path}.tmp`, path);
  }
}

/** The pid of a process's command line marker: the first 200 characters of its arguments. */
export function markerOf(args: readonly string[]): string {
  return args.join(' ').slice(0, 200);
}

/** Whether the lab's own process still runs. */
export function labProcessAlive(state: LabStateData): boolean {
  return processMatches(state.pid, state.pidMarker);
}

/**
 * Removes what a lab recorded: its processes (those still running what they ran), every process
 * left in its network namespaces, the namespaces, then its links. Returns one line per thing removed.
 */
export async function cleanRecorded(state: LabStateData): Promise<string[]> {
  const removed: string[] = [];
  for (const p of [...state.processes].reverse()) {
    if (await killProcess(p.pid, p.marker)) removed.push(`process ${p.name} (pid ${p.pid})`);
  }
  const existing = new Set(tryRun('ip', ['netns', 'list']).stdout.split('\n').map((line) => line.split(' ')[0] ?? ''));
  const namespaces = [...state.netns].reverse().filter((ns) => existing.has(ns));
  // Processes the lab's parts started in its namespaces (listeners, network daemons).
  for (const ns of namespaces) {
    for (const pid of tryRun('ip', ['netns', 'pids', ns]).stdout.split('\n').map(Number).filter((n) => n > 0)) {
      const marker = processCommand(pid);
      if (marker !== undefined && (await killProcess(pid, marker))) removed.push(`process ${marker.slice(0, 60)} (pid ${pid}) in ${ns}`);
    }
  }
  // Links first: deleting one end of a veth removes both at once, whereas a deleted namespace's
  // devices go away asynchronously.
  for (const link of [...state.links].reverse()) {
    if (tryRun('ip', ['link', 'show', link]).ok && tryRun('ip', ['link', 'del', link]).ok) removed.push(`link ${link}`);
  }
  for (const ns of namespaces) {
    if (tryRun('ip', ['netns', 'del', ns]).ok) removed.push(`network namespace ${ns}`);
  }
  return removed;
}

function processCommand(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return text === '' ? undefined : text;
  } catch {
    return undefined;
  }
}

/**
 * What a stopped lab leaves in its directory and a new lab must not inherit: the control plane
 * (etcd's data would bring back the old lab's pods, services and diagnoses, answering for the new
 * lab) and the nodes' roots (CNI configuration, IPAM allocations, daemons' state). The binaries'
 * links stay. Returns what it removed (relative to `dir`).
 */
export function clearPreviousLab(dir: string): string[] {
  const removed: string[] = [];
  for (const sub of ['control-plane', 'nodes']) {
    const path = join(dir, sub);
    if (!existsSync(path)) continue;
    rmSync(path, { recursive: true, force: true });
    removed.push(sub);
  }
  return removed;
}
