// helm for the chart tests: linked from hack/get-binaries.sh's cache (the `helm` component, built
// from the Go module proxy when cold, about a minute and a half), and the chart rendered into
// objects.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { provisionBinaries } from '../support/control-plane.js';

export const REPO = join(import.meta.dirname, '..', '..');
export const CHART = join(REPO, 'charts', 'netdiag');

/** A rendered object: what the tests read of it. */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly [field: string]: unknown;
}

export interface Helm {
  /** The directory holding `helm` (and whatever else was provisioned with it). */
  readonly binDir: string;
  /** Runs helm; resolves with its exit status and output (never throws on a non-zero exit). */
  run(args: readonly string[]): { status: number; stdout: string; stderr: string };
  /** `helm template RELEASE CHART --namespace NS --include-crds` with `--set` values; throws with helm's message on failure. */
  template(release: string, namespace: string, set?: Readonly<Record<string, string | number | boolean>>): { text: string; objects: Manifest[] };
  remove(): void;
}

/** Provisions helm (and `extra` components, e.g. kubectl) into a fresh directory. */
export function provisionHelm(extra: readonly string[] = []): Helm {
  const binDir = mkdtempSync(join(tmpdir(), 'netdiag-chart-bin-'));
  provisionBinaries(binDir, ['helm', ...extra], (line) => process.stderr.write(`chart tests: ${line}\n`));
  const helm = join(binDir, 'helm');
  // helm keeps its cache, config and data under HOME by default: keep it out of the user's.
  const env = { ...process.env, HELM_CACHE_HOME: join(binDir, '.helm', 'cache'), HELM_CONFIG_HOME: join(binDir, '.helm', 'config'), HELM_DATA_HOME: join(binDir, '.helm', 'data') };
  const run = (args: readonly string[]): { status: number; stdout: string; stderr: string } => {
    const result = spawnSync(helm, [...args], { encoding: 'utf8', env, timeout: 120_000 });
    if (result.error !== undefined) throw new Error(`helm ${args.join(' ')}: ${result.error.message}`, { cause: result.error });
    return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  };
  return {
    binDir,
    run,
    template(release, namespace, set = {}) {
      const result = run(['template', release, CHART, '--namespace', namespace, '--include-crds', ...setFlags(set)]);
      if (result.status !== 0) throw new Error(`helm template failed (exit ${result.status}): ${result.stderr.trim()}`);
      const objects: Manifest[] = [];
      for (const doc of parseAllDocuments(result.stdout)) {
        if (doc.errors.length > 0) throw new Error(`helm template printed invalid YAML: ${doc.errors[0]?.message ?? ''}`);
        const value = doc.toJS() as Manifest | null;
        if (value !== null) objects.push(value);
      }
      return { text: result.stdout, objects };
    },
    remove() {
      rmSync(binDir, { recursive: true, force: true });
    },
  };
}

/** `--set KEY=VALUE` flags for helm. */
export function setFlags(values: Readonly<Record<string, string | number | boolean>>): string[] {
  return Object.entries(values).flatMap(([key, value]) => ['--set', `${key}=${String(value)}`]);
}

/** The one object of `kind` (named `name` when given); throws naming what was rendered otherwise. */
export function findObject(objects: readonly Manifest[], kind: string, name?: string): Manifest {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name !== undefined ? ` ${name}` : ''}, rendered: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  return found[0] as Manifest;
}

/** Every value the chart can switch on, for the "all options" renders. */
export const ALL_OPTIONS: Readonly<Record<string, string | number | boolean>> = {
  createNamespace: true,
  // Helm cannot create the release's own namespace: the chart creates this one.
  namespaceOverride: 'netdiag-system',
  allowCrossNamespace: true,
  // Every value away from its default: sharing is on by default.
  shareCollections: false,
  'metrics.serviceMonitor.enabled': true,
  'cniTap.enabled': true,
  collectorTimeoutSeconds: 90,
  collectorCommandTimeoutSeconds: 15,
  collectorDeadlineSeconds: 300,
  'collector.image': 'registry.example/netdiag-collector:0.1.0',
  logLevel: 'debug',
  workers: 8,
};
