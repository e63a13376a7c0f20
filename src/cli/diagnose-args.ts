// Flags of `netdiag diagnose`, checked into a typed request before the snapshot is read.

import { isIp, type QueryEndpoint, type QueryProtocol } from '../diagnosis/index.js';
import { UsageError } from './cli-error.js';
import { parseFlags } from './flags.js';

export const DIAGNOSE_USAGE = `usage: netdiag diagnose --snapshot DIR --src REF --dst REF [--port N] --protocol tcp|udp|icmp
                        [--sport N] [--plugin auto|NAME] [--output text|json]

Says whether a packet from --src reaches --dst, offline, by simulating it through the network
namespaces of the nodes it crosses: the verdict, the path hop by hop (request and reply), and every
suspicion on the way (which route, rule, device or sysctl breaks it).

  --snapshot DIR   the cluster's objects and one snapshot per node, told apart by content:
                     - objects as kubectl prints them, JSON or YAML (Lists, single objects or
                       several YAML documents), e.g.
                       kubectl get nodes,pods,services,endpointslices,networkpolicies,daemonsets,namespaces \\
                         -A -o yaml > DIR/objects.yaml
                     - node snapshots as \`netdiag collect --out DIR/NODE.json\` writes them
                       (.json or .json.gz)
                   Files may sit in subdirectories (up to three levels); names do not matter.
  --src REF        pod/NAMESPACE/NAME, node/NAME or an IP of a pod or node
  --dst REF        pod/NAMESPACE/NAME, svc/NAMESPACE/NAME, node/NAME or an IP (a service's
                   ClusterIP, external IP or load-balancer IP is the service)
  --port N         the destination port (required for tcp and udp)
  --protocol P     tcp, udp or icmp (an echo request)
  --sport N        the client's source port (default 40000)
  --plugin NAME    the CNI plugin whose layout to check: auto (default: detected from the CNI
                   configuration and DaemonSets), or one of the names \`--plugin list\` prints
  --output FORMAT  text (default): the path and a table of suspicions; json: the result object

Exit status: 0 Reachable; 3 Unreachable or Degraded; 4 Inconclusive; 1 the input could not be
read; 2 a usage error.
`;

export interface DiagnoseRequest {
  readonly snapshotDir: string;
  readonly source: QueryEndpoint;
  readonly destination: QueryEndpoint;
  readonly port: number;
  readonly sourcePort?: number;
  readonly protocol: QueryProtocol;
  /** undefined: auto-detect. */
  readonly plugin?: string;
  readonly output: 'text' | 'json';
}

const PROTOCOLS: Readonly<Record<string, QueryProtocol>> = { tcp: 'TCP', udp: 'UDP', icmp: 'ICMP' };

/** Parses a REF: `pod/NS/NAME`, `svc/NS/NAME` (or `service/`), `node/NAME`, or an IP address. */
export function parseEndpointRef(flag: string, text: string): QueryEndpoint {
  if (isIp(text)) return { kind: 'ip', ip: text };
  const parts = text.split('/');
  const [kind, ...rest] = parts;
  const bad = (expected: string): never => {
    throw new UsageError(`${flag} ${JSON.stringify(text)}: expected ${expected}`);
  };
  const named = (value: string | undefined): string => (value !== undefined && value !== '' ? value : bad('pod/NAMESPACE/NAME, svc/NAMESPACE/NAME, node/NAME or an IP address'));
  switch (kind) {
    case 'pod':
    case 'pods':
      if (rest.length !== 2) bad('pod/NAMESPACE/NAME');
      return { kind: 'pod', namespace: named(rest[0]), name: named(rest[1]) };
    case 'svc':
    case 'service':
    case 'services':
      if (rest.length !== 2) bad('svc/NAMESPACE/NAME');
      return { kind: 'service', namespace: named(rest[0]), name: named(rest[1]) };
    case 'node':
    case 'nodes':
      if (rest.length !== 1) bad('node/NAME');
      return { kind: 'node', name: named(rest[0]) };
    case undefined:
    default:
      return bad('pod/NAMESPACE/NAME, svc/NAMESPACE/NAME, node/NAME or an IP address');
  }
}

function port(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new UsageError(`${flag} ${JSON.stringify(text)}: not a port (1-65535)`);
  return n;
}

export function parseDiagnoseArgs(args: string[]): DiagnoseRequest {
  const values = parseFlags(args, {
    snapshot: { type: 'string' },
    src: { type: 'string' },
    dst: { type: 'string' },
    port: { type: 'string' },
    sport: { type: 'string' },
    protocol: { type: 'string' },
    plugin: { type: 'string' },
    output: { type: 'string' },
  });
  const required = (flag: 'snapshot' | 'src' | 'dst' | 'protocol'): string => {
    const value = values[flag];
    if (value === undefined || value === '') throw new UsageError(`missing --${flag}`);
    return value;
  };
  const snapshotDir = required('snapshot');
  const source = parseEndpointRef('--src', required('src'));
  const destination = parseEndpointRef('--dst', required('dst'));
  if (source.kind === 'service') throw new UsageError('--src: a service cannot be a source (name a pod, a node or an IP)');
  const protocolText = required('protocol');
  const protocol = PROTOCOLS[protocolText.toLowerCase()];
  if (protocol === undefined) throw new UsageError(`--protocol ${JSON.stringify(protocolText)}: expected tcp, udp or icmp`);
  if (protocol !== 'ICMP' && values.port === undefined) throw new UsageError(`missing --port (required for ${protocolText})`);
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`--output ${JSON.stringify(output)}: expected text or json`);
  const plugin = values.plugin === undefined || values.plugin === 'auto' ? undefined : values.plugin;
  return {
    snapshotDir,
    source,
    destination,
    port: values.port === undefined ? 0 : port('--port', values.port),
    ...(values.sport !== undefined ? { sourcePort: port('--sport', values.sport) } : {}),
    protocol,
    ...(plugin !== undefined ? { plugin } : {}),
    output,
  };
}
