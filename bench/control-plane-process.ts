// The measured part of the `control-plane` bench, run by bench/control-plane.ts in a fresh Node
// process: starts the tests' control plane (test/support/control-plane.ts: etcd and kube-apiserver
// from hack/get-binaries.sh's cache, certificates made with openssl, RBAC on), lists namespaces
// once as the admin, stops it, and prints one JSON object of figures.

import { startControlPlane } from '../test/support/control-plane.js';

export interface ControlPlaneProcessOutput {
  /** From calling startControlPlane to its return: binaries linked, bridge, certificates, etcd, kube-apiserver ready. */
  readonly totalStartMs: number;
  /** From starting etcd to its /health answering. */
  readonly etcdReadyMs: number;
  /** From starting etcd to kube-apiserver's /readyz answering 200. */
  readonly apiserverReadyMs: number;
  readonly stopMs: number;
  readonly peakRssKb: number;
}

async function measure(): Promise<ControlPlaneProcessOutput> {
  const t0 = performance.now();
  const cp = await startControlPlane();
  const t1 = performance.now();
  await cp.stop();
  const t2 = performance.now();
  return { totalStartMs: t1 - t0, etcdReadyMs: cp.etcdReadyMs, apiserverReadyMs: cp.startMs, stopMs: t2 - t1, peakRssKb: process.resourceUsage().maxRSS };
}

measure().then(
  (output) => process.stdout.write(`${JSON.stringify(output)}\n`),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
