// The lab's virtual kubelet: one per node, in the lab's process. It registers the Node (InternalIP,
// Hostname, capacity, Ready), keeps it alive (a Lease in kube-node-lease renewed every 10 s, the
// NodeStatus heartbeat every 30 s), waits for kube-controller-manager's spec.podCIDR, has the
// network mode set the node up, then runs the pods bound to it (an informer on spec.nodeName):
//
// - a pod: its own network namespace (lo up), named in the node's ROOT/run/netns as on a real node,
//   wired by the node's network (CNI ADD), a TCP or UDP listener per declared containerPort in it,
//   then status Running with its IP and Ready;
// - a hostNetwork pod whose container runs `netdiag ...` (a collector): the built CLI run in the
//   node's namespace with the container's environment, a kubeconfig holding a token of the pod's
//   service account, its ConfigMap volumes as files and the mounted paths rewritten, and told to
//   search only the node's ROOT/run/netns, not every process's namespace (README.md);
//   phase Pending → Running → Succeeded/Failed with the exit code and the log's tail;
//   activeDeadlineSeconds enforced;
// - any other hostNetwork pod: listeners in the node's namespace.
//
// A pod being deleted (deletionTimestamp) or gone: its processes stop, CNI DEL, its namespace is
// deleted, and the pod object is removed with grace 0 (the kubelet's last word).

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeApiError } from '../kube/errors.js';
import type { InformerEventType, RunningInformer } from '../kube/informer.js';
import type { KubePod, KubePodStatus, NodeAgentClient } from '../kube/node-agent-client.js';
import { writeKubeconfig } from './control-plane.js';
import { startListener, type ListenPort, type RunningListener } from './listener.js';
import type { LabNetwork, LabPeer, LabPodContext, NodeNetwork } from './networks/types.js';
import { run, sleep, tail, tryRun } from './process.js';
import { markerOf, type LabState } from './state.js';

export interface VirtualKubeletOptions {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  /** The node's filesystem root (ROOT/etc/cni/net.d, ROOT/var/log, ...). */
  readonly rootDir: string;
  readonly client: NodeAgentClient;
  readonly network: LabNetwork;
  /** Every node of the lab known so far (for networks that route to peers). */
  readonly peers: () => readonly LabPeer[];
  readonly cniBinDir: string;
  readonly binDir: string;
  /** A kubeconfig for the node's network daemons. */
  readonly networkKubeconfig: string;
  /** The API server as a pod reaches it (the lab bridge address) and the cluster CA. */
  readonly server: string;
  readonly caFile: string;
  /** Prefix of the pods' network namespace names. */
  readonly netnsPrefix: string;
  /** The CLI a collector pod runs (dist/src/cli/main.js). */
  readonly cliPath: string;
  readonly state: LabState;
  readonly log: (line: string) => void;
}

/** A pod the kubelet runs. */
export interface LabRunningPod {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly node: string;
  readonly netns: string;
  readonly ip: string;
  readonly hostVeth?: string;
  readonly hostNetwork: boolean;
}

interface PodRuntime {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  netnsCreated?: string;
  /** The pod's entry in the node's netns directory. */
  netnsLink?: string;
  context?: LabPodContext;
  running?: LabRunningPod;
  listener?: RunningListener;
  collector?: ChildProcess;
  deadline?: ReturnType<typeof setTimeout>;
  dir?: string;
  done: boolean;
}

const LEASE_SECONDS = 40;
const LEASE_RENEW_MS = 10_000;
const STATUS_HEARTBEAT_MS = 30_000;

/**
 * The API server's node authorizer learns that a pod is bound to this node a moment after the
 * binding: until then the node's reads of the pod's ConfigMaps and its token requests are refused
 * (403 "no relationship found between node and this object"). A kubelet retries; so does this.
 */
async function whenAuthorized<T>(call: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delayMs = 100; ; delayMs = Math.min(delayMs * 2, 2000)) {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof KubeApiError && error.kind === 'forbidden') || Date.now() > deadline) throw error;
      await sleep(delayMs);
    }
  }
}

/** `<prefix>-<ns>-<pod>` cut short, plus a hash of the uid: unique, readable, a valid file name. */
export function podNetnsName(prefix: string, namespace: string, name: string, uid: string): string {
  const hash = createHash('sha256').update(uid).digest('hex').slice(0, 6);
  const readable = `${namespace}-${name}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 32);
  return `${prefix}-${readable}-${hash}`;
}

/** The declared containerPorts of a pod's containers. */
export function declaredPorts(pod: KubePod): ListenPort[] {
  const seen = new Set<string>();
  const ports: ListenPort[] = [];
  for (const container of pod.spec?.containers ?? []) {
    for (const p of container.ports ?? []) {
      const protocol = p.protocol === 'UDP' ? 'UDP' : p.protocol === 'SCTP' ? undefined : 'TCP';
      if (protocol === undefined || seen.has(`${p.containerPort}/${protocol}`)) continue;
      seen.add(`${p.containerPort}/${protocol}`);
      ports.push({ port: p.containerPort, protocol });
    }
  }
  return ports;
}

/** Where `ip netns` keeps the namespaces it names (the machine's, shared by every lab). */
const MACHINE_NETNS_DIR = '/run/netns';

/** The node's netns directory, as a runtime's /run/netns on a real node: its pods' namespaces only. */
export function nodeNetnsDir(nodeRoot: string): string {
  return join(nodeRoot, 'run', 'netns');
}

/**
 * A collector's arguments for the lab: `netdiag collect` searches only the node's netns directory
 * and not every process's namespace, since all the lab's nodes, and any other lab, share the
 * machine's /run/netns and /proc (README.md). Other commands are left as they are.
 */
export function collectorArgs(argv: readonly string[], nodeRoot: string): string[] {
  if (argv[0] !== 'collect') return [...argv];
  return [...argv, '--netns-dir', nodeNetnsDir(nodeRoot), ...(argv.includes('--no-proc-netns') ? [] : ['--no-proc-netns'])];
}

/** Whether the pod is a collector: hostNetwork, its (first) container running `netdiag ...`. */
export function isCollectorPod(pod: KubePod): boolean {
  return pod.spec?.hostNetwork === true && pod.spec.containers[0]?.command?.[0] === 'netdiag';
}

/**
 * A collector's argument with the container's paths rewritten for the lab: a volume's mountPath
 * becomes the pod's directory of that volume; `/proc/1/root/...` (the node's files) becomes the
 * node's rootDir. Longest mount path first.
 */
export function rewritePath(arg: string, mounts: readonly { mountPath: string; hostDir: string }[], nodeRoot: string): string {
  const rewrites = [...mounts.map((m) => ({ from: m.mountPath.replace(/\/+$/, ''), to: m.hostDir })), { from: '/proc/1/root', to: nodeRoot }].sort((a, b) => b.from.length - a.from.length);
  for (const { from, to } of rewrites) {
    if (arg === from) return to;
    if (arg.startsWith(`${from}/`)) return `${to}${arg.slice(from.length)}`;
  }
  return arg;
}

function now(): Date {
  return new Date();
}

function conditions(ready: boolean): NonNullable<KubePodStatus['conditions']> {
  const at = now();
  const status = ready ? 'True' : 'False';
  return [
    { type: 'PodScheduled', status: 'True', lastTransitionTime: at },
    { type: 'Initialized', status: 'True', lastTransitionTime: at },
    { type: 'ContainersReady', status, lastTransitionTime: at },
    { type: 'Ready', status, lastTransitionTime: at },
  ];
}

export class VirtualKubelet {
  private readonly pods = new Map<string, PodRuntime>();
  /** Per pod key: the chain of its syncs, so that one pod's events are handled in order. */
  private readonly queues = new Map<string, Promise<void>>();
  private informer?: RunningInformer<KubePod>;
  private heartbeat?: ReturnType<typeof setInterval>;
  private nodeNetwork?: NodeNetwork;
  private podCIDR?: string;
  private stopped = false;
  private lastStatus = 0;

  constructor(private readonly options: VirtualKubeletOptions) {}

  get node(): { name: string; netns: string; ip: string; podCIDR?: string; vtep?: string } {
    return {
      name: this.options.name,
      netns: this.options.netns,
      ip: this.options.ip,
      ...(this.podCIDR !== undefined ? { podCIDR: this.podCIDR } : {}),
      ...(this.nodeNetwork?.vtep !== undefined ? { vtep: this.nodeNetwork.vtep } : {}),
    };
  }

  get network(): NodeNetwork | undefined {
    return this.nodeNetwork;
  }

  /** The pods running now. */
  runningPods(): LabRunningPod[] {
    return [...this.pods.values()].flatMap((p) => (p.running !== undefined && !p.done ? [p.running] : []));
  }

  /** Registers the node and starts its heartbeats; resolves with the podCIDR kube-controller-manager allocated. */
  async register(timeoutMs = 60_000): Promise<string> {
    const { client, name, ip } = this.options;
    await client.registerNode({ name, ip });
    await client.renewLease(name, LEASE_SECONDS);
    this.lastStatus = Date.now();
    this.heartbeat = setInterval(() => void this.beat(), LEASE_RENEW_MS);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const podCIDR = (await client.getNode(name))?.spec?.podCIDR;
      if (podCIDR !== undefined && podCIDR !== '') {
        this.podCIDR = podCIDR;
        return podCIDR;
      }
      await sleep(200);
    }
    throw new Error(`node ${name} got no spec.podCIDR from kube-controller-manager within ${timeoutMs / 1000}s`);
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    const { client, name, ip } = this.options;
    try {
      await client.renewLease(name, LEASE_SECONDS);
      if (Date.now() - this.lastStatus >= STATUS_HEARTBEAT_MS) {
        await client.updateNodeStatus({ name, ip }, true, 'netdiag lab node is ready');
        this.lastStatus = Date.now();
      }
    } catch (error) {
      if (!this.stopped) this.options.log(`${name}: heartbeat failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Sets up the node's network (after register), then starts running its pods. */
  async startPods(): Promise<NodeNetwork> {
    const o = this.options;
    if (this.podCIDR === undefined) throw new Error(`node ${o.name}: register() first`);
    // Links a crashed lab left in this directory name namespaces that are gone.
    rmSync(nodeNetnsDir(o.rootDir), { recursive: true, force: true });
    mkdirSync(nodeNetnsDir(o.rootDir), { recursive: true });
    this.nodeNetwork = await o.network.setUpNode(
      { name: o.name, netns: o.netns, ip: o.ip, podCIDR: this.podCIDR, rootDir: o.rootDir, cniBinDir: o.cniBinDir, binDir: o.binDir, kubeconfig: o.networkKubeconfig, log: o.log },
      o.peers(),
    );
    const annotations = this.nodeNetwork.annotations;
    if (annotations !== undefined && Object.keys(annotations).length > 0) await o.client.annotateNode(o.name, annotations);
    this.informer = o.client.watchPods(o.name, (type, pod) => this.enqueue(type, pod));
    return this.nodeNetwork;
  }

  private enqueue(type: InformerEventType, pod: KubePod): void {
    const key = `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => this.sync(type, pod))
      .catch((error: unknown) => this.options.log(`${this.options.name}: pod ${key}: ${error instanceof Error ? error.message : String(error)}`));
    this.queues.set(key, next);
    void next.then(() => {
      if (this.queues.get(key) === next) this.queues.delete(key);
    });
  }

  /** Waits until every queued pod event has been handled (tests, stop). */
  async settled(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()]);
  }

  private async sync(type: InformerEventType, pod: KubePod): Promise<void> {
    if (this.stopped) return;
    const namespace = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    const uid = pod.metadata?.uid ?? '';
    const key = `${namespace}/${name}`;
    const existing = this.pods.get(key);
    if (existing !== undefined && existing.uid !== uid) {
      await this.teardown(existing);
      this.pods.delete(key);
    }
    if (type === 'delete') {
      const runtime = this.pods.get(key);
      if (runtime !== undefined) await this.teardown(runtime);
      this.pods.delete(key);
      return;
    }
    if (pod.metadata?.deletionTimestamp !== undefined) {
      const runtime = this.pods.get(key);
      if (runtime !== undefined) await this.teardown(runtime);
      this.pods.delete(key);
      await this.options.client.deletePodNow(namespace, name, uid);
      return;
    }
    if (this.pods.has(key)) return;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const runtime: PodRuntime = { uid, namespace, name, done: false };
    this.pods.set(key, runtime);
    try {
      if (isCollectorPod(pod)) await this.runCollector(pod, runtime);
      else if (pod.spec?.hostNetwork === true) await this.runHostNetworkPod(pod, runtime);
      else await this.runPod(pod, runtime);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.options.log(`${this.options.name}: pod ${key} failed to start: ${message}`);
      await this.teardown(runtime);
      await this.options.client
        .patchPodStatus(namespace, name, {
          phase: 'Pending',
          conditions: conditions(false),
          containerStatuses: (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'CreatePodSandboxError', message: message.slice(0, 1000) } } })),
        })
        .catch(() => undefined);
    }
  }

  private async runPod(pod: KubePod, runtime: PodRuntime): Promise<void> {
    const o = this.options;
    const network = this.nodeNetwork;
    if (network === undefined) throw new Error('the node network is not set up');
    const netns = podNetnsName(o.netnsPrefix, runtime.namespace, runtime.name, runtime.uid);
    run('ip', ['netns', 'add', netns]);
    runtime.netnsCreated = netns;
    o.state.addNetns(netns);
    // The node's view of its pods' namespaces: a link to the machine's bind mount (the agent stats
    // each entry, following links; a link, unlike a second bind mount, never keeps a deleted
    // namespace alive nor outlives the lab as a mount).
    const netnsDir = nodeNetnsDir(o.rootDir);
    mkdirSync(netnsDir, { recursive: true });
    const link = join(netnsDir, netns);
    rmSync(link, { force: true });
    symlinkSync(join(MACHINE_NETNS_DIR, netns), link);
    runtime.netnsLink = link;
    run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    const context: LabPodContext = { namespace: runtime.namespace, name: runtime.name, uid: runtime.uid, netns, containerId: `netdiag-lab-${runtime.uid}` };
    runtime.context = context;
    const wired = await network.addPod(context);
    const ports = declaredPorts(pod);
    runtime.dir = this.podDir(runtime);
    if (ports.length > 0) runtime.listener = await this.listen(netns, runtime.name, ports, runtime.dir);
    runtime.running = { namespace: runtime.namespace, name: runtime.name, uid: runtime.uid, node: o.name, netns, ip: wired.ip, hostVeth: wired.hostVeth, hostNetwork: false };
    await this.reportRunning(pod, wired.ip);
    o.log(`${o.name}: pod ${runtime.namespace}/${runtime.name} running at ${wired.ip} (${netns}, ${ports.map((p) => `${p.port}/${p.protocol}`).join(' ') || 'no ports'})`);
  }

  private async runHostNetworkPod(pod: KubePod, runtime: PodRuntime): Promise<void> {
    const o = this.options;
    const ports = declaredPorts(pod);
    runtime.dir = this.podDir(runtime);
    if (ports.length > 0) runtime.listener = await this.listen(o.netns, runtime.name, ports, runtime.dir);
    runtime.running = { namespace: runtime.namespace, name: runtime.name, uid: runtime.uid, node: o.name, netns: o.netns, ip: o.ip, hostNetwork: true };
    await this.reportRunning(pod, o.ip);
    o.log(`${o.name}: host-network pod ${runtime.namespace}/${runtime.name} running`);
  }

  private async listen(netns: string, who: string, ports: readonly ListenPort[], dir: string): Promise<RunningListener> {
    const listener = await startListener(netns, who, ports, join(dir, 'listener.log'));
    this.options.state.addProcess({ name: `listener ${who}`, pid: listener.pid, marker: markerOf(listener.args.slice(-1)) });
    return listener;
  }

  private podDir(runtime: PodRuntime): string {
    const dir = join(this.options.rootDir, 'var', 'lib', 'netdiag-lab', 'pods', `${runtime.namespace}_${runtime.name}_${runtime.uid}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  private async reportRunning(pod: KubePod, ip: string): Promise<void> {
    const at = now();
    await this.options.client.patchPodStatus(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '', {
      phase: 'Running',
      hostIP: this.options.ip,
      hostIPs: [{ ip: this.options.ip }],
      podIP: ip,
      podIPs: [{ ip }],
      startTime: at,
      conditions: conditions(true),
      containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        containerID: `netdiag-lab://${pod.metadata?.uid ?? ''}-${c.name}`,
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: at } },
      })),
    });
  }

  /** Runs a collector pod's `netdiag ...` in the node's namespace (README.md: the lab's stand-ins). */
  private async runCollector(pod: KubePod, runtime: PodRuntime): Promise<void> {
    const o = this.options;
    const container = pod.spec?.containers[0];
    if (container === undefined) throw new Error('the pod has no container');
    if (!existsSync(o.cliPath)) throw new Error(`${o.cliPath} does not exist: build netdiag (npm run build) before running collector pods in the lab`);
    const dir = this.podDir(runtime);
    runtime.dir = dir;

    // Volumes: ConfigMaps as files, emptyDirs as directories, each in the pod's directory.
    const volumeDirs = new Map<string, string>();
    for (const volume of pod.spec?.volumes ?? []) {
      const volumeDir = join(dir, 'volumes', volume.name);
      mkdirSync(volumeDir, { recursive: true });
      volumeDirs.set(volume.name, volumeDir);
      if (volume.configMap !== undefined) {
        const files = await whenAuthorized(() => o.client.readConfigMap(runtime.namespace, volume.configMap?.name ?? ''));
        if (files === undefined && volume.configMap.optional !== true) throw new Error(`configmap ${runtime.namespace}/${volume.configMap.name ?? ''} (volume ${volume.name}) not found`);
        for (const [key, content] of Object.entries(files ?? {})) writeFileSync(join(volumeDir, key), content);
      }
    }
    const mounts = (container.volumeMounts ?? []).flatMap((m) => {
      const hostDir = volumeDirs.get(m.name);
      return hostDir === undefined ? [] : [{ mountPath: m.mountPath, hostDir }];
    });

    // The service account's token, bound to the pod, in a kubeconfig for the lab's API server.
    const serviceAccount = pod.spec?.serviceAccountName ?? 'default';
    const token = await whenAuthorized(() => o.client.requestToken(runtime.namespace, serviceAccount, { name: runtime.name, uid: runtime.uid }, 3600));
    const kubeconfig = writeKubeconfig(join(dir, 'kubeconfig'), o.server, o.caFile, { token });

    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir, KUBECONFIG: kubeconfig };
    for (const variable of container.env ?? []) {
      if (variable.value !== undefined) env[variable.name] = variable.value;
      else if (variable.valueFrom?.fieldRef !== undefined) {
        const field = variable.valueFrom.fieldRef.fieldPath;
        const values: Record<string, string> = { 'spec.nodeName': o.name, 'metadata.name': runtime.name, 'metadata.namespace': runtime.namespace, 'status.hostIP': o.ip, 'status.podIP': o.ip, 'spec.serviceAccountName': serviceAccount };
        const value = values[field];
        if (value !== undefined) env[variable.name] = value;
      }
    }
    const argv = collectorArgs(
      [...(container.command ?? []).slice(1), ...(container.args ?? [])].map((arg) => rewritePath(arg, mounts, o.rootDir)),
      o.rootDir,
    );
    const logFile = join(dir, 'collector.log');
    const fd = openSync(logFile, 'a');
    const args = ['netns', 'exec', o.netns, process.execPath, o.cliPath, ...argv];
    const child = spawn('ip', args, { stdio: ['ignore', fd, fd], env, cwd: dir });
    closeSync(fd);
    runtime.collector = child;
    if (child.pid !== undefined) o.state.addProcess({ name: `collector ${runtime.name}`, pid: child.pid, marker: o.cliPath });
    runtime.running = { namespace: runtime.namespace, name: runtime.name, uid: runtime.uid, node: o.name, netns: o.netns, ip: o.ip, hostNetwork: true };
    const startedAt = now();
    let deadlineExceeded = false;
    const seconds = pod.spec?.activeDeadlineSeconds;
    if (seconds !== undefined) {
      runtime.deadline = setTimeout(() => {
        deadlineExceeded = true;
        child.kill('SIGKILL');
      }, seconds * 1000);
    }
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: 127, signal: null }));
    });
    await this.reportRunning(pod, o.ip);
    o.log(`${o.name}: collector pod ${runtime.namespace}/${runtime.name} running (${argv.slice(0, 1).join(' ')})`);

    // The rest runs in the background: the pod's queue must not wait for the collector.
    void exited.then(async ({ code, signal }) => {
      if (runtime.deadline !== undefined) clearTimeout(runtime.deadline);
      if (child.pid !== undefined) o.state.removeProcess(child.pid);
      if (runtime.done || this.stopped) return;
      runtime.done = true;
      const exitCode = code ?? 137;
      const succeeded = exitCode === 0 && !deadlineExceeded;
      const message = deadlineExceeded ? `Pod was active on the node longer than the specified deadline (${seconds ?? 0}s)` : tail(logFile, 20).slice(-3000);
      const terminated = { exitCode, reason: deadlineExceeded ? 'DeadlineExceeded' : succeeded ? 'Completed' : 'Error', message: deadlineExceeded ? tail(logFile, 20).slice(-3000) : message, startedAt, finishedAt: now(), ...(signal !== null ? { signal: 9 } : {}) };
      try {
        await o.client.patchPodStatus(runtime.namespace, runtime.name, {
          phase: succeeded ? 'Succeeded' : 'Failed',
          ...(deadlineExceeded ? { reason: 'DeadlineExceeded', message } : {}),
          conditions: conditions(false),
          containerStatuses: [{ name: container.name, image: container.image ?? '', imageID: '', containerID: `netdiag-lab://${runtime.uid}-${container.name}`, ready: false, started: false, restartCount: 0, state: { terminated } }],
        });
        o.log(`${o.name}: collector pod ${runtime.namespace}/${runtime.name} ${succeeded ? 'succeeded' : `failed (exit ${exitCode}${deadlineExceeded ? ', deadline exceeded' : ''})`}`);
      } catch (error) {
        o.log(`${o.name}: collector pod ${runtime.namespace}/${runtime.name}: status: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
  }

  /** Stops the pod's processes, unwires it and deletes its namespace; idempotent. */
  private async teardown(runtime: PodRuntime): Promise<void> {
    const o = this.options;
    runtime.done = true;
    if (runtime.deadline !== undefined) clearTimeout(runtime.deadline);
    if (runtime.listener !== undefined) {
      await runtime.listener.stop();
      o.state.removeProcess(runtime.listener.pid);
      runtime.listener = undefined;
    }
    if (runtime.collector !== undefined && runtime.collector.exitCode === null && runtime.collector.signalCode === null) {
      const exit = new Promise<void>((resolve) => runtime.collector?.once('exit', () => resolve()));
      runtime.collector.kill('SIGKILL');
      await exit;
    }
    if (runtime.context !== undefined && this.nodeNetwork !== undefined) {
      try {
        await this.nodeNetwork.deletePod(runtime.context);
      } catch (error) {
        o.log(`${o.name}: pod ${runtime.namespace}/${runtime.name}: CNI DEL: ${error instanceof Error ? error.message : String(error)}`);
      }
      runtime.context = undefined;
    }
    if (runtime.netnsLink !== undefined) {
      rmSync(runtime.netnsLink, { force: true });
      runtime.netnsLink = undefined;
    }
    if (runtime.netnsCreated !== undefined) {
      tryRun('ip', ['netns', 'del', runtime.netnsCreated]);
      o.state.removeNetns(runtime.netnsCreated);
      runtime.netnsCreated = undefined;
    }
    if (runtime.dir !== undefined) rmSync(runtime.dir, { recursive: true, force: true });
  }

  /** Stops watching, stops every pod (the objects stay: the cluster goes away), then the node's network. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    await this.informer?.stop();
    await Promise.allSettled([...this.queues.values()]);
    for (const runtime of this.pods.values()) await this.teardown(runtime);
    this.pods.clear();
    await this.nodeNetwork?.stop();
  }
}
