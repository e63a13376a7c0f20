#!/usr/bin/env node
// `npm run bench -- NAME [--json] [--profile DIR]`: runs one bench. With --json it prints one JSON
// object of figures (docs/performance.md records them with this command); without, a short
// summary for a person. Exit status: 0 measured, 1 the bench failed, 2 a usage error.

import { resolve } from 'node:path';
import type { Bench, BenchOptions, BenchResult } from './bench.js';
import { COLLECT_BENCH } from './collect.js';
import { CONTROL_PLANE_BENCH } from './control-plane.js';
import { DIAGNOSE_BENCH } from './diagnose.js';
import { LAB_BENCH } from './lab.js';
import { OPERATOR_BENCH } from './operator.js';
import { ROUTING_BENCH } from './routing.js';
import { TRACE_BENCH } from './trace.js';

const BENCHES: Readonly<Record<string, Bench>> = {
  trace: TRACE_BENCH,
  diagnose: DIAGNOSE_BENCH,
  routing: ROUTING_BENCH,
  collect: COLLECT_BENCH,
  'control-plane': CONTROL_PLANE_BENCH,
  lab: LAB_BENCH,
  operator: OPERATOR_BENCH,
};

function usage(): string {
  const names = Object.entries(BENCHES).map(([name, bench]) => `  ${name.padEnd(14)} ${bench.summary}`);
  return [
    'usage: npm run bench -- NAME [--json] [--profile DIR]',
    '',
    'benches:',
    ...names,
    '',
    'flags:',
    '  --json          print one JSON object of figures instead of a summary',
    '  --profile DIR   write a V8 CPU profile (.cpuprofile) of the measured process into DIR',
    '',
  ].join('\n');
}

interface Args {
  readonly name?: string;
  readonly json: boolean;
  readonly help: boolean;
  readonly options: BenchOptions;
}

function parseArgs(argv: readonly string[]): Args | string {
  let name: string | undefined;
  let json = false;
  let help = false;
  let profileDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--json') json = true;
    else if (arg === '--help' || arg === '-h') help = true;
    else if (arg === '--profile') {
      const dir = argv[++i];
      if (dir === undefined || dir.startsWith('-')) return '--profile needs a directory';
      profileDir = resolve(dir);
    } else if (arg.startsWith('-')) return `unknown flag ${arg}`;
    else if (name === undefined) name = arg;
    else return `one bench at a time (got ${name} and ${arg})`;
  }
  return { ...(name !== undefined ? { name } : {}), json, help, options: profileDir !== undefined ? { profileDir } : {} };
}

export function main(argv: readonly string[]): number {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    process.stderr.write(`bench: ${args}\n\n${usage()}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(usage());
    return 0;
  }
  if (args.name === undefined) {
    process.stderr.write(`bench: which bench? (${Object.keys(BENCHES).join(', ')})\n\n${usage()}`);
    return 2;
  }
  const bench = BENCHES[args.name];
  if (bench === undefined) {
    process.stderr.write(`bench: unknown bench "${args.name}"; the benches are: ${Object.keys(BENCHES).join(', ')}\n`);
    return 2;
  }
  let result: BenchResult;
  try {
    result = bench.run(args.options);
  } catch (error) {
    process.stderr.write(`bench ${args.name}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  process.stdout.write(args.json ? `${JSON.stringify(result.figures)}\n` : `${result.text}\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
