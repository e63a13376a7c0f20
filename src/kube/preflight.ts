// Checks at the operator's start that turn a misconfiguration into one clear message instead of
// a loop of failing reconciles: the credentials are accepted, and the operator's namespace exists.

import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { KubeApiError } from './errors.js';
import { callApi, type RetryOptions } from './retry.js';

export interface PreflightResult {
  /** Things that could not be checked (RBAC does not allow reading the namespace): for the log. */
  readonly warnings: readonly string[];
}

/** Throws an Error with a one-line message when the operator cannot work in `namespace`. */
export async function preflight(config: KubeConfig, namespace: string, retry: RetryOptions = {}): Promise<PreflightResult> {
  const core = config.makeApiClient(CoreV1Api);
  const server = config.getCurrentCluster()?.server ?? '(no server)';
  try {
    await callApi({ description: `get namespace ${namespace}`, verb: 'get', resource: 'namespaces' }, () => core.readNamespace({ name: namespace }), retry);
    return { warnings: [] };
  } catch (error) {
    if (!(error instanceof KubeApiError)) throw error;
    switch (error.kind) {
      case 'not-found':
        throw new Error(`the operator namespace ${namespace} does not exist on ${server} (create it, or pass --namespace)`, { cause: error });
      case 'unauthorized':
        throw new Error(`the API server ${server} does not accept these credentials (401): ${error.classified.message}`, { cause: error });
      case 'forbidden':
        return { warnings: [`cannot check that namespace ${namespace} exists: ${error.message}`] };
      case 'transient':
        throw new Error(`cannot reach the API server ${server}: ${error.classified.message}`, { cause: error });
      case 'already-exists':
      case 'conflict':
      case 'gone':
      case 'invalid':
      case 'unknown':
        throw new Error(`get namespace ${namespace} on ${server}: ${error.classified.message}`, { cause: error });
    }
  }
}
