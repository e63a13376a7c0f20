// Builds the `iptables-save` output of a node whose kube-proxy (iptables mode, v1.28+) programs
// `services` ClusterIP services of `endpointsPerService` endpoints each, byte for byte as
// iptables-legacy-save prints it (the rule texts are kube-proxy's own; `testdata/README.md` says
// how this was checked against a real iptables-restore / iptables-save). Used by tests and by the
// `trace` benchmark; pure.

export interface KubeProxyDumpOptions {
  readonly services: number;
  readonly endpointsPerService: number;
  /** Every `nodePortEvery`-th service also has a NodePort (30000 + index); 0 for none. */
  readonly nodePortEvery?: number;
  /** Services without endpoints, REJECTed in filter KUBE-SERVICES. */
  readonly servicesWithoutEndpoints?: number;
}

export interface KubeProxyService {
  readonly name: string;
  readonly clusterIp: string;
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
  readonly endpoints: readonly string[];
  readonly targetPort: number;
  readonly nodePort: number | undefined;
  readonly svcChain: string;
}

export const CLUSTER_CIDR = '10.244.0.0/16';
export const MASQ_MARK = '0x4000/0x4000';

function ipOf(base: readonly [number, number], index: number): string {
  return `${base[0]}.${base[1]}.${(index >> 8) & 255}.${index & 255}`;
}

/** kube-proxy names chains by a base32 hash of the service port; any stable 16 characters do here. */
function chainHash(text: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    h1 = Math.imul(h1 ^ text.charCodeAt(i), 16777619) >>> 0;
    h2 = Math.imul(h2 ^ text.charCodeAt(i), 2246822519) >>> 0;
  }
  let out = '';
  for (let i = 0; i < 8; i++) out += alphabet[(h1 >>> (i * 4)) & 31];
  for (let i = 0; i < 8; i++) out += alphabet[(h2 >>> (i * 4)) & 31];
  return out;
}

export function buildKubeProxyServices(options: KubeProxyDumpOptions): KubeProxyService[] {
  const services: KubeProxyService[] = [];
  const total = options.services + (options.servicesWithoutEndpoints ?? 0);
  let endpointIndex = 2;
  for (let i = 0; i < total; i++) {
    const withEndpoints = i < options.services;
    const udp = i % 10 === 9;
    const name = `ns${i % 50}/svc${i}:${udp ? 'dns' : 'http'}`;
    const endpoints: string[] = [];
    if (withEndpoints) for (let j = 0; j < options.endpointsPerService; j++) endpoints.push(ipOf([10, 244], endpointIndex++));
    const every = options.nodePortEvery ?? 0;
    services.push({
      name,
      clusterIp: ipOf([10, 96], i + 10),
      port: udp ? 53 : 80,
      protocol: udp ? 'udp' : 'tcp',
      endpoints,
      targetPort: udp ? 5353 : 8080,
      nodePort: every > 0 && i % every === 0 ? 30000 + i : undefined,
      svcChain: `KUBE-SVC-${chainHash(name)}`,
    });
  }
  return services;
}

export function sepChain(service: KubeProxyService, endpoint: string): string {
  return `KUBE-SEP-${chainHash(`${service.name}->${endpoint}`)}`;
}

function extChain(service: KubeProxyService): string {
  return `KUBE-EXT-${service.svcChain.slice('KUBE-SVC-'.length)}`;
}

/**
 * The probability of endpoint `j` of `n` as iptables-save prints it: kube-proxy asks for 1/(n-j),
 * the kernel keeps it as a 31-bit fraction (libxt_statistic), printed with 11 decimals.
 */
function probability(j: number, n: number): string {
  return (Math.round(0x80000000 / (n - j)) / 0x80000000).toFixed(11);
}

export function buildKubeProxyDump(options: KubeProxyDumpOptions): string {
  const services = buildKubeProxyServices(options);
  const natRules = new Map<string, string[]>();
  const add = (chain: string, rule: string): void => {
    let rules = natRules.get(chain);
    if (rules === undefined) natRules.set(chain, (rules = []));
    rules.push(`-A ${chain} ${rule}`);
  };
  for (const chain of ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING', 'KUBE-KUBELET-CANARY', 'KUBE-MARK-MASQ', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-PROXY-CANARY', 'KUBE-SERVICES']) {
    natRules.set(chain, []);
  }
  add('PREROUTING', '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  add('OUTPUT', '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  add('POSTROUTING', '-m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING');
  add('KUBE-MARK-MASQ', `-j MARK --set-xmark ${MASQ_MARK}`);
  add('KUBE-POSTROUTING', `-m mark ! --mark ${MASQ_MARK} -j RETURN`);
  add('KUBE-POSTROUTING', '-j MARK --set-xmark 0x4000/0x0');
  add('KUBE-POSTROUTING', '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully');
  const filterServices: string[] = [];
  for (const s of services) {
    if (s.endpoints.length === 0) {
      filterServices.push(
        `-A KUBE-SERVICES -d ${s.clusterIp}/32 -p ${s.protocol} -m comment --comment "${s.name} has no endpoints" -m ${s.protocol} --dport ${s.port} -j REJECT --reject-with icmp-port-unreachable`,
      );
      continue;
    }
    add('KUBE-SERVICES', `-d ${s.clusterIp}/32 -p ${s.protocol} -m comment --comment "${s.name} cluster IP" -m ${s.protocol} --dport ${s.port} -j ${s.svcChain}`);
    natRules.set(s.svcChain, []);
    add(s.svcChain, `! -s ${CLUSTER_CIDR} -d ${s.clusterIp}/32 -p ${s.protocol} -m comment --comment "${s.name} cluster IP" -m ${s.protocol} --dport ${s.port} -j KUBE-MARK-MASQ`);
    const n = s.endpoints.length;
    s.endpoints.forEach((ep, j) => {
      const sep = sepChain(s, ep);
      const statistic = j < n - 1 ? ` -m statistic --mode random --probability ${probability(j, n)}` : '';
      add(s.svcChain, `-m comment --comment "${s.name} -> ${ep}:${s.targetPort}"${statistic} -j ${sep}`);
      natRules.set(sep, []);
      add(sep, `-s ${ep}/32 -m comment --comment "${s.name}" -j KUBE-MARK-MASQ`);
      add(sep, `-p ${s.protocol} -m comment --comment "${s.name}" -m ${s.protocol} -j DNAT --to-destination ${ep}:${s.targetPort}`);
    });
    if (s.nodePort !== undefined) {
      const ext = extChain(s);
      natRules.set(ext, []);
      add('KUBE-NODEPORTS', `-p ${s.protocol} -m comment --comment "${s.name}" -m ${s.protocol} --dport ${s.nodePort} -j ${ext}`);
      add(ext, `-m comment --comment "masquerade traffic for ${s.name} external destinations" -j KUBE-MARK-MASQ`);
      add(ext, `-j ${s.svcChain}`);
    }
  }
  add('KUBE-SERVICES', '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');

  const lines: string[] = ['# Generated by iptables-save v1.8.9 on Mon Jan  1 00:00:00 2024', '*filter'];
  lines.push(':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]');
  for (const c of ['KUBE-EXTERNAL-SERVICES', 'KUBE-FIREWALL', 'KUBE-FORWARD', 'KUBE-KUBELET-CANARY', 'KUBE-NODEPORTS', 'KUBE-PROXY-CANARY', 'KUBE-PROXY-FIREWALL', 'KUBE-SERVICES']) {
    lines.push(`:${c} - [0:0]`);
  }
  lines.push(
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A INPUT -j KUBE-FIREWALL',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -j KUBE-FIREWALL',
    '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    `-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${MASQ_MARK} -j ACCEPT`,
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    ...filterServices,
    'COMMIT',
    '# Completed on Mon Jan  1 00:00:00 2024',
  );
  // iptables-legacy-save prints filter before nat (the kernel's registration order).
  lines.push('# Generated by iptables-save v1.8.9 on Mon Jan  1 00:00:00 2024', '*nat');
  // iptables-legacy-save: built-in chains in hook order, then user chains sorted by name.
  const builtin = ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'];
  const user = [...natRules.keys()].filter((c) => !builtin.includes(c)).sort();
  for (const c of builtin) lines.push(`:${c} ACCEPT [0:0]`);
  for (const c of user) lines.push(`:${c} - [0:0]`);
  for (const c of [...builtin, ...user]) lines.push(...(natRules.get(c) ?? []));
  lines.push('COMMIT', '# Completed on Mon Jan  1 00:00:00 2024');

  return `${lines.join('\n')}\n`;
}
