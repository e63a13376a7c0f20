#!/usr/bin/env node
// The `netdiag` command: dispatches to one subcommand and turns every expected failure into a
// one-line message and an exit status.

import { CliError, UsageError } from './cli-error.js';
import { CNI_TAP_USAGE, runCniTap } from './cni-tap-command.js';
import { COLLECT_USAGE, runCollect } from './collect-command.js';
import { DIAGNOSE_USAGE, runDiagnose } from './diagnose-command.js';
import { LAB_USAGE, runLab } from './lab-command.js';
import { runTrace, TRACE_USAGE } from './trace-command.js';

interface Subcommand {
  readonly summary: string;
  readonly usage: string;
  run(args: string[]): Promise<number> | number;
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  trace: { summary: 'walk one packet through one host\'s iptables and routing, offline', usage: TRACE_USAGE, run: runTrace },
  diagnose: { summary: 'whether a packet gets from a source to a destination, and why not, from node snapshots', usage: DIAGNOSE_USAGE, run: runDiagnose },
  collect: { summary: 'capture the network stack of this node and its pods as a JSON snapshot', usage: COLLECT_USAGE, run: runCollect },
  lab: { summary: 'a local Kubernetes cluster of network namespaces to try netdiag on (up, status, down)', usage: LAB_USAGE, run: runLab },
  'cni-tap': { summary: 'install or uninstall netdiag\'s CNI call recorder in the node\'s CNI configuration', usage: CNI_TAP_USAGE, run: runCniTap },
};

function topUsage(): string {
  const lines = Object.entries(SUBCOMMANDS).map(([name, cmd]) => `  ${name.padEnd(10)} ${cmd.summary}`);
  return `usage: netdiag COMMAND [FLAGS]\n\ncommands:\n${lines.join('\n')}\n\nRun \`netdiag COMMAND --help\` for a command's flags.\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topUsage());
    return name === undefined ? 2 : 0;
  }
  const command = SUBCOMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`netdiag: unknown command "${name}"\n\n${topUsage()}`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(command.usage);
    return 0;
  }
  try {
    return await command.run(args);
  } catch (error) {
    if (error instanceof CliError) {
      process.stderr.write(`netdiag ${name}: ${error.message}\n`);
      if (error instanceof UsageError) process.stderr.write(`\n${command.usage}`);
      return error.exitCode;
    }
    throw error;
  }
}

process.on('unhandledRejection', (reason) => {
  process.stderr.write(`netdiag: internal error: ${String(reason)}\n`);
  process.exit(70);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Not an input problem: a bug. Say so plainly and keep the stack for the report.
    process.stderr.write(`netdiag: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 70;
  },
);
