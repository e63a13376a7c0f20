// `netdiag diagnose` as a user runs it: the built command over a directory holding the cluster's
// objects (YAML, as kubectl prints them) and one snapshot per node taken by the real collector
// from a two-node cluster of network namespaces. Its verdicts must agree with real connections,
// and bad input must end with one clear line naming the file or reference and a non-zero status.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import { createClusterSnapshotter, objectsList, type ClusterSnapshotter } from '../support/cluster-snapshots.js';
import { buildMiniCluster, EMPTY_SVC, POD_PORT, SVC1, type MiniCluster } from '../support/mini-cluster.js';
import { ipIn } from '../support/netns.js';
import { probeTcp } from '../support/packet-probe.js';
import { describeAsRoot } from '../support/root.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

function netdiag(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface DiagnoseJson {
  verdict: string;
  plugin: { name: string; how: string };
  suspicions: { level: string; node: string; code: string; message: string }[];
  packetPath: { nodes: { id: string }[]; links: { source: string; destination: string; direction: string }[] };
  warnings: { code: string; message: string }[];
}

describeAsRoot('netdiag diagnose over snapshots taken by the collector', () => {
  let cluster: MiniCluster;
  let snapshots: ClusterSnapshotter;
  let work: string;
  let dir: string;

  async function snapshotNode(node: string, file: string, gzip = false): Promise<void> {
    const json = JSON.stringify(await snapshots.snapshotNode(node));
    writeFileSync(join(dir, file), gzip ? gzipSync(json) : json);
  }

  beforeAll(async () => {
    cluster = await buildMiniCluster('nddg');
    snapshots = createClusterSnapshotter(cluster);
    work = mkdtempSync(join(tmpdir(), 'netdiag-diagnose-'));
    dir = join(work, 'snapshot');
    mkdirSync(join(dir, 'nodes'), { recursive: true });
    const { items } = objectsList(cluster.objects) as { items: { kind: string }[] };
    // The objects in two files and two formats, as a user may save them.
    writeFileSync(join(dir, 'objects.yaml'), stringify({ apiVersion: 'v1', kind: 'List', items: items.filter((i) => i.kind !== 'EndpointSlice') }));
    writeFileSync(join(dir, 'slices.json'), JSON.stringify({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSliceList', items: items.filter((i) => i.kind === 'EndpointSlice') }));
    await snapshotNode('node1', 'nodes/node1.json');
    await snapshotNode('node2', 'nodes/node2.json.gz', true);
  }, 60_000);

  afterAll(async () => {
    await cluster.teardown();
    snapshots.close();
    rmSync(work, { recursive: true, force: true });
  });

  const diagnoseJson = (...args: string[]): { status: number | null; json: DiagnoseJson; stderr: string } => {
    const r = netdiag('diagnose', '--snapshot', dir, '--output', 'json', ...args);
    return { status: r.status, json: JSON.parse(r.stdout) as DiagnoseJson, stderr: r.stderr };
  };
  const serious = (d: DiagnoseJson): string[] => d.suspicions.filter((s) => s.level === 'fatal' || s.level === 'critical').map((s) => `${s.node} ${s.code}`);

  it('pod to service across nodes: Reachable (exit 0), through both nodes and back, and a real connection succeeds', async () => {
    const { status, json, stderr } = diagnoseJson('--src', 'pod/default/pod1', '--dst', `svc/default/${SVC1.name}`, '--port', String(SVC1.port), '--protocol', 'tcp');
    expect({ status, stderr, verdict: json.verdict, serious: serious(json) }).toEqual({ status: 0, stderr: '', verdict: 'Reachable', serious: [] });
    expect(json.plugin).toEqual({ name: 'generic', how: 'default', evidence: ['no CNI configuration or DaemonSet of a known plugin'] });
    expect(json.packetPath.nodes.map((n) => n.id)).toEqual(expect.arrayContaining(['default/pod1', 'node1', 'node2', 'default/pod2', 'default/pod3']));
    expect(json.packetPath.links.some((l) => l.direction === 'reply' && l.destination === 'default/pod1')).toBe(true);
    expect((await probeTcp(cluster.pods.pod1?.ns ?? '', { dst: SVC1.clusterIP, dport: SVC1.port, timeoutMs: 800 })).outcome).toBe('connected');
  });

  it('prints the path and the suspicions for a person, with the verdict first', () => {
    const r = netdiag('diagnose', '--snapshot', dir, '--src', 'pod/default/pod1', '--dst', 'pod/default/pod2', '--port', String(POD_PORT), '--protocol', 'tcp');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`pod/default/pod1 -> pod/default/pod2 TCP/${POD_PORT}: Reachable`);
    expect(lines).toContain('Request:');
    expect(lines).toContain('Reply:');
    expect(r.stdout).toMatch(/node1 eth0 --underlay--> node2 eth0/);
    // The one remark: the generic provider does not check the network between the nodes.
    expect(r.stdout).toMatch(/Suspicions:\n {2}LEVEL +NODE +CODE +MESSAGE\n {2}info +node1 +UnsupportedConfig +the network between and beyond the nodes is not checked/);
  });

  it('a service without endpoints: Unreachable (exit 3), ServiceNoEndpoints, and the kernel rejects the connection', async () => {
    const { status, json } = diagnoseJson('--src', 'pod/default/pod1', '--dst', `svc/default/${EMPTY_SVC.name}`, '--port', String(EMPTY_SVC.port), '--protocol', 'tcp');
    expect(status).toBe(3);
    expect(json.verdict).toBe('Unreachable');
    expect(serious(json)).toContain(`default/${EMPTY_SVC.name} ServiceNoEndpoints`);
    expect((await probeTcp(cluster.pods.pod1?.ns ?? '', { dst: EMPTY_SVC.clusterIP, dport: EMPTY_SVC.port, timeoutMs: 800 })).outcome).not.toBe('connected');
  });

  it("node1 without its route to node2's pod CIDR: the packet leaves for the default gateway (what it does is outside the snapshot: Inconclusive), the missing route named, and the connection fails", async () => {
    const node1 = cluster.nodes.node1;
    const node2 = cluster.nodes.node2;
    if (node1 === undefined || node2 === undefined) throw new Error('mini-cluster without node1/node2');
    ipIn(node1.ns, ['route', 'del', node2.podCIDR]);
    try {
      await snapshotNode('node1', 'nodes/node1.json');
      const { status, json } = diagnoseJson('--src', 'pod/default/pod1', '--dst', 'pod/default/pod2', '--port', String(POD_PORT), '--protocol', 'tcp');
      expect({ status, verdict: json.verdict }).toEqual({ status: 4, verdict: 'Inconclusive' });
      const route = json.suspicions.find((s) => s.code === 'RouteMissing' && s.node === 'node1');
      expect(route?.level).toBe('critical');
      expect(route?.message).toContain(node2.podCIDR);
      expect((await probeTcp(cluster.pods.pod1?.ns ?? '', { dst: cluster.pods.pod2?.ip ?? '', dport: POD_PORT, timeoutMs: 800 })).outcome).not.toBe('connected');
    } finally {
      ipIn(node1.ns, ['route', 'add', node2.podCIDR, 'via', node2.ip, 'dev', 'eth0']);
      await snapshotNode('node1', 'nodes/node1.json');
    }
  }, 30_000);

  describe('bad input: one line naming what is wrong, a non-zero status', () => {
    it.each<[string, string[], number, RegExp]>([
      ['an unknown pod', ['--src', 'pod/default/nope', '--dst', 'pod/default/pod2', '--port', '80', '--protocol', 'tcp'], 1, /--src pod\/default\/nope: no such pod among the objects in /],
      ['a malformed reference', ['--src', 'pod/nope', '--dst', 'pod/default/pod2', '--port', '80', '--protocol', 'tcp'], 2, /--src "pod\/nope": expected pod\/NAMESPACE\/NAME/],
      ['a service as the source', ['--src', 'svc/default/svc1', '--dst', 'pod/default/pod2', '--port', '80', '--protocol', 'tcp'], 2, /a service cannot be a source/],
      ['no port for tcp', ['--src', 'pod/default/pod1', '--dst', 'pod/default/pod2', '--protocol', 'tcp'], 2, /missing --port/],
      ['an unknown plugin', ['--src', 'pod/default/pod1', '--dst', 'pod/default/pod2', '--port', '80', '--protocol', 'tcp', '--plugin', 'weave'], 2, /--plugin "weave": expected auto or one of generic/],
    ])('%s', (_name, args, status, message) => {
      const r = netdiag('diagnose', '--snapshot', dir, ...args);
      expect(r.status).toBe(status);
      expect(r.stderr.split('\n')[0]).toMatch(message);
      expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
    });

    it.each<[string, string, string | Buffer, RegExp]>([
      ['invalid JSON', 'broken.json', '{"kind": "NetdiagNodeSnapshot",\n  "schemaVersion": 1,\n  oops', /broken\.json: not valid JSON at line 3, column 3/],
      ['invalid YAML', 'broken.yaml', 'kind: List\nitems: [\n', /broken\.yaml: not valid YAML/],
      ['a snapshot of another version', 'old.json', JSON.stringify({ kind: 'NetdiagNodeSnapshot', schemaVersion: 99 }), /old\.json: schemaVersion should be 2 .*the file says 99/],
      ['a snapshot missing its namespaces', 'cut.json', JSON.stringify({ kind: 'NetdiagNodeSnapshot', schemaVersion: 2, node: { name: 'x' }, startedAt: 'now', complete: true, cni: { configFiles: [] }, podsNotFound: [], warnings: [] }), /cut\.json: namespaces should be an array/],
      ['an object without a kind', 'thing.json', JSON.stringify({ metadata: { name: 'x' } }), /thing\.json: not a Kubernetes object/],
      ['not gzip', 'fake.json.gz', 'plain text', /fake\.json\.gz: not valid gzip/],
    ])('%s', (_name, file, content, message) => {
      const bad = mkdtempSync(join(work, 'bad-'));
      writeFileSync(join(bad, file), content);
      const r = netdiag('diagnose', '--snapshot', bad, '--src', 'pod/default/pod1', '--dst', 'pod/default/pod2', '--port', '80', '--protocol', 'tcp');
      expect(r.status).toBe(1);
      expect(r.stderr.split('\n')[0]).toMatch(message);
    });

    it('a directory without snapshots says how to make them', () => {
      const bare = mkdtempSync(join(work, 'bare-'));
      writeFileSync(join(bare, 'objects.yaml'), stringify({ kind: 'Node', metadata: { name: 'n' } }));
      const r = netdiag('diagnose', '--snapshot', bare, '--src', 'node/n', '--dst', '10.0.0.1', '--port', '80', '--protocol', 'tcp');
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/no node snapshot found; write one per node with netdiag collect --out/);
    });
  });
});
