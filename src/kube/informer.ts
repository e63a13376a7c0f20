// Informers that keep running: client-node 2.x informers list, then watch from the list's
// resourceVersion, relist on 410 Gone and reconnect after a client-side timeout by themselves; on
// any other error (a failed list included) they call their error handlers and stop. startInformer
// restarts them after an exponential backoff with jitter, reset once a restart lists and watches
// again, and reports its state for readiness (docs/adr/0004-own-controller-core.md).

import { ApiException, CoreV1Api, CustomObjectsApi, ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '../api/v1alpha1/group.js';
import { classifyApiError, type ClassifiedApiError } from './errors.js';
import { LABEL_MANAGED_BY, MANAGED_BY } from './labels.js';

/** An opaque timer handle: Node's timer object or a fake clock's number. */
export type InformerTimer = ReturnType<typeof globalThis.setTimeout> | number;

/** Time as an informer sees it (the same shape as the work queue's clock); injected in tests. */
export interface InformerClock {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): InformerTimer;
  clearTimeout(handle: InformerTimer): void;
}

const systemClock: InformerClock = {
  now: () => Date.now(),
  setTimeout: (callback, delayMs) => globalThis.setTimeout(callback, delayMs),
  clearTimeout: (handle) => globalThis.clearTimeout(handle),
};

export interface InformerBackoff {
  /** Delay before the first restart. */
  readonly baseMs: number;
  /** Longest delay between restarts. */
  readonly maxMs: number;
  /** Fraction of each delay taken off at random, in [0, 1]; default 0.2. Only shortens, so `maxMs` stays a ceiling. */
  readonly jitter?: number;
}

/** Restarts after 1 s doubling to 5 min: an API server outage is retried, never hammered. */
export const DEFAULT_INFORMER_BACKOFF: InformerBackoff = { baseMs: 1000, maxMs: 300_000, jitter: 0.2 };

/** The delay before restart number `failures + 1` after `failures` failures in a row (0 for the first). */
export function restartDelay(failures: number, backoff: InformerBackoff, random: () => number = Math.random): number {
  const jitter = Math.min(1, Math.max(0, backoff.jitter ?? 0.2));
  // 2 ** failures overflows to Infinity long after it passed maxMs; min() handles both.
  const delay = Math.min(backoff.maxMs, backoff.baseMs * 2 ** failures);
  return delay * (1 - jitter * random());
}

/** A Kubernetes object, as the informers hand them out (for code that does not import the client). */
export type KubeObject = KubernetesObject;

export type InformerEventType = 'add' | 'update' | 'delete';

/** What the informer layer needs of an object; every Kubernetes object has it. */
export interface InformerObject {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
}

/** What to watch: the watch path, the list that goes with it (same selector), and the selector. */
export interface InformerSpec<T extends KubernetesObject> {
  /** For state and messages: `networkdiagnoses`, `collector pods`. */
  readonly name: string;
  readonly config: KubeConfig;
  /** The collection's path: `/api/v1/namespaces/netdiag/pods`. */
  readonly path: string;
  /** Lists the same collection with the same selector. */
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector?: string;
}

export interface InformerOptions<T extends KubernetesObject> extends InformerSpec<T> {
  readonly onEvent: (type: InformerEventType, obj: T) => void;
  readonly backoff?: InformerBackoff;
  readonly clock?: InformerClock;
  /** Uniform in [0, 1); injected so tests can pin the jitter. */
  readonly random?: () => number;
  /** Called on each failure with the delay chosen before the restart (for logs and tests). */
  readonly onFailure?: (error: ClassifiedApiError, restartInMs: number) => void;
}

export interface InformerState {
  readonly name: string;
  /** The first list is in the cache (the cache holds the collection); stays true through later failures. */
  readonly synced: boolean;
  /** When the current run of failures began (clock time); absent while healthy. */
  readonly failingSince?: number;
  /** Failures in a row; 0 once a restart lists and watches again. */
  readonly failures: number;
  readonly lastError?: ClassifiedApiError;
  /** Restarts so far. */
  readonly restarts: number;
  readonly stopped: boolean;
}

export interface RunningInformer<T extends KubernetesObject> {
  state(): InformerState;
  /** The cached object, from the informer's store. */
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
  /** Stops for good: no restart, no further events. */
  stop(): Promise<void>;
}

/** The watch reports a refused request as an Error with `statusCode`; make it an ApiException so errors.ts classifies it. */
function asApiError(error: unknown): unknown {
  if (error instanceof Error && !(error instanceof ApiException) && 'statusCode' in error && typeof error.statusCode === 'number') {
    return new ApiException<string>(error.statusCode, error.message, '', {});
  }
  return error;
}

/**
 * A Watch that tells when a watch is about to be sent. The informer's cache (client-node's
 * ListWatch) sends one only once a list has filled it, or from the resourceVersion an earlier list
 * left: the list call's own answer comes before that, while the cache is still empty.
 */
class CacheFilledWatch extends Watch {
  private readonly onWatch: () => void;

  constructor(config: KubeConfig, onWatch: () => void) {
    super(config);
    this.onWatch = onWatch;
  }

  override watch(...args: Parameters<Watch['watch']>): ReturnType<Watch['watch']> {
    this.onWatch();
    return super.watch(...args);
  }
}

/** Starts an informer on `path` that restarts itself after errors until `stop()`. */
export function startInformer<T extends KubernetesObject>(options: InformerOptions<T>): RunningInformer<T> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const backoff = options.backoff ?? DEFAULT_INFORMER_BACKOFF;
  let synced = false;
  let failures = 0;
  let failingSince: number | undefined;
  let lastError: ClassifiedApiError | undefined;
  let restarts = 0;
  let stopped = false;
  let pending: InformerTimer | undefined;
  // Set by the error handler while a start() is in flight: that start did not reach a watch.
  let attemptFailed = false;

  // Synced once the list is in the cache (its watch follows), not when the list call answers:
  // a reader between the two would see an empty cache.
  const watch = new CacheFilledWatch(options.config, () => {
    synced = true;
  });
  const informer = new ListWatch<T>(options.path, watch, options.list, false, options.labelSelector);
  for (const type of ['add', 'update', 'delete'] as const) {
    informer.on(type, (obj: T) => {
      if (!stopped) options.onEvent(type, obj);
    });
  }

  const run = async (): Promise<void> => {
    attemptFailed = false;
    try {
      await informer.start();
    } catch (error) {
      // The watch could not even be sent (no current cluster, credentials that fail to load).
      fail(error);
      return;
    }
    // client-node does not look at its stop flag between its list and its watch: a stop() that
    // came during the list leaves a watch open; close it.
    if (stopped) {
      await informer.stop();
      return;
    }
    // start() resolves once the watch request was answered; a failed list or a refused watch
    // has called the error handler by then, synchronously.
    if (!attemptFailed) {
      failures = 0;
      failingSince = undefined;
    }
  };

  function fail(error: unknown): void {
    // Stopping aborts the watch, which the informer reports as an error.
    if (stopped) return;
    attemptFailed = true;
    lastError = classifyApiError(asApiError(error));
    failingSince ??= clock.now();
    // One restart per failure run; a second report of the same failure changes nothing.
    if (pending !== undefined) return;
    const delay = restartDelay(failures, backoff, random);
    failures += 1;
    options.onFailure?.(lastError, delay);
    pending = clock.setTimeout(() => {
      pending = undefined;
      if (stopped) return;
      restarts += 1;
      void run();
    }, delay);
  }
  informer.on('error', (error?: unknown) => fail(error));

  void run();

  return {
    state: () => ({
      name: options.name,
      synced,
      failures,
      restarts,
      stopped,
      ...(failingSince !== undefined ? { failingSince } : {}),
      ...(lastError !== undefined ? { lastError } : {}),
    }),
    get: (name, namespace) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    async stop() {
      stopped = true;
      if (pending !== undefined) clock.clearTimeout(pending);
      pending = undefined;
      await informer.stop();
    },
  };
}

/** The label selector of everything netdiag creates. */
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

/** NetworkDiagnosis objects in all namespaces. */
export function diagnosisInformerSpec(config: KubeConfig): InformerSpec<KubernetesObject> {
  const api = config.makeApiClient(CustomObjectsApi);
  return {
    name: PLURAL,
    config,
    path: `/apis/${GROUP}/${VERSION}/${PLURAL}`,
    list: async () => (await api.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as KubernetesListObject<KubernetesObject>,
  };
}

/** Pods netdiag created (collectors) in the operator's namespace. */
export function collectorPodInformerSpec(config: KubeConfig, namespace: string): InformerSpec<KubernetesObject> {
  const api = config.makeApiClient(CoreV1Api);
  return {
    name: 'collector pods',
    config,
    path: `/api/v1/namespaces/${namespace}/pods`,
    labelSelector: MANAGED_SELECTOR,
    list: () => api.listNamespacedPod({ namespace, labelSelector: MANAGED_SELECTOR }),
  };
}

/** ConfigMaps netdiag created (snapshot chunks, collectors' pod lists) in the operator's namespace. */
export function snapshotConfigMapInformerSpec(config: KubeConfig, namespace: string): InformerSpec<KubernetesObject> {
  const api = config.makeApiClient(CoreV1Api);
  return {
    name: 'snapshot configmaps',
    config,
    path: `/api/v1/namespaces/${namespace}/configmaps`,
    labelSelector: MANAGED_SELECTOR,
    list: () => api.listNamespacedConfigMap({ namespace, labelSelector: MANAGED_SELECTOR }),
  };
}
