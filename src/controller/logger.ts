// The operator's logger: winston, one JSON object per line on stdout (`level`, `time`, `msg`, then
// the fields: `reconcileId`, `key`, `step`, ...), or a readable line for a terminal
// (`LOG_FORMAT=pretty`). Level from --log-level, else LOG_LEVEL, else info. Passed in, never a
// global: each reconcile logs through a child carrying its id.

import winston from 'winston';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFormat = 'json' | 'pretty';

/** Fields a log line may carry. */
export type LogFields = Readonly<Record<string, unknown>>;

/** What the operator's modules log through. */
export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

// winston keeps `message`, `level` and its symbols; the line is rebuilt in the order a reader wants.
const json = winston.format.printf((info) => {
  const { level, message, timestamp, ...fields } = info;
  return JSON.stringify({ level, time: timestamp, msg: message, ...fields });
});

const pretty = winston.format.printf((info) => {
  const { level, message, timestamp, ...fields } = info;
  const rest = Object.entries(fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${String(timestamp)} ${level.padEnd(5)} ${String(message)}${rest !== '' ? ` ${rest}` : ''}`;
});

function wrap(logger: winston.Logger): Logger {
  return {
    error: (msg, fields) => logger.error(msg, fields),
    warn: (msg, fields) => logger.warn(msg, fields),
    info: (msg, fields) => logger.info(msg, fields),
    debug: (msg, fields) => logger.debug(msg, fields),
    child: (fields) => wrap(logger.child(fields)),
  };
}

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Default stdout. */
  readonly stream?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): { logger: Logger; flush: () => Promise<void> } {
  const transport = new winston.transports.Stream({ stream: options.stream ?? process.stdout });
  const logger = winston.createLogger({
    level: options.level,
    levels: { error: 0, warn: 1, info: 2, debug: 3 },
    format: winston.format.combine(winston.format.timestamp(), options.format === 'pretty' ? pretty : json),
    transports: [transport],
  });
  const flush = (): Promise<void> =>
    new Promise((resolve) => {
      logger.once('finish', () => resolve());
      logger.end();
      // A logger that was never written to may not emit finish; never hold the exit back long.
      setTimeout(resolve, 500).unref();
    });
  return { logger: wrap(logger), flush };
}
