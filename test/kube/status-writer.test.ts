// The status writer against a real kube-apiserver + etcd with the NetworkDiagnosis CRD
// (test/support/control-plane.ts, test/support/crd.ts): a status built by the builders of
// api/v1alpha1/status.ts goes to /status as a merge patch on an object that has none yet, reads
// back as written, leaves the spec alone, is not sent again when nothing changed (the
// resourceVersion stays), removes the fields the new status no longer has, and keeps a condition's
// lastTransitionTime when only its message changes.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { API_VERSION, GROUP, KIND, PLURAL, VERSION } from '../../src/api/v1alpha1/group.js';
import { REASON_COLLECTOR_FAILED } from '../../src/api/v1alpha1/conditions.js';
import { buildCompletedStatus, buildProgressStatus, buildStalledStatus, findCondition, formatEndpoint, type StatusContext } from '../../src/api/v1alpha1/status.js';
import type { NetworkDiagnosis, NetworkDiagnosisSpec } from '../../src/api/v1alpha1/types.js';
import type { Diagnosis } from '../../src/diagnosis/index.js';
import { loadKubeConfig } from '../../src/kube/client.js';
import { KubeApiError } from '../../src/kube/errors.js';
import { writeStatus } from '../../src/kube/status-writer.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { installNetworkDiagnosisCrd } from '../support/crd.js';
import { describeAsRoot } from '../support/root.js';

const NS = 'default';
const T0 = '2026-03-01T10:00:00Z';
const T1 = '2026-03-01T10:00:05Z';
const T2 = '2026-03-01T10:05:00Z';
const T3 = '2026-03-01T10:10:00Z';

const SPEC: NetworkDiagnosisSpec = { source: { pod: { name: 'client' } }, destination: { service: { name: 'web' } }, port: 80, protocol: 'TCP' };

/** A diagnosis as the engine returns it: cni0 down on node-1, the request dropped there. */
function unreachable(linkMessage: string): Diagnosis {
  return {
    verdict: 'Unreachable',
    suspicions: [
      { level: 'fatal', node: 'node-1', code: 'LinkDown', message: linkMessage },
      { level: 'warning', node: 'node-1', code: 'MTUMismatch', message: 'flannel.1 mtu 1450 is larger than eth0 mtu 1400 minus the VXLAN overhead' },
    ],
    packetPath: {
      nodes: [
        { id: 'default/client', type: 'pod', actions: [{ kind: 'send', direction: 'request', outIface: 'eth0', verdict: 'ACCEPT' }] },
        { id: 'node-1', type: 'node', actions: [{ kind: 'nat', direction: 'request', nat: 'DNAT', before: '10.96.0.10:80', after: '10.244.2.7:80', rule: '-A KUBE-SEP-ABC -p tcp -j DNAT --to-destination 10.244.2.7:80' }] },
      ],
      links: [
        {
          source: 'default/client',
          destination: 'node-1',
          type: 'veth',
          direction: 'request',
          packet: { before: 'tcp 10.244.1.5:40000 > 10.96.0.10:80', after: 'tcp 10.244.1.5:40000 > 10.96.0.10:80' },
          attributes: { sourceInterface: 'eth0', destinationInterface: 'veth1a2b3c' },
        },
      ],
    },
    warnings: [],
  };
}

describeAsRoot('the NetworkDiagnosis status writer on a real API server', () => {
  let cp: ControlPlane;
  let api: CustomObjectsApi;

  beforeAll(async () => {
    cp = await startControlPlane({ log: (line) => process.stderr.write(`control-plane: ${line}\n`) });
    await installNetworkDiagnosisCrd(cp, NS);
    api = loadKubeConfig({ kubeconfig: cp.adminKubeconfig }).config.makeApiClient(CustomObjectsApi);
  }, 30 * 60_000);

  afterAll(async () => {
    await cp?.stop();
  }, 60_000);

  const read = async (name: string): Promise<NetworkDiagnosis> =>
    (await api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: PLURAL, name })) as NetworkDiagnosis;

  it('writes progress, then a completed diagnosis, only when something changed, and never the spec', async () => {
    const name = 'status-writer';
    const created = (await api.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: NS,
      plural: PLURAL,
      body: { apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec: SPEC },
    })) as NetworkDiagnosis;
    const ref = { namespace: NS, name };
    const generation = created.metadata.generation ?? 0;
    expect(created.status).toBeUndefined();
    const ctx = (now: string): StatusContext => ({ generation, now, source: formatEndpoint(SPEC.source, NS), destination: formatEndpoint(SPEC.destination, NS) });

    // Progress, on an object with no status yet.
    const collecting = buildProgressStatus(undefined, 'Collecting', [{ node: 'node-1', pod: 'netdiag-collect-1', state: 'Running' }], ctx(T0));
    expect(await writeStatus(api, ref, created.status, collecting)).toBe(true);
    const afterProgress = await read(name);
    expect(afterProgress.status).toEqual(collecting);

    // Completed, from a Diagnosis.
    const completed = buildCompletedStatus(afterProgress.status, unreachable('cni0 is down (state DOWN)'), ctx(T1));
    expect(await writeStatus(api, ref, afterProgress.status, completed)).toBe(true);
    const afterCompleted = await read(name);
    expect(afterCompleted.status).toEqual(completed);
    expect(afterCompleted.status).toMatchObject({ phase: 'Completed', verdict: 'Unreachable', suspicionCount: 2, source: 'pod/default/client', destination: 'service/default/web', observedGeneration: generation });
    expect(findCondition(afterCompleted.status?.conditions, 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: T1 });
    expect(afterCompleted.spec).toEqual(SPEC);
    expect(afterCompleted.metadata.generation).toBe(generation);

    // The same status again (rebuilt, later): nothing is sent, the object does not change.
    const again = buildCompletedStatus(afterCompleted.status, unreachable('cni0 is down (state DOWN)'), ctx(T1));
    expect(await writeStatus(api, ref, afterCompleted.status, again)).toBe(false);
    expect((await read(name)).metadata.resourceVersion).toBe(afterCompleted.metadata.resourceVersion);

    // Only a message changes: the condition keeps its lastTransitionTime.
    const reworded = buildCompletedStatus(afterCompleted.status, unreachable('cni0: state DOWN, flags NO-CARRIER'), ctx(T2));
    expect(await writeStatus(api, ref, afterCompleted.status, reworded)).toBe(true);
    const afterReword = await read(name);
    expect(afterReword.metadata.resourceVersion).not.toBe(afterCompleted.metadata.resourceVersion);
    expect(afterReword.status).toEqual(reworded);
    const reachable = findCondition(afterReword.status?.conditions, 'Reachable');
    expect(reachable).toMatchObject({ status: 'False', lastTransitionTime: T1 });
    expect(reachable?.message).toContain('cni0: state DOWN, flags NO-CARRIER');
    expect(afterReword.status?.completionTime).toBe(T2);

    // A stalled diagnosis has no verdict: the fields the new status lacks are gone from the object.
    const stalled = buildStalledStatus(afterReword.status, { ...ctx(T3), reason: REASON_COLLECTOR_FAILED, message: 'collector netdiag-collect-1 on node-1 missed its deadline' });
    expect(await writeStatus(api, ref, afterReword.status, stalled)).toBe(true);
    const afterStall = await read(name);
    expect(afterStall.status).toEqual(stalled);
    for (const field of ['verdict', 'suspicions', 'suspicionCount', 'packetPath', 'completionTime'] as const) expect(afterStall.status?.[field]).toBeUndefined();
    expect(afterStall.status).toMatchObject({ phase: 'Failed', startTime: T0, collectors: [{ node: 'node-1', pod: 'netdiag-collect-1', state: 'Running' }] });
    expect(afterStall.spec).toEqual(SPEC);
  });

  it('throws a classified error for an object that does not exist', async () => {
    const status = buildProgressStatus(undefined, 'Pending', [], { generation: 1, now: T0, source: 'pod/default/a', destination: 'pod/default/b' });
    const error = await writeStatus(api, { namespace: NS, name: 'no-such-diagnosis' }, undefined, status).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect((error as KubeApiError).kind).toBe('not-found');
  });
});
