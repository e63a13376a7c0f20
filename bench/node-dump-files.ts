// How a bench hands a node's dumps to its measured process: one file per dump in the process's
// directory, read back as the `netdiag trace` flags would read them.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dump } from '../src/diagnosis/index.js';
import type { NodeDumps } from './node-dumps.js';

type NodeDumpName = 'routes' | 'rules' | 'links' | 'addresses' | 'sysctls';

const NODE_DUMP_FILES: Readonly<Record<NodeDumpName, string>> = {
  routes: 'node.routes.json',
  rules: 'node.rules.json',
  links: 'node.links.json',
  addresses: 'node.addresses.json',
  sysctls: 'node.sysctls',
};

/** The queries a measured process runs, as JSON. */
export const QUERIES_FILE = 'queries.json';

/** The node's dumps as files (name → content) for `runFreshProcessOn`. */
export function nodeDumpInputs(node: NodeDumps): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const [name, file] of Object.entries(NODE_DUMP_FILES) as [NodeDumpName, string][]) inputs[file] = node[name];
  return inputs;
}

export function readDump(dir: string, file: string): Dump {
  return { text: readFileSync(join(dir, file), 'utf8'), source: file };
}

/** The node's dumps read back in the measured process. */
export function readNodeDumps(dir: string): Record<NodeDumpName, Dump> {
  const read = (name: NodeDumpName): Dump => readDump(dir, NODE_DUMP_FILES[name]);
  return { routes: read('routes'), rules: read('rules'), links: read('links'), addresses: read('addresses'), sysctls: read('sysctls') };
}
