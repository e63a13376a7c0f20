import { describe, expect, it } from '@jest/globals';
import { parseListenAddress, runChecks, startHttpServer, type Check } from './http-server.js';

describe('parseListenAddress', () => {
  it.each([
    [':8080', { host: '', port: 8080 }],
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    ['[::1]:8081', { host: '::1', port: 8081 }],
    ['localhost:9', { host: 'localhost', port: 9 }],
    ['8080', undefined],
    [':65536', undefined],
    ['::1:80', undefined],
    ['host:', undefined],
  ])('%s', (value, expected) => {
    expect(parseListenAddress(value)).toEqual(expected);
  });
});

const checks: Check[] = [
  { name: 'informers', check: () => undefined },
  { name: 'leader', check: () => 'not the leader' },
];

describe('runChecks', () => {
  it('fails with every check listed when one fails', () => {
    expect(runChecks(checks, new URLSearchParams())).toEqual({ status: 500, body: '[+]informers ok\n[-]leader failed: not the leader\ncheck failed\n' });
  });

  it('passes when the failing check is excluded', () => {
    expect(runChecks(checks, new URLSearchParams('exclude=leader'))).toEqual({ status: 200, body: 'ok\n' });
    expect(runChecks(checks, new URLSearchParams('exclude=leader&verbose'))).toEqual({ status: 200, body: '[+]informers ok\n[+]leader excluded: ok\nok\n' });
  });
});

describe('startHttpServer', () => {
  it('serves /healthz, /readyz and /metrics on a port it picks, 404 elsewhere, and closes', async () => {
    const server = await startHttpServer('127.0.0.1', 0, {
      healthz: [{ name: 'ping', check: () => undefined }],
      readyz: checks,
      metrics: () => Promise.resolve({ contentType: 'text/plain; version=0.0.4', body: 'netdiag_leader 1\n' }),
    });
    try {
      expect(server.port).toBeGreaterThan(0);
      const get = async (path: string): Promise<[number, string, string | null]> => {
        const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
        return [res.status, await res.text(), res.headers.get('content-type')];
      };
      expect(await get('/healthz')).toEqual([200, 'ok\n', 'text/plain; charset=utf-8']);
      expect((await get('/readyz'))[0]).toBe(500);
      expect(await get('/metrics')).toEqual([200, 'netdiag_leader 1\n', 'text/plain; version=0.0.4']);
      expect((await get('/nope'))[0]).toBe(404);
    } finally {
      await server.close();
    }
    await expect(fetch(`http://127.0.0.1:${server.port}/healthz`)).rejects.toThrow();
  });
});
