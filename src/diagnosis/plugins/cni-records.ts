// netdiag's CNI call records: the format `netdiag-cni-tap` writes (one JSON object per line, one
// line per call and position in the chain) and its parser. The tap sits first (`head`) and last
// (`tail`) in the node's network configuration list. On ADD the runtime runs the list in order and
// stops at the first plugin that fails, so a head record without its tail record means a plugin
// between them failed; on DEL it runs the list in reverse (tail first, head last). Pure: the files
// arrive as strings, as the collector read them.

import type { Warning } from '../model/warning.js';

/** Incremented on any change a reader of the previous version would misread. */
export const CNI_RECORD_VERSION = 1;

/** The plugin type the tap is installed as (its executable's name in the CNI bin directory). */
export const CNI_TAP_TYPE = 'netdiag-cni-tap';

export type CniTapPosition = 'head' | 'tail';

/** One line of a record file. */
export interface CniCallRecord {
  readonly v: typeof CNI_RECORD_VERSION;
  /** When the tap was called (ISO 8601, ms). */
  readonly time: string;
  readonly position: CniTapPosition;
  /** CNI_COMMAND: ADD, DEL or CHECK. */
  readonly command: string;
  /** CNI_CONTAINERID (the pod sandbox's id). */
  readonly containerId?: string;
  /** CNI_NETNS: the path of the pod's network namespace. */
  readonly netns?: string;
  /** CNI_IFNAME: the interface the chain creates in it. */
  readonly ifname?: string;
  /** CNI_ARGS as given (`K8S_POD_NAMESPACE=...;K8S_POD_NAME=...;...`). */
  readonly args?: string;
  /** The tap's process id. */
  readonly pid: number;
  /** The network's `name` and `cniVersion`, from the configuration the runtime passed. */
  readonly network?: string;
  readonly cniVersion?: string;
  /** Head: the configuration the runtime passed to the tap, without `prevResult`. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Tail: the chain's result (`prevResult`), as the runtime gets it back. */
  readonly result?: unknown;
  /** What went wrong that the tap saw: its input was not a configuration, the tail got no result. */
  readonly error?: string;
}

/** A record file of a node as its collector read it (the newest bytes when `truncated`). */
export interface CniRecordFile {
  readonly path: string;
  readonly content?: string;
  /** The oldest records were cut: the file holds only its last lines. */
  readonly truncated?: boolean;
  readonly error?: string;
}

/** A node's records in call order, and from when they are complete. */
export interface CniRecordLog {
  readonly records: readonly CniCallRecord[];
  /**
   * The time of the first record from which on no record is missing (records before a cut were
   * dropped); undefined when there is no record.
   */
  readonly completeFrom?: string;
  readonly warnings: readonly Warning[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const OPTIONAL_STRINGS = ['containerId', 'netns', 'ifname', 'args', 'network', 'cniVersion', 'error'] as const;

/** One line, or why it is not a record. */
export function parseCniRecordLine(line: string): CniCallRecord | { readonly problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (error) {
    return { problem: `not valid JSON (${error instanceof Error ? error.message : String(error)})` };
  }
  if (!isObject(json)) return { problem: 'not a JSON object' };
  if (json.v !== CNI_RECORD_VERSION) return { problem: `record version ${JSON.stringify(json.v)} is not ${CNI_RECORD_VERSION}` };
  if (typeof json.time !== 'string' || Number.isNaN(Date.parse(json.time))) return { problem: 'time is missing or not a date' };
  if (json.position !== 'head' && json.position !== 'tail') return { problem: `position ${JSON.stringify(json.position)} is neither head nor tail` };
  if (typeof json.command !== 'string') return { problem: 'command is missing' };
  if (typeof json.pid !== 'number') return { problem: 'pid is missing' };
  for (const key of OPTIONAL_STRINGS) if (json[key] !== undefined && typeof json[key] !== 'string') return { problem: `${key} is not a string` };
  if (json.config !== undefined && !isObject(json.config)) return { problem: 'config is not a JSON object' };
  return json as unknown as CniCallRecord;
}

/** Rotation index of a record file: 0 for `cni-NODE.jsonl`, N for `cni-NODE.N.jsonl`. */
function rotation(path: string): number {
  const m = /\.(\d+)\.jsonl$/.exec(path);
  return m?.[1] === undefined ? 0 : Number(m[1]);
}

/**
 * A node's record files as one log in call order: rotated files oldest first (`.3`, `.2`, `.1`,
 * then the current one), each line in the order it was appended. Records before a cut (a file read
 * `truncated`, or one that could not be read) are dropped, so that `completeFrom` on every record
 * is there: a head whose tail fell in the cut would otherwise look like a failed call.
 */
export function parseCniRecordFiles(files: readonly CniRecordFile[]): CniRecordLog {
  const warnings: Warning[] = [];
  const ordered = [...files].sort((a, b) => rotation(b.path) - rotation(a.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  let records: CniCallRecord[] = [];
  for (const file of ordered) {
    if (file.content === undefined) {
      warnings.push({ code: 'cni-records-unreadable', message: `${file.path} could not be read (${file.error ?? 'no content collected'}): records before it are not used` });
      records = [];
      continue;
    }
    if (file.truncated === true) records = [];
    file.content.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      const parsed = parseCniRecordLine(line);
      if ('problem' in parsed) warnings.push({ code: 'cni-record-unparsable', message: `${file.path} line ${i + 1} is not a CNI call record: ${parsed.problem}`, source: `${file.path}:${i + 1}` });
      else records.push(parsed);
    });
  }
  const first = records[0];
  return { records, ...(first !== undefined ? { completeFrom: first.time } : {}), warnings };
}

/** The `KEY=VALUE` pairs of CNI_ARGS (`;`-separated). */
export function parseCniArgs(args: string | undefined): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  for (const pair of (args ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0) out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}

/** The plugin types of the chain between head and tail, as `install` wrote them into the tap's configuration. */
export function recordedChain(record: CniCallRecord): readonly string[] | undefined {
  const chain = record.config?.chain;
  return Array.isArray(chain) && chain.every((t) => typeof t === 'string') ? (chain) : undefined;
}
