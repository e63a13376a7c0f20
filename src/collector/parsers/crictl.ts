// What the container runtime says about the node's pod sandboxes, from crictl's JSON: which pod
// each sandbox is, whether it is ready, and the path of its network namespace. Pure code; tolerant
// of fields a runtime leaves out (containerd and CRI-O differ), explicit about what it skips.

import { canonicalIp } from './ip-addresses.js';
import { asRecord } from './json-shape.js';

export interface CriSandbox {
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** SANDBOX_READY or SANDBOX_NOTREADY. */
  readonly state: string;
  /** Nanoseconds since the epoch as the runtime reports it (for picking the newest attempt). */
  readonly createdAt: string;
}

export interface CriSandboxDetail {
  readonly id: string;
  /** The network namespace path from the sandbox's runtime spec, when the runtime gives one. */
  readonly netnsPath?: string;
  /** The sandbox's (pause) process, whose /proc/PID/ns/net is the namespace. */
  readonly pid?: number;
  readonly ips: readonly string[];
  /** The sandbox shares the node's network namespace (hostNetwork). */
  readonly hostNetwork: boolean;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** crictl prints createdAt as a string of nanoseconds (older versions: a number). */
function createdAtOf(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
}

/** `crictl pods -o json`: `{items: [{id, metadata: {name, namespace, uid}, state, createdAt}]}`. */
export function parseCrictlPods(data: unknown): { sandboxes: CriSandbox[]; skipped: number } {
  const items = asRecord(data)?.items;
  if (!Array.isArray(items)) throw new Error('crictl pods: no "items" array in its output');
  const sandboxes: CriSandbox[] = [];
  let skipped = 0;
  for (const item of items as unknown[]) {
    const it = asRecord(item);
    const meta = asRecord(it?.metadata);
    const id = text(it?.id);
    const name = text(meta?.name);
    const namespace = text(meta?.namespace);
    if (id === undefined || name === undefined || namespace === undefined) {
      skipped++;
      continue;
    }
    sandboxes.push({ id, name, namespace, uid: text(meta?.uid) ?? '', state: text(it?.state) ?? '', createdAt: createdAtOf(it?.createdAt) });
  }
  return { sandboxes, skipped };
}

/** The newest ready sandbox of each pod (a pod's older, stopped attempts are left out). */
export function readySandboxes(sandboxes: readonly CriSandbox[]): CriSandbox[] {
  const newest = new Map<string, CriSandbox>();
  for (const s of sandboxes) {
    if (s.state !== 'SANDBOX_READY') continue;
    const key = s.uid !== '' ? s.uid : `${s.namespace}/${s.name}`;
    const known = newest.get(key);
    if (known === undefined || compareNanos(s.createdAt, known.createdAt) > 0) newest.set(key, s);
  }
  return [...newest.values()];
}

function compareNanos(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

/** One document of `crictl inspectp -o json`: `{status: {...}, info: {pid, runtimeSpec: {...}}}`. */
export function parseCrictlInspect(document: unknown): CriSandboxDetail | undefined {
  const doc = asRecord(document);
  const status = asRecord(doc?.status);
  const id = text(status?.id);
  if (id === undefined) return undefined;
  const info = asRecord(doc?.info);
  const network = asRecord(status?.network);
  const ips = [text(network?.ip), ...(Array.isArray(network?.additionalIps) ? (network.additionalIps as unknown[]).map((a) => text(asRecord(a)?.ip)) : [])]
    .filter((ip): ip is string => ip !== undefined && ip !== '')
    .map((ip) => canonicalIp(ip) ?? ip);
  const options = asRecord(asRecord(asRecord(status?.linux)?.namespaces)?.options);
  const hostNetwork = options?.network === 'NODE' || options?.network === 2;
  const spec = asRecord(info?.runtimeSpec);
  const namespaces = asRecord(spec?.linux)?.namespaces;
  let netnsPath: string | undefined;
  if (Array.isArray(namespaces)) {
    for (const ns of namespaces as unknown[]) {
      const n = asRecord(ns);
      if (n?.type === 'network' && typeof n.path === 'string' && n.path !== '') netnsPath = n.path;
    }
  }
  const pid = typeof info?.pid === 'number' && Number.isInteger(info.pid) && info.pid > 0 ? info.pid : undefined;
  return { id, ips, hostNetwork, ...(netnsPath !== undefined ? { netnsPath } : {}), ...(pid !== undefined ? { pid } : {}) };
}
