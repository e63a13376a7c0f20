#!/usr/bin/env node
// The operator's composition root (`node dist/src/main.js`): parses the flags, loads the
// credentials, checks the operator namespace, and wires the real parts — informers → work queue →
// workers running the reconciler, leader election on a Lease, Events, metrics, the HTTP endpoints,
// JSON logs — then runs until SIGTERM/SIGINT (exit 0 after a graceful shutdown) or a lost
// leadership (exit 1, so the pod restarts as a clean candidate). A bad flag exits 2; a fatal
// misconfiguration at start (no credentials, a namespace that does not exist) exits 1 with one line.

import { hostname } from 'node:os';
import { leaderIdentity, LeaderElector } from './controller/leader-election.js';
import { createLogger, isLogLevel, type Logger, type LogLevel } from './controller/logger.js';
import { createOperatorMetrics } from './controller/metrics.js';
import { startHttpServer, type HttpRoutes, type RunningHttpServer } from './controller/http-server.js';
import { DEFAULT_OPERATOR_NAMESPACE, FlagError, OPERATOR_USAGE, parseOperatorFlags, type OperatorFlags } from './controller/operator-flags.js';
import { sharingFromCaches } from './controller/collection-sharing.js';
import { startOperator, type Operator } from './controller/operator.js';
import { reconcile, type ReconcilerDeps, type ReconcilerKube } from './controller/reconciler.js';
import { startSources } from './controller/sources.js';
import { WorkQueue } from './controller/workqueue.js';
import { loadKubeConfig } from './kube/client.js';
import { startClusterCache } from './kube/cluster-cache.js';
import { createEventRecorder } from './kube/events.js';
import { collectorPodInformerSpec, diagnosisInformerSpec, snapshotConfigMapInformerSpec } from './kube/informer.js';
import { createKubeAccess } from './kube/kube-access.js';
import { createLeaseStore } from './kube/lease.js';
import { preflight } from './kube/preflight.js';

const PROGRAM = 'netdiag-operator';

function logLevelOf(flags: OperatorFlags): LogLevel {
  if (flags.logLevel !== undefined) return flags.logLevel;
  const env = process.env.LOG_LEVEL?.toLowerCase();
  return env !== undefined && isLogLevel(env) ? env : 'info';
}

async function listen(flags: OperatorFlags, routes: HttpRoutes, logger: Logger): Promise<RunningHttpServer[]> {
  const health = await startHttpServer(flags.healthAddr.host, flags.healthAddr.port, routes);
  logger.info('serving /healthz and /readyz', { addr: `${flags.healthAddr.host}:${health.port}`, port: health.port });
  const same = flags.metricsAddr.host === flags.healthAddr.host && flags.metricsAddr.port === flags.healthAddr.port && flags.metricsAddr.port !== 0;
  if (same) return [health];
  const metrics = await startHttpServer(flags.metricsAddr.host, flags.metricsAddr.port, routes).catch(async (error: unknown) => {
    await health.close();
    throw error;
  });
  logger.info('serving /metrics', { addr: `${flags.metricsAddr.host}:${metrics.port}`, port: metrics.port });
  return [health, metrics];
}

async function run(argv: readonly string[]): Promise<number> {
  let flags: OperatorFlags;
  try {
    const parsed = parseOperatorFlags(argv);
    if (parsed.kind === 'help') {
      process.stdout.write(OPERATOR_USAGE);
      return 0;
    }
    flags = parsed.flags;
  } catch (error) {
    if (!(error instanceof FlagError)) throw error;
    process.stderr.write(`${PROGRAM}: ${error.message} (see --help)\n`);
    return 2;
  }

  const { logger, flush } = createLogger({ level: logLevelOf(flags), format: process.env.LOG_FORMAT === 'pretty' ? 'pretty' : 'json' });
  const fatal = async (message: string): Promise<number> => {
    logger.error(message);
    await flush();
    process.stderr.write(`${PROGRAM}: ${message}\n`);
    return 1;
  };

  let loaded;
  try {
    loaded = loadKubeConfig(flags.kubeconfig !== undefined ? { kubeconfig: flags.kubeconfig } : {});
  } catch (error) {
    return fatal(error instanceof Error ? error.message : String(error));
  }
  const { config } = loaded;
  // The service account's namespace in a pod; a kubeconfig's context namespace is the user's, not the operator's.
  const namespace = flags.namespace ?? (loaded.source === 'in-cluster' ? loaded.namespace : undefined) ?? DEFAULT_OPERATOR_NAMESPACE;
  try {
    const { warnings } = await preflight(config, namespace, { attempts: 3 });
    for (const warning of warnings) logger.warn(warning);
  } catch (error) {
    return fatal(error instanceof Error ? error.message : String(error));
  }
  const identity = leaderIdentity(hostname());
  logger.info('starting the operator', {
    identity,
    namespace,
    credentials: loaded.source,
    collectorImage: flags.collectorImage,
    workers: flags.workers,
    leaderElect: flags.leaderElect,
    allowCrossNamespace: flags.allowCrossNamespace,
    shareCollections: flags.shareCollections,
  });

  const queue = new WorkQueue<string>();
  const metrics = createOperatorMetrics({ queueDepth: () => queue.len() });
  const clusterCache = startClusterCache(config, {
    onFailure: (informer, error, restartInMs) => logger.warn('cluster cache: informer failed; restarting', { informer, error: `${error.kind}: ${error.message}`, restartInMs: Math.round(restartInMs) }),
  });
  const sources = startSources({
    specs: { diagnoses: diagnosisInformerSpec(config), collectorPods: collectorPodInformerSpec(config, namespace), snapshots: snapshotConfigMapInformerSpec(config, namespace) },
    queue,
    caches: [clusterCache],
  });
  const kube: ReconcilerKube = createKubeAccess(config, {}, clusterCache);
  const sharing = flags.shareCollections
    ? sharingFromCaches({ diagnoses: () => sources.cached('diagnoses'), collectorPods: () => sources.cached('collectorPods'), configMaps: () => sources.cached('snapshots') })
    : undefined;
  const deps: Omit<ReconcilerDeps, 'log'> = {
    kube,
    operatorNamespace: namespace,
    collectorImage: flags.collectorImage,
    serviceAccountName: flags.collectorServiceAccount,
    collectorTimeoutSeconds: flags.collectorTimeoutSeconds,
    commandTimeoutSeconds: flags.collectorCommandTimeoutSeconds,
    collectorDeadlineMs: flags.collectorDeadlineSeconds * 1000,
    allowCrossNamespace: flags.allowCrossNamespace,
    ...(sharing !== undefined ? { sharing } : {}),
    now: () => Date.now(),
  };
  // A lease call must not outlast the renew deadline in retries of its own.
  const leaseStore = createLeaseStore(config, namespace, flags.leaseName, { attempts: 2, baseDelayMs: 200, maxDelayMs: 500 });
  const operator: Operator = startOperator({
    queue,
    sources,
    workers: flags.workers,
    reconcile: (key, log) => reconcile(key, { ...deps, log }),
    events: createEventRecorder(config, identity),
    metrics,
    logger,
    ...(flags.leaderElect ? { election: (callbacks) => new LeaderElector({ store: leaseStore, identity, ...callbacks }) } : {}),
  });

  const routes: HttpRoutes = {
    healthz: operator.healthChecks,
    readyz: operator.readyChecks,
    metrics: async () => ({ contentType: metrics.contentType, body: await metrics.render() }),
  };
  let servers: RunningHttpServer[];
  try {
    servers = await listen(flags, routes, logger);
  } catch (error) {
    await operator.shutdown();
    return fatal(`cannot listen: ${error instanceof Error ? error.message : String(error)}`);
  }

  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve(signal));
  });
  const ending = await Promise.race([signalled.then((signal) => ({ kind: 'signal' as const, signal })), operator.lost.then((reason) => ({ kind: 'lost' as const, reason }))]);
  if (ending.kind === 'signal') logger.info('received a signal; shutting down', { signal: ending.signal });
  await operator.shutdown();
  await Promise.all(servers.map((s) => s.close()));
  logger.info(ending.kind === 'signal' ? 'stopped' : 'stopped after losing the leadership');
  await flush();
  return ending.kind === 'signal' ? 0 : 1;
}

process.on('unhandledRejection', (reason) => {
  process.stderr.write(`${PROGRAM}: internal error: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
  process.exit(70);
});

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${PROGRAM}: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(70);
  },
);
