// A real Kubernetes control plane for tests: a thin wrapper over the lab's (src/lab/control-plane.ts:
// etcd and kube-apiserver from hack/get-binaries.sh's pinned binaries, certificates made with
// openssl, RBAC on, an admin client certificate and a kubeconfig), with what a test needs around it.
//
// Networking: kube-apiserver needs a non-loopback --advertise-address. A bridge with no ports is
// created in the root namespace with a random /32 from 198.18.0.0/15 (RFC 2544 benchmarking space),
// and the API server binds to it alone: the address is local, nothing is routed anywhere, no packet
// leaves the machine. etcd listens on loopback. Needs root (the bridge), Linux, openssl.
//
// Everything lives in one temporary directory (certificates, data, logs, kubeconfigs); stop()
// stops the processes, deletes the bridge and the directory; so does the test process's exit.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provisionBinaries } from '../../src/lab/binaries.js';
import { startControlPlane as startLabControlPlane, type ControlPlane } from '../../src/lab/control-plane.js';
import { run } from '../../src/lab/process.js';

export { provisionBinaries } from '../../src/lab/binaries.js';
export type { ControlPlane } from '../../src/lab/control-plane.js';

export interface ControlPlaneOptions {
  /** Directory holding `etcd` and `kube-apiserver`; default: linked from hack/get-binaries.sh's cache (built when cold). */
  readonly binDir?: string;
  /** Progress lines (binaries, start, stop). */
  readonly log?: (line: string) => void;
  /** Extra kube-apiserver flags (`--flag=value`). */
  readonly apiserverFlags?: readonly string[];
  /** Also run kube-controller-manager, allocating node CIDRs from this range. */
  readonly clusterCIDR?: string;
}

/** Synchronous teardown of every control plane still running, for process exit. */
const emergencyStops = new Set<() => void>();
process.once('exit', () => {
  // Last resort when a suite forgets to stop (or fails in between): no daemon or bridge outlives the test process.
  for (const stop of emergencyStops) stop();
});

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) throw new Error('the test control plane needs root (it creates a bridge for the API server address)');
  const log = options.log ?? ((): void => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'netdiag-cp-'));
  const bridge = `ndcp${randomBytes(4).toString('hex')}`;
  let bridgeCreated = false;
  let plane: ControlPlane | undefined;
  const emergencyStop = (): void => {
    plane?.killNow();
    if (bridgeCreated) spawnSync('ip', ['link', 'del', bridge]);
    rmSync(dir, { recursive: true, force: true });
  };
  emergencyStops.add(emergencyStop);
  const cleanup = (): void => {
    emergencyStops.delete(emergencyStop);
    if (bridgeCreated) spawnSync('ip', ['link', 'del', bridge]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const binDir = options.binDir ?? join(dir, 'bin');
    const components = ['etcd', 'kube-apiserver', ...(options.clusterCIDR === undefined ? [] : ['kube-controller-manager'])];
    if (options.binDir === undefined) {
      mkdirSync(binDir);
      provisionBinaries(binDir, components, log);
    }
    // 198.18.0.0/15 minus the network and broadcast-looking ends.
    const address = `198.${18 + randomInt(2)}.${randomInt(256)}.${1 + randomInt(253)}`;
    run('ip', ['link', 'add', bridge, 'type', 'bridge']);
    bridgeCreated = true;
    run('ip', ['addr', 'add', `${address}/32`, 'dev', bridge]);
    run('ip', ['link', 'set', bridge, 'up']);
    const started = await startLabControlPlane({
      dir,
      binDir,
      address,
      serviceCIDR: '10.0.0.0/24',
      controllerManager: options.clusterCIDR === undefined ? false : { clusterCIDR: options.clusterCIDR },
      log,
      ...(options.apiserverFlags !== undefined ? { apiserverFlags: options.apiserverFlags } : {}),
    });
    plane = started;
    return {
      ...started,
      async stop() {
        await started.stop();
        cleanup();
      },
    };
  } catch (error) {
    cleanup();
    throw error;
  }
}
