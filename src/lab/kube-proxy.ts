// The real kube-proxy of a lab node, in iptables mode, inside the node's network namespace. Its
// configuration keeps it off everything global: `conntrack.maxPerCore: 0` and zero timeouts leave
// the conntrack sysctls alone (the table size is the machine's, not the namespace's); metrics and
// healthz listen on the node's own address. Its log is the node's ROOT/var/log/kube-proxy.log.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, startDaemon, stopDaemon, tail, tryRun, type Daemon } from './process.js';

export interface KubeProxyOptions {
  readonly node: string;
  readonly netns: string;
  readonly ip: string;
  readonly rootDir: string;
  readonly binDir: string;
  /** A kubeconfig with the kube-proxy identity (CN=system:kube-proxy). */
  readonly kubeconfig: string;
  readonly clusterCIDR: string;
}

export interface KubeProxy {
  readonly daemon: Daemon;
  readonly logFile: string;
  /** Resolves once kube-proxy has programmed its KUBE-SERVICES chain (its first sync). */
  waitSynced(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** The KubeProxyConfiguration (JSON is valid YAML). */
export function buildKubeProxyConfig(options: KubeProxyOptions): object {
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: options.kubeconfig },
    hostnameOverride: options.node,
    bindAddress: options.ip,
    clusterCIDR: options.clusterCIDR,
    mode: 'iptables',
    metricsBindAddress: `${options.ip}:10249`,
    healthzBindAddress: `${options.ip}:10256`,
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
  };
}

export function startKubeProxy(options: KubeProxyOptions): KubeProxy {
  const confDir = join(options.rootDir, 'etc', 'kube-proxy');
  const logDir = join(options.rootDir, 'var', 'log');
  mkdirSync(confDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const configFile = join(confDir, 'config.json');
  writeFileSync(configFile, `${JSON.stringify(buildKubeProxyConfig(options), null, 2)}\n`);
  const logFile = join(logDir, 'kube-proxy.log');
  const daemon = startDaemon(`kube-proxy on ${options.node}`, 'ip', ['netns', 'exec', options.netns, join(options.binDir, 'kube-proxy'), `--config=${configFile}`, '--v=1'], logFile);
  return {
    daemon,
    logFile,
    async waitSynced(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (daemon.exited) throw new Error(`kube-proxy on ${options.node} exited (${daemon.exitStatus ?? '?'}):\n${tail(logFile, 30)}`);
        if (tryRun('ip', ['netns', 'exec', options.netns, 'iptables', '-t', 'nat', '-S', 'KUBE-SERVICES'], { timeoutMs: 5000 }).ok) return;
        await sleep(200);
      }
      throw new Error(`kube-proxy on ${options.node} did not program KUBE-SERVICES within ${timeoutMs / 1000}s:\n${tail(logFile, 30)}`);
    },
    stop: () => stopDaemon(daemon),
  };
}
