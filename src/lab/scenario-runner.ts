// `netdiag lab run`: one scenario end to end. Builds a lab for it, creates its objects through the
// API server (pods bound to their nodes, services, policies), waits until the pods are Ready, the
// EndpointSlices list the endpoints and kube-proxy has programmed every service on every node,
// applies the faults in the nodes' and pods' namespaces, creates the pods that start after the faults
// (waiting only until their kubelet runs them or says why it cannot), creates the NetworkDiagnosis, waits for
// the operator to finish it, judges the status against `expect`, and tears the lab down.
//
// Every wait is bounded and says what it waited for when it gives up; a scenario that cannot be set
// up is a failed result naming the step, never a crash of the whole run.

import { loadKubeConfig } from '../kube/client.js';
import { createScenarioClient, type ScenarioClient } from '../kube/scenario-client.js';
import { tryRun, waitFor } from './process.js';
import { expandTemplates, type Scenario, type TemplateValues } from './scenario.js';
import { judgeScenario, type DiagnosisOutcome, type ScenarioResult } from './scenario-judge.js';
import { nodeListenerPodName, SCENARIO_DIAGNOSIS_NAME, scenarioManifests } from './scenario-manifests.js';

/** The namespace a scenario's objects and its NetworkDiagnosis live in. */
export const SCENARIO_NAMESPACE = 'scenario';

/** A running lab, as the runner needs it. */
export interface ScenarioLab {
  readonly kubeconfig: string;
  /** A node by name: its namespace and template values. */
  node(name: string): { readonly netns: string; readonly ip: string; readonly podCIDR: string; readonly vtep?: string } | undefined;
  /** A pod's network namespace and host-side interface, once the lab's kubelet has wired it. */
  pod(namespace: string, name: string): { readonly netns: string; readonly hostVeth: string } | undefined;
  stop(): Promise<void>;
}

export interface ScenarioRunnerDeps {
  /** Starts a lab with these node names on the scenario's network, the operator running against it. */
  startLab(scenario: Scenario): Promise<ScenarioLab>;
  log(line: string): void;
  /** Bounds of the waits (ms); defaults suit a 2-vCPU machine. */
  readonly setupTimeoutMs?: number;
  readonly diagnosisTimeoutMs?: number;
}

/** Whether kube-proxy has programmed CLUSTER_IP in NETNS (a KUBE-SERVICES rule names it, in nat or, without endpoints, in filter). */
function kubeProxyProgrammed(netns: string, clusterIP: string): boolean {
  const dump = tryRun('ip', ['netns', 'exec', netns, 'iptables-save'], { timeoutMs: 10_000 });
  return dump.ok && dump.stdout.split('\n').some((line) => line.startsWith('-A KUBE-SERVICES') && line.includes(`${clusterIP}/32`));
}

async function setUp(scenario: Scenario, lab: ScenarioLab, client: ScenarioClient, timeoutMs: number, log: (line: string) => void): Promise<TemplateValues> {
  const ns = SCENARIO_NAMESPACE;
  const manifests = scenarioManifests(scenario, ns);
  await client.createNamespace(ns);
  // Policies before pods, so that no pod ever runs without them (as `kubectl apply -f` of a whole directory would not guarantee).
  for (const m of [...manifests.policies, ...manifests.services, ...manifests.pods]) await client.create(m);

  const podNames = scenario.nodes.flatMap((n) => [...((n.listen ?? []).length > 0 ? [nodeListenerPodName(n.name)] : []), ...(n.pods ?? []).filter((p) => p.start !== 'afterFaults').map((p) => p.name)]);
  log(`waiting for ${podNames.length} pod(s) to be Ready`);
  const podIps: Record<string, string> = {};
  for (const name of podNames) {
    podIps[name] = await waitFor(
      `pod ${ns}/${name} to be Ready with an IP`,
      async () => {
        const state = await client.podState(ns, name);
        return state?.ready === true && state.ip !== undefined ? state.ip : undefined;
      },
      timeoutMs,
    );
  }

  for (const service of scenario.services) {
    const want = service.endpoints.map((p) => podIps[p]).filter((ip): ip is string => ip !== undefined).sort();
    log(`waiting for service ${service.name}: ${want.length} endpoint(s) in its EndpointSlices, programmed by kube-proxy on every node`);
    await waitFor(
      `the EndpointSlices of service ${ns}/${service.name} to list ${want.length === 0 ? 'no endpoint' : want.join(', ')}`,
      async () => {
        const ready = (await client.readyEndpoints(ns, service.name)).sort();
        return ready.join(',') === want.join(',') ? true : undefined;
      },
      timeoutMs,
    );
    const clusterIP = await waitFor(`service ${ns}/${service.name} to have a ClusterIP`, () => client.serviceClusterIP(ns, service.name), timeoutMs);
    for (const node of scenario.nodes) {
      const netns = lab.node(node.name)?.netns;
      if (netns === undefined) throw new Error(`the lab has no node ${node.name}`);
      await waitFor(`kube-proxy on ${node.name} to program service ${service.name} (${clusterIP})`, () => Promise.resolve(kubeProxyProgrammed(netns, clusterIP) ? true : undefined), timeoutMs);
    }
  }

  const nodes: Record<string, TemplateValues['nodes'][string]> = {};
  for (const node of scenario.nodes) {
    const n = lab.node(node.name);
    if (n === undefined) throw new Error(`the lab has no node ${node.name}`);
    nodes[node.name] = { ip: n.ip, podCIDR: n.podCIDR, ...(n.vtep !== undefined ? { vtep: n.vtep } : {}) };
  }
  const pods: Record<string, TemplateValues['pods'][string]> = {};
  for (const pod of scenario.nodes.flatMap((n) => n.pods ?? []).filter((p) => p.start !== 'afterFaults')) {
    const wired = lab.pod(ns, pod.name);
    const ip = podIps[pod.name];
    if (wired !== undefined && ip !== undefined) pods[pod.name] = { ip, hostVeth: wired.hostVeth };
  }
  return { nodes, pods };
}

/** Runs each fault with `sh -c` in its namespace (the scenario's author wrote it; nothing of it comes from a user of the operator). */
function applyFaults(scenario: Scenario, lab: ScenarioLab, values: TemplateValues, log: (line: string) => void): void {
  const run = (netns: string, command: string, where: string): void => {
    const expanded = expandTemplates(command, values, where);
    log(`fault ${where}: ${expanded}`);
    const result = tryRun('ip', ['netns', 'exec', netns, 'sh', '-c', expanded], { timeoutMs: 30_000 });
    if (!result.ok) throw new Error(`fault ${where} (${expanded}) failed (exit ${result.status}): ${(result.stderr || result.stdout).trim()}`);
  };
  for (const [i, node] of scenario.nodes.entries()) {
    const netns = lab.node(node.name)?.netns;
    if (netns === undefined) throw new Error(`the lab has no node ${node.name}`);
    for (const [j, fault] of (node.faults ?? []).entries()) run(netns, fault, `${scenario.file}: nodes[${i}].faults[${j}]`);
    for (const [k, pod] of (node.pods ?? []).entries()) {
      const podNetns = lab.pod(SCENARIO_NAMESPACE, pod.name)?.netns;
      if ((pod.faults ?? []).length > 0 && podNetns === undefined) throw new Error(`pod ${pod.name} has no network namespace in the lab`);
      for (const [j, fault] of (pod.faults ?? []).entries()) run(podNetns ?? '', fault, `${scenario.file}: nodes[${i}].pods[${k}].faults[${j}]`);
    }
  }
}

/**
 * Creates the pods that start after the faults and waits until the kubelet of each has acted: it
 * runs (Ready with an IP), or it reported why its sandbox could not be made (a waiting reason, such
 * as CreatePodSandboxError when the CNI ADD failed). Not being Ready is not an error here.
 */
async function startPodsAfterFaults(scenario: Scenario, client: ScenarioClient, timeoutMs: number, log: (line: string) => void): Promise<void> {
  const { podsAfterFaults } = scenarioManifests(scenario, SCENARIO_NAMESPACE);
  if (podsAfterFaults.length === 0) return;
  for (const m of podsAfterFaults) await client.create(m);
  for (const pod of scenario.nodes.flatMap((n) => n.pods ?? []).filter((p) => p.start === 'afterFaults')) {
    const state = await waitFor(
      `pod ${SCENARIO_NAMESPACE}/${pod.name} (start: afterFaults) to run or to report why it cannot`,
      async () => {
        const s = await client.podState(SCENARIO_NAMESPACE, pod.name);
        return s !== undefined && ((s.ready && s.ip !== undefined) || s.waiting !== undefined) ? s : undefined;
      },
      timeoutMs,
    );
    log(`pod ${pod.name} (started after the faults): ${state.ready ? `Ready at ${state.ip ?? '?'}` : `not Ready: ${state.waiting ?? ''}`}`);
  }
}

function failedResult(scenario: Scenario, step: string, error: unknown): ScenarioResult {
  const message = error instanceof Error ? error.message : String(error);
  return { name: scenario.name, file: scenario.file, passed: false, completed: false, suspicions: [], path: [], mismatches: [`${step}: ${message}`] };
}

/** Runs SCENARIO on a lab of its own and returns its result; never throws for a scenario that fails. */
export async function runScenario(scenario: Scenario, deps: ScenarioRunnerDeps): Promise<ScenarioResult> {
  const setupTimeoutMs = deps.setupTimeoutMs ?? 90_000;
  const diagnosisTimeoutMs = deps.diagnosisTimeoutMs ?? 120_000;
  const log = (line: string): void => deps.log(`${scenario.name}: ${line}`);
  let lab: ScenarioLab;
  try {
    log(`starting a ${scenario.network} lab with ${scenario.nodes.length} node(s)`);
    lab = await deps.startLab(scenario);
  } catch (error) {
    return failedResult(scenario, 'lab start', error);
  }
  try {
    const client = createScenarioClient(loadKubeConfig({ kubeconfig: lab.kubeconfig }).config);
    let values: TemplateValues;
    try {
      values = await setUp(scenario, lab, client, setupTimeoutMs, log);
      applyFaults(scenario, lab, values, log);
      await startPodsAfterFaults(scenario, client, setupTimeoutMs, log);
    } catch (error) {
      return failedResult(scenario, 'setup', error);
    }
    log('creating the NetworkDiagnosis and waiting for the operator');
    const { diagnosis } = scenarioManifests(scenario, SCENARIO_NAMESPACE);
    await client.create(diagnosis);
    let outcome: DiagnosisOutcome;
    try {
      outcome = await waitFor(
        `NetworkDiagnosis ${SCENARIO_NAMESPACE}/${SCENARIO_DIAGNOSIS_NAME} to be Ready or Stalled`,
        async () => {
          const d = await client.getDiagnosis(SCENARIO_NAMESPACE, SCENARIO_DIAGNOSIS_NAME);
          const conditions = d?.status?.conditions ?? [];
          const isTrue = (type: string): boolean => conditions.some((c) => c.type === type && c.status === 'True' && c.observedGeneration === d?.metadata.generation);
          if (isTrue('Ready')) return { completed: true, status: d?.status ?? {} };
          if (isTrue('Stalled')) return { completed: false, status: d?.status ?? {} };
          return undefined;
        },
        diagnosisTimeoutMs,
      );
    } catch (error) {
      return failedResult(scenario, 'diagnosis', error);
    }
    const result = judgeScenario(scenario, SCENARIO_NAMESPACE, outcome);
    log(result.passed ? 'passed' : `failed: ${result.mismatches.join('; ')}`);
    return result;
  } finally {
    log('tearing the lab down');
    await lab.stop();
  }
}
