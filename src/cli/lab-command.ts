// `netdiag lab up|status|down`: a local cluster to try netdiag on (src/lab, DESIGN §5). `up` starts
// the lab in a detached process (`netdiag lab serve`, logging to DIR/lab.log) and returns once the
// lab's state file says it is ready, printing the daemon's progress; `status` says what runs;
// `down` stops the daemon, or cleans what a crashed one left, from the state file. The lab itself
// (the Kubernetes client among its imports) loads only in the daemon: the other commands stay light.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sleep, tail, tryRun } from '../lab/process.js';
import type { ScenarioNetwork } from '../lab/scenario.js';
import { cleanRecorded, labProcessAlive, readState, statePath, type LabStateData } from '../lab/state.js';
import { CliError, UsageError } from './cli-error.js';
import { parseFlags } from './flags.js';

export const LAB_USAGE = `usage: netdiag lab up [--network MODE] [--nodes N] [--no-operator] [--cni-tap] [--dir DIR] [--prefix NAME]
       netdiag lab status [--dir DIR]
       netdiag lab down [--dir DIR]
       netdiag lab run FILE... [--json] [--dir DIR] [--prefix NAME]

A local Kubernetes cluster to try netdiag on: a real control plane (etcd, kube-apiserver,
kube-controller-manager), nodes simulated as network namespaces on one bridge, pods wired by the
network's real CNI plugins, real kube-proxy on every node. Needs Linux and root.

  up        build the lab and leave it running in the background; returns once it is ready and
            prints the kubeconfig to use (kubectl is under DIR/bin)
  status    the lab's nodes, processes, and whether the API server answers
  down      stop the lab and remove everything it created (idempotent)
  run       run scenario files (DESIGN §5 format), each on a lab of its own with the operator:
            build, apply the faults, create the NetworkDiagnosis, compare with \`expect\`, tear
            down; exit status 0 when every scenario passed, 3 when some failed

  --network MODE   bridge | flannel-hostgw | flannel-vxlan | calico-bgp | calico-vxlan
                   (default bridge)
  --nodes N        number of nodes, 1 to 10 (default 2)
  --no-operator    do not start the netdiag operator against the lab
  --cni-tap        install netdiag's CNI tap on every node before any pod (netdiag cni-tap
                   install): every pod's CNI calls are recorded under the node's
                   /var/log/netdiag; not on the calico modes (they execute no CNI chain)
  --dir DIR        the lab's directory (default .netdiag/lab): kubeconfig, bin/, logs, state
  --prefix NAME    names of the lab's bridge (NAME0) and namespaces (NAME-...), default ndlab
                   (ndrun for run); another prefix (and --dir) runs a second lab beside the first
  --json           (run) one JSON array of {name, passed, completed, verdict, suspicions, path,
                   mismatches}
`;

const DEFAULT_DIR = join('.netdiag', 'lab');
const UP_TIMEOUT_MS = 5 * 60_000;

function requireRootOnLinux(): void {
  if (process.platform !== 'linux') throw new CliError(`the lab needs Linux (network namespaces, iptables); this is ${process.platform}`);
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) throw new CliError('the lab needs root: it creates network namespaces, a bridge and iptables rules (run it with sudo)');
}

interface UpFlags {
  readonly network: ScenarioNetwork;
  readonly nodes: number;
  readonly operator: boolean;
  readonly cniTap: boolean;
  readonly dir: string;
  readonly prefix?: string;
}

async function parseUp(args: string[]): Promise<UpFlags> {
  const { NETWORKS } = await import('../lab/scenario.js');
  const flags = parseFlags(args, {
    network: { type: 'string' },
    nodes: { type: 'string' },
    'no-operator': { type: 'boolean' },
    'cni-tap': { type: 'boolean' },
    dir: { type: 'string' },
    prefix: { type: 'string' },
  });
  if (flags.prefix !== undefined && !/^[a-z][a-z0-9]{0,10}$/.test(flags.prefix)) throw new UsageError(`--prefix ${JSON.stringify(flags.prefix)}: expected 1 to 11 lower-case letters and digits, starting with a letter`);
  const network = flags.network ?? 'bridge';
  if (!(NETWORKS as readonly string[]).includes(network)) throw new UsageError(`--network ${JSON.stringify(network)}: expected one of ${NETWORKS.join(', ')}`);
  if (flags['cni-tap'] === true) {
    const { cniTapRefusal } = await import('../lab/cni-tap.js');
    const refusal = cniTapRefusal(network as ScenarioNetwork);
    if (refusal !== undefined) throw new UsageError(`--cni-tap: ${refusal}`);
  }
  const nodesText = flags.nodes ?? '2';
  const nodes = Number(nodesText);
  if (!/^\d+$/.test(nodesText) || nodes < 1 || nodes > 10) throw new UsageError(`--nodes ${JSON.stringify(nodesText)}: expected a number from 1 to 10`);
  return { network: network as ScenarioNetwork, nodes, operator: flags['no-operator'] !== true, cniTap: flags['cni-tap'] === true, dir: resolve(flags.dir ?? DEFAULT_DIR), ...(flags.prefix !== undefined ? { prefix: flags.prefix } : {}) };
}

function parseDir(args: string[]): string {
  const flags = parseFlags(args, { dir: { type: 'string' } });
  return resolve(flags.dir ?? DEFAULT_DIR);
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export async function runLab(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  switch (verb) {
    case 'up':
      return up(await parseUp(rest));
    case 'serve':
      return serve(await parseUp(rest));
    case 'status':
      return status(parseDir(rest));
    case 'down':
      return down(parseDir(rest));
    case 'run': {
      requireRootOnLinux();
      const { runLabRun } = await import('./lab-run.js');
      return runLabRun(rest);
    }
    case undefined:
      throw new UsageError('expected up, status, down or run');
    default:
      throw new UsageError(`unknown lab command ${JSON.stringify(verb)} (expected up, status, down or run)`);
  }
}

/** The lab's own process: builds the lab, stays up until SIGTERM/SIGINT, then tears it down. */
async function serve(flags: UpFlags): Promise<number> {
  requireRootOnLinux();
  let signalled = false;
  let stop: (() => Promise<void>) | undefined;
  const abort = new AbortController();
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolveIt) => (resolveDone = resolveIt));
  const onSignal = (): void => {
    if (signalled) return;
    signalled = true;
    out('signal received: stopping the lab');
    abort.abort();
    if (stop !== undefined) void stop().then(resolveDone, resolveDone);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    const { startLab } = await import('../lab/lab.js');
    const lab = await startLab({ network: flags.network, nodes: flags.nodes, dir: flags.dir, operator: flags.operator, ...(flags.cniTap ? { cniTap: true } : {}), log: out, signal: abort.signal, ...(flags.prefix !== undefined ? { prefix: flags.prefix, subnet: -1 } : {}) });
    stop = async () => {
      await lab.stop();
      out('lab stopped');
    };
    if (signalled) await stop();
    else await done;
    return 0;
  } catch (error) {
    out(`lab failed: ${error instanceof Error ? error.message : String(error)}`);
    return signalled ? 0 : 1;
  }
}

async function up(flags: UpFlags): Promise<number> {
  requireRootOnLinux();
  mkdirSync(flags.dir, { recursive: true });
  const previous = readState(flags.dir);
  if (previous !== undefined && previous.phase !== 'stopped' && labProcessAlive(previous)) {
    throw new CliError(`a lab is already running from ${flags.dir} (pid ${previous.pid}, ${previous.phase}): netdiag lab status, or netdiag lab down first`);
  }
  if (previous !== undefined && previous.phase !== 'stopped') {
    out(`cleaning what a previous lab left (its process ${previous.pid} is gone)`);
    for (const line of await cleanRecorded(previous)) out(`  removed ${line}`);
  }
  rmSync(statePath(flags.dir), { force: true });
  const logFile = join(flags.dir, 'lab.log');
  const fd = openSync(logFile, 'w');
  const cli = process.argv[1] ?? '';
  const daemonArgs = [cli, 'lab', 'serve', '--network', flags.network, '--nodes', String(flags.nodes), '--dir', flags.dir, ...(flags.operator ? [] : ['--no-operator']), ...(flags.cniTap ? ['--cni-tap'] : []), ...(flags.prefix !== undefined ? ['--prefix', flags.prefix] : [])];
  const daemon = spawn(process.execPath, daemonArgs, { detached: true, stdio: ['ignore', fd, fd], cwd: process.cwd() });
  closeSync(fd);
  daemon.unref();
  const pid = daemon.pid ?? -1;
  out(`starting the lab (${flags.network}, ${flags.nodes} node(s)) in the background: pid ${pid}, log ${logFile}`);

  let interrupted = false;
  const onInterrupt = (): void => {
    interrupted = true;
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  try {
    let printed = 0;
    const printNew = (): void => {
      const lines = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n') : [];
      const complete = lines.slice(0, -1);
      for (const line of complete.slice(printed)) out(`  ${line}`);
      printed = Math.max(printed, complete.length);
    };
    const deadline = Date.now() + UP_TIMEOUT_MS;
    for (;;) {
      printNew();
      const state = readState(flags.dir);
      if (interrupted) {
        out('interrupted: stopping the lab');
        await stopDaemon(pid, state);
        if (state !== undefined) for (const line of await cleanRecorded(state)) out(`  removed ${line}`);
        return 130;
      }
      if (state?.phase === 'ready') {
        out('');
        out(`lab ready: ${state.nodes.length} node(s), network ${state.network}`);
        out(`kubeconfig: ${state.kubeconfig ?? join(flags.dir, 'kubeconfig')}`);
        out(`  export KUBECONFIG=${state.kubeconfig ?? join(flags.dir, 'kubeconfig')}; export PATH=${join(flags.dir, 'bin')}:$PATH`);
        out('  kubectl get nodes -o wide');
        out('stop it with: netdiag lab down');
        return 0;
      }
      const alive = isAlive(pid);
      if (!alive || state?.phase === 'failed' || Date.now() > deadline) {
        if (alive) await stopDaemon(pid, state);
        printNew();
        const why = `the lab did not come up${Date.now() > deadline ? ` within ${UP_TIMEOUT_MS / 1000}s` : ''}`;
        // The progress lines printed so far end with the failure; without them, the log's end says it.
        process.stderr.write(printed > 0 ? `netdiag lab up: ${why} (log: ${logFile})\n` : `netdiag lab up: ${why}; the end of ${logFile}:\n${tail(logFile, 30)}\n`);
        const after = readState(flags.dir);
        if (after !== undefined && after.phase !== 'stopped') for (const line of await cleanRecorded(after)) out(`  removed ${line}`);
        return 1;
      }
      await sleep(200);
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
}

function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped) is not alive.
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** SIGTERM to the lab's process, then waits for it to finish its teardown (SIGKILL after 2 min). */
async function stopDaemon(pid: number, state: LabStateData | undefined): Promise<void> {
  if (!isAlive(pid) || (state !== undefined && state.pid === pid && !labProcessAlive(state))) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 120_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      break;
    }
    await sleep(100);
  }
}

function status(dir: string): number {
  const state = readState(dir);
  if (state === undefined) {
    out(`no lab in ${dir}`);
    return 1;
  }
  const alive = labProcessAlive(state);
  out(`lab ${dir}: ${state.phase}${alive ? '' : state.phase === 'stopped' ? '' : ' (its process is gone: netdiag lab down cleans up)'}, network ${state.network}`);
  out(`  process  ${state.pid} ${alive ? 'running' : 'not running'}`);
  if (state.server !== undefined) {
    const kubectl = join(dir, 'bin', 'kubectl');
    const answer = state.kubeconfig !== undefined && existsSync(kubectl) ? tryRun(kubectl, ['--kubeconfig', state.kubeconfig, 'get', '--raw', '/readyz', '--request-timeout=5s'], { timeoutMs: 10_000 }) : undefined;
    out(`  api      ${state.server} ${answer?.ok === true ? 'answers (readyz ok)' : 'does not answer'}`);
    out(`  kubeconfig ${state.kubeconfig ?? '-'}`);
  }
  if (state.nodes.length > 0) {
    out('  nodes:');
    for (const node of state.nodes) out(`    ${node.name.padEnd(10)} ${node.ip.padEnd(15)} ${(node.podCIDR ?? '-').padEnd(18)} netns ${node.netns}${node.vtep !== undefined ? ` vtep ${node.vtep}` : ''}`);
  }
  if (state.processes.length > 0) {
    out('  processes:');
    for (const p of state.processes) out(`    ${String(p.pid).padEnd(8)} ${p.name}${isAlive(p.pid) ? '' : ' (gone)'}`);
  }
  return 0;
}

async function down(dir: string): Promise<number> {
  requireRootOnLinux();
  const state = readState(dir);
  if (state === undefined || state.phase === 'stopped') {
    out(`no lab running in ${dir}: nothing to remove`);
    return 0;
  }
  if (labProcessAlive(state)) {
    out(`stopping the lab (pid ${state.pid})`);
    await stopDaemon(state.pid, state);
    for (const p of state.processes) if (!isAlive(p.pid)) out(`  stopped ${p.name} (pid ${p.pid})`);
    const netns = new Set(tryRun('ip', ['netns', 'list']).stdout.split('\n').map((l) => l.split(' ')[0] ?? ''));
    for (const ns of state.netns) if (!netns.has(ns)) out(`  removed network namespace ${ns}`);
    for (const link of state.links) if (!tryRun('ip', ['link', 'show', link]).ok) out(`  removed link ${link}`);
  } else {
    out(`the lab's process (pid ${state.pid}) is gone: removing what it recorded`);
  }
  // Whatever is left (a crashed lab, or a teardown that failed half way).
  const after = readState(dir) ?? state;
  const leftovers = await cleanRecorded({ ...after, processes: state.processes, netns: [...new Set([...state.netns, ...after.netns])], links: [...new Set([...state.links, ...after.links])] });
  for (const line of leftovers) out(`  removed ${line}`);
  writeFileSync(statePath(dir), `${JSON.stringify({ ...after, phase: 'stopped', processes: [], netns: [], links: [] }, null, 2)}\n`);
  out('lab down');
  return 0;
}
