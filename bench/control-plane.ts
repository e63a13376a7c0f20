// The `control-plane` bench: how long the real control plane the tests (and the lab) run takes to
// start: etcd and kube-apiserver from hack/get-binaries.sh's cache (run it once beforehand: a cold
// cache builds them), on a private address, until kube-apiserver's /readyz says ready.
// Needs root (the bridge the API server binds to).

import { round, runFreshProcess, figureLine, type Bench, type BenchOptions, type BenchResult } from './bench.js';
import type { ControlPlaneProcessOutput } from './control-plane-process.js';

function runControlPlaneBench(options: BenchOptions): BenchResult {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) throw new Error('the control-plane bench needs root (a bridge for the API server address)');
  const out = runFreshProcess('control-plane-process.js', [], options) as ControlPlaneProcessOutput;
  const figures = {
    bench: 'control-plane',
    node: process.version,
    etcdReadyMs: round(out.etcdReadyMs, 0),
    apiserverReadyMs: round(out.apiserverReadyMs, 0),
    totalStartMs: round(out.totalStartMs, 0),
    stopMs: round(out.stopMs, 0),
  };
  const text = [
    'control-plane: etcd + kube-apiserver (hack/get-binaries.sh cache), RBAC, client certificates',
    figureLine('etcd ready', figures.etcdReadyMs, 'ms'),
    figureLine('kube-apiserver ready', figures.apiserverReadyMs, 'ms'),
    figureLine('start, all included', figures.totalStartMs, 'ms'),
    figureLine('stop', figures.stopMs, 'ms'),
  ].join('\n');
  return { figures, text };
}

export const CONTROL_PLANE_BENCH: Bench = {
  summary: 'start of the tests\' etcd + kube-apiserver until /readyz (root; binaries from hack/get-binaries.sh)',
  run: runControlPlaneBench,
};
