// Kubernetes API errors, classified once: what happened (by HTTP status and the Status reason) and
// whether trying again can help. Callers branch on `kind`, never on message text.

import { ApiException } from '@kubernetes/client-node';

export type ApiErrorKind =
  /** 404: the object (or namespace) does not exist. */
  | 'not-found'
  /** 409 AlreadyExists: a create found the name taken. */
  | 'already-exists'
  /** 409 Conflict: an update lost a race (stale resourceVersion). */
  | 'conflict'
  /** 410: a watch or list resumed from a resourceVersion too old. */
  | 'gone'
  /** 429, 5xx, or no answer (connection refused, reset, timed out): try again later. */
  | 'transient'
  /** 401: the credentials are not accepted. */
  | 'unauthorized'
  /** 403: the identity may not do this (RBAC). */
  | 'forbidden'
  /** 400, 413, 422: the request itself is wrong; retrying cannot help. */
  | 'invalid'
  | 'unknown';

export interface ClassifiedApiError {
  readonly kind: ApiErrorKind;
  /** The HTTP status, when there was an answer. */
  readonly status?: number;
  /** The Status object's reason (AlreadyExists, Forbidden, ...), when the body had one. */
  readonly reason?: string;
  /** The API server's message, or the transport error's. */
  readonly message: string;
  readonly retryable: boolean;
  /** Seconds the server asked to wait (Retry-After), when it did. */
  readonly retryAfterSeconds?: number;
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/** The `code` of an error or of any error in its cause chain that has one among the transport codes. */
function transportCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const code = typeof e === 'object' && 'code' in e ? e.code : undefined;
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return code;
    e = typeof e === 'object' && 'cause' in e ? e.cause : undefined;
  }
  return undefined;
}

interface StatusBody {
  readonly reason?: string;
  readonly message?: string;
}

function statusBody(body: unknown): StatusBody {
  let value: unknown = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body) as unknown;
    } catch {
      return body.trim() === '' ? {} : { message: body.trim() };
    }
  }
  if (typeof value !== 'object' || value === null) return {};
  const { reason, message } = value as { reason?: unknown; message?: unknown };
  return { ...(typeof reason === 'string' ? { reason } : {}), ...(typeof message === 'string' ? { message } : {}) };
}

function kindOf(status: number, reason: string | undefined): ApiErrorKind {
  if (status === 404) return 'not-found';
  if (status === 409) return reason === 'AlreadyExists' ? 'already-exists' : 'conflict';
  if (status === 410) return 'gone';
  if (status === 429 || status >= 500) return 'transient';
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 400 || status === 413 || status === 422) return 'invalid';
  return 'unknown';
}

export function classifyApiError(error: unknown): ClassifiedApiError {
  if (error instanceof ApiException) {
    const status = error.code;
    const body = statusBody(error.body);
    const kind = kindOf(status, body.reason);
    const retryAfter = Number(error.headers?.['retry-after']);
    return {
      kind,
      status,
      ...(body.reason !== undefined ? { reason: body.reason } : {}),
      message: body.message ?? `HTTP ${status}`,
      retryable: kind === 'transient',
      ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterSeconds: retryAfter } : {}),
    };
  }
  const code = transportCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code !== undefined) return { kind: 'transient', message: `${message} (${code})`, retryable: true };
  return { kind: 'unknown', message, retryable: false };
}

/** What a person should do about an error of this kind, when there is something to say. */
export function hintFor(kind: ApiErrorKind, what: { verb: string; resource: string; namespace?: string }): string | undefined {
  const where = what.namespace !== undefined ? ` in namespace ${what.namespace}` : '';
  switch (kind) {
    case 'forbidden':
      return `RBAC: the identity in use needs "${what.verb}" on ${what.resource}${where} (a Role and RoleBinding for the service account, or check the kubeconfig's user)`;
    case 'unauthorized':
      return 'the credentials were refused: an expired token or client certificate, or a kubeconfig for another cluster';
    case 'not-found':
      return what.namespace !== undefined ? `does namespace ${what.namespace} exist?` : undefined;
    case 'transient':
      return 'the API server is unreachable or overloaded; it was retried';
    case 'already-exists':
    case 'conflict':
    case 'gone':
    case 'invalid':
    case 'unknown':
      return undefined;
  }
}

/** An API call that failed: the operation, the classification, and a hint; `cause` is the original. */
export class KubeApiError extends Error {
  readonly classified: ClassifiedApiError;

  constructor(operation: string, classified: ClassifiedApiError, hint: string | undefined, cause: unknown) {
    const status = classified.status !== undefined ? ` (HTTP ${classified.status}${classified.reason !== undefined ? ` ${classified.reason}` : ''})` : '';
    super(`${operation}: ${classified.message}${status}${hint !== undefined ? `. ${hint}` : ''}`, { cause });
    this.name = 'KubeApiError';
    this.classified = classified;
  }

  get kind(): ApiErrorKind {
    return this.classified.kind;
  }
}
