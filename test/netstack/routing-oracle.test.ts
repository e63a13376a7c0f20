// The kernel is the oracle: random (but seeded, so reproducible) configurations of a network
// namespace — veth pairs into a peer namespace (one without carrier, one down), a bridge, a vxlan,
// addresses, routes of every type in several tables, policy rules with every selector and action,
// forwarding/rp_filter/accept_local/ignore_routes_with_linkdown sysctls — then, for each generated
// query, `ip -j -d route get ...` in the namespace is compared with lookupRoute() over the parsed
// `ip -j -d` dumps of that same namespace: the outcome (route type or error), the output device,
// the gateway, the preferred source and the table.
//
// A failure names the scenario seed and the exact `ip route get` command: re-run with
// ROUTING_ORACLE_SEED=<seed> to rebuild that one configuration (ROUTING_ORACLE_SCENARIOS=N runs N
// configurations from that seed on, to search wider). The namespaces are named
// `ndt-rt-` + random suffix and deleted in afterAll, whatever happened.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { formatIp, parseIp, type IpAddress } from '../../src/diagnosis/model/ip.js';
import {
  buildRoutingState,
  buildRoutingSysctls,
  ERRNO_MESSAGES,
  lookupRoute,
  parseAddresses,
  parseLinks,
  parseRoutes,
  parseRules,
  summarizeDecision,
  tableName,
  type RouteDecision,
  type RouteErrno,
  type RouteQuery,
  type RoutingState,
} from '../../src/diagnosis/netstack/routing/index.js';
import { createNetns, destroyNetns, ipIn, runIn, tryIpIn, tryRun } from '../support/netns.js';
import { Prng } from '../support/prng.js';
import { describeAsRoot } from '../support/root.js';

// ---------------------------------------------------------------------------------------------
// Scenario generation: a list of commands to build the namespace, and queries to ask.

interface Subnet {
  readonly dev: string;
  /** First three octets, e.g. `10.1.0`. */
  readonly base: string;
}

const SUBNETS: readonly Subnet[] = [
  { dev: 'veth0', base: '10.1.0' },
  { dev: 'veth1', base: '10.2.0' },
  { dev: 'veth2', base: '10.3.0' },
  { dev: 'br0', base: '10.4.0' },
  { dev: 'vx0', base: '10.5.0' },
];
const DEVICES = ['veth0', 'veth1', 'veth2', 'veth3', 'br0', 'vx0', 'vb0', 'lo'];
const POOL = [
  '0.0.0.0/0',
  '10.200.0.0/16',
  '10.200.1.0/24',
  '10.200.1.128/25',
  '10.200.1.130/32',
  '10.201.0.0/16',
  '10.201.5.0/24',
  '172.16.0.0/12',
  '172.16.8.0/22',
  '192.168.0.0/16',
  '192.168.7.0/24',
  '10.1.0.0/16',
  '10.4.0.128/25',
];
const MARKS: ReadonlyArray<[string, number]> = [
  ['0x1', 0x1],
  ['0x10', 0x10],
  ['0x100/0xff00', 0x100],
  ['0x3/0x3', 0x3],
];
const TOS_VALUES = [0x04, 0x08, 0x10];

interface Scenario {
  readonly seed: number;
  /** Commands for the subject namespace (`ip -n NS ...` argument vectors, or sysctl pairs). */
  readonly setup: ReadonlyArray<{ kind: 'ip'; args: string[]; mustSucceed: boolean } | { kind: 'sysctl'; key: string; value: string }>;
  /** Which peer-side ends stay down (no carrier on our side). */
  readonly peerDown: ReadonlySet<string>;
  readonly queries: readonly string[][];
}

function hostIn(prefix: string, rng: Prng): string {
  const [addr, lenText] = prefix.split('/');
  const ip = parseIp(addr ?? '');
  const len = Number(lenText);
  if (ip === undefined) throw new Error(`bad pool prefix ${prefix}`);
  if (len === 0) return `${rng.int(11, 223)}.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
  const hostBits = 32 - len;
  const offset = hostBits === 0 ? 0 : rng.int(0, Math.min(2 ** hostBits - 1, 0xffffff));
  return formatIp({ family: 4, value: ip.value + BigInt(offset) });
}

function generateScenario(seed: number): Scenario {
  const rng = new Prng(seed);
  const setup: Array<{ kind: 'ip'; args: string[]; mustSucceed: boolean } | { kind: 'sysctl'; key: string; value: string }> = [];
  const ip = (args: string[], mustSucceed = false): void => {
    setup.push({ kind: 'ip', args, mustSucceed });
  };
  const sysctl = (key: string, value: string | number): void => {
    setup.push({ kind: 'sysctl', key, value: String(value) });
  };

  // Devices (veth peers into the peer namespace are created by the harness).
  const peerDown = new Set<string>();
  if (rng.chance(0.7)) peerDown.add('veth1');
  const veth2Up = rng.chance(0.5);
  ip(['link', 'add', 'br0', 'type', 'bridge'], true);
  ip(['link', 'add', 'vb0', 'type', 'veth', 'peer', 'name', 'vb0p'], true);
  ip(['link', 'set', 'vb0p', 'master', 'br0'], true);
  ip(['link', 'add', 'vx0', 'type', 'vxlan', 'id', String(rng.int(1, 1000)), 'local', '10.1.0.1', 'dev', 'veth0', 'dstport', '4789'], true);
  for (const dev of ['veth0', 'veth1', 'veth3', 'br0', 'vb0', 'vb0p', 'vx0']) ip(['link', 'set', dev, 'up'], true);
  if (rng.chance(0.3)) ip(['link', 'set', 'veth1', 'group', '5'], true);

  // Addresses: a primary per subnet, sometimes a secondary, another subnet, a link-scope one.
  const locals: string[] = ['127.0.0.1'];
  for (const { dev, base } of SUBNETS) {
    if (dev === 'veth3') continue;
    ip(['addr', 'add', `${base}.1/24`, 'dev', dev], true);
    locals.push(`${base}.1`);
    if (rng.chance(0.35)) {
      ip(['addr', 'add', `${base}.2/24`, 'dev', dev], true);
      locals.push(`${base}.2`);
    }
  }
  if (rng.chance(0.5)) {
    ip(['addr', 'add', '10.11.0.1/24', 'dev', 'veth0'], true);
    locals.push('10.11.0.1');
  }
  if (rng.chance(0.4)) {
    ip(['addr', 'add', '169.254.7.1/16', 'dev', 'veth0', 'scope', 'link'], true);
    locals.push('169.254.7.1');
  }
  if (rng.chance(0.5)) {
    ip(['addr', 'add', '10.250.0.1/32', 'dev', 'lo'], true);
    locals.push('10.250.0.1');
  }
  if (rng.chance(0.3)) {
    ip(['addr', 'add', '10.6.0.1/24', 'dev', 'veth3', 'scope', 'link'], true);
  }
  // veth2 is configured while up, then maybe taken down (the kernel flushes its routes).
  ip(['link', 'set', 'veth2', 'up'], true);

  // Sysctls, before the routes: the kernel weighs multipath next hops (fib_rebalance) when a route
  // is created or a device changes state, not when ignore_routes_with_linkdown changes, so a
  // later change would leave stale weights that no dump shows. `all` first (forwarding=all
  // propagates to every device), then per-device overrides.
  sysctl('net.ipv4.conf.all.forwarding', rng.chance(0.6) ? 1 : 0);
  for (const dev of DEVICES) if (rng.chance(0.3)) sysctl(`net.ipv4.conf.${dev}.forwarding`, rng.chance(0.5) ? 1 : 0);
  sysctl('net.ipv4.conf.all.rp_filter', rng.pick([0, 0, 1, 2]));
  for (const dev of DEVICES) if (rng.chance(0.3)) sysctl(`net.ipv4.conf.${dev}.rp_filter`, rng.pick([0, 1, 2]));
  if (rng.chance(0.2)) sysctl('net.ipv4.conf.all.accept_local', 1);
  if (rng.chance(0.3)) sysctl('net.ipv4.conf.all.send_redirects', 0);
  if (rng.chance(0.4)) sysctl('net.ipv4.conf.all.ignore_routes_with_linkdown', 1);

  // Routes: most nodes have a default route.
  if (rng.chance(0.7)) ip(['route', 'add', 'default', 'via', '10.1.0.254']);
  const tables = ['main', 'main', '100', '100', '200', 'local'];
  const gateways = SUBNETS.map((s) => `${s.base}.254`);
  const routeCount = rng.int(12, 26);
  for (let i = 0; i < routeCount; i++) {
    const prefix = rng.pick(POOL);
    let table = rng.pick(tables);
    const type = rng.weighted<string>([
      ['gateway', 32],
      ['dev', 14],
      ['onlink', 6],
      ['multipath', 16],
      ['blackhole', 8],
      ['unreachable', 8],
      ['prohibit', 8],
      ['throw', 10],
      ['local', 2],
    ]);
    if (table === 'local' && type !== 'local' && rng.chance(0.8)) table = 'main';
    const args: string[] = ['route', 'add'];
    const nexthops: string[] = [];
    switch (type) {
      case 'blackhole':
      case 'unreachable':
      case 'prohibit':
      case 'throw':
        args.push(type, prefix);
        break;
      case 'local':
        args.push('local', rng.pick(['10.250.5.0/24', '10.200.1.130/32']), 'dev', 'lo');
        table = 'local';
        break;
      case 'gateway':
        args.push(prefix, 'via', rng.pick(gateways));
        if (rng.chance(0.5)) args.push('dev', rng.pick(SUBNETS).dev);
        break;
      case 'dev':
        args.push(prefix, 'dev', rng.pick(['veth0', 'veth1', 'veth2', 'veth3', 'br0', 'vx0']));
        break;
      case 'onlink':
        args.push(prefix, 'via', `172.31.${rng.int(0, 255)}.1`, 'dev', rng.pick(['veth0', 'veth1', 'veth3', 'br0']), 'onlink');
        break;
      case 'multipath': {
        // `ip route` wants the route's options before the list of next hops.
        args.push(prefix);
        const n = rng.int(2, 3);
        for (let k = 0; k < n; k++) {
          const s = rng.pick(SUBNETS);
          nexthops.push('nexthop', 'via', `${s.base}.${rng.int(250, 254)}`, 'dev', s.dev, 'weight', String(rng.int(1, 5)));
        }
        break;
      }
      default:
        throw new Error(`unknown route kind ${type}`);
    }
    if (rng.chance(0.15) && type !== 'local') args.push('tos', `0x${rng.pick(TOS_VALUES).toString(16).padStart(2, '0')}`);
    if (rng.chance(0.15) && (type === 'gateway' || type === 'dev' || type === 'multipath')) args.push('src', rng.pick([...locals, '10.99.99.99']));
    if (rng.chance(0.35)) args.push('metric', String(rng.pick([10, 100, 1000])));
    args.push('table', table, ...nexthops);
    ip(args);
  }

  // Rules: sorted priorities so that goto targets can point forward.
  const ruleCount = rng.int(3, 10);
  const prefs = new Set<number>();
  while (prefs.size < ruleCount) prefs.add(rng.int(1, 320) * 100);
  const sorted = [...prefs].sort((a, b) => a - b);
  sorted.forEach((pref, index) => {
    const args: string[] = ['rule', 'add'];
    if (rng.chance(0.12)) args.push('not');
    if (rng.chance(0.3)) args.push('from', rng.pick([...SUBNETS.map((s) => `${s.base}.0/24`), '10.200.0.0/16', `${rng.pick(locals)}/32`, '0.0.0.0/8']));
    if (rng.chance(0.3)) args.push('to', rng.pick(POOL.filter((p) => p !== '0.0.0.0/0')));
    if (rng.chance(0.15)) args.push('iif', rng.pick(DEVICES));
    if (rng.chance(0.1)) args.push('oif', rng.pick(DEVICES));
    if (rng.chance(0.25)) args.push('fwmark', rng.pick(MARKS)[0]);
    if (rng.chance(0.1)) args.push('tos', `0x${rng.pick(TOS_VALUES).toString(16).padStart(2, '0')}`);
    if (rng.chance(0.08)) args.push('ipproto', 'tcp', 'dport', rng.pick(['80', '1000-2000']));
    const action = rng.weighted<string>([
      ['lookup100', 25],
      ['lookup200', 15],
      ['main-suppress', 14],
      ['lookup300', 4],
      ['goto', 14],
      ['nop', 8],
      ['blackhole', 5],
      ['unreachable', 5],
      ['prohibit', 5],
      ['ifgroup', 5],
    ]);
    switch (action) {
      case 'lookup100':
        args.push('lookup', '100');
        break;
      case 'lookup200':
        args.push('lookup', '200');
        break;
      case 'lookup300':
        args.push('lookup', '300');
        break;
      case 'main-suppress':
        args.push('lookup', 'main', 'suppress_prefixlength', String(rng.pick([0, 8, 16, 24])));
        break;
      case 'goto': {
        const later = sorted.slice(index + 1);
        args.push('goto', String(later.length > 0 && rng.chance(0.5) ? rng.pick(later) : pref + 50));
        break;
      }
      case 'nop':
        args.push('nop');
        break;
      case 'blackhole':
      case 'unreachable':
      case 'prohibit':
        args.push(action);
        break;
      case 'ifgroup':
        args.push('lookup', 'main', 'suppress_ifgroup', '5');
        break;
      default:
        throw new Error(`unknown rule action ${action}`);
    }
    args.push('pref', String(pref));
    ip(args);
  });

  if (!veth2Up) ip(['link', 'set', 'veth2', 'down'], true);

  // Queries.
  const queries: string[][] = [];
  const subnetHost = (): string => `${rng.pick(SUBNETS).base}.${rng.int(2, 254)}`;
  const remote = (): string => hostIn(rng.pick(POOL), rng);
  for (let q = 0; q < QUERIES_PER_SCENARIO; q++) {
    const dst = rng.weighted<() => string>([
      [remote, 50],
      [() => rng.pick(locals), 10],
      [subnetHost, 15],
      [() => `${rng.pick(SUBNETS).base}.255`, 4],
      [() => `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`, 10],
      [() => '127.0.0.5', 2],
      [() => '255.255.255.255', 2],
      [() => hostIn(rng.pick(['10.250.5.0/24', '10.200.1.130/32']), rng), 3],
    ])();
    const args = ['route', 'get', dst];
    if (rng.chance(0.4)) {
      const src = rng.weighted<() => string>([
        [remote, 50],
        [subnetHost, 30],
        [() => rng.pick(locals), 12],
        [() => '0.0.0.0', 2],
      ])();
      if (rng.chance(0.9)) args.push('from', src);
      args.push('iif', rng.pick(DEVICES));
    } else {
      if (rng.chance(0.25)) args.push('from', rng.chance(0.85) ? rng.pick(locals) : remote());
      if (rng.chance(0.15)) args.push('oif', rng.pick(DEVICES));
    }
    if (rng.chance(0.4)) args.push('mark', String(rng.pick([...MARKS.map(([, m]) => m), 0x1ff, 0x7])));
    if (rng.chance(0.2)) args.push('tos', `0x${rng.pick([0x04, 0x08, 0x10, 0x14, 0x1c, 0x28]).toString(16).padStart(2, '0')}`);
    if (rng.chance(0.1)) args.push('ipproto', 'tcp', 'sport', '1000', 'dport', rng.pick(['80', '1500', '22']));
    queries.push(args);
  }
  return { seed, setup, peerDown, queries };
}

// ---------------------------------------------------------------------------------------------
// What the kernel said, and what we say.

type KernelAnswer =
  | { readonly ok: true; readonly type: string; readonly dev?: string; readonly gateway?: string; readonly prefsrc?: string; readonly table?: string }
  | { readonly ok: false; readonly message: string };

function kernelRouteGet(ns: string, args: readonly string[]): KernelAnswer {
  const result = tryIpIn(ns, ['-j', '-d', ...args]);
  if (!result.ok) {
    const m = /RTNETLINK answers: (.+)|Error: (.+)/.exec(result.stderr);
    return { ok: false, message: (m?.[1] ?? m?.[2] ?? result.stderr).trim() };
  }
  const parsed = JSON.parse(result.stdout) as Array<Record<string, unknown>>;
  const r = parsed[0] ?? {};
  const str = (k: string): string | undefined => (typeof r[k] === 'string' ? r[k] : undefined);
  const via = r.via as { host?: string } | undefined;
  const gateway = str('gateway') ?? via?.host;
  const dev = str('dev');
  const prefsrc = str('prefsrc');
  const table = str('table');
  return {
    ok: true,
    type: str('type') ?? 'unicast',
    ...(dev !== undefined ? { dev } : {}),
    ...(gateway !== undefined ? { gateway } : {}),
    ...(prefsrc !== undefined ? { prefsrc } : {}),
    ...(table !== undefined ? { table } : {}),
  };
}

/** The query `ip route get ARGS` asks. */
function queryOf(args: readonly string[]): RouteQuery {
  const get = (word: string): string | undefined => {
    const i = args.indexOf(word);
    return i < 0 ? undefined : args[i + 1];
  };
  const ipOf = (text: string | undefined): IpAddress | undefined => (text === undefined ? undefined : parseIp(text));
  const dst = ipOf(args[2]);
  if (dst === undefined) throw new Error(`no destination in ${args.join(' ')}`);
  const src = ipOf(get('from'));
  const iif = get('iif');
  const oif = get('oif');
  const mark = get('mark');
  const tos = get('tos');
  const proto = get('ipproto');
  const sport = get('sport');
  const dport = get('dport');
  return {
    dst,
    ...(src !== undefined ? { src } : {}),
    ...(iif !== undefined ? { iif } : {}),
    ...(oif !== undefined ? { oif } : {}),
    ...(mark !== undefined ? { mark: Number(mark) } : {}),
    ...(tos !== undefined ? { tos: Number(tos) } : {}),
    ...(proto !== undefined ? { protocol: proto === 'tcp' ? 6 : 17 } : {}),
    ...(sport !== undefined ? { sport: Number(sport) } : {}),
    ...(dport !== undefined ? { dport: Number(dport) } : {}),
  };
}

const ERRNO_BY_MESSAGE = new Map<string, RouteErrno>(Object.entries(ERRNO_MESSAGES).map(([errno, message]) => [message, errno as RouteErrno]));

/** Undefined when our decision says what the kernel said; otherwise what differs. */
function compareWithKernel(kernel: KernelAnswer, decision: RouteDecision, givenSrc: boolean): string | undefined {
  const ours = summarizeDecision(decision);
  if (!kernel.ok) {
    const errno = ERRNO_BY_MESSAGE.get(kernel.message);
    if (errno === undefined) return `kernel error "${kernel.message}" is not one we model; we said ${ours}`;
    const ourError = 'error' in decision ? decision.error : undefined;
    if (ourError === errno) return undefined;
    // Some next hops of a multipath route fail the source check: the kernel drops the packet
    // when its hash picks one of those.
    const hashDependent = decision.warnings.some((w) => w.code === 'multipath-rp-filter');
    return hashDependent && errno === 'EINVAL' ? undefined : `kernel: ${kernel.message}; we: ${ours}`;
  }
  const wantSrc = (src: IpAddress | undefined): string | undefined => {
    if (givenSrc) return undefined;
    const k = kernel.prefsrc;
    const o = src === undefined ? undefined : formatIp(src);
    return k === o ? undefined : `preferred source: kernel ${k ?? 'none'}, we ${o ?? 'none'}`;
  };
  const wantTable = (table: number | undefined): string | undefined => {
    const o = table === undefined ? undefined : tableName(table);
    return kernel.table === o ? undefined : `table: kernel ${kernel.table ?? 'none'}, we ${o ?? 'none'}`;
  };
  const describeKernel = `kernel: ${kernel.type} dev ${kernel.dev ?? '-'} via ${kernel.gateway ?? '-'} src ${kernel.prefsrc ?? '-'} table ${kernel.table ?? '-'}`;
  switch (decision.kind) {
    case 'unicast': {
      if (kernel.type !== 'unicast') return `${describeKernel}; we: ${ours}`;
      const nh = decision.nexthops.find(
        (n) => n.dev === kernel.dev && (n.gateway === undefined ? undefined : formatIp(n.gateway)) === kernel.gateway,
      );
      if (nh === undefined) return `${describeKernel}; we: ${ours}`;
      const problem = wantSrc(nh.src) ?? wantTable(decision.table);
      return problem === undefined ? undefined : `${problem} (${describeKernel}; we: ${ours})`;
    }
    case 'broadcast': {
      const nh = (decision.nexthops ?? [{ dev: decision.dev, src: decision.src }]).find((n) => n.dev === kernel.dev);
      if (kernel.type !== decision.kind || nh === undefined) return `${describeKernel}; we: ${ours}`;
      const problem = wantSrc(nh.src) ?? wantTable(decision.table);
      return problem === undefined ? undefined : `${problem} (${describeKernel}; we: ${ours})`;
    }
    case 'local': {
      if (kernel.type !== decision.kind || kernel.dev !== decision.dev) return `${describeKernel}; we: ${ours}`;
      const problem = wantSrc(decision.src) ?? wantTable(decision.table);
      return problem === undefined ? undefined : `${problem} (${describeKernel}; we: ${ours})`;
    }
    case 'blackhole':
    case 'unreachable':
    case 'prohibit':
    case 'no-route':
    case 'rejected':
    case 'unsupported':
      return `${describeKernel}; we: ${ours}`;
    default:
      return `unknown decision ${JSON.stringify(decision)}`;
  }
}

// ---------------------------------------------------------------------------------------------

const BASE_SEED = Number(process.env.ROUTING_ORACLE_SEED ?? 20251125);
const SCENARIOS = Number(process.env.ROUTING_ORACLE_SCENARIOS ?? (process.env.ROUTING_ORACLE_SEED === undefined ? 10 : 1));
const QUERIES_PER_SCENARIO = 40;

interface Built {
  readonly scenario: Scenario;
  readonly ns: string;
  readonly state: RoutingState;
  readonly dumps: string;
}

const scenarios = Array.from({ length: SCENARIOS }, (_, i) => generateScenario(BASE_SEED + i * 7919));
const cases = scenarios.flatMap((scenario, s) => scenario.queries.map((args, q) => ({ s, q, args, seed: scenario.seed, command: `ip ${args.join(' ')}` })));

describeAsRoot('route lookup against the kernel (ip route get)', () => {
  const namespaces: string[] = [];
  const built: Built[] = [];

  beforeAll(() => {
    for (const scenario of scenarios) {
      const ns = createNetns('ndt-rt-');
      namespaces.push(ns);
      const peer = createNetns('ndt-rt-');
      namespaces.push(peer);
      for (const [i, dev] of ['veth0', 'veth1', 'veth2', 'veth3'].entries()) {
        ipIn(ns, ['link', 'add', dev, 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', peer]);
        if (!scenario.peerDown.has(dev)) ipIn(peer, ['link', 'set', `p${i}`, 'up']);
      }
      for (const step of scenario.setup) {
        if (step.kind === 'sysctl') {
          runIn(ns, 'sysctl', ['-qw', `${step.key}=${step.value}`]);
          continue;
        }
        const result = tryIpIn(ns, step.args);
        if (!result.ok && step.mustSucceed) throw new Error(`seed ${scenario.seed}: ip ${step.args.join(' ')}: ${result.stderr}`);
      }
      const dump = (args: string[]): string => ipIn(ns, args);
      const linksJson = dump(['-j', '-d', 'link', 'show']);
      const addrJson = dump(['-j', '-d', 'addr', 'show']);
      const routeJson = dump(['-j', '-d', 'route', 'show', 'table', 'all']);
      const ruleJson = dump(['-j', '-d', 'rule', 'show']);
      const sysctlText = runIn(ns, 'sysctl', ['net.ipv4.conf']);
      const sysctlValues: Record<string, string> = {};
      for (const line of sysctlText.split('\n')) {
        const m = /^(\S+)\s*=\s*(.*)$/.exec(line);
        if (m?.[1] !== undefined && m[2] !== undefined) sysctlValues[m[1]] = m[2];
      }
      const source = `ns ${ns} (seed ${scenario.seed})`;
      const links = parseLinks(linksJson, `${source} ip link`);
      const addresses = parseAddresses(addrJson, `${source} ip addr`);
      const routes = parseRoutes(routeJson, `${source} ip route`);
      const rules = parseRules(ruleJson, `${source} ip rule`);
      const state = buildRoutingState({
        links: links.links,
        addresses: addresses.addresses,
        routes: routes.routes,
        rules: rules.rules,
        sysctls: buildRoutingSysctls(sysctlValues),
      });
      const warnings = [...links.warnings, ...addresses.warnings, ...routes.warnings, ...rules.warnings, ...state.warnings];
      if (warnings.length > 0) throw new Error(`seed ${scenario.seed}: unexpected parse warnings: ${JSON.stringify(warnings)}`);
      built.push({ scenario, ns, state, dumps: `ip rule:\n${tryRun('ip', ['-n', ns, 'rule']).stdout}\nip route:\n${tryRun('ip', ['-n', ns, 'route', 'show', 'table', 'all']).stdout}` });
    }
  }, 120_000);

  afterAll(() => {
    for (const ns of namespaces) destroyNetns(ns);
  });

  it('generates at least 100 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(SCENARIOS * QUERIES_PER_SCENARIO);
    if (process.env.ROUTING_ORACLE_SEED === undefined) expect(cases.length).toBeGreaterThanOrEqual(100);
  });

  it.each(cases)('seed $seed #$q: $command', ({ s, args }) => {
    const b = built[s];
    if (b === undefined) throw new Error('scenario not built');
    const kernel = kernelRouteGet(b.ns, args);
    const decision = lookupRoute(b.state, queryOf(args));
    const mismatch = compareWithKernel(kernel, decision, args.includes('from'));
    const context = mismatch === undefined ? '' : `\n${decision.explanation}\nwarnings: ${JSON.stringify(decision.warnings)}\n${b.dumps}`;
    expect(`${mismatch ?? 'agrees'}${context}`).toBe('agrees');
    // Generated cases stay inside what the simulation models: no warning may hide a guess, except
    // the one that says the kernel's answer depends on its multipath hash (checked above).
    expect(decision.warnings.filter((w) => w.code !== 'multipath-rp-filter')).toEqual([]);
  });

  it('the generated cases cover every outcome', () => {
    // Coverage of the generator, so that a change to it cannot silently stop exercising a branch.
    const seen = new Set<string>();
    for (const { s, args } of cases) {
      const b = built[s];
      if (b === undefined) continue;
      const d = lookupRoute(b.state, queryOf(args));
      seen.add(d.kind);
      if (d.kind === 'rejected') seen.add(`rejected:${d.reason}`);
      if (d.kind === 'unicast') {
        if (d.nexthops.length > 1) seen.add('unicast:multipath');
        if (d.assumedOnLink) seen.add('unicast:assumed-on-link');
        if (d.forwarded) seen.add('unicast:forwarded');
        if (d.nexthops.some((nh) => nh.onlink)) seen.add('unicast:onlink');
        if (d.nexthops.some((nh) => nh.linkdown)) seen.add('unicast:linkdown');
      }
      for (const step of d.steps) seen.add(`step:${step.outcome}`);
    }
    if (process.env.ROUTING_ORACLE_SEED !== undefined) return;
    const required = [
        'blackhole',
        'broadcast',
        'local',
        'no-route',
        'prohibit',
        'rejected',
        'rejected:forwarding-disabled',
        'rejected:martian-source',
        'rejected:martian-destination',
        'rejected:rp-filter',
        'rejected:source-not-local',
        'rejected:invalid-source',
        'unicast',
        'unicast:assumed-on-link',
        'unicast:forwarded',
        'unicast:linkdown',
        'unicast:multipath',
        'unicast:onlink',
        'unreachable',
        'step:goto',
        'step:matched',
        'step:no-route',
        'step:no-table',
        'step:nop',
        'step:rejected',
        'step:suppressed',
        'step:throw',
        'step:unresolved-goto',
    ];
    expect(required.filter((outcome) => !seen.has(outcome))).toEqual([]);
  });

  it('the comparison catches a wrong answer', () => {
    // Every unicast answer of the kernel, compared with a decision that names another device,
    // must be reported as a mismatch: the oracle can fail.
    let checked = 0;
    for (const { s, args } of cases) {
      const b = built[s];
      if (b === undefined) continue;
      const kernel = kernelRouteGet(b.ns, args);
      const decision = lookupRoute(b.state, queryOf(args));
      if (!kernel.ok || decision.kind !== 'unicast') continue;
      const wrong: RouteDecision = { ...decision, nexthops: decision.nexthops.map((nh) => ({ ...nh, dev: `${nh.dev}-wrong` })) };
      expect(compareWithKernel(kernel, wrong, args.includes('from'))).toBeDefined();
      checked++;
      if (checked >= 20) break;
    }
    expect(checked).toBeGreaterThan(0);
  });
});
