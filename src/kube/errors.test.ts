import { describe, expect, it } from '@jest/globals';
import { ApiException } from '@kubernetes/client-node';
import { classifyApiError, hintFor, KubeApiError } from './errors.js';

const status = (code: number, reason?: string, message = 'm'): ApiException<string> =>
  new ApiException(code, 'Unknown API Status Code!', JSON.stringify({ kind: 'Status', status: 'Failure', reason, message, code }), {});

describe('classifyApiError', () => {
  it.each([
    [404, 'NotFound', 'not-found', false],
    [409, 'AlreadyExists', 'already-exists', false],
    [409, 'Conflict', 'conflict', false],
    [410, 'Expired', 'gone', false],
    [429, 'TooManyRequests', 'transient', true],
    [500, 'InternalError', 'transient', true],
    [503, 'ServiceUnavailable', 'transient', true],
    [401, 'Unauthorized', 'unauthorized', false],
    [403, 'Forbidden', 'forbidden', false],
    [422, 'Invalid', 'invalid', false],
    [418, undefined, 'unknown', false],
  ])('HTTP %i %s is %s (retryable: %s)', (code, reason, kind, retryable) => {
    expect(classifyApiError(status(code, reason))).toMatchObject({ kind, status: code, retryable, message: 'm', ...(reason !== undefined ? { reason } : {}) });
  });

  it('reads Retry-After', () => {
    expect(classifyApiError(new ApiException(429, 'x', '', { 'retry-after': '3' })).retryAfterSeconds).toBe(3);
  });

  it('a body that is not a Status keeps its text as the message', () => {
    expect(classifyApiError(new ApiException(502, 'x', 'Bad Gateway', {})).message).toBe('Bad Gateway');
  });

  it('transport failures anywhere in the cause chain are transient; other errors unknown', () => {
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }) });
    expect(classifyApiError(refused)).toMatchObject({ kind: 'transient', retryable: true, message: 'fetch failed (ECONNREFUSED)' });
    expect(classifyApiError(new Error('boom'))).toMatchObject({ kind: 'unknown', retryable: false });
  });

  it('a KubeApiError says the operation, the status and the hint', () => {
    const classified = classifyApiError(status(403, 'Forbidden', 'configmaps is forbidden'));
    const error = new KubeApiError('create configmap ns/x', classified, hintFor('forbidden', { verb: 'create', resource: 'configmaps', namespace: 'ns' }), undefined);
    expect(error.message).toBe('create configmap ns/x: configmaps is forbidden (HTTP 403 Forbidden). RBAC: the identity in use needs "create" on configmaps in namespace ns (a Role and RoleBinding for the service account, or check the kubeconfig\'s user)');
    expect(error.kind).toBe('forbidden');
  });
});
