// The synthetic cluster of the `diagnose` bench, at a small size: its namespaces are consistent
// with each other and with the objects (veth pairs, routes to every pod CIDR, neighbours,
// listeners, EndpointSlices that are kube-proxy's DNAT targets, the bridge CNI's configuration),
// nothing is parsed before the walk reads it, and the bench's query is diagnosed Reachable with
// nothing more than a note. (No timings here: figures come from `npm run bench`, never a test.)
import { describe, expect, it } from '@jest/globals';
import { buildSyntheticCluster, type SyntheticCluster, type SyntheticClusterOptions, type SyntheticNode } from '../../bench/diagnose-inputs.js';
import { buildNetnsState, detectPlugin, diagnose, parseIp, type Diagnosis, type IpAddress, type NetnsState } from '../../src/diagnosis/index.js';
import { lookupRoute } from '../../src/diagnosis/netstack/routing/index.js';
import { hasListener } from '../../src/diagnosis/plugins/netns-state.js';

const ip = (text: string): IpAddress => {
  const a = parseIp(text);
  if (a === undefined) throw new Error(`bad address ${text}`);
  return a;
};

const SMALL: SyntheticClusterOptions = { nodes: 4, podsPerNode: 5, services: 20, endpointsPerService: 2, seed: 7 };

interface Run {
  readonly plugin: string;
  readonly diagnosis: Diagnosis;
  /** The namespaces parsed, each once. */
  readonly loaded: ReadonlySet<string>;
}

/** As the bench (and `netdiag diagnose`) does: the plugin of the nodes' CNI configuration, then the walk. */
function run(cluster: SyntheticCluster): Run {
  const loaded = new Set<string>();
  const state = cluster.clusterState((id) => loaded.add(id));
  const choice = detectPlugin(state);
  const diagnosis = diagnose(state, cluster.query, { plugins: choice.name === 'generic' ? [] : [choice.plugin] });
  return { plugin: choice.name, diagnosis, loaded };
}

describe('buildSyntheticCluster', () => {
  const cluster = buildSyntheticCluster(SMALL);
  const { nodes, pods, objects, rules } = cluster;
  const nodeStates: NetnsState[] = nodes.map((n) => buildNetnsState(cluster.nodeDumps(n.index)));
  const podState = new Map(pods.flat().map((p) => [`${p.namespace}/${p.name}`, buildNetnsState(cluster.podDumps(p))]));
  const pick = (k: number): SyntheticNode => {
    const node = nodes[k % nodes.length];
    if (node === undefined) throw new Error(`no node ${k}`);
    return node;
  };

  it('is the same cluster for the same options', () => {
    const again = buildSyntheticCluster(SMALL);
    expect(again.objects).toEqual(objects);
    expect(again.query).toEqual(cluster.query);
    expect(again.nodeDumps(2)).toEqual(cluster.nodeDumps(2));
  });

  it('has the objects asked for, and kube-proxy rules for every service on every node', () => {
    expect([objects.nodes.length, objects.pods.length, objects.services.length, objects.endpointSlices.length]).toEqual([4, 20, 21, 21]);
    for (const node of nodes) expect(cluster.nodeDumps(node.index).iptablesSave.text).toBe(rules.text);
    for (const s of rules.services) expect(rules.text).toContain(`-d ${s.clusterIP}/32 -p ${s.protocol}`);
  });

  it('parses every namespace without a warning', () => {
    for (const state of [...nodeStates, ...podState.values()]) {
      expect(state.warnings).toEqual([]);
      expect(state.routing.warnings).toEqual([]);
    }
  });

  it('pairs each pod\'s eth0 with one veth on its node\'s cni0, both ways', () => {
    for (const node of nodes) {
      const host = nodeStates[node.index];
      if (host === undefined) throw new Error('no node state');
      const veths = host.routing.linkList.filter((l) => l.kind === 'veth');
      expect(veths).toHaveLength(SMALL.podsPerNode);
      for (const pod of pods[node.index] ?? []) {
        const eth0 = podState.get(`${pod.namespace}/${pod.name}`)?.routing.links.get('eth0');
        const peer = veths.find((v) => v.ifindex === eth0?.linkIndex);
        expect([peer?.master, peer?.linkIndex, peer?.up, eth0?.kind, eth0?.up]).toEqual(['cni0', eth0?.ifindex, true, 'veth', true]);
        expect(veths.filter((v) => v.ifindex === eth0?.linkIndex)).toHaveLength(1);
      }
    }
  });

  it.each([
    { what: 'another node\'s pod CIDR', dev: 'eth0', dst: (k: number) => pick(k + 1).podCidr.replace(/\.0\/24$/, '.9'), via: (k: number) => pick(k + 1).ip },
    { what: 'its own pod CIDR', dev: 'cni0', dst: (k: number) => pick(k).podCidr.replace(/\.0\/24$/, '.3'), via: () => undefined },
    { what: 'the internet', dev: 'eth0', dst: () => '198.51.100.7', via: () => '10.0.0.1' },
  ])('routes a local pod\'s packet to $what out of $dev', ({ dst, dev, via }) => {
    for (const node of nodes) {
      const state = nodeStates[node.index];
      if (state === undefined) throw new Error('no node state');
      const decision = lookupRoute(state.routing, { dst: ip(dst(node.index)), src: ip(node.gateway.replace(/\.1$/, '.2')), iif: 'cni0' });
      expect(decision.kind).toBe('unicast');
      if (decision.kind !== 'unicast') continue;
      const gateway = via(node.index);
      expect(decision.nexthops.map((nh) => [nh.dev, nh.gateway?.value])).toEqual([[dev, gateway === undefined ? undefined : ip(gateway).value]]);
    }
  });

  it('knows the MAC of every local pod and of the gateway, and each pod that of cni0', () => {
    for (const node of nodes) {
      const state = nodeStates[node.index];
      const local = (pods[node.index] ?? []).map((p) => state?.neighbors.find((n) => n.dev === 'cni0' && n.dst.value === ip(p.ip).value));
      const macs = (pods[node.index] ?? []).map((p) => podState.get(`${p.namespace}/${p.name}`)?.routing.links.get('eth0')?.address);
      expect(local.map((n) => n?.lladdr)).toEqual(macs);
      expect(state?.neighbors.some((n) => n.dev === 'eth0' && n.dst.value === ip('10.0.0.1').value)).toBe(true);
      for (const pod of pods[node.index] ?? []) {
        const gw = podState.get(`${pod.namespace}/${pod.name}`)?.neighbors.find((n) => n.dst.value === ip(node.gateway).value);
        expect(gw?.lladdr).toBe(state?.routing.links.get('cni0')?.address);
      }
    }
  });

  it('gives each service EndpointSlices of ready pods that kube-proxy DNATs to, in its namespace, selected, listening', () => {
    const podByIp = new Map(objects.pods.map((p) => [p.status?.podIP, p]));
    for (const s of rules.services) {
      const service = objects.services.find((x) => x.metadata.namespace === s.namespace && x.metadata.name === s.name);
      const slice = objects.endpointSlices.find((x) => x.metadata.namespace === s.namespace && x.metadata.labels?.['kubernetes.io/service-name'] === s.name);
      expect(slice?.endpoints?.map((e) => e.addresses[0])).toEqual(s.endpoints.map((e) => e.ip));
      if (s.name === 'kubernetes') continue;
      const backing = s.endpoints.map((e) => podByIp.get(e.ip));
      expect(new Set(backing.map((p) => p?.spec.nodeName)).size).toBe(s.endpoints.length);
      for (const [i, pod] of backing.entries()) {
        const endpoint = s.endpoints[i];
        if (pod === undefined || endpoint === undefined) throw new Error(`no pod holds endpoint ${i} of ${s.servicePortName}`);
        expect(rules.text).toContain(`-j DNAT --to-destination ${endpoint.ip}:${endpoint.port}`);
        expect(pod.metadata.namespace).toBe(s.namespace);
        expect(pod.metadata.labels?.app).toBe(service?.spec.selector?.app);
        const listeners = podState.get(`${pod.metadata.namespace}/${pod.metadata.name}`)?.listeners ?? [];
        expect(hasListener(listeners, s.protocol, ip(endpoint.ip), endpoint.port)).toBe(true);
      }
    }
  });

  it('parses nothing until a diagnosis reads it', () => {
    const loaded: string[] = [];
    const state = cluster.clusterState((id) => loaded.push(id));
    expect(Object.values(state.netns.nodes).map((r) => r.kind)).toEqual(nodes.map(() => 'deferred'));
    expect(Object.keys(state.netns.pods)).toHaveLength(objects.pods.length);
    expect(loaded).toEqual([]);
  });

  it('asks about a TCP service none of whose endpoints is on the client\'s node', () => {
    const { client, service } = cluster.target;
    expect(service.protocol).toBe('tcp');
    const endpointNodes = service.endpoints.map((e) => pods.flat().find((p) => p.ip === e.ip)?.node);
    expect(endpointNodes).not.toContain(client.node);
    expect(cluster.query).toEqual({
      source: { kind: 'pod', namespace: client.namespace, name: client.name },
      destination: { kind: 'service', namespace: service.namespace, name: service.name },
      port: service.port,
      protocol: 'TCP',
    });
  });
});

describe('the bench\'s diagnosis on a small synthetic cluster', () => {
  it.each([1, 7, 20260103])('is Reachable through every endpoint with no warning or suspicion (of the bridge plugin either), parsing only the nodes on the path (seed %d)', (seed) => {
    const cluster = buildSyntheticCluster({ ...SMALL, nodes: 5, services: 30, seed });
    const { plugin, diagnosis, loaded } = run(cluster);
    expect(plugin).toBe('bridge');
    expect(diagnosis.verdict).toBe('Reachable');
    // At most notes (the provider's: the network between and beyond the nodes is not checked).
    expect(diagnosis.suspicions.filter((x) => x.level !== 'info')).toEqual([]);
    expect(diagnosis.warnings).toEqual([]);
    const { client, service } = cluster.target;
    const endpointPods = service.endpoints.map((e) => cluster.pods.flat().find((p) => p.ip === e.ip));
    const pathNodes = new Set([client.node, ...endpointPods.map((p) => p?.node)]);
    const ids = diagnosis.packetPath.nodes.map((n) => n.id);
    expect(ids).toEqual(expect.arrayContaining([`${client.namespace}/${client.name}`, ...endpointPods.map((p) => `${p?.namespace}/${p?.name}`), ...[...pathNodes].map((k) => `node-${k}`)]));
    // The nodes on the path and the pods on them (a veth's peer is looked for among its node's pods).
    const nodesLoaded = [...loaded].filter((id) => id.startsWith('node-'));
    expect(nodesLoaded.sort()).toEqual([...pathNodes].map((k) => `node-${k}`).sort());
    expect(loaded.size - nodesLoaded.length).toBe(pathNodes.size * SMALL.podsPerNode);
  });

  it('is the same on a fresh ClusterState: each diagnosis parses what it reads again', () => {
    const cluster = buildSyntheticCluster(SMALL);
    const first = run(cluster);
    const second = run(cluster);
    expect(second.diagnosis).toEqual(first.diagnosis);
    expect(second.loaded).toEqual(first.loaded);
  });
});

describe('buildSyntheticCluster, fewer pods than services', () => {
  it('lets the services of a namespace share its deployments', () => {
    const cluster = buildSyntheticCluster({ nodes: 3, podsPerNode: 4, services: 100, endpointsPerService: 2, seed: 3 });
    const { objects, rules } = cluster;
    const withEndpoints = rules.services.filter((s) => s.endpoints.length > 0 && s.name !== 'kubernetes');
    const selected = new Set(withEndpoints.map((s) => objects.services.find((x) => x.metadata.name === s.name)?.spec.selector?.app));
    expect(selected.size).toBeLessThan(withEndpoints.length);
    const podByIp = new Map(objects.pods.map((p) => [p.status?.podIP, p]));
    for (const s of withEndpoints) for (const e of s.endpoints) expect(podByIp.get(e.ip)?.metadata.namespace).toBe(s.namespace);
    expect(run(cluster).diagnosis.verdict).toBe('Reachable');
  });

  it.each([
    [{ nodes: 3, podsPerNode: 4, services: 20, endpointsPerService: 3, seed: 1 }, 'need 1 to nodes - 1'],
    [{ nodes: 2, podsPerNode: 1, services: 200, endpointsPerService: 1, seed: 1 }, 'cannot hold'],
  ])('refuses %j', (options, message) => {
    expect(() => buildSyntheticCluster(options)).toThrow(message);
  });
});
