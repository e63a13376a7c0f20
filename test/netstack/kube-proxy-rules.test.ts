// The kube-proxy rule generator (test/support/kube-proxy-rules.ts): its hashes and probabilities
// against values seen on real clusters and in kube-proxy's own tests, its ground truth, and, as
// root, that iptables-restore loads its text in both backends and iptables-save prints the very
// same text back (so it is in the canonical form a real dump has).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { restoreIptables, type IptablesBackend } from '../support/iptables-counters.js';
import {
  buildKubeProxyRules,
  endpointChainName,
  kubeProxyHash,
  savedProbability,
  serviceChainName,
} from '../support/kube-proxy-rules.js';
import { createNamespace, deleteNamespace, execIn } from '../support/netns.js';
import { describeAsRoot } from '../support/root.js';

describe('kube-proxy chain names', () => {
  it.each([
    // kube-proxy's proxier_test.go
    ['ns1/svc1:p80', 'tcp', 'KUBE-SVC-XPGD46QRK7WJZT7O'],
    // what every cluster has
    ['default/kubernetes:https', 'tcp', 'KUBE-SVC-NPX46M4PTMTKRN6Y'],
    ['kube-system/kube-dns:dns', 'udp', 'KUBE-SVC-TCOU7JCQXEZGVUNU'],
    ['kube-system/kube-dns:dns-tcp', 'tcp', 'KUBE-SVC-ERIFXISQEP7F7OF4'],
    ['kube-system/kube-dns:metrics', 'tcp', 'KUBE-SVC-JD5MR3NA4I4DYORP'],
  ])('%s/%s is %s', (name, protocol, chain) => {
    expect(serviceChainName(name, protocol)).toBe(chain);
  });

  it('names endpoint chains over the service port name, protocol and ip:port', () => {
    expect(endpointChainName('ns1/svc1:p80', 'tcp', '10.180.0.1:80')).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
    expect(kubeProxyHash('x')).toMatch(/^[A-Z2-7]{16}$/);
  });

  it.each([
    [2, '0.50000000000'],
    [3, '0.33333333349'],
    [7, '0.14285714272'],
  ])('prints probability 1/%i as iptables-save does: %s', (n, text) => {
    expect(savedProbability(n)).toBe(text);
  });
});

describe('buildKubeProxyRules', () => {
  const rules = buildKubeProxyRules({ services: 20, endpointsPerService: 3 });

  it('is deterministic', () => {
    expect(buildKubeProxyRules({ services: 20, endpointsPerService: 3 }).text).toBe(rules.text);
  });

  it('returns the ground truth: kubernetes first, then the generated services with their kinds', () => {
    expect(rules.services).toHaveLength(21);
    expect(rules.services[0]).toMatchObject({
      servicePortName: 'default/kubernetes:https',
      clusterIP: '10.96.0.1',
      port: 443,
      svcChain: 'KUBE-SVC-NPX46M4PTMTKRN6Y',
      endpoints: [{ ip: '192.168.0.10', port: 6443 }],
    });
    const generated = rules.services.slice(1);
    expect(generated.filter((s) => s.endpoints.length === 0).map((s) => s.name)).toEqual(['svc-4', 'svc-9', 'svc-14', 'svc-19']);
    expect(generated.filter((s) => s.nodePort !== undefined).map((s) => s.nodePort)).toEqual([30000, 30003, 30006, 30009, 30012, 30015, 30018]);
    expect(generated.filter((s) => s.protocol === 'udp').map((s) => s.name)).toEqual(['svc-3', 'svc-7', 'svc-11', 'svc-15', 'svc-19']);
    expect(generated[6]?.servicePortName).toBe('app-0/svc-6');
    const ips = rules.services.flatMap((s) => s.endpoints.map((e) => e.ip));
    expect(new Set(ips).size).toBe(ips.length);
  });

  it('writes the rules the ground truth implies', () => {
    const lines = rules.text.split('\n');
    for (const s of rules.services) {
      if (s.endpoints.length === 0) {
        expect(lines).toContain(
          `-A KUBE-SERVICES -d ${s.clusterIP}/32 -p ${s.protocol} -m comment --comment "${s.servicePortName} has no endpoints" -m ${s.protocol} --dport ${s.port} -j REJECT --reject-with icmp-port-unreachable`,
        );
        expect(rules.text).not.toContain(s.svcChain);
        continue;
      }
      expect(lines).toContain(
        `-A KUBE-SERVICES -d ${s.clusterIP}/32 -p ${s.protocol} -m comment --comment "${s.servicePortName} cluster IP" -m ${s.protocol} --dport ${s.port} -j ${s.svcChain}`,
      );
      const jumps = lines.filter((l) => l.startsWith(`-A ${s.svcChain} `) && l.includes('-j KUBE-SEP-'));
      expect(jumps.map((l) => /--probability (\S+)/.exec(l)?.[1])).toEqual(
        s.endpoints.map((_, i) => (i === s.endpoints.length - 1 ? undefined : savedProbability(s.endpoints.length - i))),
      );
      for (const ep of s.endpoints) {
        expect(lines).toContain(
          `-A ${ep.chain} -p ${s.protocol} -m comment --comment "${s.servicePortName}" -m ${s.protocol} -j DNAT --to-destination ${ep.ip}:${ep.port}`,
        );
      }
      if (s.nodePort !== undefined) {
        expect(lines).toContain(`-A KUBE-NODEPORTS -p ${s.protocol} -m comment --comment "${s.servicePortName}" -m ${s.protocol} --dport ${s.nodePort} -j ${s.extChain}`);
      }
    }
    // KUBE-NODEPORTS is the last rule of nat KUBE-SERVICES.
    const natServices = lines.filter((l) => l.startsWith('-A KUBE-SERVICES ') && !l.includes('REJECT'));
    expect(natServices.at(-1)).toContain('-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
    expect(lines).toContain('-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000');
  });

  it('drops per-endpoint comments in large cluster mode (more than 1000 endpoints)', () => {
    const large = buildKubeProxyRules({ services: 330, endpointsPerService: 4, header: false });
    expect(large.largeClusterMode).toBe(true);
    const sep = large.text.split('\n').filter((l) => l.startsWith('-A KUBE-SEP-'));
    expect(sep.length).toBeGreaterThan(2000);
    expect(sep.every((l) => !l.includes('--comment'))).toBe(true);
    expect(rules.largeClusterMode).toBe(false);
  });

  it('allocates distinct NodePorts in 30000-32767 for 5,000 services: 30000 + i, then the lowest free port', () => {
    const big = buildKubeProxyRules({ services: 5000, endpointsPerService: 4, header: false });
    const ports = big.services.flatMap((s) => (s.nodePort === undefined ? [] : [s.nodePort]));
    expect(ports).toHaveLength(1667);
    expect(new Set(ports).size).toBe(ports.length);
    expect(ports.every((p) => p >= 30000 && p <= 32767)).toBe(true);
    expect(big.services.find((s) => s.name === 'svc-2766')?.nodePort).toBe(32766);
    // svc-2769 would be 32769: it takes the first port no earlier service has, 30001.
    expect(big.services.find((s) => s.name === 'svc-2769')?.nodePort).toBe(30001);
    expect(big.services.find((s) => s.name === 'svc-2772')?.nodePort).toBe(30002);
    expect(big.services.filter((s) => s.endpoints.length > 0).flatMap((s) => s.endpoints)).toHaveLength(4000 * 4 + 1);
  });

  it('refuses more NodePorts than the range holds', () => {
    expect(buildKubeProxyRules({ services: 2768, endpointsPerService: 1, nodePortEvery: 1 }).services.at(-1)?.nodePort).toBe(32767);
    expect(() => buildKubeProxyRules({ services: 2769, endpointsPerService: 1, nodePortEvery: 1 })).toThrow(
      '2769 NodePorts do not fit in 30000-32767: raise nodePortEvery',
    );
  });

  it('puts NodePorts on the node IP only when asked', () => {
    const text = buildKubeProxyRules({ services: 3, endpointsPerService: 1, nodePortAddresses: 'node-ip', nodeIp: '172.18.0.3' }).text;
    expect(text).toContain('-A KUBE-SERVICES -d 172.18.0.3/32 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS');
  });
});

/** Table name -> its lines, without comments and headers: how to compare two dumps. */
function tables(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    if (line.startsWith('*')) out.set(line.slice(1), (current = []));
    else current?.push(line);
  }
  return out;
}

describeAsRoot('kube-proxy rules load into the kernel', () => {
  let ns = '';
  beforeAll(async () => {
    ns = await createNamespace('ndt-kpr-');
  });
  afterAll(async () => {
    if (ns !== '') await deleteNamespace(ns);
  });

  it.each<[IptablesBackend, number, number]>([
    ['nft', 12, 3],
    ['legacy', 12, 3],
    ['nft', 330, 4],
    ['legacy', 330, 4],
    // The `trace` benchmark's size (82,740 lines), NodePorts past 32767 reallocated.
    ['nft', 5000, 4],
    ['legacy', 5000, 4],
  ])('%s backend: %i services x %i endpoints load and save back identically', async (backend, services, endpoints) => {
    const rules = buildKubeProxyRules({ services, endpointsPerService: endpoints });
    await restoreIptables(ns, rules.text, { backend });
    const saved = await execIn(ns, backend === 'legacy' ? 'iptables-legacy-save' : 'iptables-nft-save', []);
    expect(tables(saved.stdout)).toEqual(tables(rules.text));
  }, 120_000);
});
