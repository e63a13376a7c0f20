// Running the lab's commands and daemons: synchronous commands with an argument vector (never a
// shell string built from data), long-running daemons with their output in a log file, and a
// stop that escalates from SIGTERM to SIGKILL.

import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

export interface CommandResult {
  readonly ok: boolean;
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs PROGRAM ARGS... synchronously; never throws for a non-zero exit. */
export function tryRun(program: string, args: readonly string[], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): CommandResult {
  const result = spawnSync(program, [...args], {
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    ...(options.input !== undefined ? { input: options.input } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
  });
  if (result.error !== undefined) return { ok: false, status: -1, stdout: result.stdout ?? '', stderr: result.error.message };
  return { ok: result.status === 0, status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Runs PROGRAM ARGS... synchronously and returns its stdout; throws with the command line and stderr on failure. */
export function run(program: string, args: readonly string[], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  const result = tryRun(program, args, options);
  if (!result.ok) throw new Error(`${program} ${args.join(' ')} failed (exit ${result.status}): ${(result.stderr || result.stdout).trim()}`);
  return result.stdout;
}

export interface CommandOptions {
  /** Written to the program's stdin. */
  readonly input?: string;
  /** The program's whole environment (default: this process's). */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/**
 * Runs PROGRAM ARGS... without blocking (the network modes wire pods concurrently); resolves with
 * the exit status and output whatever the status. The synchronous `tryRun` suits the lab's short
 * setup sequences; both give the same result.
 */
export function runCommand(program: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(
      program,
      [...args],
      { encoding: 'utf8', timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, ...(options.env === undefined ? {} : { env: { ...options.env } }) },
      (error, stdout, stderr) => {
        if (error === null) resolve({ ok: true, status: 0, stdout, stderr });
        else resolve({ ok: false, status: typeof error.code === 'number' ? error.code : -1, stdout, stderr: stderr === '' ? error.message : stderr });
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input ?? '');
  });
}

/** `runCommand`, returning stdout; throws with the command line and stderr on failure. */
export async function mustRunCommand(program: string, args: readonly string[], options: CommandOptions = {}): Promise<string> {
  const result = await runCommand(program, args, options);
  if (!result.ok) throw new Error(`${program} ${args.join(' ')} failed (exit ${result.status}): ${(result.stderr || result.stdout).trim()}`);
  return result.stdout;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns a value (not undefined), for at most `timeoutMs`; then fails
 * saying what it waited for and the last error the probe threw, if any.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
    await sleep(intervalMs);
  }
}

/** The last `lines` lines of a file, or `(no log)`. */
export function tail(path: string | undefined, lines: number): string {
  if (path === undefined || !existsSync(path)) return '(no log)';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

export interface Daemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  readonly exited: boolean;
  /** Exit code or signal, once exited. */
  readonly exitStatus?: string;
}

interface MutableDaemon extends Daemon {
  exited: boolean;
  exitStatus?: string;
}

/** Starts PROGRAM ARGS... with stdout and stderr appended to `logFile`. */
export function startDaemon(name: string, program: string, args: readonly string[], logFile: string, options: Pick<SpawnOptions, 'env' | 'cwd'> = {}): Daemon {
  const fd = openSync(logFile, 'a');
  const child = spawn(program, [...args], { stdio: ['ignore', fd, fd], ...options });
  closeSync(fd);
  const daemon: MutableDaemon = { name, child, pid: child.pid ?? -1, logFile, exited: false };
  child.on('exit', (code, signal) => {
    daemon.exited = true;
    daemon.exitStatus = code !== null ? `exit ${code}` : `signal ${signal ?? '?'}`;
  });
  child.on('error', (error) => {
    daemon.exited = true;
    daemon.exitStatus = error.message;
  });
  if (child.pid === undefined) daemon.exited = true;
  return daemon;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process exited. */
export async function stopDaemon(daemon: Daemon, graceMs = 5000): Promise<void> {
  if (daemon.exited) return;
  const exited = new Promise<void>((resolve) => daemon.child.once('exit', () => resolve()));
  daemon.child.kill('SIGTERM');
  const timer = setTimeout(() => daemon.child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Waits for `ready()` to hold, failing early (with the log's tail) when the daemon exits. */
export async function waitReady(daemon: Daemon, ready: () => Promise<boolean>, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (daemon.exited) throw new Error(`${daemon.name} exited (${daemon.exitStatus ?? '?'}) before it was ready:\n${tail(daemon.logFile, 30)}`);
    if (await ready()) return;
    await sleep(intervalMs);
  }
  throw new Error(`${daemon.name} was not ready after ${timeoutMs / 1000}s:\n${tail(daemon.logFile, 30)}`);
}

/** Whether process `pid` exists and its command line contains `marker` (a pid may be reused). */
export function processMatches(pid: number, marker: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    return cmdline.includes(marker);
  } catch {
    return false;
  }
}

/** Kills process `pid` if it still runs `marker`: SIGTERM, then SIGKILL after `graceMs`. Returns whether it was running. */
export async function killProcess(pid: number, marker: string, graceMs = 5000): Promise<boolean> {
  if (!processMatches(pid, marker)) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!processMatches(pid, marker)) return true;
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone in between.
  }
  while (processMatches(pid, marker)) await sleep(20);
  return true;
}
