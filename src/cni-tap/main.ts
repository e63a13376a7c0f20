#!/usr/bin/env node
// `netdiag-cni-tap`: the chained CNI plugin that records every call it sees (docs/cni-tap.md).
// Reads the configuration on standard input, prints the answer runTap decided, appends the record.
// It never breaks pod networking: every failure of its own (disk full, unwritable directory, lock
// timeout, unparsable input) goes to standard error and the call still succeeds with the right output.

import { readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { appendRecord } from './record-log.js';
import { runTap, type TapOutcome } from './tap.js';

function say(message: string): void {
  try {
    writeSync(2, `netdiag-cni-tap: ${message}\n`);
  } catch {
    // Standard error closed: nothing more to do.
  }
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch (error) {
    say(`cannot read standard input: ${error instanceof Error ? error.message : String(error)}`);
    return '';
  }
}

function main(): number {
  let outcome: TapOutcome;
  try {
    outcome = runTap({ env: process.env, stdin: readStdin(), pid: process.pid, now: new Date(), hostname: hostname() });
  } catch (error) {
    // Cannot happen by design; still, an ADD must get a result.
    say(`internal error: ${error instanceof Error ? error.message : String(error)}`);
    if (process.env.CNI_COMMAND === 'ADD') writeSync(1, JSON.stringify({ cniVersion: '1.0.0' }));
    return 0;
  }
  for (const p of outcome.problems) say(p);
  if (outcome.line !== undefined) {
    try {
      for (const note of appendRecord(outcome.line, outcome.target)) say(note);
    } catch (error) {
      say(`the call was not recorded in ${outcome.target.dir}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  writeSync(1, outcome.stdout);
  return 0;
}

process.exitCode = main();
