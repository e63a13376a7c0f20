// `netdiag collect`: one node's snapshot, to a file or stdout, and/or through the API server as
// chunked ConfigMaps for the controller.

import { collectSnapshot, CollectSetupError } from '../collector/agent/collect.js';
import { gzipSnapshot, writeSnapshotFile, writeSnapshotStdout } from '../collector/agent/sinks.js';
import { packGzip } from '../collector/snapshot-pack.js';
import { parsePodList, PodListError } from '../collector/parsers/pod-list.js';
import type { PodRef, Snapshot } from '../collector/snapshot.js';
import type { LoadedKubeConfig } from '../kube/client.js';
import { CliError } from './cli-error.js';
import { parseCollectArgs, type CollectRequest } from './collect-args.js';
import { readInputFile } from './read-input.js';
import { netdiagVersion } from './version.js';

export { COLLECT_USAGE } from './collect-args.js';

function readPods(request: CollectRequest): PodRef[] | undefined {
  if (request.podsFile === undefined) return undefined;
  const text = readInputFile(request.podsFile, '--pods');
  let document: unknown;
  try {
    document = JSON.parse(text) as unknown;
  } catch (error) {
    throw new CliError(`--pods ${request.podsFile}: not JSON: ${error instanceof Error ? error.message : String(error)}`, 1, { cause: error });
  }
  try {
    return parsePodList(document, request.node ?? process.env.NODE_NAME);
  } catch (error) {
    if (error instanceof PodListError) throw new CliError(`--pods ${request.podsFile}: ${error.message}`, 1, { cause: error });
    throw error;
  }
}

// The Kubernetes client is loaded only when --configmaps asks for it: it is most of the start-up time.
async function loadKube(request: CollectRequest): Promise<{ loaded: LoadedKubeConfig; namespace: string } | undefined> {
  const target = request.configMaps;
  if (target === undefined) return undefined;
  const { loadKubeConfig } = await import('../kube/client.js');
  let loaded: LoadedKubeConfig;
  try {
    loaded = loadKubeConfig(target.kubeconfig !== undefined ? { kubeconfig: target.kubeconfig } : {});
  } catch (error) {
    throw new CliError(`--configmaps: ${error instanceof Error ? error.message : String(error)}`, 1, { cause: error });
  }
  const namespace = target.namespace ?? loaded.namespace;
  if (namespace === undefined) throw new CliError('--configmaps: no --namespace, and the credentials name none (the operator\'s namespace holds the snapshots)');
  return { loaded, namespace };
}

async function writeOut(path: string, snapshot: Snapshot): Promise<number> {
  if (path === '-') return writeSnapshotStdout(snapshot);
  try {
    return writeSnapshotFile(path, snapshot);
  } catch (error) {
    const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : String(error);
    throw new CliError(`--out ${path}: cannot write: ${code}`, 1, { cause: error });
  }
}

function sizeOf(bytes: number): string {
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`;
}

function summary(snapshot: Snapshot): string {
  const pods = snapshot.namespaces.filter((n) => n.kind === 'pod').length;
  const others = snapshot.namespaces.filter((n) => n.kind === 'other').length;
  const parts = [
    `host + ${pods} pod namespace(s)${others > 0 ? ` + ${others} other(s)` : ''}`,
    ...(snapshot.hostNetworkPods.length > 0 ? [`${snapshot.hostNetworkPods.length} hostNetwork pod(s)`] : []),
    ...(snapshot.podsNotFound.length > 0 ? [`${snapshot.podsNotFound.length} pod(s) NOT FOUND`] : []),
    `${snapshot.warnings.length} warning(s)`,
    `${snapshot.durationMs} ms`,
    snapshot.complete ? 'complete' : 'INCOMPLETE',
  ];
  return `snapshot: ${parts.join(', ')}`;
}

export async function runCollect(args: string[]): Promise<number> {
  const request = parseCollectArgs(args);
  const log = request.quiet ? (): void => undefined : (message: string): void => void process.stderr.write(`collect: ${message}\n`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) log('not running as root: entering namespaces and dumping netfilter will fail (each failure is recorded)');
  const pods = readPods(request);
  const kube = await loadKube(request);

  const snapshot = await collectSnapshot({
    version: netdiagVersion(),
    ...(request.node !== undefined ? { nodeName: request.node } : {}),
    ...(pods !== undefined ? { pods } : {}),
    ...(request.hostNetns !== undefined ? { hostNetnsPath: request.hostNetns } : {}),
    ...(request.netnsDirs !== undefined ? { runNetnsDirs: request.netnsDirs } : {}),
    ...(request.procNetns !== undefined ? { procNetns: request.procNetns } : {}),
    deadlineMs: request.timeoutMs,
    commandTimeoutMs: request.commandTimeoutMs,
    ...(request.parallelism !== undefined ? { parallelism: request.parallelism } : {}),
    ...(request.criEndpoint !== undefined ? { criEndpoint: request.criEndpoint } : {}),
    ...(request.cniConfDir !== undefined ? { cniConfigDir: request.cniConfDir } : {}),
    ...(request.cniRecordDir !== undefined ? { cniRecordDir: request.cniRecordDir } : {}),
    log,
  }).catch((error: unknown) => {
    if (error instanceof CollectSetupError) throw new CliError(error.message, 1, { cause: error });
    throw error;
  });
  for (const warning of snapshot.warnings) log(`warning ${warning.code}: ${warning.message}`);
  for (const missing of snapshot.podsNotFound) log(`pod ${missing.pod.namespace}/${missing.pod.name} not found: ${missing.reason}`);
  log(summary(snapshot));

  if (request.out !== undefined) {
    const bytes = await writeOut(request.out, snapshot);
    log(`wrote ${sizeOf(bytes)} to ${request.out === '-' ? 'stdout' : request.out}`);
  }
  if (kube !== undefined && request.configMaps !== undefined) {
    const [{ coreApi }, { KubeApiError }, { writeSnapshotConfigMaps }] = await Promise.all([
      import('../kube/client.js'),
      import('../kube/errors.js'),
      import('../kube/snapshot-configmaps.js'),
    ]);
    try {
      const { gzip, rawBytes } = await gzipSnapshot(snapshot);
      const location = { namespace: kube.namespace, diagnosis: request.configMaps.diagnosis, node: snapshot.node.name };
      const written = await writeSnapshotConfigMaps(coreApi(kube.loaded.config), location, packGzip(gzip, rawBytes));
      log(`wrote ${written.configMaps.length} ConfigMap(s) in ${kube.namespace} (snapshot ${written.snapshotId}, ${sizeOf(written.gzipBytes)} gzip): ${written.configMaps.join(', ')}`);
    } catch (error) {
      if (error instanceof KubeApiError) throw new CliError(`--configmaps: ${error.message}`, 1, { cause: error });
      throw error;
    }
  }
  return 0;
}
