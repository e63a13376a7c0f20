// The Helm chart (charts/netdiag), rendered by the real helm (pinned in hack/versions.sh): it lints
// with default and with every option on; the CRD it installs is the repository's crds/ file byte for
// byte; and the rendered objects hold the security-relevant fields (non-root operator, read-only
// root filesystem, no capability, the Pod Security label the collectors need, RBAC scoped as
// docs/install.md explains) and the operator flags built from values.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { runChecks } from '../../src/controller/http-server.js';
import { parseOperatorFlags } from '../../src/controller/operator-flags.js';
import { ALL_OPTIONS, CHART, findObject, provisionHelm, REPO, setFlags, type Helm, type Manifest } from './helm.js';

interface Container {
  readonly name: string;
  readonly image: string;
  readonly args?: string[];
  readonly command?: string[];
  readonly securityContext?: Record<string, unknown>;
  readonly livenessProbe?: { httpGet?: { path: string; port: string } };
  readonly readinessProbe?: { httpGet?: { path: string; port: string } };
  readonly ports?: { name: string; containerPort: number }[];
}
interface PodSpec {
  readonly serviceAccountName?: string;
  readonly securityContext?: Record<string, unknown>;
  readonly containers: Container[];
  readonly initContainers?: Container[];
  readonly volumes?: { name: string; hostPath?: { path: string } }[];
}
interface Rule {
  readonly apiGroups: string[];
  readonly resources: string[];
  readonly verbs: string[];
  readonly resourceNames?: string[];
}

const podSpecOf = (o: Manifest): PodSpec => (o.spec as { template: { spec: PodSpec } }).template.spec;
const rulesOf = (o: Manifest): Rule[] => o.rules as Rule[];
const operatorOf = (objects: readonly Manifest[]): Container => {
  const container = podSpecOf(findObject(objects, 'Deployment')).containers.find((c) => c.name === 'operator');
  if (container === undefined) throw new Error('the Deployment has no operator container');
  return container;
};

describe('the Helm chart, rendered by helm', () => {
  let helm: Helm;

  beforeAll(() => {
    helm = provisionHelm();
  }, 30 * 60_000);

  afterAll(() => helm?.remove());

  it('keeps the CRD byte for byte identical to crds/ (one source: the chart ships a copy)', () => {
    const files = readdirSync(join(REPO, 'crds')).filter((f) => f.endsWith('.yaml'));
    expect(readdirSync(join(CHART, 'crds')).sort()).toEqual(files.sort());
    for (const file of files) expect(readFileSync(join(CHART, 'crds', file)).equals(readFileSync(join(REPO, 'crds', file)))).toBe(true);
  });

  it.each([
    ['default values', {}],
    ['every option on', ALL_OPTIONS],
    ['one replica without leader election', { replicas: 1, 'leaderElection.enabled': false }],
  ])('helm lint --strict passes with %s', (_name, set) => {
    const result = helm.run(['lint', '--strict', CHART, ...setFlags(set)]);
    expect({ status: result.status, output: result.stdout.split('\n').filter((l) => /\[(WARNING|ERROR)\]/.test(l)) }).toEqual({ status: 0, output: [] });
  });

  it('renders the default release: the objects, and none of the optional ones', () => {
    const { objects } = helm.template('netdiag', 'netdiag-system');
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toEqual([
      'ClusterRole/netdiag',
      'ClusterRoleBinding/netdiag',
      'CustomResourceDefinition/networkdiagnoses.netdiag.io',
      'Deployment/netdiag',
      'PodDisruptionBudget/netdiag',
      'Role/netdiag',
      'Role/netdiag-collector',
      'RoleBinding/netdiag',
      'RoleBinding/netdiag-collector',
      'Service/netdiag-metrics',
      'ServiceAccount/netdiag',
      'ServiceAccount/netdiag-collector',
    ]);
    for (const o of objects) if (o.kind !== 'CustomResourceDefinition' && !o.kind.startsWith('Cluster')) expect(`${o.kind} ${o.metadata.namespace}`).toBe(`${o.kind} netdiag-system`);
    const crd = findObject(objects, 'CustomResourceDefinition');
    expect(crd).toEqual(parse(readFileSync(join(REPO, 'crds', 'netdiag.io_networkdiagnoses.yaml'), 'utf8')));
  });

  it('runs the operator non-root, read-only, with no capability, probes and metrics, flags from values', () => {
    const { objects } = helm.template('netdiag', 'netdiag-system');
    const deployment = findObject(objects, 'Deployment');
    expect((deployment.spec as { replicas: number }).replicas).toBe(2);
    const pod = podSpecOf(deployment);
    expect(pod.serviceAccountName).toBe('netdiag');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    const operator = operatorOf(objects);
    expect(operator.image).toBe('netdiag:0.1.0');
    expect(operator.command).toBeUndefined();
    expect(operator.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
    expect(operator.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'health' });
    // Standby replicas are ready (a rolling update could not finish otherwise): leadership is excluded.
    expect(operator.readinessProbe?.httpGet).toEqual({ path: '/readyz?exclude=leader', port: 'health' });
    const query = new URL(`http://operator${operator.readinessProbe?.httpGet?.path ?? ''}`).searchParams;
    const standby = [{ name: 'informers', check: (): undefined => undefined }, { name: 'leader', check: (): string => 'not the leader' }];
    expect(runChecks(standby, query).status).toBe(200);
    expect(runChecks([...standby, { name: 'informers-synced', check: (): string => 'not synced' }], query).status).toBe(500);
    expect(operator.ports).toEqual([expect.objectContaining({ name: 'metrics', containerPort: 8080 }), expect.objectContaining({ name: 'health', containerPort: 8081 })]);
    expect(operator.args).toEqual([
      '--namespace=netdiag-system',
      '--collector-image=netdiag:0.1.0',
      '--collector-service-account=netdiag-collector',
      '--workers=4',
      '--health-addr=:8081',
      '--metrics-addr=:8080',
      '--leader-elect',
      '--lease-name=netdiag-leader',
      '--log-level=info',
    ]);
  });

  it('passes every option to the operator when set', () => {
    const { objects } = helm.template('diag', 'default', ALL_OPTIONS);
    expect(operatorOf(objects).args).toEqual([
      '--namespace=netdiag-system',
      '--collector-image=registry.example/netdiag-collector:0.1.0',
      '--collector-service-account=diag-netdiag-collector',
      '--workers=8',
      '--health-addr=:8081',
      '--metrics-addr=:8080',
      '--leader-elect',
      '--lease-name=diag-netdiag-leader',
      '--allow-cross-namespace',
      '--no-share-collections',
      '--collector-timeout=90',
      '--collector-command-timeout=15',
      '--collector-deadline=300',
      '--log-level=debug',
    ]);
  });

  it.each([
    ['default values', {}, { namespace: 'netdiag-system', collectorImage: 'netdiag:0.1.0', workers: 4, leaderElect: true, leaseName: 'netdiag-leader', allowCrossNamespace: false, shareCollections: true, collectorTimeoutSeconds: 60, collectorDeadlineSeconds: 180, logLevel: 'info' }],
    ['every option on', ALL_OPTIONS, { namespace: 'netdiag-system', collectorImage: 'registry.example/netdiag-collector:0.1.0', workers: 8, leaderElect: true, allowCrossNamespace: true, shareCollections: false, collectorTimeoutSeconds: 90, collectorCommandTimeoutSeconds: 15, collectorDeadlineSeconds: 300, logLevel: 'debug' }],
    ['one replica', { replicas: 1, 'leaderElection.enabled': false }, { leaderElect: false }],
  ])("renders arguments the operator's own flag parser accepts, with %s", (_name, set, expected) => {
    const parsed = parseOperatorFlags(operatorOf(helm.template('netdiag', set === ALL_OPTIONS ? 'default' : 'netdiag-system', set).objects).args ?? []);
    expect(parsed).toEqual({ kind: 'run', flags: expect.objectContaining({ ...expected, collectorServiceAccount: 'netdiag-collector', healthAddr: expect.objectContaining({ port: 8081 }), metricsAddr: expect.objectContaining({ port: 8080 }) }) });
  });

  it('runs one operator without leader election when asked, and refuses two without it', () => {
    const single = helm.template('netdiag', 'netdiag-system', { replicas: 1, 'leaderElection.enabled': false });
    expect(operatorOf(single.objects).args).toContain('--no-leader-elect');
    expect(single.objects.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
    expect(() => helm.template('netdiag', 'netdiag-system', { replicas: 2, 'leaderElection.enabled': false })).toThrow('replicas > 1 needs leaderElection.enabled');
  });

  it('creates the namespace with the privileged Pod Security level only when asked, and puts everything in it', () => {
    const { objects } = helm.template('netdiag', 'default', { createNamespace: true, namespaceOverride: 'netdiag-system' });
    const namespace = findObject(objects, 'Namespace', 'netdiag-system');
    expect(namespace.metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'privileged' });
    // helm installs a Namespace before everything else that lives in it.
    expect(objects.filter((o) => o.kind !== 'CustomResourceDefinition')[0]).toBe(namespace);
    const namespaced = objects.filter((o) => o.metadata.namespace !== undefined);
    expect(namespaced.length).toBeGreaterThan(5);
    for (const o of namespaced) expect(`${o.kind} ${o.metadata.namespace}`).toBe(`${o.kind} netdiag-system`);
    expect(operatorOf(objects).args).toContain('--namespace=netdiag-system');
  });

  it("refuses to create the release's own namespace (Helm needs it before the install), saying what to do", () => {
    expect(() => helm.template('netdiag', 'netdiag-system', { createNamespace: true })).toThrow(/createNamespace: Helm keeps the release in namespace "netdiag-system".*set namespaceOverride.*--create-namespace/);
  });

  it('renders the ServiceMonitor and the cni-tap DaemonSet when enabled', () => {
    const { objects } = helm.template('netdiag', 'default', ALL_OPTIONS);
    const monitor = findObject(objects, 'ServiceMonitor');
    const service = findObject(objects, 'Service', 'netdiag-metrics');
    expect((monitor.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels).toEqual(expect.objectContaining({ 'app.kubernetes.io/component': 'operator' }));
    expect(service.metadata.labels).toMatchObject((monitor.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels);
    const tap = podSpecOf(findObject(objects, 'DaemonSet', 'netdiag-cni-tap'));
    expect(tap.initContainers?.[0]?.args?.[0]).toContain('exec netdiag cni-tap install --conf-dir /host/cni-conf');
    expect(tap.volumes?.map((v) => [v.name, v.hostPath?.path])).toEqual([
      ['cni-conf', '/etc/cni/net.d'],
      ['cni-bin', '/opt/cni/bin'],
      ['install-dir', '/opt/netdiag'],
      ['log-dir', '/var/log/netdiag'],
    ]);
    for (const c of [...(tap.initContainers ?? []), ...tap.containers]) expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  });

  it('grants the operator cluster-wide reads and NetworkDiagnosis writes, and no write elsewhere but Events', () => {
    const { objects } = helm.template('netdiag', 'netdiag-system');
    const rules = rulesOf(findObject(objects, 'ClusterRole'));
    const writes = new Set(['create', 'update', 'patch', 'delete', 'deletecollection', 'escalate', 'bind', 'impersonate', '*']);
    const written = rules.filter((r) => r.verbs.some((v) => writes.has(v))).flatMap((r) => r.resources.map((res) => `${r.apiGroups.join(',')}/${res}`));
    expect(written.sort()).toEqual(['events.k8s.io/events', 'netdiag.io/networkdiagnoses', 'netdiag.io/networkdiagnoses/finalizers', 'netdiag.io/networkdiagnoses/status']);
    expect(rules.flatMap((r) => r.resources)).not.toContain('secrets');
    for (const r of rules) expect(r.verbs).not.toContain('*');
  });

  it('grants the collectors nothing but creating ConfigMaps in the release namespace', () => {
    const { objects } = helm.template('netdiag', 'netdiag-system');
    const role = findObject(objects, 'Role', 'netdiag-collector');
    expect(role.metadata.namespace).toBe('netdiag-system');
    expect(rulesOf(role)).toEqual([{ apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }]);
    const binding = findObject(objects, 'RoleBinding', 'netdiag-collector');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'netdiag-collector', namespace: 'netdiag-system' }]);
  });

  it('grants exactly what docs/install.md explains, verb by verb', () => {
    const { objects } = helm.template('netdiag', 'netdiag-system');
    const doc = readFileSync(join(REPO, 'docs', 'install.md'), 'utf8');
    /** The table rows after `heading`, as "group resource: verbs" (a resource limited by name is marked "(by name)"). */
    const documented = (heading: string): string[] => {
      const rows = doc.slice(doc.indexOf(heading)).split('\n\n')[1]?.split('\n').slice(2) ?? [];
      return rows.flatMap((row) => {
        const [group = '', resources = '', verbs = ''] = row.split('|').slice(1).map((cell) => cell.trim());
        const byName = resources.includes('(only');
        return resources.replace(/\(only[^)]*\)/, '').split(',').map((r) => `${group === 'core' ? '' : group} ${r.trim()}${byName ? ' (by name)' : ''}: ${verbs}`);
      });
    };
    const granted = (kind: string): string[] =>
      rulesOf(findObject(objects, kind, 'netdiag')).flatMap((r) => r.resources.map((res) => `${r.apiGroups.join(',')} ${res}${r.resourceNames !== undefined ? ' (by name)' : ''}: ${r.verbs.join(', ')}`));
    expect(granted('ClusterRole').sort()).toEqual(documented('**Operator, cluster-wide').sort());
    expect(granted('Role').sort()).toEqual(documented('**Operator, in its namespace').sort());
  });
});
