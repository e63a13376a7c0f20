// A NetworkDiagnosis as the controller reads and writes it: get (absent → undefined), set its
// finalizers with a JSON merge patch that carries the resourceVersion read (a concurrent change
// makes it fail with 409 Conflict rather than overwrite), and its status through writeStatus.

import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../api/v1alpha1/group.js';
import type { NetworkDiagnosis, NetworkDiagnosisStatus } from '../api/v1alpha1/types.js';
import { KubeApiError } from './errors.js';
import { callApi, type RetryOptions } from './retry.js';
import { writeStatus } from './status-writer.js';

export interface DiagnosisClient {
  getDiagnosis(namespace: string, name: string): Promise<NetworkDiagnosis | undefined>;
  /** Replaces metadata.finalizers of the object as read (its resourceVersion is the precondition). */
  setFinalizers(diagnosis: NetworkDiagnosis, finalizers: readonly string[]): Promise<void>;
  /** Writes `desired` when it differs from the status read; returns whether it wrote. */
  writeStatus(diagnosis: NetworkDiagnosis, desired: NetworkDiagnosisStatus): Promise<boolean>;
}

function refOf(d: NetworkDiagnosis): { namespace: string; name: string } {
  return { namespace: d.metadata.namespace ?? '', name: d.metadata.name ?? '' };
}

export function createDiagnosisClient(config: KubeConfig, retry: RetryOptions = {}): DiagnosisClient {
  const api = config.makeApiClient(CustomObjectsApi);
  return {
    async getDiagnosis(namespace: string, name: string): Promise<NetworkDiagnosis | undefined> {
      try {
        return (await callApi(
          { description: `get ${PLURAL}.${GROUP} ${namespace}/${name}`, verb: 'get', resource: PLURAL, namespace },
          () => api.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name }) as Promise<unknown>,
          retry,
        )) as NetworkDiagnosis;
      } catch (error) {
        if (error instanceof KubeApiError && error.kind === 'not-found') return undefined;
        throw error;
      }
    },

    async setFinalizers(diagnosis: NetworkDiagnosis, finalizers: readonly string[]): Promise<void> {
      const { namespace, name } = refOf(diagnosis);
      const metadata = { finalizers: [...finalizers], ...(diagnosis.metadata.resourceVersion !== undefined ? { resourceVersion: diagnosis.metadata.resourceVersion } : {}) };
      await callApi(
        { description: `patch finalizers of ${PLURAL}.${GROUP} ${namespace}/${name}`, verb: 'patch', resource: PLURAL, namespace },
        () =>
          api.patchNamespacedCustomObject(
            { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: { metadata } },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          ) as Promise<unknown>,
        retry,
      );
    },

    writeStatus(diagnosis: NetworkDiagnosis, desired: NetworkDiagnosisStatus): Promise<boolean> {
      return writeStatus(api, refOf(diagnosis), diagnosis.status, desired, retry);
    },
  };
}
