// The Kubernetes objects a scenario stands for, as plain manifests the lab applies through the API
// server: a pod per scenario pod (bound to its node by spec.nodeName, one containerPort per
// listener, so the virtual kubelet starts them; its scenario labels beside the lab's own), a
// host-network pod per node that listens (the kubelet starts host listeners from containerPorts
// too), a Service per scenario service (selecting its endpoint pods by a label of its own), the
// NetworkPolicies as written, and the NetworkDiagnosis. Pure: data in, data out.

import { API_VERSION, KIND } from '../api/v1alpha1/index.js';
import type { DestinationEndpoint, NetworkDiagnosisSpec, SourceEndpoint } from '../api/v1alpha1/index.js';
import { isIp } from '../diagnosis/index.js';
import { LAB_LABEL_PREFIX, LAB_PART_OF_LABEL, type Listen, type Scenario, type ScenarioPolicy } from './scenario.js';

/** A manifest as applied (apiVersion, kind, metadata, spec). */
export type Manifest = Readonly<Record<string, unknown>>;

export interface ScenarioManifests {
  /** Created with the services and policies; the runner waits until they are Ready, then runs the faults. */
  readonly pods: readonly Manifest[];
  /** The pods with `start: afterFaults`: created once the faults ran. */
  readonly podsAfterFaults: readonly Manifest[];
  readonly services: readonly Manifest[];
  readonly policies: readonly Manifest[];
  readonly diagnosis: Manifest;
}

/** The name of the NetworkDiagnosis a scenario run creates. */
export const SCENARIO_DIAGNOSIS_NAME = 'scenario';
/** The image the lab's pods name; the virtual kubelet runs no image, only the declared listeners. */
export const LAB_POD_IMAGE = 'netdiag.io/lab-listener';
const SERVICE_LABEL_PREFIX = `${LAB_LABEL_PREFIX}svc-`;

/** The label that makes a pod an endpoint of service NAME. */
export function serviceLabel(name: string): string {
  return `${SERVICE_LABEL_PREFIX}${name}`;
}

/** The host-network pod that holds a node's own listeners. */
export function nodeListenerPodName(node: string): string {
  return `${node}-host-listeners`;
}

function containerPorts(listen: readonly Listen[] | undefined): Record<string, unknown>[] {
  return (listen ?? []).map((l) => ({ containerPort: l.port, protocol: l.protocol }));
}

function podManifest(name: string, namespace: string, node: string, listen: readonly Listen[] | undefined, labels: Record<string, string>, hostNetwork: boolean): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { [LAB_PART_OF_LABEL]: 'netdiag-lab', ...labels } },
    spec: {
      nodeName: node,
      ...(hostNetwork ? { hostNetwork: true } : {}),
      // A pod that is deleted goes at once: the lab's kubelet has nothing to drain.
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'main', image: LAB_POD_IMAGE, ports: containerPorts(listen) }],
    },
  };
}

function policyManifest(policy: ScenarioPolicy, namespace: string): Manifest {
  const metadata = (policy.metadata ?? {}) as Record<string, unknown>;
  return { ...policy, metadata: { ...metadata, namespace } };
}

/** The endpoint of the diagnosis a scenario name stands for (pods and services of the namespace). */
function endpointOf(ref: string, scenario: Scenario): SourceEndpoint & DestinationEndpoint {
  if (isIp(ref)) return { ip: ref };
  if (scenario.nodes.some((n) => n.name === ref)) return { node: { name: ref } };
  if (scenario.services.some((s) => s.name === ref)) return { service: { name: ref } };
  return { pod: { name: ref } };
}

/** Every object of SCENARIO in NAMESPACE (parseScenario has checked the references). */
export function scenarioManifests(scenario: Scenario, namespace: string): ScenarioManifests {
  const endpointsOf = new Map<string, string[]>();
  for (const service of scenario.services) for (const pod of service.endpoints) endpointsOf.set(pod, [...(endpointsOf.get(pod) ?? []), service.name]);

  const pods: Manifest[] = [];
  const podsAfterFaults: Manifest[] = [];
  for (const node of scenario.nodes) {
    if ((node.listen ?? []).length > 0) pods.push(podManifest(nodeListenerPodName(node.name), namespace, node.name, node.listen, {}, true));
    for (const pod of node.pods ?? []) {
      // The scenario's labels cannot name the lab's own (parseScenario refuses them).
      const labels = { ...pod.labels, ...Object.fromEntries((endpointsOf.get(pod.name) ?? []).map((s) => [serviceLabel(s), 'true'])) };
      (pod.start === 'afterFaults' ? podsAfterFaults : pods).push(podManifest(pod.name, namespace, node.name, pod.listen, labels, false));
    }
  }

  const services = scenario.services.map((s) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace },
    spec: {
      selector: { [serviceLabel(s.name)]: 'true' },
      ports: [{ name: 'main', port: s.port, targetPort: s.targetPort ?? s.port, protocol: s.protocol ?? 'TCP' }],
    },
  }));

  const d = scenario.diagnose;
  const spec: NetworkDiagnosisSpec = {
    source: endpointOf(d.source, scenario),
    destination: endpointOf(d.destination, scenario),
    protocol: d.protocol,
    ...(d.port !== undefined ? { port: d.port } : {}),
  };
  const diagnosis = { apiVersion: API_VERSION, kind: KIND, metadata: { name: SCENARIO_DIAGNOSIS_NAME, namespace }, spec };

  return { pods, podsAfterFaults, services, policies: scenario.policies.map((p) => policyManifest(p, namespace)), diagnosis };
}
