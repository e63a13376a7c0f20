// A pool of capture drivers (../capture-driver.ts): at most `size` long-lived bash processes, each
// running one capture job at a time, so the agent forks itself `size` times per run instead of
// once per namespace and lane. The pool is also the run's bounded parallelism: a job waits for a
// free driver. A driver that dies fails its job (never the run) and is replaced on demand.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CAPTURE_SCRIPT } from '../capture-script.js';
import { DRIVER_SCRIPT, encodeDriverJob, parseDriverMarker } from '../capture-driver.js';

export interface JobCallbacks {
  /** A chunk of the job's standard output (never the driver's markers). */
  onStdout(chunk: Buffer): void;
  /** One or more whole lines of the job's standard error. */
  onStderr(text: string): void;
}

export interface JobExit {
  /** The job's exit status (128 + N when killed by signal N); null when its driver died. */
  readonly status: number | null;
  /** Why the job has no status: its driver could not start or died. */
  readonly driverError?: string;
}

export interface Job {
  /** Kills the job's process group (now, or as soon as it has started). */
  kill(): void;
  readonly done: Promise<JobExit>;
}

interface Running {
  readonly id: number;
  readonly callbacks: JobCallbacks;
  pid?: number;
  killRequested: boolean;
  stdoutDone: boolean;
  stderrStatus?: number;
  readonly resolve: (exit: JobExit) => void;
}

class Driver {
  readonly boundary = `--netdiag-driver-${randomBytes(8).toString('hex')}`;
  private readonly child: ChildProcessWithoutNullStreams;
  private nextId = 1;
  private current: Running | undefined;
  private carry = Buffer.alloc(0);
  private stderrPending = '';
  private doneMarker: Buffer = Buffer.alloc(0);
  dead: string | undefined;

  constructor(
    env: NodeJS.ProcessEnv,
    private readonly onIdle: (driver: Driver) => void,
  ) {
    this.child = spawn('bash', ['-c', DRIVER_SCRIPT, 'netdiag-driver', this.boundary, CAPTURE_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.child.stdout.on('data', (chunk: Buffer) => this.stdout(chunk));
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (text: string) => this.stderr(text));
    this.child.stdin.on('error', () => undefined); // A dead driver's stdin: reported by 'close'.
    this.child.on('error', (error) => this.die(`cannot run bash: ${error.message}`));
    this.child.on('close', (code, signal) => this.die(`the capture driver exited (${signal !== null ? `signal ${signal}` : `status ${code}`})`));
  }

  start(netnsPath: string | undefined, args: readonly string[], callbacks: JobCallbacks): Job {
    const id = this.nextId++;
    let resolve!: (exit: JobExit) => void;
    const done = new Promise<JobExit>((r) => (resolve = r));
    const running: Running = { id, callbacks, killRequested: false, stdoutDone: false, resolve };
    this.current = running;
    this.doneMarker = Buffer.from(`\n${this.boundary} D ${id} `);
    if (this.dead !== undefined) {
      this.finish({ status: null, driverError: this.dead });
    } else {
      this.child.stdin.write(encodeDriverJob(id, netnsPath, args));
    }
    return {
      kill: () => {
        running.killRequested = true;
        if (running.pid !== undefined) killGroup(running.pid);
      },
      done,
    };
  }

  /** Ends the driver's input; resolves when it has exited. */
  close(): Promise<void> {
    const exited = this.dead !== undefined ? Promise.resolve() : new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.stdin.end();
    return exited;
  }

  private stdout(chunk: Buffer): void {
    const job = this.current;
    if (job === undefined || job.stdoutDone) return;
    const data = this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk]);
    const at = data.indexOf(this.doneMarker);
    if (at < 0) {
      // Keep what could be the start of a marker split across chunks.
      const keep = Math.min(data.length, this.doneMarker.length - 1);
      if (data.length > keep) job.callbacks.onStdout(data.subarray(0, data.length - keep));
      this.carry = Buffer.from(data.subarray(data.length - keep));
      return;
    }
    if (at > 0) job.callbacks.onStdout(data.subarray(0, at));
    const eol = data.indexOf(0x0a, at + this.doneMarker.length);
    if (eol < 0) {
      this.carry = Buffer.from(data.subarray(at));
      return;
    }
    this.carry = Buffer.alloc(0);
    job.stdoutDone = true;
    this.settle();
  }

  private stderr(text: string): void {
    const lines = (this.stderrPending + text).split('\n');
    this.stderrPending = lines.pop() ?? '';
    let forward = '';
    const prefix = `${this.boundary} `;
    for (const line of lines) {
      if (!line.startsWith(prefix)) {
        forward += `${line}\n`;
        continue;
      }
      const job = this.current;
      if (forward !== '' && job !== undefined) job.callbacks.onStderr(forward);
      forward = '';
      const marker = parseDriverMarker(line.slice(prefix.length));
      if (marker === undefined || job === undefined || marker.id !== job.id) continue;
      if (marker.kind === 'started') {
        job.pid = marker.pid;
        if (job.killRequested) killGroup(marker.pid);
      } else {
        job.stderrStatus = marker.status;
        this.settle();
      }
    }
    if (forward !== '') this.current?.callbacks.onStderr(forward);
  }

  private settle(): void {
    const job = this.current;
    if (job === undefined || !job.stdoutDone || job.stderrStatus === undefined) return;
    this.finish({ status: job.stderrStatus });
    this.onIdle(this);
  }

  private finish(exit: JobExit): void {
    const job = this.current;
    this.current = undefined;
    job?.resolve(exit);
  }

  private die(why: string): void {
    if (this.dead !== undefined) return;
    this.dead = why;
    if (this.stderrPending !== '') this.current?.callbacks.onStderr(`${this.stderrPending}\n`);
    this.finish({ status: null, driverError: why });
    this.onIdle(this);
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

export class CapturePool {
  private readonly drivers: Driver[] = [];
  private readonly idle: Driver[] = [];
  private readonly waiting: Array<(driver: Driver) => void> = [];
  private closed = false;

  constructor(
    readonly size: number,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`parallelism must be a positive integer, not ${size}`);
  }

  /**
   * Runs the capture script with `args` (in `netnsPath`, when given) on the next free driver;
   * undefined when `cancelled()` says, once a driver is free, that the job is no longer wanted.
   */
  async run(netnsPath: string | undefined, args: readonly string[], callbacks: JobCallbacks, cancelled: () => boolean = () => false): Promise<Job | undefined> {
    const driver = await this.acquire();
    if (cancelled()) {
      this.release(driver);
      return undefined;
    }
    return driver.start(netnsPath, args, callbacks);
  }

  /** Lets the drivers exit once their jobs are done; resolves when they have. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.drivers.map((d) => d.close()));
  }

  private acquire(): Promise<Driver> {
    if (this.closed) throw new Error('the capture pool is closed');
    const free = this.idle.pop();
    if (free !== undefined) return Promise.resolve(free);
    if (this.drivers.length < this.size) {
      const driver = new Driver(this.env, (d) => this.release(d));
      this.drivers.push(driver);
      return Promise.resolve(driver);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(driver: Driver): void {
    if (driver.dead !== undefined) {
      // Replace a dead driver for whoever waits (or the next job).
      for (const list of [this.drivers, this.idle]) {
        const at = list.indexOf(driver);
        if (at >= 0) list.splice(at, 1);
      }
      const next = this.waiting.shift();
      if (next !== undefined && !this.closed) {
        const fresh = new Driver(this.env, (d) => this.release(d));
        this.drivers.push(fresh);
        next(fresh);
      }
      return;
    }
    const next = this.waiting.shift();
    if (next !== undefined) next(driver);
    else this.idle.push(driver);
  }
}
