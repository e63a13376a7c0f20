// `netdiag trace` as a user runs it: the built command, real example dumps, and bad input that
// must end with one clear line naming the file and line, a non-zero status and no stack trace.
import { describe, expect, it, beforeAll } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const example = (name: string): string => join(root, 'examples', 'trace', name);
const node1 = [
  '--iptables-save', example('node1.iptables-save'),
  '--routes', example('node1.routes.json'),
  '--rules', example('node1.rules.json'),
  '--links', example('node1.links.json'),
  '--addresses', example('node1.addresses.json'),
  '--sysctls', example('node1.sysctls'),
];

function netdiag(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface TraceJson {
  verdict: string;
  destinations: string[];
  masquerade: boolean;
  trace: { table: string; chain: string; line: number; rule: string; target: string }[];
  warnings: { code: string; message: string }[];
}

function traceJson(...args: string[]): TraceJson {
  const { status, stdout, stderr } = netdiag('trace', ...args, '--json');
  expect(stderr).toBe('');
  expect(status).toBe(0);
  return JSON.parse(stdout) as TraceJson;
}

let scratch: string;
beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
  scratch = mkdtempSync(join(tmpdir(), 'netdiag-trace-cli-'));
});

function scratchFile(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

describe('netdiag trace on a kube-proxy node (examples/trace)', () => {
  it('DNATs a pod\'s ClusterIP connection to both endpoints and forwards it out of eth0', () => {
    const result = traceJson(...node1, '--iif', 'cni0', '--src', '10.244.1.5', '--dst', '10.96.0.2', '--dport', '80', '--protocol', 'tcp');
    expect(result.verdict).toBe('ACCEPT');
    expect(result.destinations).toEqual(['10.244.0.2:8080', '10.244.0.3:8080']);
    // From inside the cluster CIDR: no masquerade mark, no SNAT.
    expect(result.masquerade).toBe(false);
    expect(result.warnings).toEqual([]);
    expect(result.trace.map((h) => h.target)).toEqual(
      expect.arrayContaining(['DNAT --to-destination 10.244.0.2:8080', 'DNAT --to-destination 10.244.0.3:8080']),
    );
  });

  it('masquerades a ClusterIP connection from outside the cluster CIDR', () => {
    const result = traceJson(...node1, '--iif', 'eth0', '--src', '10.0.0.50', '--dst', '10.96.0.2', '--dport', '80', '--protocol', 'tcp');
    expect(result.verdict).toBe('ACCEPT');
    expect(result.masquerade).toBe(true);
  });

  it('rejects a service without endpoints, naming the rule', () => {
    const result = traceJson(...node1, '--iif', 'cni0', '--src', '10.244.1.5', '--dst', '10.96.0.6', '--dport', '80', '--protocol', 'tcp');
    expect(result.verdict).toBe('REJECT');
    expect(result.destinations).toEqual([]);
    const reject = result.trace.find((h) => h.target.startsWith('REJECT'));
    expect(reject).toMatchObject({ table: 'filter', chain: 'KUBE-SERVICES' });
    expect(reject?.rule).toContain('has no endpoints');
  });

  it('rejects the node\'s own connection to a NodePort without endpoints, after the loop through lo', () => {
    const result = traceJson(...node1, '--src', '10.0.0.11', '--dst', '10.0.0.11', '--dport', '30009', '--protocol', 'tcp');
    expect(result.verdict).toBe('REJECT');
    expect(result.trace.at(-1)).toMatchObject({ table: 'filter', chain: 'KUBE-EXTERNAL-SERVICES' });
  });

  it('prints a readable walk without --json', () => {
    const { status, stdout } = netdiag('trace', ...node1, '--iif', 'cni0', '--src', '10.244.1.5', '--dst', '10.96.0.6', '--dport', '80', '--protocol', 'tcp');
    expect(status).toBe(0);
    expect(stdout).toContain('verdict: REJECT');
    expect(stdout).toMatch(/FORWARD +filter +line \d+: -A KUBE-SERVICES -d 10\.96\.0\.6\/32/);
  });

  it('says which assumptions it made when dumps are missing', () => {
    const result = traceJson(
      '--iptables-save', example('node1.iptables-save'), '--routes', example('node1.routes.json'),
      '--iif', 'cni0', '--src', '10.244.1.5', '--dst', '10.96.0.2', '--dport', '80', '--protocol', 'tcp',
    );
    expect(result.warnings.map((w) => w.code).sort()).toEqual(['addresses-assumed', 'links-assumed', 'sysctls-assumed']);
  });
});

describe('netdiag trace on bad input', () => {
  const packet = ['--src', '10.0.0.1', '--dst', '10.0.0.2', '--dport', '80', '--protocol', 'tcp'];

  it.each([
    ['a missing file', () => ['--iptables-save', join(scratch, 'nope.txt'), ...packet], /--iptables-save .*nope\.txt: cannot read: no such file/],
    [
      'a truncated dump',
      () => ['--iptables-save', scratchFile('truncated.txt', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\n'), ...packet],
      /truncated\.txt:\d+: .*COMMIT/,
    ],
    [
      'an unknown table',
      () => ['--iptables-save', scratchFile('table.txt', '*bogus\n:INPUT ACCEPT [0:0]\nCOMMIT\n'), ...packet],
      /table\.txt:1: .*bogus/,
    ],
    [
      'a bad address in a rule',
      () => ['--iptables-save', scratchFile('addr.txt', '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.300 -j DROP\nCOMMIT\n'), ...packet],
      /addr\.txt:3: .*10\.0\.0\.300/,
    ],
    [
      'malformed routes JSON',
      () => ['--iptables-save', example('node1.iptables-save'), '--routes', scratchFile('routes.json', '[{"dst": "10.0.0.0/8", "gateway": "nope"}]'), ...packet],
      /routes\.json: .*nope/,
    ],
    ['a bad --src', () => ['--iptables-save', example('node1.iptables-save'), '--src', '10.0.0', '--dst', '10.0.0.2', '--dport', '80', '--protocol', 'tcp'], /--src "10\.0\.0": not an IPv4 or IPv6 address/],
    ['an unknown protocol', () => ['--iptables-save', example('node1.iptables-save'), '--src', '10.0.0.1', '--dst', '10.0.0.2', '--dport', '80', '--protocol', 'sctp'], /--protocol "sctp"/],
    ['a missing --dport', () => ['--iptables-save', example('node1.iptables-save'), '--src', '10.0.0.1', '--dst', '10.0.0.2', '--protocol', 'udp'], /missing --dport/],
    ['an unknown flag', () => ['--iptables-save', example('node1.iptables-save'), ...packet, '--frobnicate'], /frobnicate/],
  ])('%s: one clear message, non-zero exit, no stack trace', (_name, args, message) => {
    const { status, stdout, stderr } = netdiag('trace', ...args());
    expect(status).not.toBe(0);
    expect(stdout).toBe('');
    expect(stderr.split('\n')[0]).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
