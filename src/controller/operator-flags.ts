// The operator's command line (`node dist/src/main.js --help`): parsed strictly (an unknown flag,
// a missing value, a bad number or address is an error naming the flag), into the settings the
// composition root wires. Pure: no I/O.

import { parseArgs } from 'node:util';
import { parseListenAddress } from './http-server.js';
import { isLogLevel, LOG_LEVELS, type LogLevel } from './logger.js';

/** The operator's namespace when neither --namespace nor a service account says. */
export const DEFAULT_OPERATOR_NAMESPACE = 'netdiag-system';

export interface OperatorFlags {
  readonly kubeconfig?: string;
  /** Unset: the service account's namespace, else DEFAULT_OPERATOR_NAMESPACE (decided once the config is loaded). */
  readonly namespace?: string;
  readonly collectorImage: string;
  readonly collectorServiceAccount: string;
  readonly workers: number;
  readonly healthAddr: { readonly host: string; readonly port: number };
  readonly metricsAddr: { readonly host: string; readonly port: number };
  readonly leaderElect: boolean;
  readonly leaseName: string;
  readonly allowCrossNamespace: boolean;
  /** Runs use other diagnoses' fresh collections of the same nodes (docs/adr/0006-shared-collections.md). */
  readonly shareCollections: boolean;
  readonly collectorTimeoutSeconds: number;
  readonly collectorCommandTimeoutSeconds: number;
  readonly collectorDeadlineSeconds: number;
  /** Unset: LOG_LEVEL, else info. */
  readonly logLevel?: LogLevel;
}

export const OPERATOR_USAGE = `usage: node dist/src/main.js --collector-image IMAGE [FLAGS]

The netdiag operator: reconciles NetworkDiagnosis objects (collector pods on the nodes a packet
crosses, the diagnosis, the status), with leader election, health probes and Prometheus metrics.

flags:
  --kubeconfig FILE                  kubeconfig to use; default: the pod's service account, else
                                     KUBECONFIG, else ~/.kube/config
  --namespace NS                     the operator's namespace (collector pods, snapshots, the Lease);
                                     default: the service account's namespace, else ${DEFAULT_OPERATOR_NAMESPACE}
  --collector-image IMAGE            image of the collector pods (required)
  --collector-service-account NAME   service account of the collector pods (default netdiag-collector)
  --workers N                        reconciles run at once (default 4)
  --health-addr HOST:PORT            /healthz and /readyz (default :8081; port 0 picks one, logged)
  --metrics-addr HOST:PORT           /metrics (default :8080; port 0 picks one, logged)
  --leader-elect, --no-leader-elect  elect one active replica with a Lease (default on)
  --lease-name NAME                  the Lease's name in the operator's namespace (default netdiag-operator)
  --allow-cross-namespace            let a diagnosis name pods and services of other namespaces
  --share-collections, --no-share-collections
                                     a run uses another diagnosis's collection of a node when that
                                     collector was created after the run started (default on)
  --collector-timeout SECONDS        the collector agent's whole-run deadline (default 60)
  --collector-command-timeout SECONDS  the agent's deadline for each command it runs (default 10)
  --collector-deadline SECONDS       a collector that has not delivered this long after its pod was
                                     created has failed: CollectorFailed (default 180)
  --log-level LEVEL                  ${LOG_LEVELS.join(', ')} (default: LOG_LEVEL, else info);
                                     LOG_FORMAT=pretty for readable lines instead of JSON
  -h, --help                         this help

Exit status: 0 after a clean shutdown (SIGTERM, SIGINT), 1 on a fatal misconfiguration at start or
a lost leadership, 2 on a bad flag.
`;

/** A bad command line: the message is one line, naming the flag. */
export class FlagError extends Error {
  override readonly name = 'FlagError';
}

export type ParsedCommandLine = { readonly kind: 'help' } | { readonly kind: 'run'; readonly flags: OperatorFlags };

function positiveInteger(flag: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) throw new FlagError(`--${flag}: ${JSON.stringify(value)} is not a whole number of at least ${min}`);
  return Number(value);
}

function address(flag: string, value: string | undefined, fallback: string): { host: string; port: number } {
  const parsed = parseListenAddress(value ?? fallback);
  if (parsed === undefined) throw new FlagError(`--${flag}: ${JSON.stringify(value)} is not HOST:PORT (or :PORT)`);
  return parsed;
}

function nonEmpty(flag: string, value: string | undefined): string | undefined {
  if (value !== undefined && value.trim() === '') throw new FlagError(`--${flag} must not be empty`);
  return value;
}

export function parseOperatorFlags(args: readonly string[]): ParsedCommandLine {
  let values;
  try {
    values = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        'collector-image': { type: 'string' },
        'collector-service-account': { type: 'string' },
        workers: { type: 'string' },
        'health-addr': { type: 'string' },
        'metrics-addr': { type: 'string' },
        'leader-elect': { type: 'boolean' },
        'no-leader-elect': { type: 'boolean' },
        'lease-name': { type: 'string' },
        'allow-cross-namespace': { type: 'boolean' },
        'share-collections': { type: 'boolean' },
        'no-share-collections': { type: 'boolean' },
        'collector-timeout': { type: 'string' },
        'collector-command-timeout': { type: 'string' },
        'collector-deadline': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    // node:util's messages are one line already ("Unknown option '--x'...").
    throw new FlagError(error instanceof Error ? error.message.split('\n')[0] ?? error.message : String(error));
  }
  if (values.help === true) return { kind: 'help' };
  if (values['leader-elect'] === true && values['no-leader-elect'] === true) throw new FlagError('--leader-elect and --no-leader-elect contradict each other');
  if (values['share-collections'] === true && values['no-share-collections'] === true) throw new FlagError('--share-collections and --no-share-collections contradict each other');
  const collectorImage = nonEmpty('collector-image', values['collector-image']);
  if (collectorImage === undefined) throw new FlagError('--collector-image is required (the image of the collector pods)');
  const logLevel = values['log-level'];
  if (logLevel !== undefined && !isLogLevel(logLevel)) throw new FlagError(`--log-level: ${JSON.stringify(logLevel)} is not one of ${LOG_LEVELS.join(', ')}`);
  const kubeconfig = nonEmpty('kubeconfig', values.kubeconfig);
  const namespace = nonEmpty('namespace', values.namespace);
  const flags: OperatorFlags = {
    ...(kubeconfig !== undefined ? { kubeconfig } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    collectorImage,
    collectorServiceAccount: nonEmpty('collector-service-account', values['collector-service-account']) ?? 'netdiag-collector',
    workers: positiveInteger('workers', values.workers, 4),
    healthAddr: address('health-addr', values['health-addr'], ':8081'),
    metricsAddr: address('metrics-addr', values['metrics-addr'], ':8080'),
    leaderElect: values['no-leader-elect'] !== true,
    leaseName: nonEmpty('lease-name', values['lease-name']) ?? 'netdiag-operator',
    allowCrossNamespace: values['allow-cross-namespace'] === true,
    shareCollections: values['no-share-collections'] !== true,
    collectorTimeoutSeconds: positiveInteger('collector-timeout', values['collector-timeout'], 60),
    collectorCommandTimeoutSeconds: positiveInteger('collector-command-timeout', values['collector-command-timeout'], 10),
    collectorDeadlineSeconds: positiveInteger('collector-deadline', values['collector-deadline'], 180),
    ...(logLevel !== undefined ? { logLevel } : {}),
  };
  return { kind: 'run', flags };
}
