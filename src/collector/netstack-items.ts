// From the capture steps' results to the snapshot's items: every item records its command, timing,
// exit status and error, a JSON dump is parsed (or kept as text with an error saying why not), and
// the one `ip -batch` is cut back into its five dumps. Pure code.

import { formatSysctlOutput, IP_BATCH, IP_BATCH_ARGV, ipBatchLineCommand, SYSCTL_GROUPS, sysctlCommand, type NetstackStepId } from './capture-plan.js';
import type { CaptureStep, StepResult } from './capture-script.js';
import { jsonDataOf } from './raw-json.js';
import type { CommandRecord, IptablesBackend, IptablesCapture, JsonItem, NetstackCapture, SocketsCapture, TextItem } from './snapshot.js';

const optional = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

function firstLine(text: string | undefined): string {
  return (text ?? '').split('\n').find((line) => line.trim() !== '')?.trim() ?? '';
}

/** Why a command that ran gave no usable result, from its exit status; undefined when it succeeded. */
export function exitError(command: readonly string[], exitCode: number | null, stderr?: string): string | undefined {
  if (exitCode === 0 || exitCode === null) return undefined;
  if (exitCode === 127) return `${command[0] ?? 'the command'}: command not found`;
  if (exitCode === 126) return `${command[0] ?? 'the command'}: cannot be executed`;
  const why = firstLine(stderr);
  return `exit status ${exitCode}${why !== '' ? `: ${why}` : ''}`;
}

function isoTime(epochMs: number): string {
  return new Date(Math.round(epochMs)).toISOString();
}

/** The record of one step: command, timing, exit status, error, stderr, skip reason. */
export function buildCommandRecord(command: readonly string[], result: StepResult, skippedReason?: string): CommandRecord {
  const stderr = result.stderr?.trim();
  const error = result.failure ?? exitError(command, result.exitCode, stderr);
  return {
    command: [...command],
    ...optional('startedAt', result.startedAt === undefined ? undefined : isoTime(result.startedAt)),
    ...optional('durationMs', result.durationMs === undefined ? undefined : Math.round(result.durationMs * 10) / 10),
    exitCode: result.exitCode,
    ...optional('error', error),
    ...optional('stderr', stderr === '' ? undefined : stderr),
    ...optional('skipped', result.skipped === true ? (skippedReason ?? 'skipped') : undefined),
    ...optional('truncated', result.truncated === true ? true : undefined),
  };
}

/** A text item: the output is kept only when the command succeeded. */
export function buildTextItem(command: readonly string[], result: StepResult, skippedReason?: string): TextItem {
  const record = buildCommandRecord(command, result, skippedReason);
  return { ...record, ...optional('output', record.error === undefined && result.skipped !== true ? (result.stdout?.toString('utf8') ?? '') : undefined) };
}

/** A JSON item: the output parsed, or kept as text with an error when it is not JSON. */
export function buildJsonItem(command: readonly string[], result: StepResult, skippedReason?: string): JsonItem {
  const record = buildCommandRecord(command, result, skippedReason);
  if (record.error !== undefined || result.skipped === true) return record;
  const bytes = result.stdout ?? Buffer.alloc(0);
  if (result.truncated === true) return { ...record, error: 'the output was cut at the size limit: not parsed', output: bytes.toString('utf8') };
  try {
    return { ...record, data: jsonDataOf(bytes) };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { ...record, error: `the output is not JSON: ${why}`, output: bytes.toString('utf8') };
  }
}

/**
 * Cuts the output of `ip -j -force -batch -` back into one result per line. Each successful line
 * prints one line of JSON; a failed one prints nothing on stdout and `Command failed -:N` (after
 * its own message) on stderr. When the count does not add up, every line gets the error.
 */
export function splitIpBatch(lines: readonly string[], result: StepResult): StepResult[] {
  if (result.failure !== undefined || result.skipped === true || result.stdout === undefined) return lines.map(() => result);
  const failed = new Map<number, string>();
  const shared: string[] = [];
  let pendingMessage: string[] = [];
  for (const line of (result.stderr ?? '').split('\n')) {
    const m = /^Command failed -:(\d+)\s*$/.exec(line);
    if (m !== null) {
      failed.set(Number(m[1]), pendingMessage.join('\n'));
      pendingMessage = [];
    } else if (line.trim() !== '') {
      pendingMessage.push(line);
    }
  }
  shared.push(...pendingMessage);
  const documents = result.stdout
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  const succeeded = lines.length - failed.size;
  const batchStderr = shared.join('\n');
  if (documents.length !== succeeded || [...failed.keys()].some((n) => n < 1 || n > lines.length)) {
    const failure = `cannot attribute the output of ip -batch to its ${lines.length} commands (${documents.length} JSON documents, ${failed.size} failed lines)`;
    return lines.map(() => ({ ...result, failure, failureKind: 'lost' as const }));
  }
  let next = 0;
  return lines.map((_, i) => {
    const message = failed.get(i + 1);
    if (message !== undefined) return { ...result, exitCode: 1, stdout: Buffer.alloc(0), stderr: [message, batchStderr].filter((s) => s !== '').join('\n') };
    return { ...result, exitCode: 0, stdout: Buffer.from(documents[next++] ?? '', 'utf8'), stderr: batchStderr };
  });
}

const BUILTIN_CHAINS = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

/**
 * Whether an iptables-save dump holds anything that changes a packet's fate: a rule, a
 * user-defined chain, or a built-in chain whose policy is not ACCEPT. Empty tables with ACCEPT
 * policies (what merely listing a backend can leave behind) hold nothing.
 */
export function iptablesHoldsRules(text: string | undefined): boolean {
  if (text === undefined) return false;
  for (const line of text.split('\n')) {
    if (line.startsWith('-A ') || line.startsWith('-I ')) return true;
    const chain = /^:(\S+)\s+(\S+)/.exec(line);
    if (chain !== null && (!BUILTIN_CHAINS.has(chain[1] ?? '') || chain[2] !== 'ACCEPT')) return true;
  }
  return false;
}

function buildIptablesCapture(legacy: TextItem, nft: TextItem): IptablesCapture {
  const backends: IptablesBackend[] = [];
  if (iptablesHoldsRules(legacy.output)) backends.push('legacy');
  if (iptablesHoldsRules(nft.output)) backends.push('nft');
  return { legacy, nft, backends };
}

/** The read-sysctls output (`PATH<TAB>VALUE`) as `sysctl` prints it. */
function sysctlItem(item: TextItem): TextItem {
  return item.output === undefined ? item : { ...item, output: formatSysctlOutput(item.output) };
}

/** Every netstack step of a plan by id, to find each one's command and skip reason. */
export function stepsById(lanes: readonly (readonly CaptureStep[])[]): Map<string, CaptureStep> {
  return new Map(lanes.flat().map((step) => [step.id, step]));
}

function commandOf(step: CaptureStep): string[] {
  return step.action.kind === 'exec' ? [...step.action.argv] : sysctlCommand(step.action.groups);
}

/** A result for a step the runner never reported (a bug, but never a crash or a silent gap). */
function missingResult(id: string): StepResult {
  return { id, exitCode: null, failure: 'no result was reported for this command', failureKind: 'lost' };
}

/**
 * The netstack of one namespace from its steps' results (the socket owners are looked up by the
 * agent afterwards and passed in).
 */
export function buildNetstackCapture(
  lanes: readonly (readonly CaptureStep[])[],
  results: ReadonlyMap<string, StepResult>,
  sockets: Omit<SocketsCapture, 'listening'> = { owners: [] },
): NetstackCapture {
  const steps = stepsById(lanes);
  const get = (id: NetstackStepId): { step: CaptureStep | undefined; result: StepResult } => ({ step: steps.get(id), result: results.get(id) ?? missingResult(id) });
  const text = (id: NetstackStepId, fallback: readonly string[]): TextItem => {
    const { step, result } = get(id);
    return buildTextItem(step === undefined ? fallback : commandOf(step), result, step?.guard?.skipped);
  };
  const json = (id: NetstackStepId, fallback: readonly string[]): JsonItem => {
    const { step, result } = get(id);
    return buildJsonItem(step === undefined ? fallback : commandOf(step), result, step?.guard?.skipped);
  };

  const ip = get('ip').result;
  const perLine = splitIpBatch(
    IP_BATCH.map((b) => b.line),
    ip,
  );
  const batch = IP_BATCH_ARGV.join(' ');
  const ipItem = (index: number): JsonItem => {
    const entry = IP_BATCH[index];
    const result = perLine[index] ?? ip;
    return { ...buildJsonItem(ipBatchLineCommand(entry?.line ?? ''), result), batch };
  };
  return {
    links: ipItem(0),
    addresses: ipItem(1),
    routes: ipItem(2),
    rules: ipItem(3),
    neighbors: ipItem(4),
    rules6: json('rules6', ['ip', '-6', '-j', '-d', 'rule', 'show']),
    fdb: json('fdb', ['bridge', '-j', 'fdb', 'show']),
    sysctls: sysctlItem(text('sysctls', sysctlCommand(SYSCTL_GROUPS))),
    iptables: buildIptablesCapture(text('iptables-legacy', ['iptables-legacy-save']), text('iptables-nft', ['iptables-nft-save'])),
    ip6tables: buildIptablesCapture(text('ip6tables-legacy', ['ip6tables-legacy-save']), text('ip6tables-nft', ['ip6tables-nft-save'])),
    nftChains: text('nft-chains', ['nft', 'list', 'chains']),
    nftables: json('nft', ['nft', '-j', 'list', 'ruleset']),
    ipset: text('ipset', ['ipset', 'save']),
    ipvs: text('ipvs', ['ipvsadm', '-Save', '-n']),
    sockets: { listening: text('ss', ['ss', '-t', '-u', '-l', '-n', '-e']), ...sockets },
  };
}

/** Tool versions by tool name, from the version steps' results. */
export function buildToolItems(steps: readonly CaptureStep[], results: ReadonlyMap<string, StepResult>): Record<string, TextItem> {
  const tools: Record<string, TextItem> = {};
  for (const step of steps) tools[step.id] = buildTextItem(commandOf(step), results.get(step.id) ?? missingResult(step.id), step.guard?.skipped);
  return tools;
}
