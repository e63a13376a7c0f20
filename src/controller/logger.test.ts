import { describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { createLogger } from './logger.js';

function capture(format: 'json' | 'pretty', level: 'info' | 'debug'): { lines: () => string[]; log: ReturnType<typeof createLogger>['logger'] } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const { logger } = createLogger({ level, format, stream });
  return { lines: () => text.split('\n').filter((l) => l !== ''), log: logger };
}

describe('createLogger', () => {
  it('writes one JSON object per line: level, time, msg, then the child\'s and the line\'s fields', () => {
    const { lines, log } = capture('json', 'info');
    log.child({ reconcileId: 'r1', key: 'shop/web' }).info('collectors started', { step: 'create-collectors' });
    log.debug('not at info');
    const [line, ...rest] = lines();
    expect(rest).toEqual([]);
    const parsed = JSON.parse(line ?? '{}') as Record<string, unknown>;
    expect(Object.keys(parsed).slice(0, 3)).toEqual(['level', 'time', 'msg']);
    expect(parsed).toEqual({ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), msg: 'collectors started', reconcileId: 'r1', key: 'shop/web', step: 'create-collectors' });
  });

  it('writes readable lines with LOG_FORMAT=pretty', () => {
    const { lines, log } = capture('pretty', 'debug');
    log.debug('reconciled', { key: 'shop/web', requeueAfterMs: 5000 });
    expect(lines()).toEqual([expect.stringMatching(/ debug reconciled key=shop\/web requeueAfterMs=5000$/)]);
  });
});
