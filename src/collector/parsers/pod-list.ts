// The pods the caller says run on the node (`netdiag collect --pods FILE`): a Kubernetes PodList
// (`kubectl get pods -o json`) or a plain array of {namespace, name, uid?, ips, hostNetwork?}.
// Pure code; a malformed entry is an error naming it, never a silently shorter list.

import type { PodRef } from '../snapshot.js';
import { canonicalIp } from './ip-addresses.js';
import { asRecord } from './json-shape.js';

export class PodListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PodListError';
  }
}


function ipsOf(values: unknown, where: string): string[] {
  if (values === undefined) return [];
  if (!Array.isArray(values)) throw new PodListError(`${where}: expected a list of IPs`);
  return (values as unknown[]).map((v, i) => {
    const ip = typeof v === 'string' ? canonicalIp(v) : undefined;
    if (ip === undefined) throw new PodListError(`${where}[${i}]: ${JSON.stringify(v)} is not an IP address`);
    return ip;
  });
}

function fromKubernetesPod(item: unknown, where: string): { pod: PodRef; nodeName?: string } {
  const pod = asRecord(item);
  const meta = asRecord(pod?.metadata);
  const spec = asRecord(pod?.spec);
  const status = asRecord(pod?.status);
  const name = meta?.name;
  const namespace = meta?.namespace ?? 'default';
  if (typeof name !== 'string' || typeof namespace !== 'string') throw new PodListError(`${where}: a Pod needs metadata.name (and a string metadata.namespace)`);
  const podIps = Array.isArray(status?.podIPs) ? (status.podIPs as unknown[]).map((p) => asRecord(p)?.ip) : status?.podIP !== undefined ? [status.podIP] : [];
  const ips = [...new Set(ipsOf(podIps, `${where} (${namespace}/${name}) status.podIPs`))];
  const uid = typeof meta?.uid === 'string' ? meta.uid : undefined;
  const nodeName = typeof spec?.nodeName === 'string' ? spec.nodeName : undefined;
  return {
    pod: { namespace, name, ...(uid !== undefined ? { uid } : {}), ips, ...(spec?.hostNetwork === true ? { hostNetwork: true } : {}) },
    ...(nodeName !== undefined ? { nodeName } : {}),
  };
}

function fromPlainEntry(item: unknown, where: string): PodRef {
  const entry = asRecord(item);
  const { namespace, name, uid, hostNetwork } = entry ?? {};
  if (typeof name !== 'string' || typeof namespace !== 'string') throw new PodListError(`${where}: expected {namespace, name, ips, uid?, hostNetwork?}`);
  if (uid !== undefined && typeof uid !== 'string') throw new PodListError(`${where}: uid must be a string`);
  if (hostNetwork !== undefined && typeof hostNetwork !== 'boolean') throw new PodListError(`${where}: hostNetwork must be true or false`);
  return { namespace, name, ...(uid !== undefined ? { uid } : {}), ips: ipsOf(entry?.ips, `${where}.ips`), ...(hostNetwork === true ? { hostNetwork } : {}) };
}

/**
 * The pods of a pod list document. With `node`, a PodList's pods scheduled elsewhere
 * (spec.nodeName set to another node) are left out.
 */
export function parsePodList(document: unknown, node?: string): PodRef[] {
  const list = asRecord(document);
  if (list !== undefined && Array.isArray(list.items)) {
    return (list.items as unknown[])
      .map((item, i) => fromKubernetesPod(item, `items[${i}]`))
      .filter((p) => node === undefined || p.nodeName === undefined || p.nodeName === node)
      .map((p) => p.pod);
  }
  if (Array.isArray(document)) return (document as unknown[]).map((item, i) => fromPlainEntry(item, `[${i}]`));
  throw new PodListError('expected a PodList (kubectl get pods -o json) or a JSON array of {namespace, name, ips}');
}
