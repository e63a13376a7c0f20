// `netdiag diagnose`: a packet from a source to a destination through the snapshots of a cluster,
// offline; prints the verdict, the path and the suspicions.

import { buildClusterStateFromSnapshots } from '../collector/snapshot-cluster.js';
import { detectPlugin, diagnose, PLUGINS, requestedPlugin, type ClusterObjects, type Diagnosis, type QueryEndpoint, type Warning } from '../diagnosis/index.js';
import { CliError, UsageError } from './cli-error.js';
import { parseDiagnoseArgs, type DiagnoseRequest } from './diagnose-args.js';
import { diagnoseJson, endpointText, formatDiagnoseText } from './diagnose-format.js';
import { readSnapshotDir } from './snapshot-dir.js';

export { DIAGNOSE_USAGE } from './diagnose-args.js';

/** A reference to an object that is not in the snapshot is the user's mistake: say so, before any walk. */
function checkReference(objects: ClusterObjects, flag: string, e: QueryEndpoint, dir: string): void {
  const key = (m: { namespace?: string; name: string }): string => `${m.namespace ?? 'default'}/${m.name}`;
  const found = ((): boolean => {
    switch (e.kind) {
      case 'pod':
        return objects.pods.some((p) => key(p.metadata) === `${e.namespace}/${e.name}`);
      case 'service':
        return objects.services.some((s) => key(s.metadata) === `${e.namespace}/${e.name}`);
      case 'node':
        return objects.nodes.some((n) => n.metadata.name === e.name);
      case 'ip':
        return true;
    }
  })();
  if (!found) throw new CliError(`${flag} ${endpointText(e)}: no such ${e.kind} among the objects in ${dir}`);
}

/** 0 Reachable; 3 Unreachable or Degraded; 4 Inconclusive. */
export function exitStatusOf(d: Diagnosis): number {
  switch (d.verdict) {
    case 'Reachable':
      return 0;
    case 'Unreachable':
    case 'Degraded':
      return 3;
    case 'Inconclusive':
      return 4;
  }
}

export function runDiagnoseRequest(request: DiagnoseRequest): { output: string; exitCode: number } {
  const dir = readSnapshotDir(request.snapshotDir);
  checkReference(dir.objects, '--src', request.source, request.snapshotDir);
  checkReference(dir.objects, '--dst', request.destination, request.snapshotDir);
  const { state, warnings: snapshotWarnings } = buildClusterStateFromSnapshots(dir.objects, dir.snapshots);
  let plugin = detectPlugin(state);
  if (request.plugin !== undefined) {
    const chosen = requestedPlugin(request.plugin);
    if (chosen === undefined) throw new UsageError(`--plugin ${JSON.stringify(request.plugin)}: expected auto or one of ${Object.keys(PLUGINS).join(', ')}`);
    plugin = chosen;
  }
  const ignored = [...dir.ignoredKinds].map(([kind, n]): Warning => ({ code: 'objects-ignored', message: `${n} ${kind} object${n === 1 ? '' : 's'} in ${request.snapshotDir} not read (not needed for a diagnosis)` }));
  const inputWarnings = [...ignored, ...snapshotWarnings];
  const d = diagnose(
    state,
    { source: request.source, destination: request.destination, port: request.port, protocol: request.protocol, ...(request.sourcePort !== undefined ? { sourcePort: request.sourcePort } : {}) },
    { plugins: plugin.name === 'generic' ? [] : [plugin.plugin] },
  );
  const output = request.output === 'json' ? `${JSON.stringify(diagnoseJson(request, d, plugin, inputWarnings), null, 2)}\n` : formatDiagnoseText(request, d, plugin, inputWarnings);
  return { output, exitCode: exitStatusOf(d) };
}

export function runDiagnose(args: string[]): number {
  const { output, exitCode } = runDiagnoseRequest(parseDiagnoseArgs(args));
  process.stdout.write(output);
  return exitCode;
}
