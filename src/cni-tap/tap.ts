// What `netdiag-cni-tap` answers and records for one call, decided from its environment and
// standard input alone. Pure: main.ts reads the input, writes the output and appends the record.
//
// The CNI specification asks of a chained plugin on ADD that it print a result of the requested
// cniVersion, passing `prevResult` through when it has nothing to change; DEL and CHECK print
// nothing on success; VERSION prints the versions supported; STATUS and GC (CNI 1.1) succeed. The
// tap never fails a call: whatever goes wrong on its side is a `problem` for standard error, and
// the call still gets the right output and exit status 0.

// Types only: the plugin runs on every pod creation and must not load the diagnosis engine.
import type { CniCallRecord, CniTapPosition } from '../diagnosis/index.js';

/** The record format's version (checked against the diagnosis' definition by the type). */
const RECORD_VERSION: CniCallRecord['v'] = 1;

/** The CNI versions whose configurations and results the tap passes through. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** Where records go unless the configuration (`recordDir`) or NETDIAG_CNI_TAP_DIR says otherwise. */
export const DEFAULT_RECORD_DIR = '/var/log/netdiag';

/** The commands whose calls are recorded. */
const RECORDED = new Set(['ADD', 'DEL', 'CHECK']);

export interface TapInput {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: string;
  readonly pid: number;
  readonly now: Date;
  readonly hostname: string;
}

/** Where and how the record is kept (from the tap's configuration, else the environment, else defaults). */
export interface RecordTarget {
  readonly dir: string;
  /** The node's name in the file name: `cni-<node>.jsonl`. */
  readonly node: string;
  /** Rotate when the file would grow beyond this. */
  readonly maxBytes: number;
  /** Rotated files kept. */
  readonly keep: number;
}

export interface TapOutcome {
  /** Exactly what to print on standard output. */
  readonly stdout: string;
  /** The line to append (with its newline), when the call is recorded. */
  readonly line?: string;
  readonly target: RecordTarget;
  /** What went wrong on the tap's side (for standard error); never fails the call. */
  readonly problems: readonly string[];
}

export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_KEEP = 3;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A node name as it may appear in a file name. */
export function safeNodeName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return safe === '' || safe === '.' || safe === '..' ? 'unknown' : safe;
}

function positiveInteger(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

function targetOf(config: Record<string, unknown> | undefined, input: TapInput): RecordTarget {
  const dir = typeof config?.recordDir === 'string' && config.recordDir !== '' ? config.recordDir : input.env.NETDIAG_CNI_TAP_DIR || DEFAULT_RECORD_DIR;
  const node = typeof config?.nodeName === 'string' && config.nodeName !== '' ? config.nodeName : input.env.NODE_NAME || input.hostname;
  return { dir, node: safeNodeName(node), maxBytes: positiveInteger(config?.maxBytes) ?? DEFAULT_MAX_BYTES, keep: positiveInteger(config?.keep) ?? DEFAULT_KEEP };
}

function positionOf(config: Record<string, unknown> | undefined, problems: string[]): CniTapPosition {
  const position = config?.position;
  if (position === 'head' || position === 'tail') return position;
  // Without the field, a call with a result before it is the tail's.
  const guess = config !== undefined && config.prevResult !== undefined ? 'tail' : 'head';
  if (config !== undefined) problems.push(`the configuration has no "position": "head" or "tail"; recorded as ${guess}`);
  return guess;
}

/** Decides the output and the record of one call. */
export function runTap(input: TapInput): TapOutcome {
  const problems: string[] = [];
  const command = input.env.CNI_COMMAND ?? '';
  let config: Record<string, unknown> | undefined;
  let parseError: string | undefined;
  if (command !== 'VERSION') {
    try {
      const json: unknown = JSON.parse(input.stdin);
      if (isObject(json)) config = json;
      else parseError = 'the configuration on standard input is not a JSON object';
    } catch (error) {
      parseError = `the configuration on standard input is not JSON (${error instanceof Error ? error.message : String(error)})`;
    }
    if (parseError !== undefined) problems.push(parseError);
  }
  const target = targetOf(config, input);
  const cniVersion = typeof config?.cniVersion === 'string' ? config.cniVersion : undefined;

  let stdout = '';
  let tailError: string | undefined;
  switch (command) {
    case 'ADD': {
      const prevResult = config?.prevResult;
      if (prevResult !== undefined) stdout = JSON.stringify(prevResult);
      else {
        // Nothing before us (the head), or a chain that produced no result: an empty result of
        // the requested version, so that the runtime and the next plugin get valid JSON.
        stdout = JSON.stringify({ cniVersion: cniVersion ?? '1.0.0' });
        if (config?.position === 'tail') tailError = 'no prevResult: the plugins before the tail returned no result';
      }
      break;
    }
    case 'VERSION':
      stdout = JSON.stringify({ cniVersion: '1.1.0', supportedVersions: SUPPORTED_VERSIONS });
      break;
    case 'DEL':
    case 'CHECK':
    case 'STATUS':
    case 'GC':
      break;
    default:
      problems.push(`unknown CNI_COMMAND ${JSON.stringify(command)}: nothing done`);
  }

  if (!RECORDED.has(command)) return { stdout, target, problems };
  const position = positionOf(config, problems);
  const withoutPrev = config === undefined ? undefined : Object.fromEntries(Object.entries(config).filter(([k]) => k !== 'prevResult'));
  const env = input.env;
  const error = parseError ?? tailError;
  const record: CniCallRecord = {
    v: RECORD_VERSION,
    time: input.now.toISOString(),
    position,
    command,
    ...(env.CNI_CONTAINERID !== undefined ? { containerId: env.CNI_CONTAINERID } : {}),
    ...(env.CNI_NETNS !== undefined ? { netns: env.CNI_NETNS } : {}),
    ...(env.CNI_IFNAME !== undefined ? { ifname: env.CNI_IFNAME } : {}),
    ...(env.CNI_ARGS !== undefined ? { args: env.CNI_ARGS } : {}),
    pid: input.pid,
    ...(typeof config?.name === 'string' ? { network: config.name } : {}),
    ...(cniVersion !== undefined ? { cniVersion } : {}),
    ...(position === 'head' && withoutPrev !== undefined ? { config: withoutPrev } : {}),
    ...(position === 'tail' && config?.prevResult !== undefined ? { result: config.prevResult } : {}),
    ...(error !== undefined ? { error } : {}),
  };
  return { stdout, line: `${JSON.stringify(record)}\n`, target, problems };
}
