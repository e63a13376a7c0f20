// Retries of API calls whose failure is transient (429, 5xx, no answer): exponential backoff with
// full jitter, honouring Retry-After, bounded by attempts. Everything else fails at once.

import { classifyApiError, hintFor, KubeApiError } from './errors.js';

export interface RetryOptions {
  /** Attempts in all (default 5). */
  readonly attempts?: number;
  /** First backoff (default 200 ms); doubles each time, at most `maxDelayMs` (default 5 s). */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

export interface ApiOperation {
  /** For messages: `create configmap ns/name`. */
  readonly description: string;
  readonly verb: string;
  readonly resource: string;
  readonly namespace?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `call`, retrying transient failures; throws a KubeApiError (classified, with a hint) otherwise. */
export async function callApi<T>(operation: ApiOperation, call: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 5;
  const base = options.baseDelayMs ?? 200;
  const max = options.maxDelayMs ?? 5000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const classified = classifyApiError(error);
      if (!classified.retryable || attempt >= attempts) {
        const what = { verb: operation.verb, resource: operation.resource, ...(operation.namespace !== undefined ? { namespace: operation.namespace } : {}) };
        const suffix = classified.retryable ? ` (after ${attempts} attempts)` : '';
        throw new KubeApiError(`${operation.description}${suffix}`, classified, hintFor(classified.kind, what), error);
      }
      const backoff = Math.random() * Math.min(max, base * 2 ** (attempt - 1));
      await sleep(classified.retryAfterSeconds !== undefined ? Math.min(max, classified.retryAfterSeconds * 1000) : backoff);
    }
  }
}
