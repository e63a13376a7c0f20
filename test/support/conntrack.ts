// The conntrack table of a network namespace, read with `conntrack -L -o extended`, and flushing
// it. Each entry keeps both tuples: `original` is the packet as it arrived, `reply` is what the
// answer will look like, so a DNAT shows as reply.src != original.dst and a SNAT/MASQUERADE as
// reply.dst != original.src.
import { execIn } from './netns.js';

export interface ConntrackTuple {
  readonly src: string;
  readonly dst: string;
  /** TCP/UDP/SCTP ports. */
  readonly sport?: number;
  readonly dport?: number;
  /** ICMP type, code and id. */
  readonly type?: number;
  readonly code?: number;
  readonly id?: number;
}

export interface ConntrackEntry {
  readonly family: 4 | 6;
  /** `tcp`, `udp`, `icmp`, `icmpv6`, ... as conntrack names it. */
  readonly protocol: string;
  readonly protocolNumber: number;
  /** Seconds left. */
  readonly timeout: number;
  /** TCP state (`SYN_SENT`, `ESTABLISHED`, `TIME_WAIT`...); undefined for other protocols. */
  readonly state?: string;
  readonly original: ConntrackTuple;
  readonly reply: ConntrackTuple;
  /** Flags in brackets: `UNREPLIED`, `ASSURED`, `OFFLOAD`... */
  readonly flags: readonly string[];
  readonly mark: number;
  readonly zone?: number;
  /** The line as conntrack printed it. */
  readonly raw: string;
}

const TUPLE_KEYS = new Set(['src', 'dst', 'sport', 'dport', 'type', 'code', 'id']);

/** Parses `conntrack -L -o extended` output (one flow per line). */
export function parseConntrack(text: string): ConntrackEntry[] {
  const entries: ConntrackEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('conntrack v')) continue;
    const tokens = line.split(/\s+/);
    const [l3, , l4, l4num, timeout] = tokens;
    if (l3 !== 'ipv4' && l3 !== 'ipv6') throw new Error(`cannot read conntrack line: ${line}`);
    let i = 5;
    let state: string | undefined;
    const first = tokens[i];
    if (first !== undefined && !first.includes('=') && !first.startsWith('[')) {
      state = first;
      i++;
    }
    const tuples: Record<string, string>[] = [{}, {}];
    const flags: string[] = [];
    const extra: Record<string, string> = {};
    let which = 0;
    for (; i < tokens.length; i++) {
      const token = tokens[i] ?? '';
      const flag = /^\[(.+)\]$/.exec(token);
      if (flag) {
        flags.push(flag[1] ?? '');
        continue;
      }
      const eq = token.indexOf('=');
      if (eq < 0) continue;
      const key = token.slice(0, eq);
      const value = token.slice(eq + 1);
      const tuple = tuples[which] ?? {};
      if (TUPLE_KEYS.has(key) && which < 2) {
        // The second `src=` starts the reply tuple; tuple keys after both are ICMP-error extras.
        if (key in tuple) {
          which++;
          if (which >= 2) continue;
        }
        (tuples[which] ?? {})[key] = value;
      } else {
        extra[key] = value;
      }
    }
    const toTuple = (t: Record<string, string>): ConntrackTuple => {
      const num = (k: string): Partial<Record<string, number>> => (t[k] === undefined ? {} : { [k]: Number(t[k]) });
      return { src: t.src ?? '', dst: t.dst ?? '', ...num('sport'), ...num('dport'), ...num('type'), ...num('code'), ...num('id') };
    };
    entries.push({
      family: l3 === 'ipv6' ? 6 : 4,
      protocol: l4 ?? '',
      protocolNumber: Number(l4num),
      timeout: Number(timeout),
      ...(state === undefined ? {} : { state }),
      original: toTuple(tuples[0] ?? {}),
      reply: toTuple(tuples[1] ?? {}),
      flags,
      mark: Number(extra.mark ?? 0),
      ...(extra.zone === undefined ? {} : { zone: Number(extra.zone) }),
      raw: line,
    });
  }
  return entries;
}

/** The conntrack entries of `ns` (IPv4 and IPv6 unless a family is given). */
export async function readConntrack(ns: string, family?: 4 | 6): Promise<ConntrackEntry[]> {
  const families = family === undefined ? [4, 6] : [family];
  const out: ConntrackEntry[] = [];
  for (const f of families) {
    const result = await execIn(ns, 'conntrack', ['-L', '-f', f === 6 ? 'ipv6' : 'ipv4', '-o', 'extended']);
    out.push(...parseConntrack(result.stdout));
  }
  return out;
}

/** Empties the conntrack table of `ns`. */
export async function flushConntrack(ns: string): Promise<void> {
  for (const f of ['ipv4', 'ipv6']) await execIn(ns, 'conntrack', ['-F', '-f', f], { allowFailure: true });
}
