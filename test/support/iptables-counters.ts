// Per-rule packet and byte counters of a namespace's iptables, from `iptables-save -c`, so a test
// can see which rules a packet went through: read before, send, read after, compare.
import { execIn } from './netns.js';

export type IptablesBackend = 'nft' | 'legacy';

export interface RuleCounter {
  readonly table: string;
  readonly chain: string;
  /** 1-based position in the chain, as `iptables -L --line-numbers` counts. */
  readonly index: number;
  /** The rule as saved, without the counters and `-A CHAIN`. */
  readonly rule: string;
  readonly packets: number;
  readonly bytes: number;
}

export interface ChainCounter {
  readonly table: string;
  readonly chain: string;
  /** `ACCEPT`/`DROP` for built-in chains, `-` for user chains. */
  readonly policy: string;
  readonly packets: number;
  readonly bytes: number;
}

export interface IptablesCounters {
  readonly rules: readonly RuleCounter[];
  readonly chains: readonly ChainCounter[];
  /** The rule at `table`/`chain`/`index`, if there is one. */
  rule(table: string, chain: string, index: number): RuleCounter | undefined;
  /** Packets counted by that rule (0 when the rule does not exist). */
  packets(table: string, chain: string, index: number): number;
}

export function parseIptablesCounters(text: string): IptablesCounters {
  const rules: RuleCounter[] = [];
  const chains: ChainCounter[] = [];
  const positions = new Map<string, number>();
  let table = '';
  text.split('\n').forEach((raw, n) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line === 'COMMIT') return;
    if (line.startsWith('*')) {
      table = line.slice(1);
      return;
    }
    const chain = /^:(\S+) (\S+) \[(\d+):(\d+)\]$/.exec(line);
    if (chain) {
      chains.push({ table, chain: chain[1] ?? '', policy: chain[2] ?? '', packets: Number(chain[3]), bytes: Number(chain[4]) });
      return;
    }
    const rule = /^\[(\d+):(\d+)\] -A (\S+)(?: (.*))?$/.exec(line);
    if (!rule) throw new Error(`iptables-save -c line ${n + 1}: cannot read "${line}"`);
    const chainName = rule[3] ?? '';
    const key = `${table}/${chainName}`;
    const index = (positions.get(key) ?? 0) + 1;
    positions.set(key, index);
    rules.push({ table, chain: chainName, index, rule: rule[4] ?? '', packets: Number(rule[1]), bytes: Number(rule[2]) });
  });
  const byKey = new Map(rules.map((r) => [`${r.table}/${r.chain}/${r.index}`, r]));
  return {
    rules,
    chains,
    rule: (t, c, i) => byKey.get(`${t}/${c}/${i}`),
    packets: (t, c, i) => byKey.get(`${t}/${c}/${i}`)?.packets ?? 0,
  };
}

/** `iptables-save -c` (or ip6tables, or the legacy backend) in `ns`, parsed. */
export async function readIptablesCounters(
  ns: string,
  options: { family?: 4 | 6; backend?: IptablesBackend } = {},
): Promise<IptablesCounters> {
  const base = options.family === 6 ? 'ip6tables' : 'iptables';
  const command = options.backend === 'legacy' ? `${base}-legacy-save` : `${base}-nft-save`;
  const result = await execIn(ns, command, ['-c']);
  return parseIptablesCounters(result.stdout);
}

/** Rules whose packet counter grew from `before` to `after`, with the number of packets. */
export function countersDelta(before: IptablesCounters, after: IptablesCounters): (RuleCounter & { readonly delta: number })[] {
  return after.rules
    .map((r) => ({ ...r, delta: r.packets - before.packets(r.table, r.chain, r.index) }))
    .filter((r) => r.delta > 0);
}

/** Loads `iptables-save`-format text into `ns` with `iptables-restore` (replacing the tables it names). */
export async function restoreIptables(
  ns: string,
  rules: string,
  options: { family?: 4 | 6; backend?: IptablesBackend } = {},
): Promise<void> {
  const base = options.family === 6 ? 'ip6tables' : 'iptables';
  const command = options.backend === 'legacy' ? `${base}-legacy-restore` : `${base}-nft-restore`;
  await execIn(ns, command, [], { input: rules });
}
