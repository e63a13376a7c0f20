// The CNI plugins the diagnostor knows, by name, and how the one a cluster runs is told: from the
// nodes' CNI configuration (the runtime uses the first file; its first plugin's `type` is the
// network's main plugin) and, failing that, from the DaemonSets that deploy a plugin's agent.

import type { Warning } from '../model/warning.js';
import { bridgePlugin } from './bridge.js';
import { calicoPlugin } from './calico.js';
import { loadCniConfig } from './cni-config.js';
import { flannelPlugin } from './flannel.js';
import type { ClusterState } from './cluster-state.js';
import { genericPlugin } from './generic.js';
import type { Plugin } from './plugin.js';

/** Every plugin, by the name `--plugin` and `spec.network.plugin` use. */
export const PLUGINS: Readonly<Record<string, Plugin>> = {
  generic: genericPlugin,
  flannel: flannelPlugin,
  calico: calicoPlugin,
  bridge: bridgePlugin,
};

/** The plugin of each main CNI plugin `type`. */
const PLUGIN_OF_CNI_TYPE: Readonly<Record<string, string>> = { flannel: 'flannel', calico: 'calico', bridge: 'bridge' };

/** The plugin whose agent a DaemonSet runs, by its name or container image. */
const DAEMONSET_PATTERNS: readonly { readonly plugin: string; readonly name: RegExp; readonly image: RegExp }[] = [
  { plugin: 'flannel', name: /flannel/, image: /(^|\/)flannel:|flannel\/flannel/ },
  { plugin: 'calico', name: /^calico-node$/, image: /calico\/node/ },
];

export interface PluginChoice {
  readonly name: string;
  readonly plugin: Plugin;
  /** requested: named by the user; detected: from the evidence; default: nothing known, generic. */
  readonly how: 'requested' | 'detected' | 'default';
  /** What the choice rests on: files, DaemonSets. */
  readonly evidence: readonly string[];
  readonly warnings: readonly Warning[];
}

function mostCommon(votes: ReadonlyMap<string, readonly string[]>): string | undefined {
  let best: string | undefined;
  for (const [name, evidence] of votes) if (best === undefined || evidence.length > (votes.get(best)?.length ?? 0)) best = name;
  return best;
}

function choice(name: string, how: PluginChoice['how'], evidence: readonly string[], warnings: readonly Warning[]): PluginChoice {
  return { name, plugin: PLUGINS[name] ?? genericPlugin, how, evidence, warnings };
}

/** Detects the cluster's plugin; the CNI configuration of the nodes wins over the DaemonSets. */
export function detectPlugin(cluster: ClusterState): PluginChoice {
  const warnings: Warning[] = [];
  const fromCni = new Map<string, string[]>();
  const unknownTypes = new Map<string, string[]>();
  for (const [node, files] of Object.entries(cluster.cniConfigs ?? {})) {
    const loaded = loadCniConfig(files);
    if (loaded.kind !== 'ok') continue;
    const type = loaded.config.plugins[0]?.type ?? '';
    const name = PLUGIN_OF_CNI_TYPE[type];
    const where = `${loaded.config.file} on ${node} (type ${type})`;
    const into = name === undefined ? unknownTypes : fromCni;
    const key = name ?? type;
    into.set(key, [...(into.get(key) ?? []), where]);
  }
  if (fromCni.size + unknownTypes.size > 1) {
    const seen = [...fromCni, ...unknownTypes].map(([name, where]) => `${name}: ${where.join(', ')}`).join('; ');
    warnings.push({ code: 'plugins-disagree', message: `the nodes' CNI configurations name different plugins (${seen}); the most common is used` });
  }
  const cniChoice = mostCommon(fromCni);
  if (cniChoice !== undefined) return choice(cniChoice, 'detected', fromCni.get(cniChoice) ?? [], warnings);

  const fromDaemonSets = new Map<string, string[]>();
  for (const ds of cluster.objects.daemonSets) {
    const images = (ds.spec?.template?.spec?.containers ?? []).map((c) => c.image ?? '');
    for (const pattern of DAEMONSET_PATTERNS) {
      if (!pattern.name.test(ds.metadata.name) && !images.some((i) => pattern.image.test(i))) continue;
      const where = `DaemonSet ${ds.metadata.namespace ?? 'default'}/${ds.metadata.name}`;
      fromDaemonSets.set(pattern.plugin, [...(fromDaemonSets.get(pattern.plugin) ?? []), where]);
    }
  }
  const dsChoice = mostCommon(fromDaemonSets);
  if (dsChoice !== undefined && PLUGINS[dsChoice] !== undefined) return choice(dsChoice, 'detected', fromDaemonSets.get(dsChoice) ?? [], warnings);

  const unknown = [...unknownTypes.values()].flat();
  const evidence = unknown.length > 0 ? unknown : ['no CNI configuration or DaemonSet of a known plugin'];
  if (unknown.length > 0) warnings.push({ code: 'plugin-unknown', message: `no plugin of netdiag knows the CNI ${unknown.join(', ')}: only the kernel's state is judged` });
  return choice('generic', 'default', evidence, warnings);
}

/** The plugin named by the user, or undefined when netdiag has none of that name. */
export function requestedPlugin(name: string): PluginChoice | undefined {
  return PLUGINS[name] === undefined ? undefined : choice(name, 'requested', [`requested`], []);
}
