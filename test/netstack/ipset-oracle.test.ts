// The kernel as the oracle for src/diagnosis/netstack/ipset. Sets generated from a fixed seed are
// loaded into a namespace; their `ipset save` output is what our parser reads; then:
// 1. element oracle: `ipset test NAME ELEMENT` (the kernel's uadt test) against ipsetHas on the
//    packet that element describes (destination = first dimension...);
// 2. packet oracle: real packets leave the namespace through `-m set --match-set NAME FLAGS`
//    rules (the kernel's kadt path, the one iptables uses), one rule per case told apart by the
//    packet's source port, and each rule's counter says whether the set matched. This is the only
//    way to ask the kernel about list:set and about src/dst flags.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { parseIp } from '../../src/diagnosis/model/ip.js';
import { buildPacket, type Packet } from '../../src/diagnosis/model/packet.js';
import { IpsetTable } from '../../src/diagnosis/netstack/ipset/lookup.js';
import { parseIpsetSave } from '../../src/diagnosis/netstack/ipset/parse.js';
import type { IpsetFlag } from '../../src/diagnosis/netstack/ipset/types.js';
import { readIptablesCounters, restoreIptables } from '../support/iptables-counters.js';
import { addAddress, createNamespace, deleteNamespace, execIn, vethPair } from '../support/netns.js';
import { sendBurst } from '../support/packet-probe.js';
import { describeAsRoot } from '../support/root.js';

const SEED = 0x5eed1;

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = mulberry32(SEED);
const int = (n: number): number => Math.floor(rand() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
const chance = (p: number): boolean => rand() < p;

// The namespace's own source addresses: packets of the packet oracle come from these.
const SRC4 = '192.0.2.1';
const SRC6 = 'fd99::1';

/** Addresses in a small pool so that random queries often land on or near elements. */
const v4 = (): string => `10.20.${int(4)}.${int(256)}`;
const v6 = (): string => `fd00:20::${int(4).toString(16)}:${int(4096).toString(16)}`;
const PORTS = [53, 80, 443, 8080];
const portSpec = (): string => `${pick(['tcp', 'udp'])}:${pick(PORTS)}`;

function maskText(address: string, length: number): string {
  const ip = parseIp(address);
  if (!ip) throw new Error(address);
  const bits = ip.family === 4 ? 32 : 128;
  const mask = ((1n << BigInt(length)) - 1n) << BigInt(bits - length);
  const value = ip.value & mask;
  if (ip.family === 4) return `${[24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.')}/${length}`;
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((value >> s) & 0xffffn).toString(16));
  return `${groups.join(':')}/${length}`;
}

interface SetSpec {
  readonly name: string;
  readonly create: string;
  readonly elements: readonly string[];
  /** Builds a query element (what `ipset test` gets) for this set. */
  readonly query: () => string;
}

/** A query near the elements: one of them (host inside a net) half of the time, random otherwise. */
function near(elements: readonly string[], random: () => string, perturb: (element: string) => string): () => string {
  return () => (elements.length > 0 && chance(0.6) ? perturb(pick(elements).replace(/ nomatch$/, '')) : random());
}

function hostIn(prefixText: string): string {
  const [address = '', len = '32'] = prefixText.split('/');
  const ip = parseIp(address);
  if (!ip) throw new Error(prefixText);
  const bits = ip.family === 4 ? 32 : 128;
  const host = BigInt(int(2 ** Math.min(16, bits - Number(len))));
  const value = ip.value + host;
  if (ip.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((value >> s) & 0xffffn).toString(16));
  return groups.join(':');
}

function nets(count: number, address: () => string, min: number, max: number, nomatch: number): string[] {
  const out = new Set<string>();
  while (out.size < count) out.add(maskText(address(), min + int(max - min + 1)));
  return [...out].map((p) => (chance(nomatch) ? `${p} nomatch` : p));
}

function buildSpecs(): SetSpec[] {
  const specs: SetSpec[] = [];
  const add = (name: string, create: string, elements: string[], query: () => string): void => {
    specs.push({ name: `ndt-ips-o-${name}`, create, elements, query });
  };
  const ips = Array.from({ length: 20 }, v4);
  add('ip', 'hash:ip', [...ips, SRC4, '10.20.3.250-10.20.3.253'], near(ips, v4, (e) => (chance(0.3) ? v4() : e)));
  const masked = Array.from({ length: 8 }, v4);
  add('ipmask', 'hash:ip netmask 28', masked, near(masked, v4, (e) => hostIn(maskText(e, 28))));
  const ips6 = Array.from({ length: 12 }, v6);
  add('ip6', 'hash:ip family inet6', [...ips6, SRC6], near(ips6, v6, (e) => e));
  const net4 = [...nets(25, v4, 22, 32, 0.35), '192.0.2.0/28'];
  add('net', 'hash:net', net4, near(net4, v4, (e) => hostIn(e)));
  const net6 = [...nets(20, v6, 116, 128, 0.35), 'fd99::/120'];
  add('net6', 'hash:net family inet6', net6, near(net6, v6, (e) => hostIn(e)));
  const ipport = [...Array.from({ length: 20 }, () => `${v4()},${portSpec()}`), `${v4()},icmp:echo-request`, `${v4()},icmp:3/3`];
  add('ipport', 'hash:ip,port', ipport, near(ipport, () => `${v4()},${portSpec()}`, (e) => {
    const [a = '', p = ''] = e.split(',');
    return chance(0.25) ? `${a},${portSpec()}` : chance(0.2) && p.startsWith('icmp') ? `${a},icmp:echo-reply` : e;
  }));
  const netport = Array.from({ length: 20 }, () => `${maskText(v4(), 22 + int(11))},${portSpec()}${chance(0.35) ? ' nomatch' : ''}`);
  add('netport', 'hash:net,port', netport, near(netport, () => `${v4()},${portSpec()}`, (e) => {
    const [n = '', p = ''] = e.split(',');
    return `${hostIn(n)},${chance(0.2) ? portSpec() : p}`;
  }));
  const ipportip = Array.from({ length: 15 }, () => `${v4()},${portSpec()},${chance(0.4) ? SRC4 : v4()}`);
  add('ipportip', 'hash:ip,port,ip', ipportip, near(ipportip, () => `${v4()},${portSpec()},${v4()}`, (e) => {
    const [a = '', p = '', b = ''] = e.split(',');
    return chance(0.25) ? `${a},${p},${v4()}` : `${a},${p},${b}`;
  }));
  const ipportnet = Array.from(
    { length: 16 },
    () => `${v4()},${portSpec()},${maskText(chance(0.4) ? SRC4 : v4(), 24 + int(9))}${chance(0.35) ? ' nomatch' : ''}`,
  );
  add('ipportnet', 'hash:ip,port,net', ipportnet, near(ipportnet, () => `${v4()},${portSpec()},${v4()}`, (e) => {
    const [a = '', p = '', n = ''] = e.split(',');
    return `${a},${p},${hostIn(n)}`;
  }));
  const ipportnet6 = Array.from(
    { length: 12 },
    () => `${v6()},${portSpec()},${maskText(chance(0.4) ? SRC6 : v6(), 120 + int(9))}${chance(0.35) ? ' nomatch' : ''}`,
  );
  add('ipportnet6', 'hash:ip,port,net family inet6', ipportnet6, near(ipportnet6, () => `${v6()},${portSpec()},${v6()}`, (e) => {
    const [a = '', p = '', n = ''] = e.split(',');
    return `${a},${p},${hostIn(n)}`;
  }));
  const bitmap = Array.from({ length: 20 }, v4);
  add('bmip', 'bitmap:ip range 10.20.0.0/23 netmask 30', bitmap.filter((a) => a.startsWith('10.20.0.') || a.startsWith('10.20.1.')),
    near(bitmap, v4, (e) => hostIn(maskText(e, 30))));
  const ports = [...PORTS.map(String), ...Array.from({ length: 15 }, () => String(1 + int(2000)))];
  add('bmport', 'bitmap:port range 1-2000', [...new Set(ports)].filter((p) => Number(p) <= 2000), near(ports, () => String(1 + int(2100)), (e) => e));
  add('list', 'list:set', ['ndt-ips-o-net', 'ndt-ips-o-ipport', 'ndt-ips-o-bmport'], () => '');
  add('list6', 'list:set', ['ndt-ips-o-net6', 'ndt-ips-o-ip'], () => '');
  return specs;
}

/** The packet an `ipset test` element describes: dimensions 1-2 from the destination, 3 from the source. */
function packetOf(type: string, element: string, family: 4 | 6): { packet: Packet; flags: IpsetFlag[] } | undefined {
  const parts = element.split(',');
  const defaultSrc = family === 4 ? SRC4 : SRC6;
  const address = (text: string | undefined) => parseIp(text ?? '');
  if (type.startsWith('bitmap:port')) {
    const dst = address(defaultSrc === SRC4 ? '10.20.9.9' : 'fd00:20::9');
    const src = address(defaultSrc);
    if (!dst || !src) return undefined;
    return { packet: buildPacket({ protocol: 'udp', src, dst, sport: 1, dport: Number(parts[0]) }), flags: ['dst'] };
  }
  const dst = address(parts[0]);
  const src = address(parts[2] ?? defaultSrc);
  if (!dst || !src) return undefined;
  const portPart = parts[1];
  if (portPart === undefined) return { packet: buildPacket({ protocol: 'udp', src, dst, sport: 1, dport: 1 }), flags: ['dst'] };
  const [proto = '', port = ''] = portPart.split(':');
  if (proto === 'icmp') {
    const [type_, code] = port === 'echo-request' ? [8, 0] : port === 'echo-reply' ? [0, 0] : port.split('/').map(Number);
    return { packet: buildPacket({ protocol: 'icmp', src, dst, icmpType: type_ ?? 0, icmpCode: code ?? 0 }), flags: ['dst', 'dst', 'src'] };
  }
  const protocol = proto === 'udp' ? 'udp' : 'tcp';
  return { packet: buildPacket({ protocol, src, dst, sport: 1, dport: Number(port) }), flags: ['dst', 'dst', 'src'] };
}

/** Runs `tasks` with at most `limit` at a time. */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await (tasks[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

describeAsRoot('ipset membership against the kernel (seed 0x5eed1)', () => {
  let ns = '';
  let table: IpsetTable;
  const specs = buildSpecs();

  beforeAll(async () => {
    ns = await createNamespace('ndt-ips-');
    const restore = specs
      .flatMap((s) => [`create ${s.name} ${s.create}`, ...s.elements.map((e) => `add ${s.name} ${e}`)])
      .join('\n');
    await execIn(ns, 'ipset', ['-exist', 'restore'], { input: `${restore}\n` });
    const saved = await execIn(ns, 'ipset', ['save']);
    table = new IpsetTable(parseIpsetSave(saved.stdout, `${ns}: ipset save`));
    // A veth inside the namespace with routes to both pools: packets to them go out through
    // OUTPUT (where the rules count them) and are then dropped for lack of a neighbour.
    await vethPair(ns, 'o0', ns, 'o1');
    await addAddress(ns, 'o0', `${SRC4}/24`);
    await execIn(ns, 'ip', ['addr', 'add', `${SRC6}/64`, 'dev', 'o0', 'nodad']);
    await execIn(ns, 'ip', ['route', 'add', '10.20.0.0/16', 'dev', 'o0']);
    await execIn(ns, 'ip', ['-6', 'route', 'add', 'fd00:20::/32', 'dev', 'o0']);
  }, 30_000);

  afterAll(async () => {
    if (ns !== '') await deleteNamespace(ns);
  }, 30_000);

  it('element oracle: ipset test agrees with ipsetHas on every generated element', async () => {
    const cases: { set: string; element: string }[] = [];
    for (const spec of specs) {
      if (spec.create.startsWith('list:set')) continue;
      for (let i = 0; i < 14; i++) cases.push({ set: spec.name, element: spec.query() });
    }
    const answers = await pool(
      cases.map((c) => async () => {
        const r = await execIn(ns, 'ipset', ['test', c.set, c.element], { allowFailure: true });
        const text = `${r.stdout}${r.stderr}`;
        if (r.code === 0 && text.includes('is in set')) return true;
        if (text.includes('is NOT in set') || text.includes('out of the range')) return false;
        throw new Error(`ipset test ${c.set} ${c.element}: ${text.trim()}`);
      }),
      8,
    );
    const mismatches: string[] = [];
    let positives = 0;
    let nomatchDecided = 0;
    cases.forEach((c, i) => {
      const set = table.get(c.set);
      const family = set?.family === 6 ? 6 : 4;
      const query = packetOf(set?.type === 'unsupported' ? '' : (set?.type ?? ''), c.element, family);
      if (!set || !query) throw new Error(`cannot build a packet for ${c.set} ${c.element}`);
      const ours = table.has(c.set, query.packet, query.flags);
      if (answers[i]) positives++;
      if (table.test(c.set, query.packet, query.flags) === 'nomatch') nomatchDecided++;
      if (ours !== answers[i]) mismatches.push(`${c.set} ${c.element}: kernel ${String(answers[i])}, ours ${String(ours)}`);
    });
    expect(mismatches).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(100);
    // The generator must exercise both answers and nomatch decisions, or the test proves little.
    expect(positives).toBeGreaterThan(cases.length / 5);
    expect(positives).toBeLessThan((cases.length * 4) / 5);
    expect(nomatchDecided).toBeGreaterThan(5);
  }, 60_000);

  it('packet oracle: -m set rules count exactly the packets ipsetHas says match (list:set, flags, families)', async () => {
    interface Case { set: string; flags: IpsetFlag[]; packet: Packet; protocol: 'tcp' | 'udp'; family: 4 | 6; dst: string; dport: number }
    const cases: Case[] = [];
    let sport = 40000;
    const addCase = (set: string, flags: IpsetFlag[], family: 4 | 6, dst: string, dport: number): void => {
      const protocol = chance(0.3) ? 'tcp' : 'udp';
      const src = parseIp(family === 4 ? SRC4 : SRC6);
      const d = parseIp(dst);
      if (!src || !d) throw new Error(dst);
      const port = sport++;
      cases.push({ set, flags, protocol, family, dst, dport, packet: buildPacket({ protocol, src, dst: d, sport: port, dport }) });
    };
    const specByName = new Map(specs.map((s) => [s.name, s]));
    const queryOf = (name: string): { dst: string; dport: number; family: 4 | 6 } => {
      const spec = specByName.get(name);
      const element = spec?.query() ?? '';
      const parts = element.split(',');
      const family = table.get(name)?.family === 6 ? 6 : 4;
      if (spec?.create.startsWith('bitmap:port')) return { dst: family === 4 ? '10.20.9.9' : 'fd00:20::9', dport: Number(parts[0]), family };
      const port = parts[1]?.startsWith('icmp') ? 80 : Number(parts[1]?.split(':')[1] ?? pick(PORTS));
      return { dst: parts[0] ?? '', dport: port, family };
    };
    for (const spec of specs) {
      const name = spec.name;
      if (spec.create.startsWith('list:set')) continue;
      const dims = spec.create.startsWith('hash:') ? spec.create.split(' ')[0]?.split(',').length ?? 1 : 1;
      for (let i = 0; i < 7; i++) {
        const q = queryOf(name);
        const flags: IpsetFlag[] = dims === 3 ? ['dst', 'dst', 'src'] : dims === 2 ? ['dst', 'dst'] : ['dst'];
        addCase(name, flags, q.family, q.dst, q.dport);
      }
      // The source address in the first dimension (sets hold the namespace's own address too).
      const q = queryOf(name);
      addCase(name, dims === 1 ? ['src'] : dims === 2 ? ['src', 'dst'] : ['src', 'dst', 'src'], q.family, q.dst, q.dport);
      // Fewer flags than the set has dimensions never matches.
      if (dims > 1) addCase(name, ['dst'], q.family, q.dst, q.dport);
    }
    // list:set: members are tried in order, each with the match's flags; v4 and v6 packets alike.
    for (let i = 0; i < 24; i++) {
      const member = pick(['ndt-ips-o-net', 'ndt-ips-o-ipport', 'ndt-ips-o-bmport']);
      const q = queryOf(member);
      addCase('ndt-ips-o-list', chance(0.8) ? ['dst', 'dst'] : ['dst'], q.family, q.dst, q.dport);
      const member6 = pick(['ndt-ips-o-net6', 'ndt-ips-o-ip']);
      const q6 = queryOf(member6);
      addCase('ndt-ips-o-list6', chance(0.2) ? ['src'] : ['dst'], q6.family, q6.dst, q6.dport);
    }

    const rulesFor = (family: 4 | 6): string =>
      [
        '*raw',
        ':PREROUTING ACCEPT [0:0]',
        ':OUTPUT ACCEPT [0:0]',
        ...cases
          .filter((c) => c.family === family)
          .map((c) => `-A OUTPUT -p ${c.protocol} -m ${c.protocol} --sport ${c.packet.sport} -m set --match-set ${c.set} ${c.flags.join(',')}`),
        'COMMIT',
        '',
      ].join('\n');
    await restoreIptables(ns, rulesFor(4), { family: 4 });
    await restoreIptables(ns, rulesFor(6), { family: 6 });
    const sent = await sendBurst(
      ns,
      cases.map((c) => ({ protocol: c.protocol, src: c.family === 4 ? SRC4 : SRC6, sport: c.packet.sport, dst: c.dst, dport: c.dport })),
    );
    expect(sent.filter((s) => !s.ok)).toEqual([]);
    const counters = { 4: await readIptablesCounters(ns, { family: 4 }), 6: await readIptablesCounters(ns, { family: 6 }) };

    const mismatches: string[] = [];
    let positives = 0;
    for (const c of cases) {
      const rule = counters[c.family].rules.find((r) => r.rule.includes(`--sport ${c.packet.sport} `));
      if (!rule) throw new Error(`no rule for sport ${c.packet.sport}`);
      const kernel = rule.packets > 0;
      if (kernel) positives++;
      const ours = table.has(c.set, c.packet, c.flags);
      if (ours !== kernel) {
        mismatches.push(`${c.set} ${c.flags.join(',')} ${c.protocol} ${c.dst}:${c.dport}: kernel ${String(kernel)}, ours ${String(ours)}`);
      }
    }
    expect(mismatches).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(100);
    expect(positives).toBeGreaterThan(cases.length / 6);
  }, 60_000);
});
