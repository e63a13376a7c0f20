// The collector pod and its pod-list ConfigMap as the real API server validates them (server-side
// dry run: nothing runs, no kubelet is needed), and where Pod Security admission places the pod.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { CoreV1Api } from '@kubernetes/client-node';
import { coreApi, loadKubeConfig } from '../../src/kube/client.js';
import { buildCollectorPod, buildCollectorPodsConfigMap, type CollectorPodOptions } from '../../src/kube/collector-pod.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { describeAsRoot } from '../support/root.js';

const options: CollectorPodOptions = {
  diagnosis: { namespace: 'shop', name: 'checkout-to-db', uid: '7d5f1d4e-0b1a-4c1e-9f55-1c2d3e4f5a6b' },
  node: 'node1',
  namespace: 'netdiag-system',
  image: 'netdiag:0.1.0',
  serviceAccountName: 'netdiag-collector',
  timeoutSeconds: 60,
  commandTimeoutSeconds: 10,
  pods: [{ namespace: 'shop', name: 'db-0', ips: ['10.244.1.7'] }],
};

describeAsRoot('the collector pod on a real API server', () => {
  let cp: ControlPlane;
  let api: CoreV1Api;

  beforeAll(async () => {
    cp = await startControlPlane({ log: (line) => process.stderr.write(`control-plane: ${line}\n`) });
    api = coreApi(loadKubeConfig({ kubeconfig: cp.adminKubeconfig }).config);
    // The namespace the chart creates: collectors need hostNetwork, hostPID and capabilities.
    await api.createNamespace({ body: { metadata: { name: options.namespace, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } } });
    await api.createNamespace({ body: { metadata: { name: 'baseline', labels: { 'pod-security.kubernetes.io/enforce': 'baseline' } } } });
    for (const namespace of [options.namespace, 'baseline']) await api.createNamespacedServiceAccount({ namespace, body: { metadata: { name: options.serviceAccountName } } });
  }, 30 * 60_000);

  afterAll(async () => {
    await cp?.stop();
  }, 60_000);

  it('accepts the pod and its ConfigMap as they are built', async () => {
    const pod = await api.createNamespacedPod({ namespace: options.namespace, body: buildCollectorPod(options), dryRun: 'All' });
    expect({ node: pod.spec?.nodeName, hostNetwork: pod.spec?.hostNetwork, hostPID: pod.spec?.hostPID }).toEqual({ node: 'node1', hostNetwork: true, hostPID: true });
    const configMap = await api.createNamespacedConfigMap({ namespace: options.namespace, body: buildCollectorPodsConfigMap(options), dryRun: 'All' });
    expect(configMap.metadata?.name).toBe(`${pod.metadata?.name ?? ''}-pods`);
  });

  it('is refused in a namespace enforcing the baseline Pod Security level (why the chart labels its namespace privileged)', async () => {
    const refusal = await api.createNamespacedPod({ namespace: 'baseline', body: { ...buildCollectorPod(options), metadata: { ...buildCollectorPod(options).metadata, namespace: 'baseline' } }, dryRun: 'All' }).then(
      () => 'accepted',
      (error: unknown) => (JSON.parse(String((error as { body?: unknown }).body)) as { message: string }).message,
    );
    expect(refusal).toMatch(/violates PodSecurity "baseline:latest": non-default capabilities .*"NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE".*host namespaces \(hostNetwork=true, hostPID=true\)/);
  });
});
