// A cluster of network namespaces networked by the real flannel: a real kube-apiserver (etcd +
// kube-apiserver, ./control-plane.ts) holds the Node objects (spec.podCIDR, InternalIP); on each
// node namespace (eth0 on a lab bridge, 10.99.0.0/24, default route to the bridge's 10.99.0.1 as on
// a real node) a real flanneld runs with --kube-subnet-mgr: it writes the node's flannel
// annotations, the subnet file, flannel.1 (vxlan) or the host-gw routes, the neighbour and FDB
// entries and its iptables rules. Pods are namespaces wired by the real flannel CNI plugin
// (delegating to the reference bridge and host-local plugins), called as a container runtime calls
// a conflist, with that node's conflist (kept as the node's CNI configuration file, written with
// flannel's default paths). A kube-proxy-shaped rule set (./mini-cluster.ts) serves svc1 → pod2,
// pod3 and rejects `empty`. Needs root.
//
// flanneld reaches the API server through 127.0.0.1:6443 inside its node namespace: a forwarder
// there (./tcp-forward-agent.js) pipes each connection to a unix socket on which this process
// connects to the API server's address (the API server's certificate covers 127.0.0.1; TLS stays
// end to end). No route to the API server is added to any namespace.
import { spawn, spawnSync, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterObjects, ClusterState, CniConfigFile, NetnsDumps } from '../../src/diagnosis/index.js';
import { provisionBinaries, startControlPlane, type ControlPlane } from './control-plane.js';
import { dumpClusterState, dumpNamespace, EMPTY_SVC, kubeProxyRules, POD_PORT, SVC1, type MiniCluster, type MiniNode, type MiniPod } from './mini-cluster.js';
import { createNetns, destroyNetns, ipIn, run, runIn, tryRun } from './netns.js';
import { startListeners, type Listeners } from './packet-probe.js';
import { buildUnderlay } from './underlay.js';

export type FlannelBackend = 'vxlan' | 'host-gw';

export const FLANNEL_NETWORK = '10.244.0.0/16';
export const FLANNEL_IMAGE = 'flannel/flannel:v0.28.10';
export const CNI_CONFIG_NAME = '10-flannel.conflist';
const API_PORT_IN_NODE = 6443;
const FORWARDER = fileURLToPath(new URL('./tcp-forward-agent.js', import.meta.url));

export interface FlannelCluster extends MiniCluster {
  readonly backend: FlannelBackend;
  /** Each node's CNI configuration files (the conflist flannel's pods were added with). */
  readonly cniConfigs: Readonly<Record<string, readonly CniConfigFile[]>>;
  /** The flanneld command line of each node, as run. */
  readonly flanneldCommands: Readonly<Record<string, string>>;
  /** The temporary directory of the run (kubeconfigs, subnet files, CNI data, logs). */
  readonly dir: string;
  /** The tail of each flanneld's log, for failure messages. */
  logs(lines?: number): string;
}

const NODE_SPECS = [
  { name: 'node1', ip: '10.99.0.11', podCIDR: '10.244.0.0/24' },
  { name: 'node2', ip: '10.99.0.12', podCIDR: '10.244.1.0/24' },
  { name: 'node3', ip: '10.99.0.13', podCIDR: '10.244.2.0/24' },
] as const;

/** pod1 (the client) and pod3 on node1, pod2 on node2, pod4 on node3; all but pod1 listen on POD_PORT. */
const POD_SPECS = [
  { name: 'pod1', node: 'node1', app: 'client' },
  { name: 'pod3', node: 'node1', app: 'web' },
  { name: 'pod2', node: 'node2', app: 'web' },
  { name: 'pod4', node: 'node3', app: 'other' },
] as const;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A minimal client of the API server with the admin certificate. */
interface Api {
  call(method: string, path: string, body?: unknown, contentType?: string): Promise<unknown>;
}

function apiClient(plane: ControlPlane): Api {
  const config = JSON.parse(readFileSync(plane.adminKubeconfig, 'utf8')) as { users: { user: Record<string, string> }[] };
  const user = config.users[0]?.user ?? {};
  const tls = { ca: readFileSync(plane.caFile), cert: readFileSync(user['client-certificate'] ?? ''), key: readFileSync(user['client-key'] ?? '') };
  return {
    call(method, path, body, contentType = 'application/json') {
      return new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = request(`${plane.server}${path}`, { method, ...tls, headers: payload === undefined ? {} : { 'content-type': contentType } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${path}: HTTP ${res.statusCode ?? '?'}: ${text}`));
            else resolve(text === '' ? undefined : JSON.parse(text));
          });
        });
        req.on('error', reject);
        req.end(payload);
      });
    },
  };
}

interface Process {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile?: string;
  exited: boolean;
}

async function stopProcess(p: Process): Promise<void> {
  if (p.exited) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function tail(path: string | undefined, lines: number): string {
  if (path === undefined || !existsSync(path)) return '(no log)';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Starts the forwarder in `ns` on 127.0.0.1:port → `socket`; resolves once it listens. */
function startForwarder(ns: string, port: number, socket: string): Promise<Process> {
  const child: ChildProcessWithoutNullStreams = spawn('ip', ['netns', 'exec', ns, process.execPath, FORWARDER, JSON.stringify({ host: '127.0.0.1', port, socket })], { stdio: ['pipe', 'pipe', 'pipe'] });
  const p: Process = { name: `forwarder in ${ns}`, child, exited: false };
  child.on('exit', () => (p.exited = true));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (out.includes('"ready"')) resolve(p);
      else if (out.includes('"error"')) reject(new Error(`forwarder in ${ns}: ${out.trim()}`));
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`forwarder in ${ns} exited (${code ?? 'signal'}): ${err.trim()}`)));
  });
}

/** The unix socket on which this process connects each client to the API server. */
function startApiRelay(socket: string, plane: ControlPlane): Promise<Server> {
  const server = createServer((client) => {
    const upstream = createConnection({ host: plane.address, port: plane.port });
    client.pipe(upstream).pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve(server));
  });
}

/** Where flannel's files live on a node of its own; the lab's nodes share one filesystem, so each gets a directory. */
export interface FlannelPaths {
  readonly subnetFile: string;
  /** The flannel CNI plugin's scratch directory (delegate configurations by container id). */
  readonly dataDir: string;
  /** host-local's allocations. */
  readonly ipamDataDir: string;
}

/** flannel's and the CNI plugins' defaults, as on a real node. */
export const DEFAULT_FLANNEL_PATHS: FlannelPaths = { subnetFile: '/run/flannel/subnet.env', dataDir: '/var/lib/cni/flannel', ipamDataDir: '/var/lib/cni/networks' };

export function nodeFlannelPaths(nodeDir: string): FlannelPaths {
  return { subnetFile: join(nodeDir, 'subnet.env'), dataDir: join(nodeDir, 'cni', 'flannel'), ipamDataDir: join(nodeDir, 'cni', 'networks') };
}

/** kube-flannel's conflist (cbr0: flannel delegating to bridge with hairpin and a default gateway, then portmap). */
export function flannelConflist(paths: FlannelPaths): string {
  const conflist = {
    name: 'cbr0',
    cniVersion: '0.4.0',
    plugins: [
      {
        type: 'flannel',
        subnetFile: paths.subnetFile,
        dataDir: paths.dataDir,
        // flannel passes `ipam` on to host-local (adding the subnet's range and the network's route).
        ipam: { dataDir: paths.ipamDataDir },
        delegate: { hairpinMode: true, isDefaultGateway: true },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return `${JSON.stringify(conflist, null, 2)}\n`;
}

/** Calls the conflist's plugins in order, as a runtime does (ADD, prevResult chained); returns the last result. */
function cniAdd(nodeNs: string, binDir: string, conflistText: string, containerId: string, podNs: string): { ips?: { address: string; gateway?: string }[] } {
  const conflist = JSON.parse(conflistText) as { name: string; cniVersion: string; plugins: Record<string, unknown>[] };
  let prevResult: unknown;
  for (const plugin of conflist.plugins) {
    const config = { ...plugin, name: conflist.name, cniVersion: conflist.cniVersion, ...(prevResult !== undefined ? { prevResult } : {}) };
    const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: `/run/netns/${podNs}`, CNI_IFNAME: 'eth0', CNI_PATH: binDir };
    const type = String(plugin.type);
    const result = spawnCni(['netns', 'exec', nodeNs, join(binDir, type)], env, JSON.stringify(config));
    if (result.status !== 0) throw new Error(`CNI ADD ${type} for ${containerId} failed (exit ${result.status}): ${result.stdout}${result.stderr}`);
    prevResult = JSON.parse(result.stdout);
  }
  return prevResult as { ips?: { address: string; gateway?: string }[] };
}

/** Runs a CNI plugin: PROGRAM ARGS with exactly `env` (a runtime passes no other CNI_ variable), `input` on stdin. */
function spawnCni(args: readonly string[], env: Record<string, string>, input: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('ip', [...args], { env, input, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? r.error?.message ?? '' };
}

function routesOf(ns: string): { dst: string; gateway?: string; dev?: string }[] {
  return JSON.parse(ipIn(ns, ['-j', 'route', 'show'])) as { dst: string; gateway?: string; dev?: string }[];
}

const stripManaged = <T>(items: T[]): T[] =>
  items.map((i) => {
    const o = i as { metadata?: { managedFields?: unknown } };
    if (o.metadata !== undefined) delete o.metadata.managedFields;
    return i;
  });

export interface FlannelClusterOptions {
  readonly backend: FlannelBackend;
  /** Namespace names start with it (plus a random suffix). */
  readonly prefix: string;
  readonly log?: (line: string) => void;
}

export async function buildFlannelCluster(options: FlannelClusterOptions): Promise<FlannelCluster> {
  const { backend, prefix } = options;
  const log = options.log ?? ((): void => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'netdiag-flannel-'));
  const created: string[] = [];
  const processes: Process[] = [];
  const listeners: Listeners[] = [];
  let plane: ControlPlane | undefined;
  let relay: Server | undefined;
  const teardown = async (): Promise<void> => {
    for (const l of listeners) await l.stop();
    for (const p of [...processes].reverse()) await stopProcess(p);
    for (const ns of [...created].reverse()) destroyNetns(ns);
    if (relay !== undefined) await new Promise<void>((resolve) => relay?.close(() => resolve()));
    if (plane !== undefined) await plane.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const binDir = join(dir, 'bin');
    mkdirSync(binDir);
    provisionBinaries(binDir, ['etcd', 'kube-apiserver', 'flanneld', 'flannel-cni', 'cni-plugins'], log);
    plane = await startControlPlane({ binDir, log, apiserverFlags: ['--service-cluster-ip-range=10.96.0.0/16'] });
    const api = apiClient(plane);
    const socket = join(dir, 'apiserver.sock');
    relay = await startApiRelay(socket, plane);

    const underlay = buildUnderlay(prefix, NODE_SPECS, created);
    const lab = underlay.lab;

    const netConf = join(dir, 'net-conf.json');
    writeFileSync(netConf, `${JSON.stringify({ Network: FLANNEL_NETWORK, Backend: { Type: backend } }, null, 2)}\n`);
    const kubeconfigTemplate = JSON.parse(readFileSync(plane.clientKubeconfig('system:serviceaccount:kube-flannel:flannel', ['system:masters']), 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    const nodeKubeconfig = join(dir, 'flannel.kubeconfig');
    for (const c of kubeconfigTemplate.clusters) c.cluster.server = `https://127.0.0.1:${API_PORT_IN_NODE}`;
    writeFileSync(nodeKubeconfig, `${JSON.stringify(kubeconfigTemplate, null, 2)}\n`, { mode: 0o600 });

    await api.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-flannel' } });
    await api.call('POST', '/apis/apps/v1/namespaces/kube-flannel/daemonsets', {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'kube-flannel-ds', namespace: 'kube-flannel', labels: { app: 'flannel', 'k8s-app': 'flannel' } },
      spec: {
        selector: { matchLabels: { app: 'flannel' } },
        template: {
          metadata: { labels: { app: 'flannel', tier: 'node' } },
          spec: {
            hostNetwork: true,
            containers: [{ name: 'kube-flannel', image: FLANNEL_IMAGE, command: ['/opt/bin/flanneld'], args: ['--ip-masq', '--kube-subnet-mgr'] }],
          },
        },
      },
    });

    const nodes: Record<string, MiniNode> = {};
    // The conflist each node's pods are added with, and the same file as a node of its own would hold it (flannel's default paths).
    const conflists: Record<string, string> = {};
    const cniConfigs: Record<string, CniConfigFile[]> = {};
    const flanneldCommands: Record<string, string> = {};
    for (const spec of NODE_SPECS) {
      const ns = underlay.nodes[spec.name] ?? '';
      // What kubelet/kube-proxy leave on a node.
      runIn(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
      tryRun('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']);
      nodes[spec.name] = { ...spec, gateway: spec.podCIDR.replace(/0\/24$/, '1'), ns };
      await api.call('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: {
          name: spec.name,
          labels: { 'kubernetes.io/hostname': spec.name, 'kubernetes.io/os': 'linux' },
          // A kubelet registers its node with annotations; flanneld adds its own to the map (it panics on a node without any).
          annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
        }, spec: { podCIDR: spec.podCIDR, podCIDRs: [spec.podCIDR] } });
      await api.call(
        'PATCH',
        `/api/v1/nodes/${spec.name}/status`,
        { status: { addresses: [{ type: 'InternalIP', address: spec.ip }, { type: 'Hostname', address: spec.name }] } },
        'application/merge-patch+json',
      );
    }

    for (const spec of NODE_SPECS) {
      const node = nodes[spec.name];
      if (node === undefined) continue;
      const nodeDir = join(dir, spec.name);
      mkdirSync(nodeDir, { recursive: true });
      processes.push(await startForwarder(node.ns, API_PORT_IN_NODE, socket));
      const args = [
        '--kube-subnet-mgr',
        `--kubeconfig-file=${nodeKubeconfig}`,
        '--iface=eth0',
        `--net-config-path=${netConf}`,
        `--subnet-file=${join(nodeDir, 'subnet.env')}`,
        '--ip-masq',
      ];
      const flanneld = join(binDir, 'flanneld');
      flanneldCommands[spec.name] = `NODE_NAME=${spec.name} ip netns exec ${node.ns} ${flanneld} ${args.join(' ')}`;
      const logFile = join(nodeDir, 'flanneld.log');
      const fd = openSync(logFile, 'a');
      const child = spawn('ip', ['netns', 'exec', node.ns, flanneld, ...args], { stdio: ['ignore', fd, fd], env: { ...process.env, NODE_NAME: spec.name } });
      closeSync(fd);
      const p: Process = { name: `flanneld on ${spec.name}`, child, logFile, exited: false };
      child.on('exit', () => (p.exited = true));
      processes.push(p);
      conflists[spec.name] = flannelConflist(nodeFlannelPaths(nodeDir));
      cniConfigs[spec.name] = [{ path: `/etc/cni/net.d/${CNI_CONFIG_NAME}`, content: flannelConflist(DEFAULT_FLANNEL_PATHS) }];
    }

    const flannelLogs = (lines = 20): string =>
      processes.filter((p) => p.logFile !== undefined).map((p) => `--- ${p.name}\n${tail(p.logFile, lines)}`).join('\n');

    // flanneld is ready when it wrote its subnet file and routes every other node's podCIDR.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const dead = processes.find((p) => p.exited);
      if (dead !== undefined) throw new Error(`${dead.name} exited:\n${tail(dead.logFile, 40)}`);
      const ready = NODE_SPECS.every((spec) => {
        const node = nodes[spec.name];
        if (node === undefined || !existsSync(join(dir, spec.name, 'subnet.env'))) return false;
        const dsts = new Set(routesOf(node.ns).map((r) => r.dst));
        return NODE_SPECS.every((other) => other.name === spec.name || dsts.has(other.podCIDR));
      });
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`flanneld did not program every node within 60 s:\n${flannelLogs(40)}`);
      await sleep(250);
    }
    log(`flanneld (${backend}) programmed ${NODE_SPECS.length} nodes`);

    // What kube-controller-manager would have made (pods need their service account to be admitted).
    await api.call('POST', '/api/v1/namespaces/default/serviceaccounts', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: 'default' } });
    const pods: Record<string, MiniPod> = {};
    for (const [i, spec] of POD_SPECS.entries()) {
      const node = nodes[spec.node];
      if (node === undefined) throw new Error(`no node ${spec.node}`);
      const ns = createNetns(`${prefix}${spec.name}`);
      created.push(ns);
      const containerId = `${spec.name}-${String(i).padStart(4, '0')}`;
      const conflist = conflists[spec.node] ?? '';
      const result = cniAdd(node.ns, binDir, conflist, containerId, ns);
      const ip = result.ips?.[0]?.address.replace(/\/\d+$/, '');
      if (ip === undefined) throw new Error(`CNI ADD for ${spec.name} returned no address: ${JSON.stringify(result)}`);
      const peer = (JSON.parse(ipIn(ns, ['-j', '-d', 'link', 'show', 'eth0'])) as { link_index?: number }[])[0]?.link_index;
      const hostVeth = (JSON.parse(ipIn(node.ns, ['-j', 'link', 'show'])) as { ifindex: number; ifname: string }[]).find((l) => l.ifindex === peer)?.ifname ?? '?';
      pods[spec.name] = { name: spec.name, node: spec.node, ip, ns, hostVeth };
      await api.call('POST', '/api/v1/namespaces/default/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: spec.name, namespace: 'default', labels: { app: spec.app } },
        spec: { nodeName: spec.node, containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10', ports: spec.app === 'client' ? [] : [{ containerPort: POD_PORT, protocol: 'TCP' }] }] },
      });
      await api.call(
        'PATCH',
        `/api/v1/namespaces/default/pods/${spec.name}/status`,
        { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: node.ip, hostIPs: [{ ip: node.ip }] } },
        'application/merge-patch+json',
      );
      if (spec.app !== 'client') listeners.push(await startListeners(ns, [{ protocol: 'tcp', address: '0.0.0.0', port: POD_PORT }]));
    }

    // A service with kube-proxy's iptables shape: svc1 → pod2 and pod3 (added to flannel's rules).
    const endpoints = [pods.pod2?.ip ?? '', pods.pod3?.ip ?? ''];
    const rules = kubeProxyRules(endpoints);
    for (const node of Object.values(nodes)) run('ip', ['netns', 'exec', node.ns, 'iptables-restore', '--noflush'], { input: rules });
    await api.call('POST', '/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: SVC1.name, namespace: 'default' },
      spec: { type: 'ClusterIP', clusterIP: SVC1.clusterIP, ports: [{ name: 'http', protocol: 'TCP', port: SVC1.port, targetPort: SVC1.targetPort }], selector: { app: 'web' } },
    });
    await api.call('POST', '/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: EMPTY_SVC.name, namespace: 'default' },
      spec: { type: 'ClusterIP', clusterIP: EMPTY_SVC.clusterIP, ports: [{ name: 'http', protocol: 'TCP', port: EMPTY_SVC.port, targetPort: POD_PORT }], selector: { app: 'nothing' } },
    });
    await api.call('POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'svc1-flannel', namespace: 'default', labels: { 'kubernetes.io/service-name': SVC1.name } },
      addressType: 'IPv4',
      endpoints: (['pod2', 'pod3'] as const).map((name) => ({
        addresses: [pods[name]?.ip ?? ''],
        conditions: { ready: true },
        nodeName: pods[name]?.node,
        targetRef: { kind: 'Pod', namespace: 'default', name },
      })),
      ports: [{ name: 'http', port: SVC1.targetPort, protocol: 'TCP' }],
    });

    const list = async (path: string): Promise<unknown[]> => stripManaged(((await api.call('GET', path)) as { items: unknown[] }).items);
    const objects = {
      nodes: await list('/api/v1/nodes'),
      pods: await list('/api/v1/pods'),
      services: await list('/api/v1/services'),
      endpointSlices: await list('/apis/discovery.k8s.io/v1/endpointslices'),
      networkPolicies: await list('/apis/networking.k8s.io/v1/networkpolicies'),
      daemonSets: await list('/apis/apps/v1/daemonsets'),
    } as unknown as ClusterObjects;

    const byName = (name: string): string => nodes[name]?.ns ?? pods[name]?.ns ?? name;
    const dumpNetns = (name: string): NetnsDumps => dumpNamespace(byName(name), name);
    return {
      lab,
      backend,
      dir,
      nodes,
      pods,
      objects,
      cniConfigs,
      flanneldCommands,
      logs: flannelLogs,
      dumpNetns,
      dump: (): ClusterState => ({ ...dumpClusterState(objects, Object.keys(nodes), Object.keys(pods), dumpNetns), cniConfigs }),
      teardown,
    };
  } catch (error) {
    await teardown();
    throw error;
  }
}
