// A minimal stand-in for the lab around one network mode: a real control plane (etcd,
// kube-apiserver, kube-controller-manager allocating podCIDRs from the mode's clusterCIDR), Node
// objects registered with their InternalIP (podCIDRs read back as the controller manager allocated
// them), node namespaces on an underlay (test/support/underlay.ts), each with its own root
// directory, and pods as namespaces handed to the mode's addPod/deletePod.
//
// Node daemons (flanneld) reach the API server at 127.0.0.1:6443 inside their namespace: a
// forwarder there pipes each connection to a unix socket on which this process connects to the API
// server (TLS end to end; its certificate covers 127.0.0.1). The lab itself puts the API server on
// the underlay's bridge instead. Needs root.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { basename } from 'node:path';
import type { ClusterObjects, ClusterState, CniConfigFile, NetnsDumps } from '../../../src/diagnosis/index.js';
import { labNetwork } from '../../../src/lab/networks/index.js';
import type { LabNetwork, LabNodeContext, LabPeer, LabPodContext, LabPodNetwork, NodeNetwork } from '../../../src/lab/networks/types.js';
import type { ScenarioNetwork } from '../../../src/lab/scenario.js';
import { provisionBinaries, startControlPlane, type ControlPlane } from '../../support/control-plane.js';
import { dumpClusterState, dumpNamespace } from '../../support/mini-cluster.js';
import { createNetns, destroyNetns, runIn } from '../../support/netns.js';
import { buildUnderlay } from '../../support/underlay.js';

const FORWARDER = fileURLToPath(new URL('../../support/tcp-forward-agent.js', import.meta.url));
const API_PORT_IN_NODE = 6443;

export interface HarnessNode {
  readonly context: LabNodeContext;
  readonly network: NodeNetwork;
}

export interface HarnessPod {
  readonly context: LabPodContext;
  readonly node: string;
  readonly network: LabPodNetwork;
}

export interface Harness {
  readonly network: LabNetwork;
  readonly dir: string;
  readonly plane: ControlPlane;
  readonly nodes: Readonly<Record<string, HarnessNode>>;
  /** Creates the pod's namespace (lo up) and adds it through the node's network. */
  addPod(node: string, name: string): Promise<HarnessPod>;
  deletePod(pod: HarnessPod): Promise<void>;
  /** A Node object as the API server has it now. */
  getNode(name: string): Promise<{ metadata: { annotations?: Record<string, string> } }>;
  /** What a collector would gather now (Nodes from the API server, the live pods, every namespace's dumps, the CNI configuration files), as the diagnosis's input. */
  clusterState(): Promise<ClusterState>;
  /** Progress lines so far (for failure messages). */
  readonly lines: readonly string[];
  teardown(): Promise<void>;
}

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

function startForwarder(ns: string, socket: string): Promise<ChildProcessWithoutNullStreams> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, FORWARDER, JSON.stringify({ host: '127.0.0.1', port: API_PORT_IN_NODE, socket })], { stdio: ['pipe', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (out.includes('"ready"')) resolve(child);
      else if (out.includes('"error"')) reject(new Error(`forwarder in ${ns}: ${out.trim()}`));
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`forwarder in ${ns} exited (${code ?? 'signal'})`)));
  });
}

function startApiRelay(socket: string, plane: ControlPlane): Promise<Server> {
  const server = createServer((client) => {
    const upstream = createConnection({ host: plane.address, port: plane.port });
    client.pipe(upstream).pipe(client);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve(server));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Builds the harness for `mode` with nodes node1..nodeN; tears down whatever was built on failure. */
export async function buildHarness(mode: ScenarioNetwork, prefix: string, nodeCount = 2): Promise<Harness> {
  const network = labNetwork(mode);
  const dir = mkdtempSync(join(tmpdir(), `netdiag-${mode}-`));
  const lines: string[] = [];
  const log = (line: string): void => void lines.push(line);
  const created: string[] = [];
  const forwarders: ChildProcessWithoutNullStreams[] = [];
  const nodes: Record<string, HarnessNode> = {};
  let plane: ControlPlane | undefined;
  let relay: Server | undefined;
  const teardown = async (): Promise<void> => {
    for (const node of Object.values(nodes)) await node.network.stop().catch((e: unknown) => log(`stop ${node.context.name}: ${String(e)}`));
    for (const f of forwarders) f.stdin.end();
    for (const ns of [...created].reverse()) destroyNetns(ns);
    if (relay !== undefined) await new Promise<void>((resolve) => relay?.close(() => resolve()));
    if (plane !== undefined) await plane.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const binDir = join(dir, 'bin');
    mkdirSync(binDir);
    provisionBinaries(binDir, ['etcd', 'kube-apiserver', 'kube-controller-manager', 'cni-plugins', 'flanneld', 'flannel-cni'], log);
    plane = await startControlPlane({ binDir, log, clusterCIDR: network.clusterCIDR });
    const api = apiClient(plane);
    const socket = join(dir, 'apiserver.sock');
    relay = await startApiRelay(socket, plane);

    const specs = Array.from({ length: nodeCount }, (_, i) => ({ name: `node${i + 1}`, ip: `10.99.0.${11 + i}` }));
    const underlay = buildUnderlay(prefix, specs, created);
    // Node daemons' identity: flannel's service account would be bound to its ClusterRole; masters keeps this short.
    const template = JSON.parse(readFileSync(plane.clientKubeconfig('system:serviceaccount:kube-flannel:flannel', ['system:masters']), 'utf8')) as { clusters: { cluster: { server: string } }[] };
    for (const c of template.clusters) c.cluster.server = `https://127.0.0.1:${API_PORT_IN_NODE}`;
    const kubeconfig = join(dir, 'node-daemons.kubeconfig');
    writeFileSync(kubeconfig, `${JSON.stringify(template, null, 2)}\n`, { mode: 0o600 });

    for (const spec of specs) {
      await api.call('POST', '/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: spec.name, labels: { 'kubernetes.io/hostname': spec.name, 'kubernetes.io/os': 'linux' }, annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' } },
      });
      await api.call('PATCH', `/api/v1/nodes/${spec.name}/status`, { status: { addresses: [{ type: 'InternalIP', address: spec.ip }, { type: 'Hostname', address: spec.name }] } }, 'application/merge-patch+json');
    }
    const podCIDRs: Record<string, string> = {};
    const deadline = Date.now() + 30_000;
    for (const spec of specs) {
      for (;;) {
        const node = (await api.call('GET', `/api/v1/nodes/${spec.name}`)) as { spec?: { podCIDR?: string } };
        if (node.spec?.podCIDR !== undefined) {
          podCIDRs[spec.name] = node.spec.podCIDR;
          break;
        }
        if (Date.now() > deadline) throw new Error(`kube-controller-manager allocated no podCIDR to ${spec.name} within 30 s:\n${plane.logs(30)}`);
        await sleep(100);
      }
    }
    const peers: LabPeer[] = specs.map((s) => ({ name: s.name, ip: s.ip, podCIDR: podCIDRs[s.name] ?? '' }));

    for (const spec of specs) {
      const ns = underlay.nodes[spec.name] ?? '';
      forwarders.push(await startForwarder(ns, socket));
      runIn(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
      const rootDir = join(dir, 'nodes', spec.name);
      mkdirSync(rootDir, { recursive: true });
      const context: LabNodeContext = { name: spec.name, netns: ns, ip: spec.ip, podCIDR: podCIDRs[spec.name] ?? '', rootDir, cniBinDir: binDir, binDir, kubeconfig, log };
      const nodeNetwork = await network.setUpNode(context, peers);
      nodes[spec.name] = { context, network: nodeNetwork };
      // What the kubelet does with them: merge them into the Node.
      if (nodeNetwork.annotations !== undefined) {
        await api.call('PATCH', `/api/v1/nodes/${spec.name}`, { metadata: { annotations: nodeNetwork.annotations } }, 'application/merge-patch+json');
      }
    }
    for (const node of Object.values(nodes)) await node.network.peersChanged?.(peers);

    const pods = new Map<string, HarnessPod>();
    const harness: Harness = {
      network,
      dir,
      plane,
      nodes,
      lines,
      async addPod(nodeName, name) {
        const node = nodes[nodeName];
        if (node === undefined) throw new Error(`no node ${nodeName}`);
        const netns = createNetns(`${prefix}${name}`);
        created.push(netns);
        const context: LabPodContext = { namespace: 'default', name, uid: randomUUID(), netns, containerId: `${name}-${randomUUID().replace(/-/g, '')}` };
        const pod = { context, node: nodeName, network: await node.network.addPod(context) };
        pods.set(name, pod);
        return pod;
      },
      async deletePod(pod) {
        await nodes[pod.node]?.network.deletePod(pod.context);
        pods.delete(pod.context.name);
      },
      async clusterState() {
        const apiNodes = ((await api.call('GET', '/api/v1/nodes')) as { items: { metadata: { managedFields?: unknown } }[] }).items;
        for (const n of apiNodes) delete n.metadata.managedFields;
        const objects = {
          nodes: apiNodes,
          pods: [...pods.values()].map((p) => ({
            metadata: { name: p.context.name, namespace: p.context.namespace, uid: p.context.uid, labels: { app: p.context.name } },
            spec: { nodeName: p.node, containers: [{ name: 'main', ports: [{ containerPort: 8080, protocol: 'TCP' }] }] },
            status: { phase: 'Running', podIP: p.network.ip, podIPs: [{ ip: p.network.ip }], hostIP: nodes[p.node]?.context.ip },
          })),
          services: [],
          endpointSlices: [],
          networkPolicies: [],
          daemonSets: [],
        } as unknown as ClusterObjects;
        const byName = (name: string): string => nodes[name]?.context.netns ?? pods.get(name)?.context.netns ?? name;
        const dumpNetns = (name: string): NetnsDumps => dumpNamespace(byName(name), name);
        const cniConfigs: Record<string, CniConfigFile[]> = {};
        for (const [name, node] of Object.entries(nodes)) {
          cniConfigs[name] = [{ path: `/etc/cni/net.d/${basename(node.network.conflistPath)}`, content: readFileSync(node.network.conflistPath, 'utf8') }];
        }
        return { ...dumpClusterState(objects, Object.keys(nodes), [...pods.keys()], dumpNetns), cniConfigs };
      },
      async getNode(name) {
        return (await api.call('GET', `/api/v1/nodes/${name}`)) as { metadata: { annotations?: Record<string, string> } };
      },
      teardown,
    };
    return harness;
  } catch (error) {
    await teardown();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- progress\n${lines.join('\n')}`, { cause: error });
  }
}
