// A real Kubernetes control plane for tests: etcd and kube-apiserver (the pinned binaries from
// hack/get-binaries.sh), certificates made with openssl, RBAC on, an admin client certificate
// (O=system:masters) and a kubeconfig. Reusable by every suite that needs an API server (snapshot
// ConfigMaps, the lab, the operator).
//
// Networking: kube-apiserver needs a non-loopback --advertise-address. A bridge with no ports is
// created in the root namespace with a random /32 from 198.18.0.0/15 (RFC 2544 benchmarking space),
// and the API server binds to it alone: the address is local, nothing is routed anywhere, no packet
// leaves the machine. etcd listens on loopback. Needs root (the bridge), Linux, openssl.
//
// Everything lives in one temporary directory (certificates, data, logs, kubeconfigs); stop()
// stops both processes, deletes the bridge and the directory. A process that exits before it is
// ready fails start with the tail of its log.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** hack/get-binaries.sh, found upwards from this module (test/support, or dist/test/support for the bench). */
function getBinariesScript(): string {
  for (const up of [['..', '..'], ['..', '..', '..']]) {
    const path = join(import.meta.dirname, ...up, 'hack', 'get-binaries.sh');
    if (existsSync(path)) return path;
  }
  throw new Error(`hack/get-binaries.sh not found above ${import.meta.dirname}`);
}

export interface ControlPlaneOptions {
  /** Directory holding `etcd` and `kube-apiserver`; default: linked from hack/get-binaries.sh's cache (built when cold). */
  readonly binDir?: string;
  /** Progress lines (binaries, start, stop). */
  readonly log?: (line: string) => void;
  /** Extra kube-apiserver flags (`--flag=value`). */
  readonly apiserverFlags?: readonly string[];
}

export interface ControlPlane {
  /** https://ADDRESS:PORT */
  readonly server: string;
  readonly address: string;
  readonly port: number;
  /** The temporary directory with certificates, kubeconfigs and logs. */
  readonly dir: string;
  /** A kubeconfig for an admin (O=system:masters). */
  readonly adminKubeconfig: string;
  /** The cluster CA (also what a pod's service account ca.crt holds). */
  readonly caFile: string;
  /** Milliseconds from starting etcd to kube-apiserver answering /readyz. */
  readonly startMs: number;
  readonly etcdReadyMs: number;
  /** A kubeconfig whose user is a client certificate with CN=`user` and O=each group. */
  clientKubeconfig(user: string, groups?: readonly string[]): string;
  /** A kubeconfig whose user is a bearer token (a service account's). */
  tokenKubeconfig(name: string, token: string): string;
  /** The last lines of etcd's and kube-apiserver's logs, for failure messages. */
  logs(lines?: number): string;
  stop(): Promise<void>;
}

function sh(program: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): string {
  const result = spawnSync(program, args, { encoding: 'utf8', cwd: options.cwd, timeout: options.timeoutMs ?? 60_000 });
  if (result.error !== undefined) throw new Error(`${program} ${args.join(' ')}: ${result.error.message}`, { cause: result.error });
  if (result.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (exit ${result.status}):\n${(result.stderr || result.stdout).trim()}`);
  return result.stdout;
}

/**
 * Links etcd and kube-apiserver (and any other components named) into `dir` with
 * hack/get-binaries.sh --bin-dir: from its cache, else downloaded or built (a cold build takes
 * about ten minutes; CI provisions them before the tests).
 */
export function provisionBinaries(dir: string, components: readonly string[] = ['etcd', 'kube-apiserver'], log?: (line: string) => void): void {
  const started = Date.now();
  const result = spawnSync(getBinariesScript(), ['--bin-dir', dir, ...components], { encoding: 'utf8', timeout: 45 * 60_000 });
  if (result.error !== undefined) throw new Error(`cannot run hack/get-binaries.sh: ${result.error.message}`, { cause: result.error });
  if (result.status !== 0) {
    const output = `${result.stdout}${result.stderr}`.trim().split('\n').slice(-20).join('\n');
    throw new Error(`hack/get-binaries.sh could not provide ${components.join(', ')} (exit ${result.status ?? result.signal}):\n${output}`);
  }
  log?.(`binaries ${components.join(', ')} ready in ${Date.now() - started} ms`);
}

/** A free TCP port on `host` (bound and released: another process could take it, so callers retry). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Certificates: a CA, the API server's serving certificate, service-account keys. EC P-256: fast to make. */
function makeCertificates(dir: string, address: string): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  sh('openssl', ['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=netdiag-test-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { cwd: dir });
  const sans = ['IP:127.0.0.1', `IP:${address}`, 'IP:10.0.0.1', 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local'];
  sh('openssl', ['req', ...ec, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver', '-addext', `subjectAltName=${sans.join(',')}`, '-addext', 'extendedKeyUsage=serverAuth'], { cwd: dir });
  sh('openssl', ['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'apiserver.crt', '-days', '2', '-copy_extensions', 'copy'], { cwd: dir });
  sh('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'sa.key'], { cwd: dir });
  sh('openssl', ['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], { cwd: dir });
}

/** A client certificate signed by the CA: CN=user, one O per group. Returns the cert and key paths. */
function makeClientCertificate(dir: string, user: string, groups: readonly string[]): { cert: string; key: string } {
  const base = `client-${user.replace(/[^A-Za-z0-9_.-]/g, '_')}-${randomBytes(3).toString('hex')}`;
  const subject = `/CN=${user}${groups.map((g) => `/O=${g}`).join('')}`;
  sh('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', subject, '-addext', 'extendedKeyUsage=clientAuth'], { cwd: dir });
  sh('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${base}.crt`, '-days', '2', '-copy_extensions', 'copy'], { cwd: dir });
  return { cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`) };
}

/** A kubeconfig (JSON is valid YAML) for `user` credentials against `server`. */
function writeKubeconfig(path: string, server: string, caFile: string, user: Record<string, string>): string {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'netdiag-test', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: 'user', user }],
    contexts: [{ name: 'netdiag-test', context: { cluster: 'netdiag-test', user: 'user' } }],
    'current-context': 'netdiag-test',
  };
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return path;
}

/** GET `url` over HTTPS with the admin certificate; resolves with the status (0 when no answer). */
function probe(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { ...tls, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function tail(path: string, lines: number): string {
  if (!existsSync(path)) return '(no log)';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

interface Daemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  exited: boolean;
}

function startDaemon(name: string, program: string, args: readonly string[], logFile: string): Daemon {
  const fd = openSync(logFile, 'a');
  const child = spawn(program, [...args], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const daemon: Daemon = { name, child, logFile, exited: false };
  child.on('exit', () => (daemon.exited = true));
  child.on('error', () => (daemon.exited = true));
  return daemon;
}

async function stopDaemon(daemon: Daemon): Promise<void> {
  if (daemon.exited) return;
  const exited = new Promise<void>((resolve) => daemon.child.once('exit', () => resolve()));
  daemon.child.kill('SIGTERM');
  const timer = setTimeout(() => daemon.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Waits for `ready()` to hold, failing early (with the log) when the daemon exits. */
async function waitReady(daemon: Daemon, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (daemon.exited) throw new Error(`${daemon.name} exited before it was ready:\n${tail(daemon.logFile, 30)}`);
    if (await ready()) return;
    await sleep(100);
  }
  throw new Error(`${daemon.name} was not ready after ${timeoutMs / 1000}s:\n${tail(daemon.logFile, 30)}`);
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
  const daemons: Daemon[] = [];
  const bridge = `ndcp${randomBytes(4).toString('hex')}`;
  let bridgeCreated = false;

  const emergencyStop = (): void => {
    for (const d of daemons) if (!d.exited) d.child.kill('SIGKILL');
    if (bridgeCreated) spawnSync('ip', ['link', 'del', bridge]);
    rmSync(dir, { recursive: true, force: true });
  };
  emergencyStops.add(emergencyStop);
  const cleanup = async (): Promise<void> => {
    emergencyStops.delete(emergencyStop);
    for (const d of [...daemons].reverse()) await stopDaemon(d);
    if (bridgeCreated) spawnSync('ip', ['link', 'del', bridge]);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const binDir = options.binDir ?? join(dir, 'bin');
    if (options.binDir === undefined) {
      mkdirSync(binDir);
      provisionBinaries(binDir, ['etcd', 'kube-apiserver'], log);
    }
    for (const name of ['etcd', 'kube-apiserver']) if (!existsSync(join(binDir, name))) throw new Error(`${binDir} has no ${name}`);

    // 198.18.0.0/15 minus the network and broadcast-looking ends.
    const address = `198.${18 + randomInt(2)}.${randomInt(256)}.${1 + randomInt(253)}`;
    sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
    bridgeCreated = true;
    sh('ip', ['addr', 'add', `${address}/32`, 'dev', bridge]);
    sh('ip', ['link', 'set', bridge, 'up']);

    makeCertificates(dir, address);
    const caFile = join(dir, 'ca.crt');
    const admin = makeClientCertificate(dir, 'netdiag-admin', ['system:masters']);
    const tls = { ca: readFileSync(caFile), cert: readFileSync(admin.cert), key: readFileSync(admin.key) };

    const started = Date.now();
    const [clientPort, peerPort] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
    const etcd = startDaemon('etcd', join(binDir, 'etcd'), [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${clientPort}`,
      `--advertise-client-urls=http://127.0.0.1:${clientPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ], join(dir, 'etcd.log'));
    daemons.push(etcd);
    await waitReady(etcd, async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${clientPort}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      } catch {
        return false;
      }
    }, 30_000);
    const etcdReadyMs = Date.now() - started;

    const port = await freePort(address);
    const apiserver = startDaemon('kube-apiserver', join(binDir, 'kube-apiserver'), [
      `--etcd-servers=http://127.0.0.1:${clientPort}`,
      `--bind-address=${address}`,
      `--advertise-address=${address}`,
      `--secure-port=${port}`,
      `--tls-cert-file=${join(dir, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(dir, 'apiserver.key')}`,
      `--client-ca-file=${caFile}`,
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=Node,RBAC',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
      ...(options.apiserverFlags ?? []),
    ], join(dir, 'kube-apiserver.log'));
    daemons.push(apiserver);
    const server = `https://${address}:${port}`;
    await waitReady(apiserver, async () => (await probe(`${server}/readyz`, tls)) === 200, 120_000);
    const startMs = Date.now() - started;
    log(`control plane at ${server}: etcd ready in ${etcdReadyMs} ms, kube-apiserver ready in ${startMs} ms`);

    const adminKubeconfig = writeKubeconfig(join(dir, 'admin.kubeconfig'), server, caFile, { 'client-certificate': admin.cert, 'client-key': admin.key });
    const plane: ControlPlane = {
      server,
      address,
      port,
      dir,
      adminKubeconfig,
      caFile,
      startMs,
      etcdReadyMs,
      clientKubeconfig(user, groups = []) {
        const cert = makeClientCertificate(dir, user, groups);
        return writeKubeconfig(join(dir, `${user.replace(/[^A-Za-z0-9_.-]/g, '_')}-${randomBytes(3).toString('hex')}.kubeconfig`), server, caFile, { 'client-certificate': cert.cert, 'client-key': cert.key });
      },
      tokenKubeconfig(name, token) {
        return writeKubeconfig(join(dir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${randomBytes(3).toString('hex')}.kubeconfig`), server, caFile, { token });
      },
      logs(lines = 20) {
        return daemons.map((d) => `--- ${d.name} (${d.logFile})\n${tail(d.logFile, lines)}`).join('\n');
      },
      async stop() {
        await cleanup();
        log('control plane stopped');
      },
    };
    return plane;
  } catch (error) {
    await cleanup();
    throw error;
  }
}
