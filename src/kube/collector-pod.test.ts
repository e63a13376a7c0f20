import { describe, expect, it } from '@jest/globals';
import { buildCollectorPod, buildCollectorPodsConfigMap, collectorPodName, type CollectorPodOptions } from './collector-pod.js';

const options: CollectorPodOptions = {
  diagnosis: { namespace: 'shop', name: 'checkout-to-db', uid: '7d5f1d4e-0b1a-4c1e-9f55-1c2d3e4f5a6b' },
  node: 'ip-10-0-1-23.eu-west-1.compute.internal',
  namespace: 'netdiag-system',
  image: 'netdiag:0.1.0',
  serviceAccountName: 'netdiag-collector',
  timeoutSeconds: 60,
  commandTimeoutSeconds: 10,
  pods: [{ namespace: 'shop', name: 'db-0', uid: 'u1', ips: ['10.244.1.7'] }],
};

describe('collectorPodName', () => {
  it('is a DNS label, readable, and unique per diagnosis uid and node', () => {
    const name = collectorPodName(options.diagnosis, options.node);
    expect(name).toMatch(/^netdiag-checkout-to-db-ip-10-0-1-23-eu-west-[0-9a-f]{10}$/);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(collectorPodName({ ...options.diagnosis, uid: 'other' }, options.node)).not.toBe(name);
    expect(collectorPodName(options.diagnosis, 'node2')).not.toBe(name);
    expect(collectorPodName({ namespace: 'x', name: 'A.B_C'.repeat(40), uid: 'u' }, 'N'.repeat(200))).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
  });
});

describe('buildCollectorPod', () => {
  const pod = buildCollectorPod(options);
  const spec = pod.spec;
  const container = spec?.containers[0];

  it('runs on the node by name, in the host network and PID namespaces, once, with a deadline', () => {
    expect({
      namespace: pod.metadata?.namespace,
      nodeName: spec?.nodeName,
      hostNetwork: spec?.hostNetwork,
      hostPID: spec?.hostPID,
      hostIPC: spec?.hostIPC,
      restartPolicy: spec?.restartPolicy,
      activeDeadlineSeconds: spec?.activeDeadlineSeconds,
      tolerations: spec?.tolerations,
      serviceAccountName: spec?.serviceAccountName,
    }).toEqual({
      namespace: 'netdiag-system',
      nodeName: options.node,
      hostNetwork: true,
      hostPID: true,
      hostIPC: undefined,
      restartPolicy: 'Never',
      activeDeadlineSeconds: 90,
      tolerations: [{ operator: 'Exists' }],
      serviceAccountName: 'netdiag-collector',
    });
  });

  it('has only the capabilities the agent needs, no privilege, no escalation, a read-only root, no host mount', () => {
    expect(container?.securityContext).toEqual({
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['SYS_ADMIN', 'NET_ADMIN', 'SYS_PTRACE'] },
    });
    expect(spec?.volumes?.filter((v) => v.hostPath !== undefined)).toEqual([]);
    expect(spec?.securityContext?.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  });

  it('is labelled for the diagnosis and node, and runs `netdiag collect` into ConfigMaps with the pod list mounted', () => {
    expect(pod.metadata?.labels).toEqual({
      'app.kubernetes.io/managed-by': 'netdiag',
      'app.kubernetes.io/component': 'collector',
      'netdiag.io/diagnosis': 'shop.checkout-to-db',
      'netdiag.io/node': 'ip-10-0-1-23.eu-west-1.compute.internal',
    });
    expect([...(container?.command ?? []), ...(container?.args ?? [])].join(' ')).toBe(
      'netdiag collect --configmaps --namespace netdiag-system --diagnosis shop.checkout-to-db --node ip-10-0-1-23.eu-west-1.compute.internal --pods /etc/netdiag/pods/pods.json --timeout 60 --command-timeout 10 --no-cri --cni-conf-dir /proc/1/root/etc/cni/net.d --cni-record-dir /proc/1/root/var/log/netdiag',
    );
    const configMap = buildCollectorPodsConfigMap(options);
    expect(spec?.volumes?.find((v) => v.name === 'pods')?.configMap?.name).toBe(configMap.metadata?.name);
    expect(JSON.parse(configMap.data?.['pods.json'] ?? '')).toEqual(options.pods);
    expect(configMap.metadata?.labels).toEqual(pod.metadata?.labels);
  });
});
