// One real packet (or connection attempt) from inside a network namespace, and what the kernel did
// with it, as data. The sender is test/support/probe-agent.js, started with
// `ip netns exec NS node probe-agent.js '<json>'`: parameters travel as one JSON argument, never
// through a shell. Listeners run the same agent and report each connection or datagram they get
// (local = the destination after DNAT, peer = the source after SNAT).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { execIn } from './netns.js';

const AGENT = fileURLToPath(new URL('./probe-agent.js', import.meta.url));

export interface SocketAddress {
  readonly address: string;
  readonly port: number;
}

/**
 * errno names a connect or send can end with: ECONNREFUSED is reported as `refused` (a TCP RST,
 * or ICMP port unreachable); EHOSTUNREACH (ICMP host unreachable / host or admin prohibited, an
 * `unreachable` route, no ARP answer), ENETUNREACH (ICMP net unreachable, no route), EACCES (a
 * `prohibit` route), EPERM (dropped by the sender's own OUTPUT chain), ETIMEDOUT...
 */
export type ProbeErrorCode = string;

export type TcpProbeResult =
  | { readonly outcome: 'connected'; readonly local: SocketAddress; readonly reply?: string; readonly elapsedMs: number }
  | { readonly outcome: 'refused'; readonly code: 'ECONNREFUSED'; readonly elapsedMs: number }
  | { readonly outcome: 'timeout'; readonly elapsedMs: number }
  | { readonly outcome: 'error'; readonly code: ProbeErrorCode; readonly elapsedMs: number };

export interface TcpProbe {
  readonly dst: string;
  readonly dport: number;
  /** Source address to bind (must be local to the namespace); default: chosen by routing. */
  readonly src?: string;
  /** Source port to bind; default: ephemeral. */
  readonly sport?: number;
  /** Give up (and report `timeout`) after this long; keep it short for a DROP (~300 ms). */
  readonly timeoutMs: number;
  /** Sent after connecting, then the write side is closed and the reply read until EOF. */
  readonly payload?: string;
}

/** A TCP connection attempt from `ns`. */
export async function probeTcp(ns: string, probe: TcpProbe): Promise<TcpProbeResult> {
  return (await runAgent(ns, { op: 'tcp-connect', ...probe }, probe.timeoutMs)) as TcpProbeResult;
}

export type UdpProbeResult =
  /** A datagram came back on the socket (from an echo listener). */
  | { readonly outcome: 'reply'; readonly reply: string; readonly replyFrom: SocketAddress; readonly elapsedMs: number }
  /** Sent, and nothing came back within the timeout (no listener, dropped, or no echo). */
  | { readonly outcome: 'sent'; readonly local: SocketAddress; readonly elapsedMs: number }
  /** ICMP port unreachable came back. */
  | { readonly outcome: 'refused'; readonly code: 'ECONNREFUSED'; readonly elapsedMs: number }
  | { readonly outcome: 'error'; readonly code: ProbeErrorCode; readonly elapsedMs: number };

export interface UdpProbe {
  readonly dst: string;
  readonly dport: number;
  readonly src?: string;
  /** Fixed source port, so conntrack and counters can be checked against it. */
  readonly sport?: number;
  readonly payload?: string;
  /** How long to wait for a reply or an ICMP error. */
  readonly timeoutMs: number;
}

/** One UDP datagram from `ns`, on a connected socket so that ICMP errors are reported. */
export async function probeUdp(ns: string, probe: UdpProbe): Promise<UdpProbeResult> {
  return (await runAgent(ns, { op: 'udp-send', ...probe }, probe.timeoutMs)) as UdpProbeResult;
}

export type IcmpProbeResult =
  | { readonly outcome: 'reply'; readonly from: string; readonly output: string }
  | { readonly outcome: 'timeout'; readonly output: string }
  /** An ICMP error came back: `Destination Host Unreachable`, `Packet filtered`, ... as ping words it. */
  | { readonly outcome: 'unreachable'; readonly from: string; readonly message: string; readonly output: string }
  /** ping could not send at all (`connect: Network is unreachable`, `sendmsg: Operation not permitted`). */
  | { readonly outcome: 'error'; readonly message: string; readonly output: string };

export interface IcmpProbe {
  readonly dst: string;
  readonly src?: string;
  /** ping's -W, in seconds (fractions allowed); default 1. */
  readonly waitSeconds?: number;
}

/** One echo request from `ns`: `ping -c 1 -W WAIT -n [-I SRC] DST`. */
export async function probeIcmp(ns: string, probe: IcmpProbe): Promise<IcmpProbeResult> {
  const args = ['-c', '1', '-n', '-W', String(probe.waitSeconds ?? 1), ...(probe.src ? ['-I', probe.src] : []), probe.dst];
  const result = await execIn(ns, 'ping', args, { allowFailure: true, timeoutMs: 10_000 });
  const output = `${result.stdout}${result.stderr}`.trim();
  const reply = /bytes from ([^\s:]+).*icmp_seq=/.exec(result.stdout);
  if (result.code === 0 && reply) return { outcome: 'reply', from: reply[1] ?? '', output };
  // "From 192.168.60.1 icmp_seq=1 Destination Host Unreachable"
  const error = /^From (\S+?):? (?:icmp_seq=\d+ )?(.+)$/m.exec(result.stdout);
  if (error) return { outcome: 'unreachable', from: error[1] ?? '', message: (error[2] ?? '').trim(), output };
  const local = /^ping: (.+)$/m.exec(result.stderr);
  if (local) return { outcome: 'error', message: (local[1] ?? '').trim(), output };
  return { outcome: 'timeout', output };
}

function runAgent(ns: string, request: object, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, AGENT, JSON.stringify(request)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    // The agent enforces the probe timeout itself; this one only catches a stuck process.
    const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 10_000);
    child.on('error', (e) => {
      clearTimeout(guard);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(guard);
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? ''));
      } catch {
        reject(new Error(`probe agent in ${ns} exited ${code ?? 'on a signal'} without a result: ${err.trim() || out.trim()}`));
      }
    });
  });
}

export interface ListenerSpec {
  readonly protocol: 'tcp' | 'udp';
  /** Bind address. Bind UDP to a specific address to learn the destination a datagram had. */
  readonly address: string;
  readonly port: number;
  /** Send back what was received (TCP: on EOF; UDP: each datagram). */
  readonly echo?: boolean;
}

export interface ReceivedRecord {
  readonly event: 'accept' | 'data';
  readonly protocol: 'tcp' | 'udp';
  /** The listening socket's address: the destination after any DNAT. */
  readonly local: SocketAddress;
  /** Who connected or sent: the source after any SNAT/MASQUERADE. */
  readonly peer: SocketAddress;
  readonly data?: string;
  readonly at: number;
}

export interface Listeners {
  /** Everything received so far, in order. */
  readonly records: readonly ReceivedRecord[];
  /** Resolves with the first record (already received or to come) that satisfies `predicate`. */
  waitFor(predicate: (r: ReceivedRecord) => boolean, timeoutMs?: number): Promise<ReceivedRecord>;
  /** Forgets the records received so far. */
  clear(): void;
  /** Stops the listeners and waits for the process to exit. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts TCP/UDP listeners in `ns` (one agent process) and resolves once they are all bound. The
 * agent exits when its stdin closes, so it cannot outlive the test process.
 */
export function startListeners(ns: string, listeners: readonly ListenerSpec[]): Promise<Listeners> {
  const child: ChildProcessWithoutNullStreams = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, AGENT, JSON.stringify({ op: 'listen', listeners })],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const records: ReceivedRecord[] = [];
  const waiters: { predicate: (r: ReceivedRecord) => boolean; resolve: (r: ReceivedRecord) => void }[] = [];
  let buffer = '';
  let stderr = '';
  let exited = false;
  const exit = new Promise<void>((resolve) => child.on('close', () => ((exited = true), resolve())));

  const handle: Listeners = {
    records,
    waitFor(predicate, timeoutMs = 2000) {
      const found = records.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (r: ReceivedRecord) => {
            clearTimeout(timer);
            resolve(r);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no matching record within ${timeoutMs} ms; received: ${JSON.stringify(records)}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
    clear() {
      records.length = 0;
    },
    async stop() {
      if (!exited) {
        child.stdin.end();
        const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exit;
        clearTimeout(killer);
      }
    },
  };

  return new Promise((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    void exit.then(() => reject(new Error(`listeners in ${ns} exited before they were ready: ${stderr.trim()}`)));
    child.stdout.on('data', (c: Buffer) => {
      buffer += c.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const event = JSON.parse(line) as { event: string; code?: string; address?: string; port?: number };
        if (event.event === 'ready') resolve(handle);
        else if (event.event === 'error') {
          void handle.stop();
          reject(new Error(`listener ${event.address ?? ''}:${event.port ?? ''} in ${ns} failed: ${event.code ?? ''}`));
        } else {
          const record = event as unknown as ReceivedRecord;
          records.push(record);
          for (const w of waiters.filter((w) => w.predicate(record))) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(record);
          }
        }
      }
    });
  });
}

export interface BurstPacket {
  readonly protocol: 'tcp' | 'udp';
  readonly dst: string;
  readonly dport: number;
  readonly src?: string;
  readonly sport?: number;
  readonly payload?: string;
}

export interface BurstResult {
  /** The packet left the socket (for TCP: the SYN was sent; a RST in answer still counts). */
  readonly ok: boolean;
  readonly code?: ProbeErrorCode;
}

/**
 * Sends many packets from `ns`, one after another, in one process: for oracles that compare rule
 * counters afterwards (give each packet something a rule can tell apart, such as its sport).
 * TCP packets are bare SYNs of connection attempts abandoned before any retransmission.
 */
export async function sendBurst(ns: string, packets: readonly BurstPacket[]): Promise<BurstResult[]> {
  const result = (await runAgent(ns, { op: 'burst', packets }, packets.length * 100)) as { results: BurstResult[] };
  return result.results;
}
