// What the `lab` and `operator` benches share: their labs' names and directory, running their
// measured process with its progress shown on stderr, a lab that is torn down whatever happens
// (an error, Ctrl-C, SIGTERM), and the timeline a lab's progress lines give.
//
// These benches measure a whole lab (real etcd, kube-apiserver, kube-controller-manager,
// kube-proxy, CNI plugins, the operator), so they need root and hack/get-binaries.sh's cache, and
// take minutes, not seconds.

import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLab, type Lab, type LabOptions } from '../src/lab/lab.js';
import { labNetwork, type LabNetwork } from '../src/lab/networks/index.js';
import type { BenchOptions } from './bench.js';

/** Names of the benches' labs (bridge `ndbench0`, namespaces `ndbench-...`): apart from `netdiag lab up` and `lab run`. */
export const BENCH_LAB_PREFIX = 'ndbench';

/**
 * The pod network of the benches' bridge labs, apart from the lab modes' 10.244.0.0/16: the
 * collector finds a pod's network namespace by its address among all of the machine's, so a pod
 * of another lab running beside a bench with the same address makes that lookup ambiguous (for
 * both labs), and the root namespace's route to a node's podCIDR would replace the other lab's.
 */
export const BENCH_CLUSTER_CIDR = '10.246.0.0/16';

/** The bridge mode (reference bridge and host-local plugins), on BENCH_CLUSTER_CIDR. */
export function benchBridgeNetwork(): LabNetwork {
  return { ...labNetwork('bridge'), clusterCIDR: BENCH_CLUSTER_CIDR };
}

export function requireRoot(bench: string): void {
  if (process.platform !== 'linux' || typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(`the ${bench} bench needs Linux and root: it runs a lab (network namespaces, a bridge, iptables)`);
  }
}

/** The median of `values` (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? Number.NaN) + upper) / 2;
}

/**
 * Runs `script` (a module next to this one) in a fresh `node` with `args`, its progress going to
 * this process's stderr as it comes, and returns the one JSON value it prints on stdout.
 */
export function runMeasuredProcess(script: string, args: readonly string[], options: BenchOptions): unknown {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const nodeArgs = options.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.profileDir];
  const child = spawnSync(process.execPath, [...nodeArgs, path, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * 1024 * 1024 });
  if (child.error !== undefined) throw new Error(`cannot run ${script}: ${child.error.message}`, { cause: child.error });
  if (child.status !== 0) throw new Error(`${script} failed (${child.signal !== null ? `killed by ${child.signal}` : `exit status ${child.status}`}); its messages are above`);
  try {
    return JSON.parse(child.stdout) as unknown;
  } catch (error) {
    throw new Error(`${script} printed no JSON: ${child.stdout.slice(0, 200)}`, { cause: error });
  }
}

/** A measured process's working directory and log: every lab line goes to the log, a few to stderr. */
export interface BenchWorkspace {
  readonly dir: string;
  readonly logFile: string;
  /** A line for the person waiting (stderr) and the log. */
  readonly progress: (line: string) => void;
  /** A line for the log only. */
  readonly log: (line: string) => void;
  /** Removes the directory (the labs in it are stopped first by their owners). */
  readonly remove: () => void;
}

export function createWorkspace(bench: string): BenchWorkspace {
  const dir = mkdtempSync(join(tmpdir(), `netdiag-bench-${bench}-`));
  const logFile = join(dir, 'bench.log');
  const log = (line: string): void => appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
  return {
    dir,
    logFile,
    log,
    progress: (line) => {
      log(line);
      process.stderr.write(`${bench}: ${line}\n`);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

const running = new Set<Lab>();
const starting = new Set<Promise<Lab>>();
const aborter = new AbortController();
let signalled = false;

function onSignal(signal: NodeJS.Signals): void {
  if (signalled) return;
  signalled = true;
  process.stderr.write(`bench: ${signal}: tearing the lab down\n`);
  aborter.abort();
  // A lab being started tears itself down when aborted (startLab rejects); the others are stopped.
  void Promise.allSettled([...starting])
    .then(() => Promise.allSettled([...running].map((lab) => lab.stop())))
    .then(() => process.exit(130));
}

/** Tears down the labs this process runs on SIGINT/SIGTERM (a lab left running holds a bridge and processes). */
export function stopLabsOnSignal(): void {
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** startLab with the benches' prefix and a random free underlay subnet; the lab is stopped on a signal. */
export async function startBenchLab(options: Omit<LabOptions, 'prefix' | 'subnet' | 'signal'>): Promise<Lab> {
  const start = startLab({ ...options, prefix: BENCH_LAB_PREFIX, subnet: -1, signal: aborter.signal });
  starting.add(start);
  try {
    const lab = await start;
    running.add(lab);
    return lab;
  } finally {
    starting.delete(start);
  }
}

/** Stops a lab of startBenchLab; resolves with the time it took, ms. */
export async function stopBenchLab(lab: Lab): Promise<number> {
  const t0 = performance.now();
  await lab.stop();
  running.delete(lab);
  return performance.now() - t0;
}

/** Seconds since the start of the lab, from one of startLab's progress lines (`[12.3s] ...`). */
export function labLineSeconds(line: string): number | undefined {
  const match = /^\[(\d+(?:\.\d+)?)s\] /.exec(line);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Milestones of startLab, in the order it reaches them, each the first progress line it matches. */
const LAB_MILESTONES: readonly (readonly [string, RegExp])[] = [
  ['underlay', /\] underlay: /],
  ['controlPlane', /\] nodes: /],
  ['nodesRegistered', /\] nodes registered: /],
  ['networks', /\] kube-proxy synced/],
  ['defaultServiceAccount', /\] default service account ready/],
  ['ready', /\] lab ready in /],
];

/**
 * How long each step of a lab's start took (ms), from its progress lines: `underlay` (binaries
 * linked, bridge), `controlPlane` (etcd, kube-apiserver, kube-controller-manager, up to the node
 * namespaces), `nodesRegistered` (kubelets registered, podCIDRs allocated), `networks` (every
 * node's network up and kube-proxy's first sync), `defaultServiceAccount`, `ready` (the operator
 * when asked: CRD, namespace, process started). A step whose line is missing is left out.
 */
export function labStepsMs(lines: readonly string[]): Record<string, number> {
  const steps: Record<string, number> = {};
  let previous = 0;
  for (const [name, pattern] of LAB_MILESTONES) {
    const line = lines.find((l) => pattern.test(l));
    const at = line === undefined ? undefined : labLineSeconds(line);
    if (at === undefined) continue;
    steps[name] = Math.round((at - previous) * 1000);
    previous = at;
  }
  return steps;
}
