// Loads the Kubernetes client configuration: a kubeconfig named by the caller, else the pod's
// service account (in-cluster), else KUBECONFIG or ~/.kube/config. Says which, and fails with a
// clear message when there is none.

import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { SharedConnectionsKubeConfig } from './shared-connections.js';

export interface KubeClientOptions {
  /** A kubeconfig file (`--kubeconfig`). */
  readonly kubeconfig?: string;
  /** Root under which /var/run/secrets/kubernetes.io/serviceaccount is read (tests); default `/`. */
  readonly serviceAccountRoot?: string;
}

export type KubeConfigSource = 'kubeconfig' | 'in-cluster' | 'default-kubeconfig';

export interface LoadedKubeConfig {
  readonly config: KubeConfig;
  readonly source: KubeConfigSource;
  /** The namespace of the context, or of the service account in a pod. */
  readonly namespace?: string;
}

const SERVICE_ACCOUNT_DIR = 'var/run/secrets/kubernetes.io/serviceaccount';

export function loadKubeConfig(options: KubeClientOptions = {}): LoadedKubeConfig {
  // One connection pool for all of the process's calls (shared-connections.ts).
  const config = new SharedConnectionsKubeConfig();
  if (options.kubeconfig !== undefined) {
    if (!existsSync(options.kubeconfig)) throw new Error(`kubeconfig ${options.kubeconfig}: no such file`);
    config.loadFromFile(options.kubeconfig);
    return withNamespace(config, 'kubeconfig');
  }
  const root = options.serviceAccountRoot ?? '/';
  const tokenFile = join(root, SERVICE_ACCOUNT_DIR, 'token');
  if (process.env.KUBERNETES_SERVICE_HOST !== undefined && existsSync(tokenFile)) {
    config.loadFromCluster(root === '/' ? '' : root.replace(/\/$/, ''));
    return withNamespace(config, 'in-cluster');
  }
  const candidates = (process.env.KUBECONFIG ?? '').split(':').filter((p) => p !== '');
  const fallback = join(homedir(), '.kube', 'config');
  if (candidates.some((p) => existsSync(p)) || (candidates.length === 0 && existsSync(fallback))) {
    config.loadFromDefault();
    return withNamespace(config, 'default-kubeconfig');
  }
  throw new Error('no Kubernetes credentials: not in a pod (KUBERNETES_SERVICE_HOST unset or no service account token) and no kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config)');
}

function withNamespace(config: KubeConfig, source: KubeConfigSource): LoadedKubeConfig {
  const namespace = config.getContextObject(config.getCurrentContext())?.namespace?.trim();
  return { config, source, ...(namespace !== undefined && namespace !== '' ? { namespace } : {}) };
}

export function coreApi(config: KubeConfig): CoreV1Api {
  return config.makeApiClient(CoreV1Api);
}
