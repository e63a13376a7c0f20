// The operator process (the BUILT dist/src/main.js, run as a child process) against a real
// kube-apiserver + etcd with the CRD: leader election on a Lease, /healthz /readyz /metrics,
// Stalled and Completed diagnoses with their Events, two replicas handing over on SIGTERM without
// duplicate collector pods, and cleanup of a diagnosis deleted mid-collection. No kubelet runs:
// collector pods never start, so with a short --collector-deadline a run ends Inconclusive with
// CollectorFailed; the test plays the kubelet only to confirm the deletion of terminating pods.
// Needs `npm run build` first.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinationV1Api, EventsV1Api, V1MicroTime, type EventsV1Event, type V1Pod } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../src/kube/client.js';
import { sleep, waitFor } from '../../src/lab/process.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { installNetworkDiagnosisCrd } from '../support/crd.js';
import { condition, createDiagnosisApi, createNamespaces, createNodes, createPods, explainFailure, type DiagnosisApi } from '../support/operator-fixtures.js';
import { describeAsRoot } from '../support/root.js';

const MAIN = join(import.meta.dirname, '..', '..', 'dist', 'src', 'main.js');
const OPERATOR_NS = 'netdiag-system';
const NS = 'shop';
const LEASE = 'netdiag-operator';
const NODES = [
  { name: 'node-1', ip: '192.0.2.11' },
  { name: 'node-2', ip: '192.0.2.12' },
];
const PODS = [
  { name: 'client', node: 'node-1', ip: '10.244.1.5' },
  { name: 'server', node: 'node-2', ip: '10.244.2.7' },
];
const SPEC = { source: { pod: { name: 'client' } }, destination: { pod: { name: 'server' } }, port: 8080, protocol: 'TCP' };

interface OperatorProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly identity: string;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly lines: Record<string, unknown>[];
  readonly exit: Promise<number | null>;
  output(): string;
}

const running = new Set<OperatorProcess>();

/** Starts the built operator; resolves once it logged its identity and both ports. */
async function startOperator(name: string, kubeconfig: string, extra: readonly string[]): Promise<OperatorProcess> {
  const args = [MAIN, '--kubeconfig', kubeconfig, '--namespace', OPERATOR_NS, '--collector-image', 'netdiag:test', '--health-addr', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:0', '--log-level', 'debug', ...extra];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  let buffered = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk;
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (raw += chunk));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output = (): string => raw.split('\n').slice(-60).join('\n');
  const deadline = Date.now() + 30_000;
  let exited = false;
  void exit.then(() => (exited = true));
  for (;;) {
    const identity = lines.find((l) => l.msg === 'starting the operator')?.identity;
    const health = lines.find((l) => l.msg === 'serving /healthz and /readyz')?.port;
    const metrics = lines.find((l) => l.msg === 'serving /metrics')?.port;
    if (typeof identity === 'string' && typeof health === 'number' && typeof metrics === 'number') {
      const op: OperatorProcess = { name, child, identity, healthPort: health, metricsPort: metrics, lines, exit, output };
      running.add(op);
      void exit.then(() => running.delete(op));
      return op;
    }
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`operator ${name} did not start:\n${output()}`);
    }
    await sleep(50);
  }
}

async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** A metric's value in a Prometheus text exposition (`name{labels} value`), or undefined. */
function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describeAsRoot('the operator process on a real API server', () => {
  let cp: ControlPlane;
  let api: DiagnosisApi;
  let leases: CoordinationV1Api;
  let events: EventsV1Api;

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} does not exist: run \`npm run build\` first`);
    cp = await startControlPlane({ log: (line) => process.stderr.write(`control-plane: ${line}\n`) });
    const { config } = loadKubeConfig({ kubeconfig: cp.adminKubeconfig });
    api = createDiagnosisApi(config, { namespace: NS, operatorNamespace: OPERATOR_NS, spec: SPEC });
    leases = config.makeApiClient(CoordinationV1Api);
    events = config.makeApiClient(EventsV1Api);
    await createNamespaces(api.core, { namespace: NS, operatorNamespace: OPERATOR_NS });
    await installNetworkDiagnosisCrd(cp, NS);
    await createNodes(api.core, NODES);
    await createPods(api.core, NS, PODS);
  }, 30 * 60_000);

  afterAll(async () => {
    for (const op of running) op.child.kill('SIGKILL');
    await cp?.stop();
  }, 60_000);

  const eventsOf = async (name: string): Promise<EventsV1Event[]> => (await events.listNamespacedEvent({ namespace: NS })).items.filter((e) => e.regarding?.name === name);
  const holder = async (): Promise<string | undefined> => {
    const lease = await leases.readNamespacedLease({ namespace: OPERATOR_NS, name: LEASE });
    const id = lease.spec?.holderIdentity;
    return id === undefined || id === '' ? undefined : id;
  };
  /** The kubelet's part: the containers of terminating pods are gone. */
  const confirmDeletions = async (pods: V1Pod[]): Promise<void> => {
    for (const pod of pods) {
      try {
        await api.core.deleteNamespacedPod({ namespace: OPERATOR_NS, name: pod.metadata?.name ?? '', gracePeriodSeconds: 0 });
      } catch (error) {
        if ((error as { code?: number }).code !== 404) throw error;
      }
    }
  };
  const explain = (ops: readonly OperatorProcess[], name?: string) => async (): Promise<string> => {
    const d = name !== undefined ? await api.get(name) : undefined;
    const evs = name !== undefined ? (await eventsOf(name)).map((e) => `${e.type} ${e.reason}: ${e.note}`) : [];
    return [...ops.map((op) => `--- operator ${op.name}\n${op.output()}`), `--- status\n${JSON.stringify(d?.status, null, 2)}`, `--- events\n${evs.join('\n')}`].join('\n');
  };

  let a: OperatorProcess;

  it('starts, becomes the leader (the Lease holder) and serves /healthz, /readyz and /metrics', async () => {
    a = await startOperator('a', cp.adminKubeconfig, ['--collector-deadline', '3']);
    await waitFor('the Lease to name the operator', async () => ((await holder().catch(() => undefined)) === a.identity ? true : undefined)).catch(explainFailure(explain([a])));
    const ready = await waitFor('/readyz', async () => ((await httpGet(a.healthPort, '/readyz')).status === 200 ? true : undefined)).catch(explainFailure(explain([a])));
    expect(ready).toBe(true);
    expect(await httpGet(a.healthPort, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect((await httpGet(a.healthPort, '/readyz?verbose')).body).toContain('[+]leader ok');
    const metrics = await httpGet(a.metricsPort, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metricValue(metrics.body, 'netdiag_leader')).toBe(1);
    for (const name of ['netdiag_reconcile_total', 'netdiag_reconcile_duration_seconds', 'netdiag_workqueue_depth', 'netdiag_diagnoses_total', 'netdiag_collector_failures_total']) {
      expect(metrics.body).toContain(`# TYPE ${name} `);
    }
  }, 60_000);

  it('stalls a diagnosis naming a pod that does not exist (Stalled=True, ObjectNotFound) and records an Event', async () => {
    await api.apply('ghost', { ...SPEC, source: { pod: { name: 'nobody' } } });
    const stalled = await waitFor('Stalled=True', async () => {
      const d = await api.get('ghost');
      return condition(d, 'Stalled').status === 'True' ? d : undefined;
    }).catch(explainFailure(explain([a], 'ghost')));
    expect(condition(stalled, 'Stalled')).toMatchObject({ reason: 'ObjectNotFound', message: expect.stringContaining(`${NS}/nobody`) });
    const recorded = await waitFor('the ObjectNotFound Event', async () => (await eventsOf('ghost')).find((e) => e.reason === 'ObjectNotFound')).catch(explainFailure(explain([a], 'ghost')));
    expect(recorded).toMatchObject({ type: 'Warning', action: 'Stall', reportingController: 'netdiag.io/operator', reportingInstance: a.identity, regarding: { kind: 'NetworkDiagnosis', namespace: NS, name: 'ghost', uid: stalled?.metadata.uid } });
    expect(recorded.note).toContain(`${NS}/nobody`);
    // Written once, not on every reconcile.
    await sleep(1000);
    expect((await eventsOf('ghost')).filter((e) => e.reason === 'ObjectNotFound')).toHaveLength(1);
    expect(await api.collectorPods('ghost')).toEqual([]);
  }, 60_000);

  it('starts collectors for pods that exist and, when none delivers by the deadline, completes Inconclusive with CollectorFailed', async () => {
    await api.apply('web-to-db');
    const pods = await waitFor('two collector pods', async () => {
      const found = await api.collectorPods('web-to-db');
      return found.length === 2 ? found : undefined;
    }).catch(explainFailure(explain([a], 'web-to-db')));
    expect(pods.map((p) => [p.metadata?.namespace, p.spec?.nodeName]).sort()).toEqual([[OPERATOR_NS, 'node-1'], [OPERATOR_NS, 'node-2']]);
    const done = await waitFor('Completed', async () => {
      const d = await api.get('web-to-db');
      return d?.status?.phase === 'Completed' ? d : undefined;
    }).catch(explainFailure(explain([a], 'web-to-db')));
    expect(done?.status?.verdict).toBe('Inconclusive');
    expect(condition(done, 'Ready')).toMatchObject({ status: 'True', reason: 'Completed' });
    expect(done?.status?.suspicions?.filter((s) => s.code === 'CollectorFailed').length).toBeGreaterThan(0);
    expect(done?.status?.collectors?.map((c) => [c.node, c.message])).toEqual([
      ['node-1', expect.stringContaining('did not deliver within 3s')],
      ['node-2', expect.stringContaining('did not deliver within 3s')],
    ]);
    // Written concurrently: wait for all of them.
    const reasons = await waitFor('the Events of the run', async () => {
      const found = (await eventsOf('web-to-db')).map((e) => e.reason ?? '');
      return found.length >= 5 ? found : undefined;
    }).catch(explainFailure(explain([a], 'web-to-db')));
    expect(reasons.sort()).toEqual(['Collecting', 'CollectorFailed', 'CollectorFailed', 'Completed', 'Diagnosing']);
    const metrics = (await httpGet(a.metricsPort, '/metrics')).body;
    expect(metricValue(metrics, 'netdiag_diagnoses_total{verdict="Inconclusive"}')).toBe(1);
    expect(metricValue(metrics, 'netdiag_collector_failures_total{reason="deadline"}')).toBe(2);
    expect(metricValue(metrics, 'netdiag_reconcile_total{result="success"}')).toBeGreaterThan(0);
    // The run's collectors are deleted once the status is written (terminating until their kubelet
    // confirms) and their ConfigMaps gone.
    const after = await waitFor('the run\'s collectors deleted', async () => {
      const found = await api.collectorPods('web-to-db');
      return found.every((p) => p.metadata?.deletionTimestamp !== undefined) ? found : undefined;
    }).catch(explainFailure(explain([a], 'web-to-db')));
    expect(await api.collectorConfigMaps('web-to-db')).toEqual([]);
    await confirmDeletions(after);
    // Every log line carries the JSON fields; reconcile lines their key, step and reconcile id.
    const stepLines = a.lines.filter((l) => l.key === `${NS}/web-to-db` && l.step !== undefined);
    expect(stepLines.length).toBeGreaterThan(0);
    for (const line of stepLines) expect(line).toMatchObject({ level: expect.any(String), time: expect.any(String), msg: expect.any(String), reconcileId: expect.any(String) });
  }, 60_000);

  it('on SIGTERM exits 0 and clears the Lease holder', async () => {
    a.child.kill('SIGTERM');
    expect(await a.exit).toBe(0);
    expect(await holder()).toBeUndefined();
    expect(a.lines.some((l) => l.msg === 'released the leader Lease')).toBe(true);
  }, 30_000);

  it('runs two replicas with one leader; SIGTERM hands over without duplicate collectors; a deletion mid-collection cleans up', async () => {
    const b = await startOperator('b', cp.adminKubeconfig, ['--collector-deadline', '600']);
    const c = await startOperator('c', cp.adminKubeconfig, ['--collector-deadline', '600']);
    const ops = [b, c];
    const first = await waitFor('a leader', async () => {
      const id = await holder().catch(() => undefined);
      return ops.find((op) => op.identity === id);
    }).catch(explainFailure(explain(ops)));
    const second = first === b ? c : b;
    await waitFor('the leader ready', async () => ((await httpGet(first.healthPort, '/readyz')).status === 200 ? true : undefined)).catch(explainFailure(explain(ops)));
    // The standby is alive but not ready (it does no work), unless the leader check is excluded.
    const standby = await httpGet(second.healthPort, '/readyz');
    expect(standby.status).toBe(500);
    expect(standby.body).toContain('[-]leader failed: not the leader');
    await waitFor('the standby synced', async () => ((await httpGet(second.healthPort, '/readyz?exclude=leader')).status === 200 ? true : undefined)).catch(explainFailure(explain(ops)));
    expect((await httpGet(second.healthPort, '/healthz')).status).toBe(200);
    expect(metricValue((await httpGet(second.metricsPort, '/metrics')).body, 'netdiag_leader')).toBe(0);
    expect(metricValue((await httpGet(first.metricsPort, '/metrics')).body, 'netdiag_leader')).toBe(1);

    await api.apply('failover');
    const pods = await waitFor('two collector pods', async () => {
      const found = await api.collectorPods('failover');
      return found.length === 2 ? found : undefined;
    }).catch(explainFailure(explain(ops, 'failover')));
    const names = pods.map((p) => p.metadata?.name).sort();

    first.child.kill('SIGTERM');
    expect(await first.exit).toBe(0);
    await waitFor('the standby to take the Lease', async () => ((await holder().catch(() => undefined)) === second.identity ? true : undefined), 15_000).catch(explainFailure(explain(ops)));
    await waitFor('the new leader ready', async () => ((await httpGet(second.healthPort, '/readyz')).status === 200 ? true : undefined)).catch(explainFailure(explain(ops)));
    // The new leader reconciles the running diagnosis (its informer relists every object) and
    // finds the collectors in place: no duplicate.
    await waitFor('the new leader to reconcile the diagnosis', async () => (second.lines.some((l) => l.key === `${NS}/failover` && typeof l.reconcileId === 'string') || (await api.collectorPods('failover')).length !== 2 ? true : undefined)).catch(explainFailure(explain(ops, 'failover')));
    await sleep(1000);
    expect((await api.collectorPods('failover')).map((p) => p.metadata?.name).sort()).toEqual(names);
    expect((await api.get('failover'))?.status?.phase).toBe('Collecting');

    // Deleted mid-collection: the finalizer holds the object until its collectors and ConfigMaps are gone.
    await api.delete('failover');
    const terminating = await waitFor('the collectors deleted', async () => {
      const found = await api.collectorPods('failover');
      return found.every((p) => p.metadata?.deletionTimestamp !== undefined) ? found : undefined;
    }).catch(explainFailure(explain(ops, 'failover')));
    expect(await api.collectorConfigMaps('failover')).toEqual([]);
    expect(await api.get('failover')).toBeDefined();
    await confirmDeletions(terminating);
    await waitFor('the diagnosis gone', async () => ((await api.get('failover')) === undefined ? true : undefined)).catch(explainFailure(explain(ops, 'failover')));
    expect(await api.collectorPods('failover')).toEqual([]);

    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
    expect(await holder()).toBeUndefined();
  }, 120_000);
  it('exits 1 with one clear line when the operator namespace does not exist', async () => {
    const child = spawn(process.execPath, [MAIN, '--kubeconfig', cp.adminKubeconfig, '--namespace', 'nowhere', '--collector-image', 'netdiag:test'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toBe(`netdiag-operator: the operator namespace nowhere does not exist on ${cp.server} (create it, or pass --namespace)\n`);
  }, 30_000);

  it('stops its workers and exits 1 when another process takes the Lease', async () => {
    const d = await startOperator('d', cp.adminKubeconfig, []);
    await waitFor('the Lease to name the operator', async () => ((await holder().catch(() => undefined)) === d.identity ? true : undefined)).catch(explainFailure(explain([d])));
    const lease = await leases.readNamespacedLease({ namespace: OPERATOR_NS, name: LEASE });
    await leases.replaceNamespacedLease({ namespace: OPERATOR_NS, name: LEASE, body: { ...lease, spec: { ...lease.spec, holderIdentity: 'usurper', renewTime: new V1MicroTime(Date.now()) } } });
    expect(await d.exit).toBe(1);
    expect(d.lines.find((l) => l.msg === 'lost the leadership; stopping')).toMatchObject({ level: 'error', reason: 'the lease is held by usurper' });
    // It did not release a Lease it no longer held.
    expect(await holder()).toBe('usurper');
  }, 60_000);
});
