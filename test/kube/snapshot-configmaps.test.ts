// The snapshot channel against a real kube-apiserver + etcd (test/support/control-plane.ts):
// chunks written as labelled, immutable ConfigMaps and read back whole; chunks of the real size
// accepted by the API server; incomplete, corrupt and missing snapshots refused with the reason;
// the writer using a pod's service account (in-cluster configuration) with and without RBAC; API
// errors classified; and `netdiag collect --configmaps` end to end.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { CoreV1Api} from '@kubernetes/client-node';
import { RbacAuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { packSnapshot, SNAPSHOT_CHUNK_BYTES } from '../../src/collector/snapshot-pack.js';
import { SNAPSHOT_KIND, SNAPSHOT_SCHEMA_VERSION } from '../../src/collector/snapshot.js';
import { coreApi, loadKubeConfig } from '../../src/kube/client.js';
import { classifyApiError, KubeApiError } from '../../src/kube/errors.js';
import { callApi } from '../../src/kube/retry.js';
import {
  CHUNK_KEY,
  deleteSnapshotConfigMaps,
  readSnapshotConfigMaps,
  snapshotSelector,
  SnapshotReadError,
  writeSnapshotConfigMaps,
  type SnapshotLocation,
} from '../../src/kube/snapshot-configmaps.js';
import { createNetns, destroyNetns } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';

const NS = 'netdiag-system';
const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

/** A fake snapshot of about `noiseBytes` of incompressible data (only the header matters to the channel). */
function fakeSnapshot(node: string, noiseBytes = 1000): string {
  return JSON.stringify({ schemaVersion: SNAPSHOT_SCHEMA_VERSION, kind: SNAPSHOT_KIND, node: { name: node }, noise: randomBytes(noiseBytes).toString('base64') });
}

describeAsRoot('snapshot ConfigMaps on a real API server', () => {
  let cp: ControlPlane;
  let admin: KubeConfig;
  let api: CoreV1Api;
  let scratch = '';

  beforeAll(async () => {
    cp = await startControlPlane({ log: (line) => process.stderr.write(`control-plane: ${line}\n`) });
    admin = loadKubeConfig({ kubeconfig: cp.adminKubeconfig }).config;
    api = coreApi(admin);
    await api.createNamespace({ body: { metadata: { name: NS } } });
    scratch = mkdtempSync(join(tmpdir(), 'netdiag-kube-'));
  }, 30 * 60_000);

  afterAll(async () => {
    await cp?.stop();
    if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
  }, 60_000);

  const location = (name: string, node = 'node-1'): SnapshotLocation => ({ namespace: NS, diagnosis: { namespace: 'default', name }, node });

  it('writes chunks as labelled, immutable ConfigMaps and reads the snapshot back whole', async () => {
    const json = fakeSnapshot('node-1', 200_000);
    const packed = packSnapshot(json, 64 * 1024);
    expect(packed.chunks.length).toBeGreaterThan(3);
    const written = await writeSnapshotConfigMaps(api, location('web'), packed);
    expect(written.configMaps).toHaveLength(packed.chunks.length);

    const listed = await api.listNamespacedConfigMap({ namespace: NS, labelSelector: snapshotSelector({ namespace: 'default', name: 'web' }, 'node-1') });
    expect(listed.items).toHaveLength(packed.chunks.length);
    for (const cm of listed.items) {
      expect(cm.metadata?.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'netdiag', 'netdiag.io/diagnosis': 'default.web', 'netdiag.io/node': 'node-1', 'netdiag.io/snapshot': written.snapshotId });
      expect(cm.metadata?.annotations).toMatchObject({ 'netdiag.io/chunks': String(packed.chunks.length), 'netdiag.io/sha256': packed.sha256, 'netdiag.io/schema-version': String(SNAPSHOT_SCHEMA_VERSION) });
      expect(cm.immutable).toBe(true);
      expect(Buffer.from(cm.binaryData?.[CHUNK_KEY] ?? '', 'base64').length).toBeLessThanOrEqual(64 * 1024);
    }
    const read = await readSnapshotConfigMaps(api, location('web'));
    expect(read.snapshot).toEqual(JSON.parse(json));
    expect(read.snapshotId).toBe(written.snapshotId);
    expect(read.configMaps).toEqual([...written.configMaps].sort());
  });

  it('the API server takes chunks of the real size (~900 KiB each)', async () => {
    const json = fakeSnapshot('node-big', 2_000_000);
    const packed = packSnapshot(json);
    expect(packed.chunks.length).toBe(Math.ceil(packed.gzipBytes / SNAPSHOT_CHUNK_BYTES));
    expect(packed.chunks.length).toBeGreaterThanOrEqual(3);
    await writeSnapshotConfigMaps(api, location('big', 'node-big'), packed);
    expect((await readSnapshotConfigMaps(api, location('big', 'node-big'))).snapshot).toEqual(JSON.parse(json));
  });

  it('reads the newest snapshot of a diagnosis on a node, and only that node', async () => {
    await writeSnapshotConfigMaps(api, location('rerun'), packSnapshot(fakeSnapshot('old')), { now: new Date('2026-01-01T00:00:00Z') });
    const newer = await writeSnapshotConfigMaps(api, location('rerun'), packSnapshot(fakeSnapshot('new')), { now: new Date('2026-01-02T00:00:00Z') });
    await writeSnapshotConfigMaps(api, location('rerun', 'node-2'), packSnapshot(fakeSnapshot('other node')));
    const read = await readSnapshotConfigMaps(api, location('rerun'));
    expect(read.snapshotId).toBe(newer.snapshotId);
    expect((read.snapshot.node as { name: string }).name).toBe('new');
  });

  it('labels a diagnosis whose name is too long for a label value by a hash, and still finds it', async () => {
    const name = `a-very-long-diagnosis-name-${'x'.repeat(80)}`;
    await writeSnapshotConfigMaps(api, location(name), packSnapshot(fakeSnapshot('n')));
    expect((await readSnapshotConfigMaps(api, location(name))).snapshot).toMatchObject({ node: { name: 'n' } });
  });

  it('refuses a snapshot that is missing, incomplete, or not what the writer recorded', async () => {
    await expect(readSnapshotConfigMaps(api, location('never-written'))).rejects.toMatchObject({ problem: 'not-found' });

    const written = await writeSnapshotConfigMaps(api, location('partial'), packSnapshot(fakeSnapshot('n', 100_000), 20_000));
    await api.deleteNamespacedConfigMap({ name: written.configMaps[1] ?? '', namespace: NS });
    const incomplete = readSnapshotConfigMaps(api, location('partial'));
    await expect(incomplete).rejects.toBeInstanceOf(SnapshotReadError);
    await expect(incomplete).rejects.toMatchObject({ problem: 'incomplete', message: expect.stringMatching(/is incomplete: \d+ of \d+ chunks present, missing 1$/) as unknown });

    // Chunks whose bytes do not hash to what the writer recorded (a forged or mixed-up set).
    const packed = packSnapshot(fakeSnapshot('n', 50_000), 20_000);
    await writeSnapshotConfigMaps(api, location('corrupt'), { ...packed, chunks: [...packed.chunks].reverse() });
    await expect(readSnapshotConfigMaps(api, location('corrupt'))).rejects.toMatchObject({ problem: 'corrupt', message: expect.stringMatching(/checksum mismatch/) as unknown });

    await writeSnapshotConfigMaps(api, location('foreign'), packSnapshot(JSON.stringify({ schemaVersion: 99, kind: SNAPSHOT_KIND })));
    await expect(readSnapshotConfigMaps(api, location('foreign'))).rejects.toMatchObject({ problem: 'unsupported-version' });
  });

  it('deletes the snapshots of a diagnosis (the controller cleanup)', async () => {
    await writeSnapshotConfigMaps(api, location('cleanup', 'node-1'), packSnapshot(fakeSnapshot('a')));
    await writeSnapshotConfigMaps(api, location('cleanup', 'node-2'), packSnapshot(fakeSnapshot('b')));
    await deleteSnapshotConfigMaps(api, NS, { namespace: 'default', name: 'cleanup' });
    const left = await api.listNamespacedConfigMap({ namespace: NS, labelSelector: snapshotSelector({ namespace: 'default', name: 'cleanup' }) });
    expect(left.items).toEqual([]);
  });

  /** A pod's service-account mount: token, ca.crt, namespace, under a fake root. */
  async function serviceAccountRoot(account: string): Promise<string> {
    await api.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: account } } });
    const request = await api.createNamespacedServiceAccountToken({ name: account, namespace: NS, body: { spec: { audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: 3600 } } });
    const dir = join(scratch, account);
    const sa = join(dir, 'var', 'run', 'secrets', 'kubernetes.io', 'serviceaccount');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), request.status?.token ?? '');
    writeFileSync(join(sa, 'ca.crt'), readFileSync(cp.caFile));
    writeFileSync(join(sa, 'namespace'), NS);
    return dir;
  }

  /** Runs `body` with the environment a pod sees (KUBERNETES_SERVICE_HOST/PORT). */
  async function inPod<T>(body: () => Promise<T>): Promise<T> {
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = cp.address;
    process.env.KUBERNETES_SERVICE_PORT = String(cp.port);
    try {
      return await body();
    } finally {
      for (const [key, value] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  }

  it('writes with a pod service account (in-cluster) that RBAC allows, and is refused with a hint when it does not', async () => {
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({ namespace: NS, body: { metadata: { name: 'netdiag-collector' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }] } });
    await rbac.createNamespacedRoleBinding({
      namespace: NS,
      body: { metadata: { name: 'netdiag-collector' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'netdiag-collector' }, subjects: [{ kind: 'ServiceAccount', name: 'collector', namespace: NS }] },
    });
    const allowed = await serviceAccountRoot('collector');
    const denied = await serviceAccountRoot('nobody');

    await inPod(async () => {
      const loaded = loadKubeConfig({ serviceAccountRoot: allowed });
      expect(loaded).toMatchObject({ source: 'in-cluster', namespace: NS });
      const written = await writeSnapshotConfigMaps(coreApi(loaded.config), location('rbac'), packSnapshot(fakeSnapshot('sa')));
      expect(written.configMaps).toHaveLength(1);

      const refused = writeSnapshotConfigMaps(coreApi(loadKubeConfig({ serviceAccountRoot: denied }).config), location('rbac-denied'), packSnapshot(fakeSnapshot('sa')));
      await expect(refused).rejects.toBeInstanceOf(KubeApiError);
      await expect(refused).rejects.toMatchObject({
        kind: 'forbidden',
        message: expect.stringMatching(/cannot create resource "configmaps".*\(HTTP 403 Forbidden\)\. RBAC: the identity in use needs "create" on configmaps in namespace netdiag-system/) as unknown,
      });
    });
    expect((await readSnapshotConfigMaps(api, location('rbac'))).snapshot).toMatchObject({ node: { name: 'sa' } });
  });

  it('classifies API errors once: 404, 409, 403, 401, and no answer', async () => {
    const kindOf = async (call: () => Promise<unknown>): Promise<string> => {
      try {
        await call();
        return 'no error';
      } catch (error) {
        return classifyApiError(error).kind;
      }
    };
    const body = { metadata: { name: 'twice' } };
    await api.createNamespacedConfigMap({ namespace: NS, body });
    const nobody = coreApi(loadKubeConfig({ kubeconfig: cp.clientKubeconfig('nobody') }).config);
    const badToken = coreApi(loadKubeConfig({ kubeconfig: cp.tokenKubeconfig('bad', 'not-a-token') }).config);
    expect(await kindOf(() => api.readNamespacedConfigMap({ name: 'absent', namespace: NS }))).toBe('not-found');
    expect(await kindOf(() => api.createNamespacedConfigMap({ namespace: NS, body }))).toBe('already-exists');
    expect(await kindOf(() => nobody.listNamespacedConfigMap({ namespace: NS }))).toBe('forbidden');
    expect(await kindOf(() => badToken.listNamespacedConfigMap({ namespace: NS }))).toBe('unauthorized');

    // No answer at all: a port nothing listens on (any more). Transient, retried, then reported with the count.
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, cp.address, () => {
        const port = (server.address() as AddressInfo).port;
        server.close(() => resolve(port));
      });
    });
    const deadConfig = join(scratch, 'dead.kubeconfig');
    writeFileSync(deadConfig, readFileSync(cp.adminKubeconfig, 'utf8').replace(`:${cp.port}"`, `:${closed}"`));
    const dead = coreApi(loadKubeConfig({ kubeconfig: deadConfig }).config);
    expect(await kindOf(() => dead.listNamespacedConfigMap({ namespace: NS }))).toBe('transient');
    const op = { description: 'list configmaps', verb: 'list', resource: 'configmaps', namespace: NS };
    await expect(callApi(op, () => dead.listNamespacedConfigMap({ namespace: NS }), { attempts: 2, baseDelayMs: 10 })).rejects.toMatchObject({ kind: 'transient', message: expect.stringMatching(/^list configmaps \(after 2 attempts\): /) as unknown });
  });

  it('netdiag collect --configmaps ships the snapshot the file has', async () => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
    const host = createNetns('ndk-h-');
    try {
      const pods = join(scratch, 'no-pods.json');
      writeFileSync(pods, '[]');
      const out = join(scratch, 'collected.json');
      const result = spawnSync(
        process.execPath,
        [cli, 'collect', '--host-netns', `/run/netns/${host}`, '--node', 'node-cli', '--pods', pods, '--no-cri', '--out', out, '--configmaps', '--namespace', NS, '--diagnosis', 'default.cli', '--kubeconfig', cp.adminKubeconfig],
        { encoding: 'utf8' },
      );
      if (result.status !== 0) throw new Error(`netdiag collect failed (${result.status}):\n${result.stderr}`);
      expect(result.stderr).toMatch(/collect: wrote 1 ConfigMap\(s\) in netdiag-system \(snapshot [0-9a-f]+, \d+ KiB gzip\): netdiag-snap-default-cli-node-cli-/);
      const read = await readSnapshotConfigMaps(api, { namespace: NS, diagnosis: { namespace: 'default', name: 'cli' }, node: 'node-cli' });
      expect(read.snapshot).toEqual(JSON.parse(readFileSync(out, 'utf8')));
    } finally {
      destroyNetns(host);
    }
  }, 60_000);

  it('netdiag collect --configmaps fails with one clear line when RBAC refuses', () => {
    const nobody = cp.clientKubeconfig('nobody-cli');
    const host = createNetns('ndk-h-');
    const pods = join(scratch, 'no-pods.json');
    writeFileSync(pods, '[]');
    try {
      const result = spawnSync(
        process.execPath,
        [cli, 'collect', '--host-netns', `/run/netns/${host}`, '--pods', pods, '--no-cri', '--out', join(scratch, 'x.json'), '--configmaps', '--namespace', NS, '--diagnosis', 'default.denied', '--kubeconfig', nobody, '--quiet'],
        { encoding: 'utf8' },
      );
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^netdiag collect: --configmaps: create configmap netdiag-system\/netdiag-snap-default-denied-.*\(HTTP 403 Forbidden\)\. RBAC: /) as unknown]);
    } finally {
      destroyNetns(host);
    }
  }, 60_000);
});
