// Flags of `netdiag collect`, checked into a typed request before anything runs.

import { UsageError } from './cli-error.js';
import { parseFlags } from './flags.js';

export const COLLECT_USAGE = `usage: netdiag collect [--out FILE|-] [--node NAME] [--pods FILE] [--timeout SECONDS]
                       [--command-timeout SECONDS] [--parallelism N] [--host-netns PATH]
                       [--netns-dir DIR]... [--no-proc-netns] [--cri-endpoint URL | --no-cri]
                       [--cni-conf-dir DIR] [--cni-record-dir DIR]
                       [--configmaps --namespace NS --diagnosis NS.NAME [--kubeconfig FILE]]
                       [--quiet]

Captures the network stack of this node and of every pod on it (links, addresses, routes, rules,
neighbours, FDB, sysctls, iptables of both backends, nftables, ipset, ipvs, listening sockets),
plus the node's CNI configuration and records, as one versioned JSON snapshot
(schemas/snapshot.schema.json). Read-only; needs root (CAP_SYS_ADMIN to enter namespaces,
CAP_NET_ADMIN to dump netfilter). Progress goes to stderr.

  --out FILE|-            write the snapshot to FILE (atomically) or - for stdout (the default
                          unless --configmaps is given)
  --node NAME             the Kubernetes node name (default: $NODE_NAME, else the hostname)
  --pods FILE             the node's pods, to match namespaces to: a PodList (kubectl get pods
                          -o json) or a JSON array of {namespace, name, uid?, ips, hostNetwork?};
                          - for stdin. Without it every namespace found is kept, unnamed unless
                          the container runtime names it
  --timeout SECONDS       deadline of the whole run (default 60); what has not run by then is
                          recorded as such, and the snapshot says it is incomplete
  --command-timeout SECONDS
                          each command's timeout (default 10)
  --parallelism N         capture processes at once (default: cores x 2, from 2 to 16)
  --host-netns PATH       the node's network namespace (default: the one netdiag runs in); for
                          labs where a node is a network namespace
  --netns-dir DIR         a directory of named network namespaces to search (repeatable), instead
                          of /run/netns and /var/run/netns; for hosts where not every namespace
                          belongs to this node (labs, nested setups)
  --no-proc-netns         do not search the namespaces of processes (/proc/PID/ns/net): only the
                          host and the namespaces in the netns directories are found (processes
                          are still read to name the owners of listening sockets)
  --cri-endpoint URL      the container runtime's CRI socket (default: $CONTAINER_RUNTIME_ENDPOINT,
                          else containerd, CRI-O or cri-dockerd at their usual paths)
  --no-cri                do not ask the runtime: match pods to namespaces by IP only
  --cni-conf-dir DIR      CNI configuration directory (default /etc/cni/net.d)
  --cni-record-dir DIR    netdiag's CNI call records (default /var/log/netdiag)
  --configmaps            also ship the snapshot through the API server: gzip, cut into
                          ConfigMaps of at most ~900 KiB in --namespace, labelled with
                          --diagnosis and the node; uses the pod's service account, or
                          --kubeconfig, KUBECONFIG, ~/.kube/config
  --namespace NS          the operator's namespace (default: the service account's or the
                          kubeconfig context's)
  --diagnosis NS.NAME     the NetworkDiagnosis this snapshot is for
  --quiet                 no progress on stderr
`;

export interface CollectRequest {
  /** undefined: no file output (ConfigMaps only). */
  readonly out?: string;
  readonly node?: string;
  readonly podsFile?: string;
  readonly timeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly parallelism?: number;
  readonly hostNetns?: string;
  /** --netns-dir, in order; undefined: the default directories. */
  readonly netnsDirs?: readonly string[];
  /** false with --no-proc-netns; undefined: search /proc. */
  readonly procNetns?: false;
  readonly criEndpoint?: string | false;
  readonly cniConfDir?: string;
  readonly cniRecordDir?: string;
  readonly configMaps?: {
    readonly namespace?: string;
    readonly diagnosis: { readonly namespace: string; readonly name: string };
    readonly kubeconfig?: string;
  };
  readonly quiet: boolean;
}

function parseSeconds(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback * 1000;
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0) || n > 86400) throw new UsageError(`${flag} ${JSON.stringify(value)}: expected a number of seconds from 0 to 86400`);
  return Math.round(n * 1000);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** `NS.NAME`: the namespace is a DNS label (no dots), the name a DNS subdomain. */
function parseDiagnosis(value: string): { namespace: string; name: string } {
  const dot = value.indexOf('.');
  const namespace = value.slice(0, dot);
  const name = value.slice(dot + 1);
  if (dot < 1 || !DNS_LABEL.test(namespace) || namespace.length > 63 || !DNS_SUBDOMAIN.test(name) || name.length > 253) {
    throw new UsageError(`--diagnosis ${JSON.stringify(value)}: expected NAMESPACE.NAME of a NetworkDiagnosis`);
  }
  return { namespace, name };
}

export function parseCollectArgs(args: string[]): CollectRequest {
  const values = parseFlags(args, {
    out: { type: 'string' },
    node: { type: 'string' },
    pods: { type: 'string' },
    timeout: { type: 'string' },
    'command-timeout': { type: 'string' },
    parallelism: { type: 'string' },
    'host-netns': { type: 'string' },
    'netns-dir': { type: 'string', multiple: true },
    'no-proc-netns': { type: 'boolean', default: false },
    'cri-endpoint': { type: 'string' },
    'no-cri': { type: 'boolean', default: false },
    'cni-conf-dir': { type: 'string' },
    'cni-record-dir': { type: 'string' },
    configmaps: { type: 'boolean', default: false },
    namespace: { type: 'string' },
    diagnosis: { type: 'string' },
    kubeconfig: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  });
  if (values['no-cri'] === true && values['cri-endpoint'] !== undefined) throw new UsageError('--no-cri and --cri-endpoint exclude each other');
  const configMaps = values.configmaps === true;
  if (!configMaps) {
    for (const flag of ['namespace', 'diagnosis', 'kubeconfig'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} only makes sense with --configmaps`);
    }
  } else if (values.diagnosis === undefined) {
    throw new UsageError('--configmaps needs --diagnosis NS.NAME (the labels the controller finds the snapshot by)');
  }
  if (values.namespace !== undefined && !DNS_LABEL.test(values.namespace)) throw new UsageError(`--namespace ${JSON.stringify(values.namespace)}: not a namespace name`);
  let parallelism: number | undefined;
  if (values.parallelism !== undefined) {
    parallelism = Number(values.parallelism);
    if (!/^\d+$/.test(values.parallelism) || parallelism < 1 || parallelism > 256) throw new UsageError(`--parallelism ${JSON.stringify(values.parallelism)}: expected an integer from 1 to 256`);
  }
  const netnsDirs = values['netns-dir'];
  if (netnsDirs?.includes('') === true) throw new UsageError('--netns-dir "": expected a directory');
  const criEndpoint = values['no-cri'] === true ? false : values['cri-endpoint'];
  const out = values.out ?? (configMaps ? undefined : '-');
  return {
    ...(out !== undefined ? { out } : {}),
    ...(values.node !== undefined ? { node: values.node } : {}),
    ...(values.pods !== undefined ? { podsFile: values.pods } : {}),
    timeoutMs: parseSeconds('--timeout', values.timeout, 60),
    commandTimeoutMs: parseSeconds('--command-timeout', values['command-timeout'], 10),
    ...(parallelism !== undefined ? { parallelism } : {}),
    ...(values['host-netns'] !== undefined ? { hostNetns: values['host-netns'] } : {}),
    ...(netnsDirs !== undefined ? { netnsDirs } : {}),
    ...(values['no-proc-netns'] === true ? { procNetns: false as const } : {}),
    ...(criEndpoint !== undefined ? { criEndpoint } : {}),
    ...(values['cni-conf-dir'] !== undefined ? { cniConfDir: values['cni-conf-dir'] } : {}),
    ...(values['cni-record-dir'] !== undefined ? { cniRecordDir: values['cni-record-dir'] } : {}),
    ...(configMaps
      ? {
          configMaps: {
            diagnosis: parseDiagnosis(values.diagnosis ?? ''),
            ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
            ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
          },
        }
      : {}),
    quiet: values.quiet === true,
  };
}
