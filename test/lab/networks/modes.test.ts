// Each network mode on a minimal lab (./harness.ts: real control plane, Nodes with podCIDRs from
// kube-controller-manager, node namespaces on an underlay): two pods on two nodes, real TCP
// connections both ways across nodes, then deletePod leaves no host veth and no IPAM record.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectPlugin, diagnose } from '../../../src/diagnosis/index.js';
import type { ScenarioNetwork } from '../../../src/lab/scenario.js';
import { calicoVethName } from '../../../src/lab/networks/calico.js';
import { destroyNetnsWithPrefix, ipIn, runIn } from '../../support/netns.js';
import { probeTcp, startListeners, type Listeners } from '../../support/packet-probe.js';
import { describeAsRoot } from '../../support/root.js';
import { buildHarness, type Harness, type HarnessPod } from './harness.js';

const PORT = 8080;

/** The pod's IPAM record, wherever the mode keeps it (host-local files, or the reproduced calico-ipam's). */
function ipamRecords(harness: Harness, node: string): string[] {
  const root = harness.nodes[node]?.context.rootDir ?? '';
  const hostLocal = join(root, 'var', 'lib', 'cni', 'networks');
  const fromHostLocal = existsSync(hostLocal)
    ? readdirSync(hostLocal).flatMap((net) => readdirSync(join(hostLocal, net)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)))
    : [];
  const calicoDir = join(root, 'var', 'lib', 'calico', 'ipam');
  const fromCalico = existsSync(calicoDir)
    ? readdirSync(calicoDir).flatMap((f) => Object.values((JSON.parse(readFileSync(join(calicoDir, f), 'utf8')) as { allocations: Record<string, { ip: string }> }).allocations).map((a) => a.ip))
    : [];
  return [...fromHostLocal, ...fromCalico];
}

const MODES: readonly { mode: ScenarioNetwork; prefix: string }[] = [
  { mode: 'bridge', prefix: 'ndl2b' },
  { mode: 'flannel-hostgw', prefix: 'ndl2h' },
  { mode: 'flannel-vxlan', prefix: 'ndl2v' },
  { mode: 'calico-bgp', prefix: 'ndl2c' },
  { mode: 'calico-vxlan', prefix: 'ndl2x' },
];

for (const { mode, prefix } of MODES) {
  describeAsRoot(`lab network ${mode}`, () => {
    let harness: Harness | undefined;
    let pod1: HarnessPod;
    let pod2: HarnessPod;
    const listeners: Listeners[] = [];

    beforeAll(async () => {
      harness = await buildHarness(mode, prefix);
      pod1 = await harness.addPod('node1', 'pod1');
      pod2 = await harness.addPod('node2', 'pod2');
      for (const pod of [pod1, pod2]) listeners.push(await startListeners(pod.context.netns, [{ protocol: 'tcp', address: '0.0.0.0', port: PORT }]));
    }, 120_000);

    afterAll(async () => {
      for (const l of listeners) await l.stop();
      await harness?.teardown();
      destroyNetnsWithPrefix(prefix);
    }, 60_000);

    it('gives each pod an address and its host veth', () => {
      for (const pod of [pod1, pod2]) {
        expect(pod.network.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
        const node = harness?.nodes[pod.node];
        expect(ipIn(node?.context.netns ?? '', ['-o', 'link', 'show', 'dev', pod.network.hostVeth])).toContain(pod.network.hostVeth);
      }
      expect(pod1.network.ip).not.toBe(pod2.network.ip);
    });

    it.each([
      ['pod1 → pod2', () => [pod1, pod2] as const],
      ['pod2 → pod1', () => [pod2, pod1] as const],
    ])('connects %s across nodes', async (_, pair) => {
      const [from, to] = pair();
      const result = await probeTcp(from.context.netns, { dst: to.network.ip, dport: PORT, timeoutMs: 3000 });
      expect(result.outcome).toBe('connected');
      const listener = listeners[to === pod1 ? 0 : 1];
      await expect(listener?.waitFor((r) => r.event === 'accept' && r.local.address === to.network.ip)).resolves.toBeDefined();
    });

    it('has the network\'s files and, where it has one, a VXLAN address', () => {
      const node = harness?.nodes.node1;
      expect(existsSync(node?.network.conflistPath ?? '')).toBe(true);
      expect(node?.network.conflistPath.startsWith(node.context.rootDir)).toBe(true);
      if (mode === 'flannel-vxlan' || mode === 'calico-vxlan') {
        const device = mode === 'flannel-vxlan' ? 'flannel.1' : 'vxlan.calico';
        expect(ipIn(node?.context.netns ?? '', ['-4', '-o', 'addr', 'show', 'dev', device])).toContain(`${node?.network.vtep ?? '?'}/`);
      } else {
        expect(node?.network.vtep).toBeUndefined();
      }
    });

    it.each([
      ['pod1', 'pod2'],
      ['pod2', 'pod1'],
    ])('the diagnosis of %s → %s finds it Reachable, with no serious suspicion (no false alarm on this layout)', async (from, to) => {
      if (harness === undefined) throw new Error('no harness');
      const state = await harness.clusterState();
      // The node's CNI configuration names the mode's plugin, as on a real node.
      expect(detectPlugin(state)).toMatchObject({ name: mode.replace(/-.*$/, ''), how: 'detected' });
      const d = diagnose(state, { source: { kind: 'pod', namespace: 'default', name: from }, destination: { kind: 'pod', namespace: 'default', name: to }, port: PORT, protocol: 'TCP' });
      const serious = d.suspicions.filter((x) => x.level === 'fatal' || x.level === 'critical');
      expect({ verdict: d.verdict, serious, path: d.packetPath.nodes.map((n) => n.id) }).toEqual({ verdict: 'Reachable', serious: [], path: [`default/${from}`, from === 'pod1' ? 'node1' : 'node2', from === 'pod1' ? 'node2' : 'node1', `default/${to}`] });
    });

    it(`lays pods and routes out as ${mode} does`, () => {
      const node1 = harness?.nodes.node1?.context;
      const node2 = harness?.nodes.node2?.context;
      if (node1 === undefined || node2 === undefined) throw new Error('no nodes');
      const routes = JSON.parse(ipIn(node1.netns, ['-j', 'route', 'show'])) as { dst: string; gateway?: string; dev?: string; protocol?: string; flags?: string[] }[];
      const podRoutes = JSON.parse(ipIn(pod1.context.netns, ['-j', 'route', 'show'])) as { dst: string; gateway?: string }[];
      const toPeer = routes.find((r) => r.dst === node2.podCIDR);
      const host = (JSON.parse(ipIn(node1.netns, ['-j', '-d', 'link', 'show', 'dev', pod1.network.hostVeth])) as { master?: string; address?: string }[])[0];
      const sameNet = (ip: string, cidr: string): boolean => ip.split('.').slice(0, 3).join('.') === cidr.split('.').slice(0, 3).join('.');
      switch (mode) {
        case 'bridge':
        case 'flannel-hostgw':
        case 'flannel-vxlan':
          expect(host?.master).toBe('cni0');
          expect(sameNet(pod1.network.ip, node1.podCIDR)).toBe(true);
          expect(podRoutes.find((r) => r.dst === 'default')?.gateway).toBe(node1.podCIDR.replace(/0\/24$/, '1'));
          if (mode === 'flannel-vxlan') expect(toPeer).toMatchObject({ gateway: harness?.nodes.node2?.network.vtep, dev: 'flannel.1' });
          else expect(toPeer).toMatchObject({ gateway: node2.ip, dev: 'eth0' });
          if (mode !== 'bridge') expect(readFileSync(join(node1.rootDir, 'run', 'flannel', 'subnet.env'), 'utf8')).toContain(`FLANNEL_SUBNET=${node1.podCIDR.replace(/0\/24$/, '1/24')}`);
          break;
        case 'calico-bgp':
        case 'calico-vxlan':
          expect(pod1.network.hostVeth).toBe(calicoVethName('default', 'pod1'));
          expect(host?.address).toBe('ee:ee:ee:ee:ee:ee');
          expect(podRoutes.find((r) => r.dst === 'default')?.gateway).toBe('169.254.1.1');
          expect(runIn(node1.netns, 'sysctl', ['-n', `net.ipv4.conf.${pod1.network.hostVeth}.proxy_arp`]).trim()).toBe('1');
          expect(routes.find((r) => r.dst === pod1.network.ip)?.dev).toBe(pod1.network.hostVeth);
          expect(runIn(node1.netns, 'iptables-save', ['-t', 'filter'])).toContain(`-A cali-to-wl-dispatch -o ${pod1.network.hostVeth} `);
          if (mode === 'calico-bgp') expect(toPeer).toBeUndefined();
          break;
        default:
          throw new Error(`no expectations for ${String(mode)}`);
      }
      if (mode === 'calico-bgp' || mode === 'calico-vxlan') {
        // calico routes peers' IPAM blocks, not their podCIDRs.
        const block = routes.find((r) => r.protocol === (mode === 'calico-bgp' ? 'bird' : '80') && r.gateway !== undefined);
        expect(block?.dst).toMatch(/\/26$/);
        expect(block?.dev).toBe(mode === 'calico-bgp' ? 'eth0' : 'vxlan.calico');
        expect(block?.gateway).toBe(mode === 'calico-bgp' ? node2.ip : harness?.nodes.node2?.network.vtep);
      }
    });

    it('adds and deletes several pods of one node at once, as a kubelet starts them', async () => {
      if (harness === undefined) throw new Error('no harness');
      const h = harness;
      const added = await Promise.all(['pod5', 'pod6', 'pod7'].map((name) => h.addPod('node1', name)));
      expect(new Set(added.map((p) => p.network.ip)).size).toBe(3);
      expect(new Set(added.map((p) => p.network.hostVeth)).size).toBe(3);
      const reply = await probeTcp(added[2]?.context.netns ?? '', { dst: pod2.network.ip, dport: PORT, timeoutMs: 3000 });
      expect(reply.outcome).toBe('connected');
      await Promise.all(added.map((p) => h.deletePod(p)));
      const records = ipamRecords(h, 'node1');
      for (const p of added) expect(records).not.toContain(p.network.ip);
    });

    it('deletePod leaves no host veth and no IPAM record, and a second delete is fine', async () => {
      if (harness === undefined) throw new Error('no harness');
      for (const pod of [pod1, pod2]) {
        const nodeNs = harness.nodes[pod.node]?.context.netns ?? '';
        expect(ipamRecords(harness, pod.node)).toContain(pod.network.ip);
        await harness.deletePod(pod);
        expect(ipIn(nodeNs, ['-o', 'link', 'show'])).not.toContain(`${pod.network.hostVeth}@`);
        expect(ipamRecords(harness, pod.node)).not.toContain(pod.network.ip);
        expect(runIn(nodeNs, 'iptables-save', [])).not.toContain(pod.network.hostVeth);
        await harness.deletePod(pod);
      }
    });
  });
}

describeAsRoot('lab network annotations', () => {
  it('calico-vxlan returns the annotations calico-node writes', async () => {
    const harness = await buildHarness('calico-vxlan', 'ndl2a', 1);
    try {
      const annotations = harness.nodes.node1?.network.annotations ?? {};
      expect(annotations['projectcalico.org/IPv4Address']).toBe('10.99.0.11/24');
      expect(annotations['projectcalico.org/IPv4VXLANTunnelAddr']).toBe(harness.nodes.node1?.network.vtep);
      expect(annotations['projectcalico.org/VXLANTunnelMACAddr']).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    } finally {
      await harness.teardown();
      destroyNetnsWithPrefix('ndl2a');
    }
  }, 120_000);

  it('flannel-vxlan: flanneld writes its own annotations on the Node', async () => {
    const harness = await buildHarness('flannel-vxlan', 'ndl2f', 1);
    try {
      const node = await harness.getNode('node1');
      expect(node.metadata.annotations?.['flannel.alpha.coreos.com/public-ip']).toBe('10.99.0.11');
      expect(node.metadata.annotations?.['flannel.alpha.coreos.com/backend-type']).toBe('vxlan');
      expect(harness.nodes.node1?.network.annotations).toBeUndefined();
    } finally {
      await harness.teardown();
      destroyNetnsWithPrefix('ndl2f');
    }
  }, 120_000);
});
