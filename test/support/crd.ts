// Installs the NetworkDiagnosis CRD (crds/netdiag.io_networkdiagnoses.yaml) on a test control plane
// and waits until it is served: Established, then a list of the resource answers (the first
// requests right after Established can still 404).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiextensionsV1Api, CustomObjectsApi, loadYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { CRD_NAME, GROUP, PLURAL, VERSION } from '../../src/api/v1alpha1/group.js';
import { loadKubeConfig } from '../../src/kube/client.js';
import type { ControlPlane } from './control-plane.js';

export const CRD_FILE = join(import.meta.dirname, '..', '..', 'crds', 'netdiag.io_networkdiagnoses.yaml');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Creates the CRD as the admin and resolves once `namespace` can list NetworkDiagnoses (60 s at most). */
export async function installNetworkDiagnosisCrd(cp: ControlPlane, namespace = 'default'): Promise<void> {
  const config = loadKubeConfig({ kubeconfig: cp.adminKubeconfig }).config;
  const extensions = config.makeApiClient(ApiextensionsV1Api);
  const objects = config.makeApiClient(CustomObjectsApi);
  // Through the client's own model (loadYaml), so that the request keeps every schema field
  // (x-kubernetes-validations, ...) under its wire name.
  const crd = loadYaml<V1CustomResourceDefinition>(readFileSync(CRD_FILE, 'utf8'));
  await extensions.createCustomResourceDefinition({ body: crd });
  const deadline = Date.now() + 60_000;
  for (;;) {
    let last: string;
    const read = await extensions.readCustomResourceDefinition({ name: CRD_NAME });
    const established = (read.status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True');
    if (established) {
      try {
        await objects.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL });
        return;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
    } else {
      last = JSON.stringify(read.status);
    }
    if (Date.now() > deadline) throw new Error(`CRD ${CRD_NAME} not served after 60 s: ${last}`);
    await sleep(200);
  }
}
