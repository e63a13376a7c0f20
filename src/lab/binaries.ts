// The binaries the lab runs (etcd, the Kubernetes components, kubectl, the CNI plugins, flannel),
// at the versions pinned in hack/versions.sh: hack/get-binaries.sh links them into a directory from
// its cache (else downloads or builds them, which takes long the first time).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Every component the lab may run (hack/get-binaries.sh's names). */
export const LAB_COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-proxy', 'kubectl', 'cni-plugins', 'flanneld', 'flannel-cni'] as const;
export type LabComponent = (typeof LAB_COMPONENTS)[number];

/**
 * The repository root: the nearest directory above this module holding hack/get-binaries.sh
 * (this module runs from src/lab under jest and from dist/src/lab once built).
 */
export function repoRoot(): string {
  let dir = import.meta.dirname;
  for (;;) {
    if (existsSync(join(dir, 'hack', 'get-binaries.sh')) && existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no hack/get-binaries.sh above ${import.meta.dirname}: run netdiag lab from its repository`);
    dir = parent;
  }
}

/**
 * Links `components` into `dir` with hack/get-binaries.sh --bin-dir: from its cache, else
 * downloaded or built (a cold build takes tens of minutes; it prints its progress). CNI plugins are
 * linked by their CNI type name, so `dir` also serves as CNI_PATH.
 */
export function provisionBinaries(dir: string, components: readonly string[], log?: (line: string) => void): void {
  const started = Date.now();
  const script = join(repoRoot(), 'hack', 'get-binaries.sh');
  const result = spawnSync(script, ['--bin-dir', dir, ...components], { encoding: 'utf8', timeout: 45 * 60_000 });
  if (result.error !== undefined) throw new Error(`cannot run hack/get-binaries.sh: ${result.error.message}`, { cause: result.error });
  if (result.status !== 0) {
    const output = `${result.stdout}${result.stderr}`.trim().split('\n').slice(-20).join('\n');
    throw new Error(`hack/get-binaries.sh could not provide ${components.join(', ')} (exit ${result.status ?? result.signal}):\n${output}`);
  }
  log?.(`binaries ${components.join(', ')} ready in ${Date.now() - started} ms`);
}
