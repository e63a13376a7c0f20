// The node snapshot: what the collector agent captured on one node, as the diagnostor reads it.
// This is the one definition of the format; schemas/snapshot.schema.json publishes it (written by
// hand, kept in step by test/collector/snapshot-schema.test.ts) and SNAPSHOT_SCHEMA_VERSION
// changes with any change a reader of an older version would misread.
//
// Dumps stay raw: the JSON of a command that prints JSON is embedded parsed (`data`), a text dump
// is embedded as the text the tool printed (`output`). The engine's parsers, which name the source
// and line on errors, remain the one place that interprets them.

/** Incremented on every change a reader of the previous version would misread. */
export const SNAPSHOT_SCHEMA_VERSION = 2;
export const SNAPSHOT_KIND = 'NetdiagNodeSnapshot';

/** How one command ran, and whether its result can be used. */
export interface CommandRecord {
  /** The argument vector, as a person would re-run it inside the namespace (without `nsenter`). */
  readonly command: readonly string[];
  /** When it started (ISO 8601, ms); absent when it never started. */
  readonly startedAt?: string;
  /** How long it ran; absent when it never started. */
  readonly durationMs?: number;
  /** Its exit status; null when it was killed, could not start, or never started. */
  readonly exitCode: number | null;
  /**
   * Why the result is missing or unusable: the tool is not installed, it failed, it timed out, the
   * run's deadline passed, the namespace could not be entered, the output is not what the tool
   * prints. Absent when the command succeeded.
   */
  readonly error?: string;
  /** What it wrote on standard error, trimmed (warnings of a successful command too). */
  readonly stderr?: string;
  /**
   * Not run because a cheaper check showed there is nothing to dump (e.g. no legacy iptables table
   * exists in the namespace), or nothing another item does not already hold (the nftables ruleset
   * of iptables-nft's tables only). Says which check.
   */
  readonly skipped?: string;
  /** The output was longer than the agent keeps and was cut. */
  readonly truncated?: boolean;
  /**
   * Run as one line of this batch (e.g. `ip -j -d -force -batch -`); startedAt and durationMs are
   * the batch's.
   */
  readonly batch?: string;
}

/** A command that prints text: iptables-save, ipset save, ss, sysctls. */
export interface TextItem extends CommandRecord {
  /** Standard output, as printed. Absent when the command did not run or failed. */
  readonly output?: string;
}

/** A command that prints JSON: `ip -j`, `bridge -j`, `nft -j`. */
export interface JsonItem extends CommandRecord {
  /**
   * Standard output, parsed. Absent when the command did not run, failed, or printed no JSON.
   * (Inside the agent a large dump is a RawJson until the snapshot is serialized.)
   */
  readonly data?: unknown;
  /** Standard output as text, kept only when it is not valid JSON (see `error`). */
  readonly output?: string;
}

/** A file the agent read itself (CNI configuration, CNI call records). */
export interface FileItem {
  readonly path: string;
  /** Size in bytes when read. */
  readonly size?: number;
  /** Content as text (the last bytes when `truncated`: the most recent records). */
  readonly content?: string;
  readonly truncated?: boolean;
  readonly error?: string;
}

export type IptablesBackend = 'legacy' | 'nft';

/** One family's iptables rules from both backends: a node may use either, or (wrongly) both. */
export interface IptablesCapture {
  /** `iptables-legacy-save` (`ip6tables-legacy-save`). */
  readonly legacy: TextItem;
  /** `iptables-nft-save` (`ip6tables-nft-save`). */
  readonly nft: TextItem;
  /**
   * The backends whose dump holds rules: a rule, a user-defined chain or a built-in chain whose
   * policy is not ACCEPT. Empty when neither does; both when both do (each dump is then one half
   * of what the kernel applies).
   */
  readonly backends: readonly IptablesBackend[];
}

/** The process holding a listening socket. */
export interface SocketOwner {
  /** The socket's inode (`ino:` in `ss -e`). */
  readonly inode: number;
  readonly pid: number;
  /** `/proc/PID/comm`. */
  readonly comm: string;
}

export interface SocketsCapture {
  /** `ss -t -u -l -n -e`: listening TCP sockets and unconnected UDP sockets, with inodes. */
  readonly listening: TextItem;
  /** Owners found for the sockets of `listening`, by inode (only processes the agent can see). */
  readonly owners: readonly SocketOwner[];
  /** Set when not every listening socket's owner was looked for or found, and why. */
  readonly ownersIncomplete?: string;
}

/** One network namespace's stack. */
export interface NetstackCapture {
  /** `ip -j -d link show`. */
  readonly links: JsonItem;
  /** `ip -j -d address show` (both families). */
  readonly addresses: JsonItem;
  /** `ip -j -d route show table all` (both families, every table). */
  readonly routes: JsonItem;
  /** `ip -j -d rule show` (IPv4). */
  readonly rules: JsonItem;
  /** `ip -6 -j -d rule show`. */
  readonly rules6: JsonItem;
  /** `ip -j -d neighbour show` (both families). */
  readonly neighbors: JsonItem;
  /** `bridge -j fdb show`; skipped when the namespace has no bridge or vxlan device. */
  readonly fdb: JsonItem;
  /**
   * The sysctls that change forwarding, as `sysctl` prints them (`net.ipv4.conf.eth0.rp_filter = 1`,
   * a dot in a device name written `/`), read from /proc/sys inside the namespace. `command` lists
   * the keys as patterns; a key that does not exist is named on `stderr`.
   */
  readonly sysctls: TextItem;
  readonly iptables: IptablesCapture;
  readonly ip6tables: IptablesCapture;
  /** `nft list chains`: the tables and their chains (hooks), and so whether `nftables` needs to be dumped. */
  readonly nftChains: TextItem;
  /**
   * `nft -j list ruleset`; skipped when every table is one iptables-nft manages (its rules are then
   * in `iptables` and `ip6tables`).
   */
  readonly nftables: JsonItem;
  /** `ipset save`. */
  readonly ipset: TextItem;
  /** `ipvsadm -Save -n`; skipped when /proc/net/ip_vs is absent (ipvsadm would load the module). */
  readonly ipvs: TextItem;
  readonly sockets: SocketsCapture;
}

/** How a namespace was found. */
export type DiscoverySource =
  /** The namespace the agent runs in (hostNetwork), or the one given as the host. */
  | 'host'
  /** A pod sandbox of the container runtime (crictl). */
  | 'cri'
  /** /proc/PID/ns/net of a process. */
  | 'proc'
  /** A bind mount in /run/netns (or /var/run/netns). */
  | 'run-netns';

export interface NetnsRef {
  /** The namespace's inode (nsfs), which identifies it on the node. */
  readonly inode: number;
  /** The path the agent entered (`nsenter --net=PATH`). */
  readonly path: string;
  /** Every way it was found, deduplicated by inode. */
  readonly foundBy: readonly DiscoverySource[];
  /** Its names under /run/netns, if any. */
  readonly names?: readonly string[];
  /** Processes in it (at most the first 20, ascending), when any. */
  readonly pids?: readonly number[];
  /** How many processes are in it. */
  readonly processCount?: number;
}

/** A pod, as the caller (or the container runtime) named it. */
export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
  /** Its IPs (status.podIPs), which match it to a namespace when the runtime cannot. */
  readonly ips: readonly string[];
  readonly hostNetwork?: boolean;
}

export type NamespaceKind =
  /** The node's own namespace. */
  | 'host'
  /** A pod's namespace. */
  | 'pod'
  /** Found but not matched to a pod: kept in full only when no pod list was given. */
  | 'other';

export interface NamespaceSnapshot {
  readonly kind: NamespaceKind;
  readonly netns: NetnsRef;
  /** For kind `pod`: the pod. */
  readonly pod?: PodRef;
  /** For kind `pod`: how the pod was matched to this namespace. */
  readonly matchedBy?: 'cri' | 'cni-record' | 'ip';
  readonly netstack: NetstackCapture;
}

export interface PodNotFound {
  readonly pod: PodRef;
  /** Why: no namespace holds its IPs, two do, its sandbox is not ready, ... */
  readonly reason: string;
}

/** A namespace found on the node that matched none of the pods given. */
export interface UnmatchedNamespace {
  readonly netns: NetnsRef;
  /** Its global and site addresses (no loopback, no link-local). */
  readonly addresses: readonly string[];
}

export interface SnapshotWarning {
  /** Stable, machine-readable kind, e.g. `cri-unavailable`, `deadline-exceeded`. */
  readonly code: string;
  readonly message: string;
}

export interface NodeIdentity {
  /** The Kubernetes node name (--node, NODE_NAME, else the hostname). */
  readonly name: string;
  readonly hostname: string;
  /** /etc/machine-id, when readable. */
  readonly machineId?: string;
  /** /proc/sys/kernel/random/boot_id: changes on every boot. */
  readonly bootId?: string;
  readonly kernel: {
    /** `uname -r`. */
    readonly release: string;
    /** `uname -v`. */
    readonly version: string;
    /** `uname -m`. */
    readonly machine: string;
  };
}

export interface CriDiscovery {
  /** The runtime socket crictl talked to. */
  readonly endpoint: string;
  /** `crictl pods -o json`. */
  readonly pods: JsonItem;
  /** `crictl inspectp -o json ID...` of the ready sandboxes; `data` is an array, one per sandbox. */
  readonly inspect?: JsonItem;
}

export interface DiscoveryRecord {
  /** `cri` when the container runtime named the pods' namespaces; `proc` when they were matched by IP. */
  readonly method: 'cri' | 'proc';
  readonly cri?: CriDiscovery;
  /** Network namespaces found (the host included), after deduplication by inode. */
  readonly namespacesFound: number;
  /** Processes whose /proc/PID/ns/net was read. */
  readonly processesScanned: number;
  readonly durationMs: number;
}

export interface CniCapture {
  /** The configuration directory (/etc/cni/net.d). */
  readonly configDir: string;
  /** Every regular file in it, in lexical order (the runtime uses the first .conf/.conflist/.json). */
  readonly configFiles: readonly FileItem[];
  /** Set when the directory could not be listed (e.g. it does not exist). */
  readonly configDirError?: string;
  /** netdiag's CNI call records (/var/log/netdiag/*.jsonl), when present. */
  readonly records: readonly FileItem[];
}

export interface AgentInfo {
  /** The netdiag version that captured this. */
  readonly version: string;
  /** Whole-run deadline, ms. */
  readonly deadlineMs: number;
  /** Per-command timeout, ms. */
  readonly commandTimeoutMs: number;
  /** Capture processes run at once. */
  readonly parallelism: number;
}

export interface Snapshot {
  readonly schemaVersion: typeof SNAPSHOT_SCHEMA_VERSION;
  readonly kind: typeof SNAPSHOT_KIND;
  readonly node: NodeIdentity;
  readonly agent: AgentInfo;
  readonly startedAt: string;
  readonly completedAt: string;
  readonly durationMs: number;
  /**
   * False when something that should have been captured was not: the deadline passed, a namespace
   * could not be entered, a pod's namespace was not found. Per-item errors say what.
   */
  readonly complete: boolean;
  readonly discovery: DiscoveryRecord;
  /** Version of each tool the agent runs (`ip -V`, `nft --version`, ...), by tool name. */
  readonly tools: Readonly<Record<string, TextItem>>;
  readonly cni: CniCapture;
  /** The host first, then pods (by namespace/name), then others. */
  readonly namespaces: readonly NamespaceSnapshot[];
  /** Pods of the caller's list whose namespace was not found: never silently left out. */
  readonly podsNotFound: readonly PodNotFound[];
  /** Pods of the caller's list that run in the host's namespace (hostNetwork). */
  readonly hostNetworkPods: readonly PodRef[];
  readonly unmatchedNamespaces: readonly UnmatchedNamespace[];
  readonly warnings: readonly SnapshotWarning[];
}
