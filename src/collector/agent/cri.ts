// Asks the container runtime (through crictl, over its CRI socket) which pod sandboxes run on the
// node and where their network namespaces are. Optional: without a runtime socket or crictl the
// agent falls back to /proc and /run/netns, and says so in a warning.

import { stat } from 'node:fs/promises';
import type { CaptureStep, StepResult } from '../capture-script.js';
import { buildCommandRecord, buildJsonItem } from '../netstack-items.js';
import { parseCrictlInspect, parseCrictlPods, readySandboxes, type CriSandbox, type CriSandboxDetail } from '../parsers/crictl.js';
import { parseJsonDocuments } from '../parsers/json-documents.js';
import type { CriDiscovery, JsonItem } from '../snapshot.js';
import { runCaptureSteps, type RunnerOptions } from './capture-runner.js';

/** Where kubelets usually find their runtime: containerd, CRI-O, cri-dockerd, k3s's containerd. */
export const DEFAULT_CRI_SOCKETS = [
  '/run/containerd/containerd.sock',
  '/run/crio/crio.sock',
  '/var/run/cri-dockerd.sock',
  '/run/k3s/containerd/containerd.sock',
] as const;

export interface CriPod {
  readonly sandbox: CriSandbox;
  /** What inspectp said; undefined when it said nothing about this sandbox. */
  readonly detail?: CriSandboxDetail;
}

export interface CriResult {
  readonly record: CriDiscovery;
  readonly pods: readonly CriPod[];
  /** Set when the runtime could not be asked or its answer not understood. */
  readonly error?: string;
}

/** The runtime endpoint to use: the one given, else CONTAINER_RUNTIME_ENDPOINT, else the first default socket that exists. */
export async function findCriEndpoint(explicit: string | undefined): Promise<string | undefined> {
  const given = explicit ?? process.env.CONTAINER_RUNTIME_ENDPOINT;
  if (given !== undefined && given !== '') return given;
  for (const socket of DEFAULT_CRI_SOCKETS) {
    try {
      if ((await stat(socket)).isSocket()) return `unix://${socket}`;
    } catch {
      // Not this runtime.
    }
  }
  return undefined;
}

function crictl(endpoint: string, timeoutMs: number, args: readonly string[]): string[] {
  return ['crictl', '--runtime-endpoint', endpoint, '--timeout', `${Math.max(1, Math.ceil(timeoutMs / 1000))}s`, ...args];
}

async function runOne(id: string, argv: readonly string[], runner: RunnerOptions): Promise<{ argv: readonly string[]; result: StepResult }> {
  const step: CaptureStep = { id, action: { kind: 'exec', argv } };
  const results = await runCaptureSteps([step], {}, runner);
  return { argv, result: results.get(id) ?? { id, exitCode: null, failure: 'no result' } };
}

/** Lists the runtime's sandboxes and inspects the ready ones. */
export async function discoverCri(endpoint: string, runner: RunnerOptions): Promise<CriResult> {
  const list = await runOne('pods', crictl(endpoint, runner.commandTimeoutMs, ['pods', '-o', 'json']), runner);
  const podsItem = buildJsonItem(list.argv, list.result);
  const record = (inspect?: JsonItem): CriDiscovery => ({ endpoint, pods: podsItem, ...(inspect !== undefined ? { inspect } : {}) });
  if (podsItem.error !== undefined) return { record: record(), pods: [], error: `crictl pods: ${podsItem.error}` };
  let sandboxes: CriSandbox[];
  try {
    sandboxes = readySandboxes(parseCrictlPods(podsItem.data).sandboxes);
  } catch (error) {
    return { record: record(), pods: [], error: error instanceof Error ? error.message : String(error) };
  }
  if (sandboxes.length === 0) return { record: record(), pods: [] };

  const inspect = await runOne('inspectp', crictl(endpoint, runner.commandTimeoutMs, ['inspectp', '-o', 'json', ...sandboxes.map((s) => s.id)]), runner);
  const base = buildCommandRecord(inspect.argv, inspect.result);
  let inspectItem: JsonItem = base;
  const details = new Map<string, CriSandboxDetail>();
  if (base.error === undefined) {
    try {
      const documents = parseJsonDocuments(inspect.result.stdout?.toString('utf8') ?? '');
      inspectItem = { ...base, data: documents };
      for (const doc of documents) {
        const detail = parseCrictlInspect(doc);
        if (detail !== undefined) details.set(detail.id, detail);
      }
    } catch (error) {
      inspectItem = { ...base, error: `the output is not JSON: ${error instanceof Error ? error.message : String(error)}`, output: inspect.result.stdout?.toString('utf8') ?? '' };
    }
  }
  return {
    record: record(inspectItem),
    pods: sandboxes.map((sandbox) => {
      const detail = details.get(sandbox.id);
      return detail === undefined ? { sandbox } : { sandbox, detail };
    }),
    ...(inspectItem.error !== undefined ? { error: `crictl inspectp: ${inspectItem.error}` } : {}),
  };
}
