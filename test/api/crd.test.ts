// The NetworkDiagnosis CRD on a real kube-apiserver + etcd (test/support/control-plane.ts, which
// needs root for the API server's address): the CRD is established; every spec of the shared
// table (spec-cases.ts) is accepted or refused by the API server with the exact message, and
// validate.ts says the same; the status subresource keeps what is written to it and leaves the
// spec alone; and the printer columns of `kubectl get netdiag` come back through the Table API.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { request } from 'node:https';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../../src/api/v1alpha1/index.js';
import { validateSpec } from '../../src/api/v1alpha1/validate.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { installNetworkDiagnosisCrd } from '../support/crd.js';
import { describeAsRoot } from '../support/root.js';
import { SPEC_CASES, type SpecCase } from './spec-cases.js';

const NS = 'default';
const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples', 'networkdiagnoses');
const BASE = `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}`;

interface Response {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

interface StatusCause {
  readonly field?: string;
  readonly message?: string;
  readonly reason?: string;
}

/** One HTTPS call to the API server as the admin; the body parsed as JSON. */
function call(cp: ControlPlane, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const kubeconfig = JSON.parse(readFileSync(cp.adminKubeconfig, 'utf8')) as { users: { user: Record<string, string> }[] };
  const user = kubeconfig.users[0]?.user ?? {};
  const tls = { ca: readFileSync(cp.caFile), cert: readFileSync(user['client-certificate'] ?? ''), key: readFileSync(user['client-key'] ?? '') };
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(`${cp.server}${path}`, { ...tls, method, headers: { Accept: 'application/json', ...(payload !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
        } catch (error) {
          reject(new Error(`${method} ${path}: ${res.statusCode} not JSON: ${text.slice(0, 500)}`, { cause: error }));
        }
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

let counter = 0;
function diagnosis(spec: unknown): Record<string, unknown> {
  counter += 1;
  return { apiVersion: API_VERSION, kind: KIND, metadata: { name: `case-${counter}` }, spec };
}

/** When the OpenAPI schema refuses a value, the API server skips the CEL rules and adds a cause saying so. */
const CEL_SKIPPED = 'Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

/** The causes of a refusal, without the note that CEL rules were skipped. */
function causesOf(response: Response): StatusCause[] {
  const details = response.body.details as { causes?: StatusCause[] } | undefined;
  return (details?.causes ?? []).filter((cause) => cause.message !== CEL_SKIPPED);
}

describeAsRoot('the NetworkDiagnosis CRD on a real API server', () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    cp = await startControlPlane({ log: (line) => process.stderr.write(`control-plane: ${line}\n`) });
    await installNetworkDiagnosisCrd(cp, NS);
  }, 30 * 60_000);

  afterAll(async () => {
    await cp?.stop();
  }, 60_000);

  it.each(SPEC_CASES.map((c) => [c.name, c] as const))('%s: the API server and validate.ts agree', async (_name: string, c: SpecCase) => {
    const response = await call(cp, 'POST', `${BASE}?fieldValidation=Strict`, diagnosis(c.spec));
    if (c.refused.length === 0) {
      expect({ status: response.status, message: response.body.message }).toEqual({ status: 201, message: undefined });
    } else {
      expect(response.status).toBe(422);
      const causes = causesOf(response).map((cause) => ({ field: cause.field, server: cause.message }));
      expect(causes).toEqual(expect.arrayContaining(c.refused.map((r) => ({ field: r.field, server: r.server }))));
      expect(causes).toHaveLength(c.refused.length);
    }
    expect(validateSpec(c.spec)).toEqual(c.refused.map((r) => ({ field: r.field, message: r.message })));
  });

  it('refuses a field the CRD does not know when the client asks for strict field validation', async () => {
    const response = await call(cp, 'POST', `${BASE}?fieldValidation=Strict`, diagnosis({ ...(SPEC_CASES[0]?.spec as object), timeout: '5m' }));
    expect(response.status).toBe(400);
    expect(response.body.message).toContain('unknown field "spec.timeout"');
    expect(validateSpec({ ...(SPEC_CASES[0]?.spec as object), timeout: '5m' })).toEqual([{ field: 'spec.timeout', message: 'unknown field "timeout"' }]);
  });

  it('keeps a merge patch to /status and leaves the spec untouched; a status sent to the main resource is dropped', async () => {
    const spec = { source: { pod: { name: 'client' } }, destination: { service: { name: 'web' } }, port: 8080, protocol: 'TCP' };
    const created = await call(cp, 'POST', BASE, { ...diagnosis(spec), status: { verdict: 'Reachable' } });
    expect(created.status).toBe(201);
    expect(created.body.status).toBeUndefined();
    const name = (created.body.metadata as { name: string }).name;
    const generation = (created.body.metadata as { generation: number }).generation;

    const status = {
      observedGeneration: generation,
      phase: 'Completed',
      verdict: 'Unreachable',
      source: 'pod/default/client',
      destination: 'service/default/web',
      suspicionCount: 1,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Completed', message: 'diagnosis finished', lastTransitionTime: '2026-01-01T00:00:00Z', observedGeneration: generation },
        { type: 'Reachable', status: 'False', reason: 'Unreachable', message: 'dropped', lastTransitionTime: '2026-01-01T00:00:00Z' },
      ],
      suspicions: [{ level: 'critical', node: 'node-1', code: 'IptablesDrop', message: 'filter FORWARD rule 3 -j DROP' }],
      packetPath: {
        nodes: [{ id: 'default/client', type: 'pod', actions: [{ kind: 'send', direction: 'request', outIface: 'eth0', verdict: 'ACCEPT' }] }],
        links: [{ source: 'default/client', destination: 'node-1', type: 'veth', direction: 'request', packet: { before: 'tcp 10.244.1.5:40000 > 10.96.0.10:8080', after: 'tcp 10.244.1.5:40000 > 10.96.0.10:8080' }, attributes: { sourceInterface: 'eth0', destinationInterface: 'veth1' } }],
      },
      collectors: [{ node: 'node-1', pod: 'netdiag-collect-abc', state: 'Succeeded' }],
      startTime: '2026-01-01T00:00:00Z',
      completionTime: '2026-01-01T00:00:05Z',
      lastHandledRequestAt: '2026-01-01T00:00:00Z',
    };
    // A spec in the same patch is ignored by the status subresource.
    const patched = await call(cp, 'PATCH', `${BASE}/${name}/status`, { spec: { port: 1 }, status }, { 'Content-Type': 'application/merge-patch+json' });
    expect(patched.status).toBe(200);
    const read = await call(cp, 'GET', `${BASE}/${name}`);
    expect(read.body.status).toEqual(status);
    expect(read.body.spec).toEqual(spec);
    expect((read.body.metadata as { generation: number }).generation).toBe(generation);

    // The status schema is enforced too.
    const bad = await call(cp, 'PATCH', `${BASE}/${name}/status`, { status: { verdict: 'Maybe' } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(bad.status).toBe(422);
    expect(causesOf(bad)).toEqual([expect.objectContaining({ field: 'status.verdict', message: 'Unsupported value: "Maybe": supported values: "Reachable", "Unreachable", "Degraded", "Inconclusive"' })]);

    // The printer columns, as `kubectl get netdiag` asks for them (the Table API).
    const table = await call(cp, 'GET', `${BASE}/${name}`, undefined, { Accept: 'application/json;as=Table;g=meta.k8s.io;v=v1' });
    expect(table.body.kind).toBe('Table');
    const columns = (table.body.columnDefinitions as { name: string }[]).map((c) => c.name);
    expect(columns).toEqual(['Name', 'Source', 'Destination', 'Port', 'Protocol', 'Verdict', 'Suspicions', 'Ready', 'Age']);
    const cells = (table.body.rows as { cells: unknown[] }[])[0]?.cells ?? [];
    expect(cells.slice(0, 8)).toEqual([name, 'pod/default/client', 'service/default/web', 8080, 'TCP', 'Unreachable', 1, 'True']);
  });

  it.each(readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')))('accepts examples/networkdiagnoses/%s as written', async (file) => {
    const example = parse(readFileSync(join(EXAMPLES, file), 'utf8')) as { metadata: { namespace: string }; spec: unknown };
    const created = await call(cp, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: example.metadata.namespace } });
    expect([201, 409]).toContain(created.status);
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${example.metadata.namespace}/${PLURAL}?dryRun=All&fieldValidation=Strict`;
    const r = await call(cp, 'POST', path, example);
    expect({ status: r.status, message: r.body.message }).toEqual({ status: 201, message: undefined });
    expect(validateSpec(example.spec)).toEqual([]);
  });

  it('is found by its short name and category (what `kubectl get netdiag` resolves)', async () => {
    const discovery = await call(cp, 'GET', `/apis/${GROUP}/${VERSION}`);
    const resource = (discovery.body.resources as { name: string; shortNames?: string[]; categories?: string[]; namespaced: boolean; kind: string }[]).find((r) => r.name === PLURAL);
    expect(resource).toMatchObject({ kind: KIND, namespaced: true, shortNames: ['netdiag'], categories: ['netdiag'] });
  });
});
