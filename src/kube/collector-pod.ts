// The collector pod of one (diagnosis, node) and the ConfigMap that hands it the node's pod list
// (DESIGN §4). Pure builders: the controller creates what they return.
//
// Privileges are the least that work: the agent enters other network namespaces (setns needs
// CAP_SYS_ADMIN), dumps netfilter (CAP_NET_ADMIN) and reads other processes' /proc/PID/ns and fds
// (CAP_SYS_PTRACE, with hostPID); it runs as root for those capabilities to apply, everything else
// dropped, no privilege escalation, a read-only root filesystem. It mounts nothing of the host: it
// finds the pods' namespaces through /proc (hostPID) and matches them by IP, and reads the node's
// CNI files through /proc/1/root, so no host path is bind-mounted (a missing one would be created on
// the node by some runtimes, and the collection must change nothing there).
// The snapshot goes back through the API server (ConfigMaps, with the pod's own service account),
// never through the pod network, which may be the broken thing.

import { createHash } from 'node:crypto';
import type { V1ConfigMap, V1Pod, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { diagnosisKey, LABEL_COMPONENT, LABEL_DIAGNOSIS, LABEL_MANAGED_BY, LABEL_NODE, labelValueOf, MANAGED_BY, ANNOTATION_CREATED_AT, ANNOTATION_DIAGNOSIS, ANNOTATION_NODE } from './labels.js';

export const COLLECTOR_COMPONENT = 'collector';
/** Where the pod list ConfigMap is mounted in the collector. */
const PODS_DIR = '/etc/netdiag/pods';
/** The pod list's key in its ConfigMap. */
export const PODS_KEY = 'pods.json';

/** A pod of the node, as the agent matches it to a network namespace (`netdiag collect --pods`). */
export interface CollectorPodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
  readonly ips: readonly string[];
  readonly hostNetwork?: boolean;
}

export interface CollectorPodOptions {
  readonly diagnosis: { readonly namespace: string; readonly name: string; readonly uid: string };
  readonly node: string;
  /** The operator's namespace: collectors, their pod lists and snapshots live there. */
  readonly namespace: string;
  readonly image: string;
  readonly serviceAccountName: string;
  /** The whole run's deadline; the pod's activeDeadlineSeconds leaves the agent time to write its snapshot. */
  readonly timeoutSeconds: number;
  readonly commandTimeoutSeconds: number;
  /** The node's pods. */
  readonly pods: readonly CollectorPodRef[];
  /**
   * When the operator decided to create it (RFC 3339 with milliseconds, the operator's clock):
   * another diagnosis may share this collection only if its own run started no later (the API
   * server's creationTimestamp has whole seconds and another clock).
   */
  readonly createdAt?: string;
}

/** Extra seconds the pod lives after the agent's own deadline: writing the snapshot ConfigMaps. */
const SHIP_SECONDS = 30;

/**
 * The pod's name: unique per (diagnosis, node) — the diagnosis uid keeps two diagnoses of the same
 * name (deleted and re-created) apart — readable, and a valid DNS label.
 */
export function collectorPodName(diagnosis: CollectorPodOptions['diagnosis'], node: string): string {
  const hash = createHash('sha256').update(`${diagnosis.uid}/${node}`).digest('hex').slice(0, 10);
  const part = (s: string, n: number): string => s.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, n).replace(/^-+|-+$/g, '');
  return ['netdiag', part(diagnosis.name, 20), part(node, 20), hash].filter((p) => p !== '').join('-');
}

/** The ConfigMap that hands the collector pod `podName` its node's pod list. */
export function podListConfigMapName(podName: string): string {
  return `${podName}-pods`;
}

/** Whether labels are those of a netdiag collector pod. */
export function isCollectorPod(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels?.[LABEL_MANAGED_BY] === MANAGED_BY && labels[LABEL_COMPONENT] === COLLECTOR_COMPONENT;
}

function labelsOf(options: CollectorPodOptions): Record<string, string> {
  return {
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_COMPONENT]: COLLECTOR_COMPONENT,
    [LABEL_DIAGNOSIS]: labelValueOf(diagnosisKey(options.diagnosis)),
    [LABEL_NODE]: labelValueOf(options.node),
  };
}

function annotationsOf(options: CollectorPodOptions): Record<string, string> {
  return {
    [ANNOTATION_DIAGNOSIS]: diagnosisKey(options.diagnosis),
    [ANNOTATION_NODE]: options.node,
    ...(options.createdAt !== undefined ? { [ANNOTATION_CREATED_AT]: options.createdAt } : {}),
  };
}

/** The ConfigMap holding the node's pod list, mounted into the collector. */
export function buildCollectorPodsConfigMap(options: CollectorPodOptions): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: podListConfigMapName(collectorPodName(options.diagnosis, options.node)), namespace: options.namespace, labels: labelsOf(options), annotations: annotationsOf(options) },
    data: { [PODS_KEY]: `${JSON.stringify(options.pods)}\n` },
  };
}

/** The node's files, seen through its init process's root (hostPID). */
const HOST_ROOT = '/proc/1/root';

export function buildCollectorPod(options: CollectorPodOptions): V1Pod {
  const name = collectorPodName(options.diagnosis, options.node);
  const volumes: V1Volume[] = [
    { name: 'pods', configMap: { name: podListConfigMapName(name) } },
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
  ];
  const mounts: V1VolumeMount[] = [
    { name: 'pods', mountPath: PODS_DIR, readOnly: true },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: options.namespace, labels: labelsOf(options), annotations: annotationsOf(options) },
    spec: {
      // Bound by name: no scheduler decision, and a node that is cordoned or full still gets its collector.
      nodeName: options.node,
      hostNetwork: true,
      hostPID: true,
      dnsPolicy: 'ClusterFirstWithHostNet',
      restartPolicy: 'Never',
      activeDeadlineSeconds: options.timeoutSeconds + SHIP_SECONDS,
      serviceAccountName: options.serviceAccountName,
      automountServiceAccountToken: true,
      // A collector must run on every node the packet crosses, tainted or not.
      tolerations: [{ operator: 'Exists' }],
      securityContext: { runAsUser: 0, runAsNonRoot: false, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'collector',
          image: options.image,
          command: ['netdiag', 'collect'],
          args: [
            '--configmaps',
            '--namespace',
            options.namespace,
            '--diagnosis',
            diagnosisKey(options.diagnosis),
            '--node',
            options.node,
            '--pods',
            `${PODS_DIR}/${PODS_KEY}`,
            '--timeout',
            String(options.timeoutSeconds),
            '--command-timeout',
            String(options.commandTimeoutSeconds),
            '--no-cri',
            '--cni-conf-dir',
            `${HOST_ROOT}/etc/cni/net.d`,
            '--cni-record-dir',
            `${HOST_ROOT}/var/log/netdiag`,
          ],
          securityContext: {
            privileged: false,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'], add: ['SYS_ADMIN', 'NET_ADMIN', 'SYS_PTRACE'] },
          },
          // `nft -j list ruleset` alone needs about 160 MiB on a node with 20,000 native rules.
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '384Mi' } },
          volumeMounts: mounts,
        },
      ],
      volumes,
    },
  };
}
