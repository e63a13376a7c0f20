// A whole lab: binaries, the underlay bridge, the control plane, one network namespace per node
// with its virtual kubelet, its network (the chosen mode) and its kube-proxy, and optionally the
// operator; built in that order with a progress line per step. A failure at any step tears down
// what was built; stop() leaves nothing behind (processes, namespaces, links, the bridge).
// Everything created is recorded in DIR/state.json as it is created, so that a lab whose process
// crashed can still be removed (`netdiag lab down`, cleanRecorded).

import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createNodeAgentClient } from '../kube/node-agent-client.js';
import { LAB_COMPONENTS, provisionBinaries, repoRoot } from './binaries.js';
import { cniTapFiles, cniTapRefusal, installCniTap, linkCniTap } from './cni-tap.js';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { startKubeProxy, type KubeProxy } from './kube-proxy.js';
import { labNetwork } from './networks/index.js';
import type { LabNetwork, LabPeer } from './networks/types.js';
import { run, sleep, startDaemon, stopDaemon, tryRun, type Daemon } from './process.js';
import type { ScenarioNetwork } from './scenario.js';
import { cleanRecorded, clearPreviousLab, labProcessAlive, LabState, readState, type RecordedNode } from './state.js';
import { addNode, createBridge, pickSubnet, routePodCIDR } from './underlay.js';
import { VirtualKubelet, type LabRunningPod } from './virtual-kubelet.js';

export const OPERATOR_NAMESPACE = 'netdiag-system';

export interface LabOptions {
  /** The network mode, or (tests) a LabNetwork of one's own. */
  readonly network: ScenarioNetwork | LabNetwork;
  /** How many nodes (named node1..nodeN), or their names. */
  readonly nodes: number | readonly string[];
  /** The lab's directory: binaries, control plane, nodes' roots, kubeconfig, state, logs. */
  readonly dir: string;
  /** Start the operator (when built: dist/src/main.js). */
  readonly operator?: boolean;
  readonly log: (line: string) => void;
  /**
   * Names: the bridge is PREFIX0, node namespaces PREFIX-NODE, pod namespaces PREFIX-NS-POD-HASH.
   * Default `ndlab`. Keep it at most 11 characters.
   */
  readonly prefix?: string;
  /** The third octet of the preferred 10.99.N.0/24 underlay; default 0; taken or -1: a random free one. */
  readonly subnet?: number;
  /** The API server's port on the bridge address; default 6443. */
  readonly apiPort?: number;
  /** Aborting stops the build at the next step and tears down what was built (startLab rejects). */
  readonly signal?: AbortSignal;
  /**
   * Put netdiag's CNI tap at the head and tail of every node's configuration list (`netdiag cni-tap
   * install`, before any pod), so that every pod's CNI calls are recorded (cni-tap.ts). Refused on
   * the calico modes, which execute no chain.
   */
  readonly cniTap?: boolean;
}

export interface LabNode extends RecordedNode {
  readonly podCIDR: string;
  readonly rootDir: string;
}

export interface Lab {
  readonly dir: string;
  /** An admin kubeconfig (DIR/kubeconfig). */
  readonly kubeconfig: string;
  readonly server: string;
  readonly caFile: string;
  readonly binDir: string;
  readonly bridge: string;
  readonly gateway: string;
  readonly network: LabNetwork;
  readonly nodes: readonly LabNode[];
  /** Milliseconds from start to ready. */
  readonly readyMs: number;
  readonly controlPlane: ControlPlane;
  /** The pods the kubelets run now. */
  pods(): LabRunningPod[];
  /** Waits until the kubelet of its node runs the pod (it has an IP), or fails after `timeoutMs`. */
  waitForPod(namespace: string, name: string, timeoutMs?: number): Promise<LabRunningPod>;
  /** The running operator's pid, or undefined (not asked for, not built, or exited). */
  operatorPid(): number | undefined;
  /**
   * Sends the operator `signal` (default SIGTERM, its graceful shutdown; SIGKILL plays a crash),
   * waits for it to exit (SIGKILL after 25 s) and starts it again as the build did. Fails when the
   * lab runs no operator.
   */
  restartOperator(signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

const NETWORK_COMPONENTS: readonly string[] = LAB_COMPONENTS;

function requireRootOnLinux(): void {
  if (process.platform !== 'linux') throw new Error(`the lab needs Linux (network namespaces, iptables); this is ${process.platform}`);
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) throw new Error('the lab needs root: it creates network namespaces, a bridge and iptables rules (run it with sudo)');
}

export async function startLab(options: LabOptions): Promise<Lab> {
  requireRootOnLinux();
  const t0 = Date.now();
  const log = options.log;
  const say = (line: string): void => log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`);
  /** A step done: its progress line, then the build goes on unless it was aborted. */
  const step = (line: string): void => {
    say(line);
    if (options.signal?.aborted === true) throw new Error('the lab was stopped while starting');
  };
  const prefix = options.prefix ?? 'ndlab';
  const dir = options.dir;
  mkdirSync(dir, { recursive: true });
  const previous = readState(dir);
  if (previous !== undefined && previous.phase !== 'stopped' && labProcessAlive(previous) && previous.pid !== process.pid) {
    throw new Error(`a lab is already running from ${dir} (pid ${previous.pid}): netdiag lab down first`);
  }
  // A lab always starts from an empty cluster, also in the directory of one that was brought down.
  const cleared = clearPreviousLab(dir);
  if (cleared.length > 0) log(`removed the previous lab's ${cleared.join(' and ')} from ${dir}`);
  const network = typeof options.network === 'string' ? labNetwork(options.network) : options.network;
  const tapRefusal = options.cniTap === true ? cniTapRefusal(network.mode) : undefined;
  if (tapRefusal !== undefined) throw new Error(`cniTap: ${tapRefusal}`);
  const nodeNames = typeof options.nodes === 'number' ? Array.from({ length: options.nodes }, (_, i) => `node${i + 1}`) : [...options.nodes];
  if (nodeNames.length === 0) throw new Error('a lab needs at least one node');

  const state = new LabState(dir, network.mode);
  const kubelets: VirtualKubelet[] = [];
  const proxies: KubeProxy[] = [];
  let plane: ControlPlane | undefined;
  let operator: Daemon | undefined;
  let operatorMain: string | undefined;
  /** The one way the operator starts (at the build and on restartOperator), recorded in the state file. */
  const startOperator = (main: string, kubeconfig: string): Daemon => {
    // The heap cap the chart sets by default (values.yaml nodeOptions), so the lab's operator runs as deployed.
    const daemon = startDaemon('operator', process.execPath, ['--max-old-space-size=256', main, '--kubeconfig', kubeconfig, '--namespace', OPERATOR_NAMESPACE, '--collector-image', 'netdiag:lab', '--no-leader-elect', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0'], join(dir, 'operator.log'));
    state.addProcess({ name: 'operator', pid: daemon.pid, marker: main });
    return daemon;
  };
  let stopping: Promise<void> | undefined;

  const teardown = async (): Promise<void> => {
    state.update({ phase: 'stopping' });
    if (operator !== undefined) await stopDaemon(operator);
    await Promise.allSettled(proxies.map((p) => p.stop()));
    for (const k of kubelets) {
      try {
        await k.stop();
      } catch (error) {
        log(`stopping ${k.node.name}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (plane !== undefined) await plane.stop();
    // What is left: namespaces, the bridge, and any process a part left behind.
    const removed = await cleanRecorded(state.current);
    if (removed.length > 0) log(`removed ${removed.join(', ')}`);
    state.update({ phase: 'stopped', processes: [], netns: [], links: [] });
  };

  try {
    const binDir = join(dir, 'bin');
    mkdirSync(binDir, { recursive: true });
    provisionBinaries(binDir, NETWORK_COMPONENTS, say);

    const subnet = pickSubnet(options.subnet ?? 0);
    const bridge = `${prefix}0`;
    createBridge(bridge, subnet, state);
    state.update({ bridge, gateway: subnet.gateway });
    step(`underlay: bridge ${bridge} ${subnet.gateway}/24 (forwarding off)`);

    plane = await startControlPlane({
      dir: join(dir, 'control-plane'),
      binDir,
      address: subnet.gateway,
      port: options.apiPort ?? 6443,
      controllerManager: { clusterCIDR: network.clusterCIDR },
      log: say,
      onProcess: (name, pid) => state.addProcess({ name, pid, marker: join(binDir, name) }),
    });
    const kubeconfig = join(dir, 'kubeconfig');
    copyFileSync(plane.adminKubeconfig, kubeconfig);
    state.update({ kubeconfig, server: plane.server });

    const networkKubeconfig = plane.clientKubeconfig('netdiag-lab:network', ['system:masters']);
    const proxyKubeconfig = plane.clientKubeconfig('system:kube-proxy');
    const cliPath = join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

    // Nodes: namespaces on the underlay, then their kubelets register (kcm allocates podCIDRs).
    const nodes: { name: string; netns: string; ip: string; rootDir: string }[] = [];
    for (const [i, name] of nodeNames.entries()) {
      const netns = `${prefix}-${name}`;
      const underlay = addNode(bridge, subnet, i + 1, name, netns, state);
      const rootDir = join(dir, 'nodes', name, 'root');
      for (const sub of ['etc/cni/net.d', 'var/lib/cni', 'var/log', 'run']) mkdirSync(join(rootDir, sub), { recursive: true });
      nodes.push({ name, netns, ip: underlay.ip, rootDir });
      state.setNode({ name, netns, ip: underlay.ip });
    }
    step(`nodes: ${nodes.map((n) => `${n.name} ${n.ip}`).join(', ')}`);

    const peers: LabPeer[] = [];
    for (const node of nodes) {
      const client = createNodeAgentClient(plane.clientKubeconfig(`system:node:${node.name}`, ['system:nodes']));
      kubelets.push(
        new VirtualKubelet({
          ...node,
          client,
          network,
          peers: () => peers,
          cniBinDir: binDir,
          binDir,
          networkKubeconfig,
          server: plane.server,
          caFile: plane.caFile,
          netnsPrefix: prefix,
          cliPath,
          state,
          log: say,
        }),
      );
    }
    const podCIDRs = await Promise.all(kubelets.map((k) => k.register()));
    for (const [i, node] of nodes.entries()) {
      const podCIDR = podCIDRs[i] ?? '';
      peers.push({ name: node.name, ip: node.ip, podCIDR });
      routePodCIDR(bridge, podCIDR, node.ip);
      state.setNode({ name: node.name, netns: node.netns, ip: node.ip, podCIDR });
    }
    step(`nodes registered: ${peers.map((p) => `${p.name} ${p.podCIDR}`).join(', ')}`);

    // The nodes' networks come up side by side (flanneld takes a second or so per node).
    const nodeNetworks = await Promise.allSettled(kubelets.map((k) => k.startPods()));
    for (const [i, result] of nodeNetworks.entries()) {
      const k = kubelets[i];
      if (k === undefined) continue;
      if (result.status === 'rejected') throw result.reason;
      state.setNode({ ...k.node });
      step(`${k.node.name}: ${network.mode} network up (${result.value.conflistPath})`);
    }
    if (options.cniTap === true) {
      const tap = cniTapFiles(repoRoot());
      linkCniTap(tap.plugin, binDir);
      for (const node of nodes) step(`${node.name}: CNI tap: ${installCniTap(tap.cli, node.rootDir)}`);
    }

    for (const node of nodes) {
      const proxy = startKubeProxy({ node: node.name, netns: node.netns, ip: node.ip, rootDir: node.rootDir, binDir, kubeconfig: proxyKubeconfig, clusterCIDR: network.clusterCIDR });
      proxies.push(proxy);
      state.addProcess({ name: `kube-proxy ${node.name}`, pid: proxy.daemon.pid, marker: `${node.rootDir}/etc/kube-proxy` });
    }
    await Promise.all(proxies.map((p) => p.waitSynced(60_000)));
    step('kube-proxy synced on every node');

    await waitForDefaultServiceAccount(plane, binDir);
    step('default service account ready');

    if (options.operator === true) {
      const main = join(repoRoot(), 'dist', 'src', 'main.js');
      if (!existsSync(main)) {
        step(`operator: ${main} not built, not started`);
      } else {
        prepareOperator(kubeconfig, binDir);
        operator = startOperator(main, kubeconfig);
        operatorMain = main;
        step(`operator started (pid ${operator.pid}, log ${join(dir, 'operator.log')})`);
      }
    }

    const readyMs = Date.now() - t0;
    const labNodes: LabNode[] = kubelets.map((k, i) => ({ ...k.node, podCIDR: podCIDRs[i] ?? '', rootDir: nodes[i]?.rootDir ?? '' }));
    state.update({ phase: 'ready', readyMs, nodes: labNodes.map(({ name, netns, ip, podCIDR, vtep }) => ({ name, netns, ip, podCIDR, ...(vtep !== undefined ? { vtep } : {}) })) });
    say(`lab ready in ${(readyMs / 1000).toFixed(1)} s: ${nodes.length} node(s), network ${network.mode}`);
    const controlPlane = plane;
    const pods = (): LabRunningPod[] => kubelets.flatMap((k) => k.runningPods());
    return {
      dir,
      kubeconfig,
      server: plane.server,
      caFile: plane.caFile,
      binDir,
      bridge,
      gateway: subnet.gateway,
      network,
      nodes: labNodes,
      readyMs,
      controlPlane,
      pods,
      async waitForPod(namespace, name, timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const pod = pods().find((p) => p.namespace === namespace && p.name === name);
          if (pod !== undefined) return pod;
          if (Date.now() > deadline) throw new Error(`pod ${namespace}/${name} is not running after ${timeoutMs / 1000}s`);
          await sleep(100);
        }
      },
      operatorPid() {
        return operator === undefined || operator.exited ? undefined : operator.pid;
      },
      async restartOperator(signal = 'SIGTERM') {
        const current = operator;
        if (current === undefined || operatorMain === undefined) throw new Error('the lab runs no operator (start it with operator: true, after npm run build)');
        if (stopping !== undefined) throw new Error('the lab is stopping');
        if (!current.exited) {
          const exited = new Promise<void>((resolve) => current.child.once('exit', () => resolve()));
          current.child.kill(signal);
          const timer = setTimeout(() => current.child.kill('SIGKILL'), 25_000);
          await exited;
          clearTimeout(timer);
        }
        state.removeProcess(current.pid);
        operator = startOperator(operatorMain, kubeconfig);
        say(`operator restarted after ${signal} (pid ${operator.pid})`);
      },
      stop() {
        stopping ??= teardown();
        return stopping;
      },
    };
  } catch (error) {
    say(`failed: ${error instanceof Error ? error.message : String(error)}; tearing down`);
    await teardown();
    state.update({ phase: 'failed', error: error instanceof Error ? error.message : String(error) });
    throw error;
  }
}

/**
 * What the operator needs in the cluster, as its chart installs it: the NetworkDiagnosis CRD, its
 * namespace (Pod Security `privileged`, for the collectors), the collectors' service account with
 * the one permission they have (create ConfigMaps there). The operator itself runs with the lab's
 * admin kubeconfig.
 */
function prepareOperator(kubeconfig: string, binDir: string): void {
  const kubectl = (args: readonly string[], input?: string): void => {
    run(join(binDir, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], input !== undefined ? { input } : {});
  };
  kubectl(['apply', '-f', join(repoRoot(), 'crds', 'netdiag.io_networkdiagnoses.yaml')]);
  const collector = 'netdiag-collector';
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: OPERATOR_NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: collector, namespace: OPERATOR_NAMESPACE } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: collector, namespace: OPERATOR_NAMESPACE }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }] },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: collector, namespace: OPERATOR_NAMESPACE },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: collector },
      subjects: [{ kind: 'ServiceAccount', name: collector, namespace: OPERATOR_NAMESPACE }],
    },
  ];
  kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  kubectl(['wait', '--for', 'condition=established', 'crd/networkdiagnoses.netdiag.io', '--timeout=30s']);
}

/** Pods are refused until kube-controller-manager made the namespace's `default` service account. */
async function waitForDefaultServiceAccount(plane: ControlPlane, binDir: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (tryRun(join(binDir, 'kubectl'), ['--kubeconfig', plane.adminKubeconfig, 'get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name']).ok) return;
    await sleep(200);
  }
  throw new Error(`kube-controller-manager made no default service account within 60s:\n${plane.logs(20)}`);
}
