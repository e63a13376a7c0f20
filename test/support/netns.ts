// Network namespaces for tests that need a real kernel: create and destroy them, run a command in
// one, wire veth pairs, add addresses, set sysctls. Every command goes through execFile with an
// argument vector (never a shell string built from data), and namespace names carry a prefix plus
// a random suffix so that parallel suites and leftovers of an interrupted run never collide.
// Needs root (see ./root.ts). Two flavours: async (`createNamespace`, `execIn`, ...) for suites
// that run probes concurrently, and sync (`createNetns`, `ipIn`, `tryRun`, ...) for suites that
// issue thousands of short `ip` commands in sequence.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit status; -1 when the process could not run or was killed. */
  readonly code: number;
}

export interface ExecOptions {
  /** Return a non-zero exit as a result instead of throwing. */
  readonly allowFailure?: boolean;
  readonly timeoutMs?: number;
  /** Written to the command's stdin. */
  readonly input?: string;
}

/** Runs PROGRAM ARGS... (no shell); throws with the command line and stderr on failure unless allowFailure. */
export function exec(program: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      program,
      [...args],
      { encoding: 'utf8', timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        const result: ExecResult = { stdout, stderr, code };
        if (error !== null && options.allowFailure !== true) {
          reject(new Error(`${program} ${args.join(' ')} failed (exit ${code}): ${stderr.trim() || error.message}`, { cause: error }));
          return;
        }
        resolve(result);
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Runs PROGRAM ARGS... inside namespace `ns` (`ip netns exec`). */
export function execIn(ns: string, program: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return exec('ip', ['netns', 'exec', ns, program, ...args], options);
}

/** A name `PREFIX` + 6 random hex digits. */
export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex')}`;
}

/** Creates a network namespace named PREFIX+random, with lo up; returns its name. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await exec('ip', ['netns', 'add', name]);
  await exec('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** Deletes a namespace (its devices go with it); one already gone is not an error. */
export async function deleteNamespace(name: string): Promise<void> {
  await exec('ip', ['netns', 'del', name], { allowFailure: true });
}

/** A veth pair `nameA` in `nsA` ↔ `nameB` in `nsB` (may be the same namespace), both up. */
export async function vethPair(nsA: string, nameA: string, nsB: string, nameB: string): Promise<void> {
  await exec('ip', ['-n', nsA, 'link', 'add', nameA, 'type', 'veth', 'peer', 'name', nameB, 'netns', nsB]);
  await exec('ip', ['-n', nsA, 'link', 'set', nameA, 'up']);
  await exec('ip', ['-n', nsB, 'link', 'set', nameB, 'up']);
}

/** `ip addr add CIDR dev DEV` in `ns`. */
export async function addAddress(ns: string, dev: string, cidr: string): Promise<void> {
  await exec('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', dev]);
}

/** Writes a sysctl inside a namespace (`sysctl -qw key=value`). */
export async function setSysctl(ns: string, key: string, value: string | number): Promise<void> {
  await execIn(ns, 'sysctl', ['-qw', `${key}=${value}`]);
}

// ---------------------------------------------------------------------------------------------
// Synchronous flavour.

export interface CommandResult {
  readonly ok: boolean;
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program with arguments synchronously; never throws for a non-zero exit. */
export function tryRun(program: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): CommandResult {
  try {
    const stdout = execFileSync(program, args, {
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 30_000,
      ...(options.input !== undefined ? { input: options.input } : {}),
    });
    return { ok: true, status: 0, stdout, stderr: '' };
  } catch (error) {
    const e = error as { status?: number | null; stdout?: string | Buffer; stderr?: string | Buffer };
    return {
      ok: false,
      status: e.status ?? -1,
      stdout: String(e.stdout ?? ''),
      stderr: String(e.stderr ?? (error instanceof Error ? error.message : String(error))),
    };
  }
}

/** Runs a program synchronously and returns its stdout; throws with the command and stderr on failure. */
export function run(program: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): string {
  const result = tryRun(program, args, options);
  if (!result.ok) throw new Error(`${program} ${args.join(' ')} failed (exit ${result.status}): ${result.stderr.trim()}`);
  return result.stdout;
}

/** Synchronous createNamespace. */
export function createNetns(prefix: string): string {
  const name = uniqueName(prefix);
  run('ip', ['netns', 'add', name]);
  run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** Synchronous deleteNamespace. */
export function destroyNetns(name: string): void {
  tryRun('ip', ['netns', 'del', name]);
}

/** Deletes every namespace whose name starts with `prefix` (leftovers of an interrupted run). */
export function destroyNetnsWithPrefix(prefix: string): void {
  const list = tryRun('ip', ['-j', 'netns', 'list']);
  if (!list.ok || list.stdout.trim() === '') return;
  const entries = JSON.parse(list.stdout) as Array<{ name: string }>;
  for (const { name } of entries) if (name.startsWith(prefix)) destroyNetns(name);
}

/**
 * What a lab named PREFIX may have left after a failed test: its namespaces, its bridge (PREFIX0)
 * and its directory. The lab's own stop() removes them; this is the safety net after it.
 */
export function removeLabLeftovers(prefix: string, dir: string | undefined): void {
  destroyNetnsWithPrefix(prefix);
  tryRun('ip', ['link', 'del', `${prefix}0`]);
  if (dir !== undefined && dir !== '') rmSync(dir, { recursive: true, force: true });
}

/** `ip -n NS ARGS...`; throws on failure. */
export function ipIn(ns: string, args: readonly string[]): string {
  return run('ip', ['-n', ns, ...args]);
}

/** `ip -n NS ARGS...` without throwing. */
export function tryIpIn(ns: string, args: readonly string[]): CommandResult {
  return tryRun('ip', ['-n', ns, ...args]);
}

/** Runs PROGRAM ARGS... inside a namespace synchronously; throws on failure. */
export function runIn(ns: string, program: string, args: readonly string[]): string {
  return run('ip', ['netns', 'exec', ns, program, ...args]);
}

/** Synchronous vethPair; `up: false` leaves both ends down. */
export function createVethPair(nsA: string, nameA: string, nsB: string, nameB: string, options: { up?: boolean } = {}): void {
  ipIn(nsA, ['link', 'add', nameA, 'type', 'veth', 'peer', 'name', nameB, 'netns', nsB]);
  if (options.up ?? true) {
    ipIn(nsA, ['link', 'set', nameA, 'up']);
    ipIn(nsB, ['link', 'set', nameB, 'up']);
  }
}
