import { describe, expect, it } from '@jest/globals';
import type { KubeDaemonSet } from '../model/kube-objects.js';
import type { ClusterState, CniConfigFile } from './cluster-state.js';
import { detectPlugin, requestedPlugin } from './registry.js';

const conflist = (type: string): string => JSON.stringify({ cniVersion: '1.0.0', name: 'net', plugins: [{ type }, { type: 'portmap' }] });
const file = (name: string, content: string): CniConfigFile => ({ path: `/etc/cni/net.d/${name}`, content });
const daemonSet = (namespace: string, name: string, image: string): KubeDaemonSet => ({
  metadata: { namespace, name },
  spec: { template: { spec: { containers: [{ name: 'agent', image }] } } },
});

function state(cniConfigs: Record<string, CniConfigFile[]>, daemonSets: KubeDaemonSet[] = []): ClusterState {
  return { objects: { nodes: [], pods: [], services: [], endpointSlices: [], networkPolicies: [], daemonSets }, netns: { nodes: {}, pods: {} }, cniConfigs };
}

describe('detectPlugin', () => {
  it("takes the main plugin of the file the runtime uses (the first in lexical order)", () => {
    const choice = detectPlugin(state({ node1: [file('99-other.conflist', conflist('macvlan')), file('10-bridge.conflist', conflist('bridge'))] }));
    expect({ name: choice.name, how: choice.how, evidence: choice.evidence, warnings: choice.warnings }).toEqual({
      name: 'bridge',
      how: 'detected',
      evidence: ['/etc/cni/net.d/10-bridge.conflist on node1 (type bridge)'],
      warnings: [],
    });
  });

  it('names the disagreement when nodes run different plugins, and takes the most common', () => {
    const choice = detectPlugin(state({ a: [file('10.conflist', conflist('bridge'))], b: [file('10.conflist', conflist('bridge'))], c: [file('10.conflist', conflist('macvlan'))] }));
    expect(choice.name).toBe('bridge');
    expect(choice.warnings.map((w) => w.code)).toEqual(['plugins-disagree']);
    expect(choice.warnings[0]?.message).toContain('/etc/cni/net.d/10.conflist on c (type macvlan)');
  });

  it('falls back to the DaemonSets when no CNI configuration was collected', () => {
    const choice = detectPlugin(state({}, [daemonSet('kube-system', 'kube-proxy', 'registry.k8s.io/kube-proxy:v1.34.4'), daemonSet('kube-flannel', 'kube-flannel-ds', 'ghcr.io/flannel-io/flannel:v0.28.10')]));
    expect({ name: choice.name, how: choice.how, evidence: choice.evidence }).toEqual({ name: 'flannel', how: 'detected', evidence: ['DaemonSet kube-flannel/kube-flannel-ds'] });
  });

  it('is generic, saying so, when nothing is known', () => {
    const choice = detectPlugin(state({ node1: [file('10-weave.conflist', conflist('weave-net'))] }));
    expect({ name: choice.name, how: choice.how }).toEqual({ name: 'generic', how: 'default' });
    expect(choice.warnings).toEqual([{ code: 'plugin-unknown', message: 'no plugin of netdiag knows the CNI /etc/cni/net.d/10-weave.conflist on node1 (type weave-net): only the kernel\'s state is judged' }]);
  });

  it('an unreadable configuration is no evidence', () => {
    expect(detectPlugin(state({ node1: [{ path: '/etc/cni/net.d/10-bridge.conflist', error: 'permission denied' }] })).name).toBe('generic');
  });
});

describe('requestedPlugin', () => {
  it.each([
    ['bridge', 'bridge'],
    ['generic', 'generic'],
    ['weave', undefined],
  ])('%s', (name, expected) => {
    expect(requestedPlugin(name)?.name).toBe(expected);
  });
});
