// What netdiag's CNI call records say about the pods of a diagnosis, compared with the cluster's
// objects, the pods' network namespaces and the configuration on disk:
// - CniAddFailed: the pod's last ADD reached the head of the chain but not the tail (a plugin in
//   between failed and the runtime stopped), or the tap saw an error, and no later ADD succeeded;
// - CniAddMissing: a running pod with no ADD recorded at all, though the tap is installed and the
//   node's records go back to before the pod was created;
// - CniResultMismatch: an address of the last successful ADD's result is not the pod's status
//   address of that family, or not on the interface of the pod's netns the result names;
// - CniDelWithoutAdd: the network of the pod's current sandbox (the container id of its last
//   successful ADD) was deleted and no ADD followed, while the pod runs;
// - CniChainMismatch: the plugins between the taps in the last call differ from the conflist on disk.
// Healthy records raise nothing. Pure.

import type { Suspicion } from '../model/diagnosis.js';
import { formatIp, parseIp, type IpAddress } from '../model/ip.js';
import { objectKey, podIps, type KubePod } from '../model/kube-objects.js';
import type { Warning } from '../model/warning.js';
import { loadCniConfig } from './cni-config.js';
import { CNI_TAP_TYPE, parseCniArgs, parseCniRecordFiles, recordedChain, type CniCallRecord, type CniRecordLog } from './cni-records.js';
import type { ClusterState } from './cluster-state.js';
import type { NetnsState } from './netns-state.js';

export interface CniRecordCheckInput {
  readonly cluster: ClusterState;
  /** The pods to judge, by `namespace/name`. */
  readonly pods: readonly string[];
  /** The nodes whose recorded chain is compared with their configuration on disk. */
  readonly nodes: readonly string[];
  /** The state of a pod's network namespace, when it was captured and can be read. */
  netnsOf(podKey: string): NetnsState | undefined;
}

export interface CniRecordFindings {
  readonly suspicions: readonly Suspicion[];
  readonly warnings: readonly Warning[];
}

/** How one ADD went: from its head record to its tail record (or none). */
interface AddCall {
  readonly containerId: string;
  readonly ifname: string;
  readonly head?: CniCallRecord;
  readonly tail?: CniCallRecord;
  /** Why it failed; undefined when it succeeded. */
  readonly failure?: string;
  /** Index of its last record in the pod's records. */
  readonly at: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether a record is about this pod: CNI_ARGS name it (and its uid, when both carry one). */
function isAbout(record: CniCallRecord, pod: KubePod): boolean {
  const args = parseCniArgs(record.args);
  if (args.get('K8S_POD_NAME') !== pod.metadata.name || args.get('K8S_POD_NAMESPACE') !== (pod.metadata.namespace ?? 'default')) return false;
  const uid = args.get('K8S_POD_UID');
  return uid === undefined || pod.metadata.uid === undefined || uid === pod.metadata.uid;
}

function chainText(record: CniCallRecord | undefined): string {
  const chain = record === undefined ? undefined : recordedChain(record);
  return chain === undefined || chain.length === 0 ? 'a plugin between the head and the tail of the chain' : `one of the plugins between the head and the tail (${chain.join(', ')})`;
}

/** The ADD calls of a pod's records, in order; a head left open at the end has no tail (failed). */
function addCalls(records: readonly CniCallRecord[]): AddCall[] {
  const calls: AddCall[] = [];
  const open = new Map<string, { head: CniCallRecord; at: number }>();
  const close = (key: string, call: Omit<AddCall, 'at'>, at: number): void => {
    open.delete(key);
    calls.push({ ...call, at });
  };
  records.forEach((r, at) => {
    if (r.command !== 'ADD') return;
    const containerId = r.containerId ?? '';
    const ifname = r.ifname ?? '';
    const key = `${containerId}|${ifname}`;
    const pending = open.get(key);
    if (r.position === 'head') {
      if (pending !== undefined) close(key, { containerId, ifname, head: pending.head, failure: `${chainText(pending.head)} failed: the tail of the chain was never called` }, pending.at);
      if (r.error !== undefined) close(key, { containerId, ifname, head: r, failure: `the tap at the head of the chain recorded: ${r.error}` }, at);
      else open.set(key, { head: r, at });
      return;
    }
    const head = pending?.head;
    const failure = r.error !== undefined ? `the tap at the tail of the chain recorded: ${r.error}` : undefined;
    close(key, { containerId, ifname, ...(head !== undefined ? { head } : {}), tail: r, ...(failure !== undefined ? { failure } : {}) }, at);
  });
  for (const { head, at } of open.values()) {
    calls.push({ containerId: head.containerId ?? '', ifname: head.ifname ?? '', head, failure: `${chainText(head)} failed: the tail of the chain was never called`, at });
  }
  return calls.sort((a, b) => a.at - b.at);
}

/** The addresses of a CNI result (1.0 `ips`, 0.3/0.4 `ips`, 0.1/0.2 `ip4`/`ip6`), with the interface each is on when named. */
function resultAddresses(result: unknown, defaultIfname: string): { ip: IpAddress; text: string; ifname: string }[] {
  if (!isObject(result)) return [];
  const interfaces: readonly unknown[] = Array.isArray(result.interfaces) ? (result.interfaces as unknown[]) : [];
  const out: { ip: IpAddress; text: string; ifname: string }[] = [];
  const add = (cidr: unknown, iface: unknown): void => {
    if (typeof cidr !== 'string') return;
    const text = cidr.split('/')[0] ?? '';
    const ip = parseIp(text);
    if (ip === undefined) return;
    const entry = typeof iface === 'number' ? interfaces[iface] : undefined;
    const name = isObject(entry) && typeof entry.name === 'string' && typeof entry.sandbox === 'string' && entry.sandbox !== '' ? entry.name : defaultIfname;
    out.push({ ip, text: formatIp(ip), ifname: name });
  };
  if (Array.isArray(result.ips)) for (const ip of result.ips) if (isObject(ip)) add(ip.address, ip.interface);
  for (const key of ['ip4', 'ip6']) {
    const old = result[key];
    if (isObject(old)) add(old.ip, undefined);
  }
  return out;
}

const TERMINAL_PHASES = new Set(['Succeeded', 'Failed']);

function podSuspicions(pod: KubePod, log: CniRecordLog, tapped: boolean, netns: NetnsState | undefined, node: string): Suspicion[] {
  const key = objectKey(pod.metadata);
  if (TERMINAL_PHASES.has(pod.status?.phase ?? '')) return [];
  const records = log.records.filter((r) => isAbout(r, pod));
  const running = pod.status?.phase === 'Running';
  const out: Suspicion[] = [];
  const suspect = (code: Suspicion['code'], message: string): void => {
    out.push({ level: 'critical', node: key, code, message });
  };

  const calls = addCalls(records);
  if (calls.length === 0) {
    // No ADD at all. Only meaningful when the tap is installed and the node's records are complete
    // from before the pod was created (a pod made before the tap, or before a cut, has none).
    const created = pod.metadata.creationTimestamp;
    if (running && tapped && created !== undefined && log.completeFrom !== undefined && Date.parse(log.completeFrom) <= Date.parse(created)) {
      suspect('CniAddMissing', `pod ${key} runs on ${node} (status IPs ${podIps(pod).join(', ') || 'none'}) but no CNI ADD for it is recorded there since ${log.completeFrom}, before it was created (${created}): its network was not set up by the node's CNI chain`);
    }
    return out;
  }

  let lastSuccess: AddCall | undefined;
  for (const c of calls) if (c.failure === undefined) lastSuccess = c;
  const lastFailed = [...calls].reverse().find((c) => c.failure !== undefined && (lastSuccess === undefined || c.at > lastSuccess.at));
  if (lastFailed !== undefined) {
    const when = lastFailed.head?.time ?? lastFailed.tail?.time ?? '';
    suspect('CniAddFailed', `CNI ADD of pod ${key} (container ${lastFailed.containerId}, ${lastFailed.ifname}) on ${node} at ${when} failed: ${lastFailed.failure ?? ''}; no later ADD succeeded`);
  }
  if (lastSuccess === undefined || !running) return out;

  const success = lastSuccess;
  const deleted = records.find((r, i) => i > success.at && r.command === 'DEL' && r.containerId === success.containerId && (r.ifname ?? '') === success.ifname);
  if (deleted !== undefined) {
    suspect(
      'CniDelWithoutAdd',
      `CNI DEL of pod ${key} (container ${success.containerId}, ${success.ifname}) on ${node} at ${deleted.time} tore down the network of its sandbox, and no ADD followed, but the pod is ${pod.status?.phase ?? 'running'}`,
    );
    return out;
  }

  const addresses = resultAddresses(success.tail?.result, success.ifname);
  const statusIps = podIps(pod).map((t) => parseIp(t)).filter((ip): ip is IpAddress => ip !== undefined);
  const when = success.tail?.time ?? '';
  for (const family of [4, 6] as const) {
    const fromResult = addresses.filter((a) => a.ip.family === family).map((a) => a.text);
    const fromStatus = statusIps.filter((ip) => ip.family === family).map(formatIp);
    if (fromResult.length === 0 || fromStatus.length === 0) continue;
    if (!fromStatus.some((s) => fromResult.includes(s))) {
      suspect('CniResultMismatch', `the CNI ADD result of pod ${key} (container ${success.containerId}) on ${node} at ${when} gave ${fromResult.join(', ')}, but the pod's status.podIPs says ${fromStatus.join(', ')}`);
    }
  }
  if (netns !== undefined) {
    for (const a of addresses) {
      const onDev = netns.routing.addressesByDev.get(a.ifname) ?? [];
      if (onDev.some((x) => x.family === a.ip.family && formatIp(x.local) === a.text)) continue;
      const has = onDev.map((x) => `${formatIp(x.local)}/${x.prefixLength}`);
      const link = netns.routing.links.get(a.ifname);
      suspect(
        'CniResultMismatch',
        `the CNI ADD result of pod ${key} (container ${success.containerId}) on ${node} at ${when} put ${a.text} on ${a.ifname}, but ${link === undefined ? `the pod's netns has no device ${a.ifname}` : `${a.ifname} in the pod's netns has ${has.length === 0 ? 'no address' : has.join(', ')}`}`,
      );
    }
  }
  return out;
}

/** CniChainMismatch: the chain of the node's last recorded call against its configuration on disk. */
function chainSuspicions(cluster: ClusterState, node: string, log: CniRecordLog): Suspicion[] {
  const last = [...log.records].reverse().find((r) => r.position === 'head' && recordedChain(r) !== undefined);
  const files = cluster.cniConfigs?.[node];
  if (last === undefined || files === undefined) return [];
  const loaded = loadCniConfig(files);
  if (loaded.kind !== 'ok') return [];
  const recorded = recordedChain(last) ?? [];
  const onDisk = loaded.config.plugins.map((p) => p.type).filter((t) => t !== CNI_TAP_TYPE);
  const sameChain = recorded.length === onDisk.length && recorded.every((t, i) => t === onDisk[i]);
  const sameNetwork = last.network === undefined || last.network === loaded.config.name;
  if (sameChain && sameNetwork) return [];
  return [
    {
      level: 'warning',
      node,
      code: 'CniChainMismatch',
      message: `the last CNI call recorded on ${node} (${last.command} at ${last.time}, container ${last.containerId ?? '?'}) ran network ${last.network ?? '?'} with plugins ${recorded.join(', ') || 'none'}, but ${loaded.config.file} on disk holds network ${loaded.config.name} with plugins ${onDisk.join(', ')}: the runtime runs another configuration than the one on disk (not reloaded yet, or the file changed since)`,
    },
  ];
}

/** The suspicions of the CNI call records about `pods` and `nodes`; nothing when a node has no records. */
export function cniRecordFindings(input: CniRecordCheckInput): CniRecordFindings {
  const { cluster } = input;
  const suspicions: Suspicion[] = [];
  const warnings: Warning[] = [];
  const logs = new Map<string, CniRecordLog | undefined>();
  const logOf = (node: string): CniRecordLog | undefined => {
    if (!logs.has(node)) {
      const files = cluster.cniRecords?.[node];
      const log = files === undefined || files.length === 0 ? undefined : parseCniRecordFiles(files);
      if (log !== undefined) warnings.push(...log.warnings.map((w) => ({ ...w, message: `${node}: ${w.message}` })));
      logs.set(node, log !== undefined && log.records.length > 0 ? log : undefined);
    }
    return logs.get(node);
  };
  const tappedOn = (node: string): boolean => {
    const files = cluster.cniConfigs?.[node];
    const loaded = files === undefined ? undefined : loadCniConfig(files);
    if (loaded?.kind !== 'ok') return false;
    const plugins = loaded.config.plugins;
    return plugins.length > 2 && plugins[0]?.type === CNI_TAP_TYPE && plugins[plugins.length - 1]?.type === CNI_TAP_TYPE;
  };

  for (const key of new Set(input.pods)) {
    const pod = cluster.objects.pods.find((p) => objectKey(p.metadata) === key);
    const node = pod?.spec.nodeName;
    if (pod === undefined || node === undefined || pod.spec.hostNetwork === true) continue;
    const log = logOf(node);
    if (log === undefined) continue;
    suspicions.push(...podSuspicions(pod, log, tappedOn(node), input.netnsOf(key), node));
  }
  for (const node of new Set(input.nodes)) {
    const log = logOf(node);
    if (log !== undefined) suspicions.push(...chainSuspicions(cluster, node, log));
  }
  return { suspicions, warnings };
}
