// The lab's control plane: etcd on loopback, kube-apiserver with generated certificates (openssl,
// EC P-256), service-account keys, RBAC and Node authorization and admission, bound to and
// advertising an address the caller has configured on an interface (the lab bridge), and, unless
// disabled, kube-controller-manager (EndpointSlices, garbage collection, namespaces, service
// accounts and their tokens, node CIDR allocation, node lifecycle) with its own certificate.
//
// Everything lives in `dir` (certificates, etcd data, logs, kubeconfigs). A process that exits
// before it is ready fails the start with the tail of its log; a failed start stops what it
// started. Identities are client certificates: the admin (O=system:masters), the controller
// manager (CN=system:kube-controller-manager), and any other the caller asks for.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { run, startDaemon, stopDaemon, tail, waitReady, type Daemon } from './process.js';

export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';

export interface ControlPlaneOptions {
  /** Directory for certificates, data, logs and kubeconfigs (created if missing). */
  readonly dir: string;
  /** Directory holding etcd, kube-apiserver and (unless disabled) kube-controller-manager. */
  readonly binDir: string;
  /** The API server's bind and advertise address, already configured on an interface. */
  readonly address: string;
  /** The API server's port; default: a free one on `address`. */
  readonly port?: number;
  /** --service-cluster-ip-range; the first address is the `kubernetes` Service's (in the certificate). */
  readonly serviceCIDR?: string;
  /** Run kube-controller-manager allocating node CIDRs from `clusterCIDR`; false: API server only. */
  readonly controllerManager?: { readonly clusterCIDR: string } | false;
  /** Extra kube-apiserver flags (`--flag=value`). */
  readonly apiserverFlags?: readonly string[];
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /** Called with each daemon as it starts (the lab records its pid for `netdiag lab down`). */
  readonly onProcess?: (name: string, pid: number) => void;
}

export interface ControlPlane {
  /** https://ADDRESS:PORT */
  readonly server: string;
  readonly address: string;
  readonly port: number;
  readonly dir: string;
  /** A kubeconfig for an admin (O=system:masters). */
  readonly adminKubeconfig: string;
  /** The cluster CA (also what a pod's service account ca.crt holds). */
  readonly caFile: string;
  /** The `kubernetes` Service's ClusterIP. */
  readonly kubernetesServiceIP: string;
  /** Milliseconds from starting etcd to kube-apiserver answering /readyz. */
  readonly startMs: number;
  readonly etcdReadyMs: number;
  /** A kubeconfig whose user is a client certificate with CN=`user` and O=each group. */
  clientKubeconfig(user: string, groups?: readonly string[]): string;
  /** A kubeconfig whose user is a bearer token (a service account's). */
  tokenKubeconfig(name: string, token: string): string;
  /** Whether /readyz answers 200 now. */
  ready(): Promise<boolean>;
  /** The running daemons' names and pids. */
  processes(): { name: string; pid: number }[];
  /** The last lines of each daemon's log, for failure messages. */
  logs(lines?: number): string;
  /** SIGKILL every daemon, synchronously (last resort at process exit). */
  killNow(): void;
  /** Stops the daemons (controller manager, API server, etcd); leaves `dir` to the caller. */
  stop(): Promise<void>;
}

/** The first host address of an IPv4 CIDR (the `kubernetes` Service's ClusterIP). */
export function firstAddress(cidr: string): string {
  const [network = '', bits = '32'] = cidr.split('/');
  const octets = network.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) throw new Error(`${cidr}: not an IPv4 CIDR`);
  const value = ((octets[0] ?? 0) * 2 ** 24 + (octets[1] ?? 0) * 2 ** 16 + (octets[2] ?? 0) * 2 ** 8 + (octets[3] ?? 0)) & (Number(bits) === 0 ? 0 : ~0 << (32 - Number(bits)));
  const first = (value >>> 0) + 1;
  return [first >>> 24, (first >>> 16) & 255, (first >>> 8) & 255, first & 255].join('.');
}

/** A free TCP port on `host` (bound and released). */
export function freePort(host: string): Promise<number> {
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

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA, the API server's serving certificate, service-account keys. */
function makeCertificates(dir: string, address: string, serviceIP: string): void {
  const cwd = { cwd: dir };
  run('openssl', ['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '30', '-subj', '/CN=netdiag-lab-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], cwd);
  const sans = ['IP:127.0.0.1', `IP:${address}`, `IP:${serviceIP}`, 'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local'];
  run('openssl', ['req', ...EC, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver', '-addext', `subjectAltName=${sans.join(',')}`, '-addext', 'extendedKeyUsage=serverAuth'], cwd);
  run('openssl', ['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'apiserver.crt', '-days', '30', '-copy_extensions', 'copy'], cwd);
  run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'sa.key'], cwd);
  run('openssl', ['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], cwd);
}

const fileSafe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '_');

/** A client certificate signed by the CA: CN=user, one O per group. */
function makeClientCertificate(dir: string, user: string, groups: readonly string[]): { cert: string; key: string } {
  const base = `client-${fileSafe(user)}-${randomBytes(3).toString('hex')}`;
  const subject = `/CN=${user}${groups.map((g) => `/O=${g}`).join('')}`;
  run('openssl', ['req', ...EC, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', subject, '-addext', 'extendedKeyUsage=clientAuth'], { cwd: dir });
  run('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${base}.crt`, '-days', '30', '-copy_extensions', 'copy'], { cwd: dir });
  return { cert: join(dir, `${base}.crt`), key: join(dir, `${base}.key`) };
}

/** A kubeconfig (JSON is valid YAML) for `user` credentials against `server`. */
export function writeKubeconfig(path: string, server: string, caFile: string, user: Record<string, string>): string {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'netdiag-lab', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: 'user', user }],
    contexts: [{ name: 'netdiag-lab', context: { cluster: 'netdiag-lab', user: 'user' } }],
    'current-context': 'netdiag-lab',
  };
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return path;
}

/** GET `url` over HTTPS with a client certificate; resolves with the status (0 when no answer). */
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

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const log = options.log ?? ((): void => undefined);
  const { dir, binDir, address } = options;
  mkdirSync(dir, { recursive: true });
  const serviceCIDR = options.serviceCIDR ?? DEFAULT_SERVICE_CIDR;
  const kubernetesServiceIP = firstAddress(serviceCIDR);
  const kcm = options.controllerManager ?? false;
  const daemons: Daemon[] = [];
  const started = (daemon: Daemon): Daemon => {
    daemons.push(daemon);
    options.onProcess?.(daemon.name, daemon.pid);
    return daemon;
  };
  const stopAll = async (): Promise<void> => {
    for (const d of [...daemons].reverse()) await stopDaemon(d);
  };

  try {
    const needed = ['etcd', 'kube-apiserver', ...(kcm === false ? [] : ['kube-controller-manager'])];
    for (const name of needed) if (!existsSync(join(binDir, name))) throw new Error(`${binDir} has no ${name}`);

    makeCertificates(dir, address, kubernetesServiceIP);
    const caFile = join(dir, 'ca.crt');
    const admin = makeClientCertificate(dir, 'netdiag-lab-admin', ['system:masters']);
    const tls = { ca: readFileSync(caFile), cert: readFileSync(admin.cert), key: readFileSync(admin.key) };

    const t0 = Date.now();
    const [clientPort, peerPort] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
    const etcd = started(startDaemon('etcd', join(binDir, 'etcd'), [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${clientPort}`,
      `--advertise-client-urls=http://127.0.0.1:${clientPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ], join(dir, 'etcd.log')));
    await waitReady(etcd, async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${clientPort}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      } catch {
        return false;
      }
    }, 30_000);
    const etcdReadyMs = Date.now() - t0;

    const port = options.port ?? (await freePort(address));
    const apiserver = started(startDaemon('kube-apiserver', join(binDir, 'kube-apiserver'), [
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
      `--service-cluster-ip-range=${serviceCIDR}`,
      '--authorization-mode=Node,RBAC',
      '--enable-admission-plugins=NodeRestriction',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
      ...(options.apiserverFlags ?? []),
    ], join(dir, 'kube-apiserver.log')));
    const server = `https://${address}:${port}`;
    await waitReady(apiserver, async () => (await probe(`${server}/readyz`, tls)) === 200, 120_000);
    const startMs = Date.now() - t0;
    log(`kube-apiserver at ${server} ready in ${startMs} ms (etcd ${etcdReadyMs} ms)`);

    const adminKubeconfig = writeKubeconfig(join(dir, 'admin.kubeconfig'), server, caFile, { 'client-certificate': admin.cert, 'client-key': admin.key });
    const clientKubeconfig = (user: string, groups: readonly string[] = []): string => {
      const cert = makeClientCertificate(dir, user, groups);
      return writeKubeconfig(join(dir, `${fileSafe(user)}-${randomBytes(3).toString('hex')}.kubeconfig`), server, caFile, { 'client-certificate': cert.cert, 'client-key': cert.key });
    };

    if (kcm !== false) {
      const t1 = Date.now();
      const kubeconfig = clientKubeconfig('system:kube-controller-manager');
      started(startDaemon('kube-controller-manager', join(binDir, 'kube-controller-manager'), [
        `--kubeconfig=${kubeconfig}`,
        '--secure-port=0',
        '--leader-elect=false',
        '--use-service-account-credentials',
        `--service-account-private-key-file=${join(dir, 'sa.key')}`,
        `--root-ca-file=${caFile}`,
        `--service-cluster-ip-range=${serviceCIDR}`,
        '--allocate-node-cidrs',
        `--cluster-cidr=${kcm.clusterCIDR}`,
        '--node-cidr-mask-size=24',
        [
          '--controllers=endpointslice-controller',
          'endpointslice-mirroring-controller',
          'endpoints-controller',
          'garbage-collector-controller',
          'namespace-controller',
          'serviceaccount-controller',
          'serviceaccount-token-controller',
          'root-ca-certificate-publisher-controller',
          'node-ipam-controller',
          'node-lifecycle-controller',
          'pod-garbage-collector-controller',
          'service-cidr-controller',
          'clusterrole-aggregation-controller',
        ].join(','),
        '--v=1',
      ], join(dir, 'kube-controller-manager.log')));
      log(`kube-controller-manager started in ${Date.now() - t1} ms`);
    }

    return {
      server,
      address,
      port,
      dir,
      adminKubeconfig,
      caFile,
      kubernetesServiceIP,
      startMs,
      etcdReadyMs,
      clientKubeconfig,
      tokenKubeconfig(name, token) {
        return writeKubeconfig(join(dir, `${fileSafe(name)}-${randomBytes(3).toString('hex')}.kubeconfig`), server, caFile, { token });
      },
      ready: async () => (await probe(`${server}/readyz`, tls)) === 200,
      processes: () => daemons.filter((d) => !d.exited).map((d) => ({ name: d.name, pid: d.pid })),
      logs(lines = 20) {
        return daemons.map((d) => `--- ${d.name} (${d.logFile})\n${tail(d.logFile, lines)}`).join('\n');
      },
      killNow() {
        for (const d of daemons) if (!d.exited) d.child.kill('SIGKILL');
      },
      async stop() {
        await stopAll();
        log('control plane stopped');
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
