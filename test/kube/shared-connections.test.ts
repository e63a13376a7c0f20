// The operator's API calls against a real kube-apiserver (test/support/control-plane.ts) share
// their connections: many calls, one after the other and some at once, leave at most as many open
// TCP connections to the API server as ran at once, not one per call (client-node alone opens one per
// call, each with a TLS handshake: src/kube/shared-connections.ts).
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { CoreV1Api } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../src/kube/client.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { describeAsRoot } from '../support/root.js';

/** `/proc/net/tcp`'s `ADDR:PORT` in hex (little-endian IPv4) for an IPv4 address and port. */
function procAddress(ip: string, port: number): string {
  const octets = ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0').toUpperCase());
  return `${octets.reverse().join('')}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
}

/** The inodes of this process's sockets. */
function ownSockets(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (match?.[1] !== undefined) inodes.add(match[1]);
    } catch {
      // Closed since the listing.
    }
  }
  return inodes;
}

/** This process's established TCP connections to `server` (https://IP:PORT). */
function connectionsTo(server: string): number {
  const url = new URL(server);
  const remote = procAddress(url.hostname, Number(url.port));
  const ESTABLISHED = '01';
  const mine = ownSockets();
  return readFileSync('/proc/self/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[2] === remote && fields[3] === ESTABLISHED && mine.has(fields[9] ?? '')).length;
}

describeAsRoot('API calls on a real API server', () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    cp = await startControlPlane({ log: (line) => process.stderr.write(`control-plane: ${line}\n`) });
  }, 30 * 60_000);

  afterAll(async () => {
    await cp?.stop();
  }, 60_000);

  it('reuse their connections: a few for 64 calls, no more than ran at once', async () => {
    const core = loadKubeConfig({ kubeconfig: cp.adminKubeconfig }).config.makeApiClient(CoreV1Api);
    // The control plane's start checked the API server from this process too.
    const before = connectionsTo(cp.server);
    for (let i = 0; i < 30; i++) await core.listNamespace();
    // A call that comes the moment the previous one returned may find its connection not yet
    // released, and open a second one; both are reused from then on.
    const sequential = connectionsTo(cp.server) - before;
    expect(sequential).toBeGreaterThanOrEqual(1);
    expect(sequential).toBeLessThanOrEqual(2);
    await Promise.all(Array.from({ length: 4 }, () => core.listNamespace()));
    const afterParallel = connectionsTo(cp.server) - before;
    expect(afterParallel).toBeLessThanOrEqual(sequential + 4);
    // No new connection: the open ones serve (an idle one may have been closed meanwhile).
    for (let i = 0; i < 30; i++) await core.listNamespace();
    expect(connectionsTo(cp.server) - before).toBeLessThanOrEqual(afterParallel);
  }, 60_000);
});
