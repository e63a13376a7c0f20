// Scenario files of `netdiag lab run`: reading and checking one file, and expanding the templates of
// its faults. Pure: it takes the file's text and name and returns data or throws a ScenarioError whose
// message is `FILE:LINE: FIELD: what is wrong`, so that a typo is found before a cluster is built.

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { isIp } from '../diagnosis/index.js';

export const NETWORKS = ['flannel-hostgw', 'flannel-vxlan', 'calico-bgp', 'calico-vxlan', 'bridge'] as const;
export type ScenarioNetwork = (typeof NETWORKS)[number];

export const VERDICTS = ['Reachable', 'Unreachable', 'Degraded', 'Inconclusive'] as const;
export type ScenarioVerdict = (typeof VERDICTS)[number];

export const LEVELS = ['info', 'warning', 'critical', 'fatal'] as const;
export type ScenarioLevel = (typeof LEVELS)[number];

/** When a pod is created: with the others, before the faults (the runner waits until it is Ready), or after them. */
export const POD_STARTS = ['beforeFaults', 'afterFaults'] as const;
export type PodStart = (typeof POD_STARTS)[number];

/** Protocols a listener or a service port has (what a pod's containerPort can be, SCTP aside). */
export type ListenProtocol = 'TCP' | 'UDP';
/** Protocols a diagnosis asks about (the NetworkDiagnosis spec's). */
export type DiagnoseProtocol = 'TCP' | 'UDP' | 'ICMP';

/** A TCP or UDP listener on every address of the node or pod. */
export interface Listen {
  readonly port: number;
  readonly protocol: ListenProtocol;
}

export interface ScenarioPod {
  readonly name: string;
  readonly listen?: readonly Listen[];
  /** Shell commands run in the pod's network namespace after setup (templates not yet expanded). */
  readonly faults?: readonly string[];
  /**
   * `afterFaults`: the pod is created once the faults ran, and nobody waits for it to be Ready (a
   * chain the faults broke leaves it Pending); the runner waits only until its kubelet either runs
   * it or reports why its sandbox failed. Absent: `beforeFaults`.
   */
  readonly start?: PodStart;
  /**
   * Labels of the pod's object, beside those the lab sets itself: what a NetworkPolicy selects
   * pods by (its spec.podSelector, the podSelector of a rule's peer).
   */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface ScenarioNode {
  readonly name: string;
  /** Shell commands run in the node's network namespace after setup (templates not yet expanded). */
  readonly faults?: readonly string[];
  /** Listeners on the node itself (host network). */
  readonly listen?: readonly Listen[];
  readonly pods?: readonly ScenarioPod[];
}

export interface ScenarioService {
  readonly name: string;
  readonly port: number;
  readonly targetPort?: number;
  readonly protocol?: ListenProtocol;
  /** Names of the scenario's pods backing the service (may be empty). */
  readonly endpoints: readonly string[];
}

/** A NetworkPolicy manifest, applied as is. */
export type ScenarioPolicy = Readonly<Record<string, unknown>>;

export interface ScenarioDiagnose {
  /** A pod or node name, or an IP address. */
  readonly source: string;
  /** A pod, node or service name, or an IP address. */
  readonly destination: string;
  /** Absent only for ICMP. */
  readonly port?: number;
  readonly protocol: DiagnoseProtocol;
}

/** One suspicion that must be among the diagnosis's; each field given must match. */
export interface ExpectedSuspicion {
  /** The netnode: a pod or node name, or an IP address. */
  readonly node?: string;
  readonly level?: ScenarioLevel;
  /** A suspicion code (`LinkDown`), or a prefix of codes ending in `*` (`Cni*`). */
  readonly code?: string;
  /** A substring of the message. */
  readonly contains?: string;
}

export interface ScenarioExpect {
  /** false: the diagnosis itself must end Failed/Stalled. */
  readonly completed?: boolean;
  readonly verdict?: ScenarioVerdict;
  /** The netnodes of the request path, in order: pod and node names, IP addresses for anything else. */
  readonly path?: readonly string[];
  readonly suspicions?: readonly ExpectedSuspicion[];
  /** No fatal suspicion other than those listed in `suspicions`. */
  readonly noOtherFatal?: boolean;
  /** No critical or fatal suspicion other than those listed in `suspicions`. */
  readonly noOtherCritical?: boolean;
  /** Suspicions that must not be there (each matched as in `suspicions`): false alarms. */
  readonly absent?: readonly ExpectedSuspicion[];
}

export interface Scenario {
  /** The file it was read from, as given to parseScenario. */
  readonly file: string;
  readonly name: string;
  readonly network: ScenarioNetwork;
  /** Put netdiag's CNI tap in every node's chain before any pod (not on the calico modes). */
  readonly cniTap?: boolean;
  readonly nodes: readonly ScenarioNode[];
  readonly services: readonly ScenarioService[];
  readonly policies: readonly ScenarioPolicy[];
  readonly diagnose: ScenarioDiagnose;
  readonly expect: ScenarioExpect;
}

/**
 * A scenario file that cannot be used. `where` is `FILE:LINE: FIELD` (the field as a path, e.g.
 * `nodes[0].pods[1].name`); the message is `WHERE: PROBLEM`.
 */
export class ScenarioError extends Error {
  constructor(
    readonly where: string,
    readonly problem: string,
  ) {
    super(`${where}: ${problem}`);
    this.name = 'ScenarioError';
  }
}

// ---------------------------------------------------------------------------------------------------
// Templates

/** What the lab knows once the cluster is up; fills the templates of the faults. */
export interface TemplateValues {
  readonly nodes: Readonly<Record<string, NodeTemplateValues>>;
  readonly pods: Readonly<Record<string, PodTemplateValues>>;
}

export interface NodeTemplateValues {
  /** The node's InternalIP (its eth0 on the underlay). */
  readonly ip: string;
  /** The node's pod CIDR, e.g. 10.244.1.0/24. */
  readonly podCIDR: string;
  /** The address of the node's VXLAN device (flannel.1, vxlan.calico); absent on other networks. */
  readonly vtep?: string;
}

export interface PodTemplateValues {
  readonly ip: string;
  /** The host end of the pod's veth pair, in its node's namespace. */
  readonly hostVeth: string;
}

export type TemplateRef =
  | { readonly kind: 'nodes'; readonly name: string; readonly attribute: 'ip' | 'podCIDR' | 'vtep'; readonly text: string }
  | { readonly kind: 'pods'; readonly name: string; readonly attribute: 'ip' | 'hostVeth'; readonly text: string };

const NODE_ATTRIBUTES = ['ip', 'podCIDR', 'vtep'] as const;
const POD_ATTRIBUTES = ['ip', 'hostVeth'] as const;
const TEMPLATE_FORMS = '{{nodes.NAME.ip}}, {{nodes.NAME.podCIDR}}, {{nodes.NAME.vtep}}, {{pods.NAME.ip}} or {{pods.NAME.hostVeth}}';

/** A template problem, before it is given its place (`where`). */
class TemplateProblem extends Error {}

const includes = <T extends string>(list: readonly T[], value: string): value is T => (list as readonly string[]).includes(value);

/** Splits `command` into text and template references; throws TemplateProblem on a malformed one. */
function splitTemplates(command: string): (string | TemplateRef)[] {
  const parts: (string | TemplateRef)[] = [];
  let rest = command;
  for (;;) {
    const open = rest.indexOf('{{');
    const stray = rest.indexOf('}}');
    if (stray !== -1 && (open === -1 || stray < open)) throw new TemplateProblem(`"}}" without "{{" in ${JSON.stringify(command)}`);
    if (open === -1) break;
    const close = rest.indexOf('}}', open + 2);
    if (close === -1) throw new TemplateProblem(`unterminated template ${JSON.stringify(rest.slice(open))}`);
    parts.push(rest.slice(0, open));
    const text = rest.slice(open, close + 2);
    parts.push(parseTemplate(text, rest.slice(open + 2, close).trim()));
    rest = rest.slice(close + 2);
  }
  parts.push(rest);
  return parts;
}

function parseTemplate(text: string, inner: string): TemplateRef {
  const fields = inner.split('.');
  const [kind, name, attribute] = fields;
  if (fields.length === 3 && name !== undefined && name !== '' && attribute !== undefined) {
    if (kind === 'nodes' && includes(NODE_ATTRIBUTES, attribute)) return { kind, name, attribute, text };
    if (kind === 'pods' && includes(POD_ATTRIBUTES, attribute)) return { kind, name, attribute, text };
  }
  throw new TemplateProblem(`unknown template ${text} (expected ${TEMPLATE_FORMS})`);
}

/** The template references of a fault command; throws a ScenarioError naming `where` if one is malformed. */
export function templateRefs(command: string, where: string): TemplateRef[] {
  return withWhere(where, () => splitTemplates(command)).filter((part): part is TemplateRef => typeof part !== 'string');
}

function withWhere<T>(where: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof TemplateProblem) throw new ScenarioError(where, error.message);
    throw error;
  }
}

/**
 * Replaces every `{{nodes.NAME.ip|podCIDR|vtep}}` and `{{pods.NAME.ip|hostVeth}}` of a fault command
 * with its value. `where` names the fault for errors (`scenarios/a.yaml:7: nodes[0].faults[0]`): an
 * unknown template, name or missing value is a ScenarioError `WHERE: what is wrong`.
 */
export function expandTemplates(command: string, values: TemplateValues, where: string): string {
  return withWhere(where, () => splitTemplates(command)).map((part) => (typeof part === 'string' ? part : templateValue(part, values, where))).join('');
}

function templateValue(ref: TemplateRef, values: TemplateValues, where: string): string {
  switch (ref.kind) {
    case 'nodes': {
      const node = Object.hasOwn(values.nodes, ref.name) ? values.nodes[ref.name] : undefined;
      if (node === undefined) throw new ScenarioError(where, `${ref.text}: no node named ${JSON.stringify(ref.name)}`);
      const value = node[ref.attribute];
      if (value === undefined) throw new ScenarioError(where, `${ref.text}: node ${JSON.stringify(ref.name)} has no VXLAN device address`);
      return value;
    }
    case 'pods': {
      const pod = Object.hasOwn(values.pods, ref.name) ? values.pods[ref.name] : undefined;
      if (pod === undefined) throw new ScenarioError(where, `${ref.text}: no pod named ${JSON.stringify(ref.name)}`);
      return pod[ref.attribute];
    }
  }
}

/**
 * Why netdiag's CNI tap cannot be used on a network mode, or undefined when it can. The calico modes
 * reproduce calico's CNI plugin in the lab's own code (no configuration list is executed), so a tap
 * in a list would record nothing true: refused rather than faked.
 */
export function cniTapRefusal(mode: ScenarioNetwork): string | undefined {
  switch (mode) {
    case 'bridge':
    case 'flannel-hostgw':
    case 'flannel-vxlan':
      return undefined;
    case 'calico-bgp':
    case 'calico-vxlan':
      return `the CNI tap needs a network whose pods are wired by running a CNI configuration list; ${mode} reproduces calico's CNI plugin in the lab's own code (no chain is executed, so there would be no call to record)`;
  }
}

/** Whether an expected suspicion's `code` (a code, or a prefix ending in `*`) matches CODE. */
export function codeMatches(pattern: string, code: string): boolean {
  return pattern.endsWith('*') ? code.startsWith(pattern.slice(0, -1)) : code === pattern;
}

/** Networks with a VXLAN device on every node, whose address `{{nodes.NAME.vtep}}` names. */
export function hasVtep(network: ScenarioNetwork): boolean {
  switch (network) {
    case 'flannel-vxlan':
    case 'calico-vxlan':
      return true;
    case 'flannel-hostgw':
    case 'calico-bgp':
    case 'bridge':
      return false;
  }
}

// ---------------------------------------------------------------------------------------------------
// Reading the YAML

/** A value of the document with what it takes to name its place in an error. */
interface At {
  readonly node: YamlNode | null;
  readonly path: string;
  /** Where to point when `node` has no position (an empty value): the key's line. */
  readonly fallbackLine: number;
}

class Reader {
  constructor(
    readonly file: string,
    private readonly lines: LineCounter,
    private readonly doc: Document,
  ) {}

  line(at: At): number {
    const offset = at.node?.range?.[0];
    return offset === undefined ? at.fallbackLine : this.lines.linePos(offset).line;
  }

  lineOfOffset(offset: number): number {
    return this.lines.linePos(offset).line;
  }

  where(at: At): string {
    return `${this.file}:${this.line(at)}: ${at.path === '' ? 'scenario' : at.path}`;
  }

  fail(at: At, problem: string): never {
    throw new ScenarioError(this.where(at), problem);
  }

  /** Follows an alias (`*name`) to the node its anchor names. */
  resolve(at: At): At {
    if (!isAlias(at.node)) return at;
    const target = at.node.resolve(this.doc);
    if (target === undefined) this.fail(at, `unknown alias *${at.node.source}`);
    return { ...at, node: target };
  }

  /** A mapping's fields, checked against `allowed`; unknown fields are errors naming them. */
  map(at0: At, allowed: readonly string[]): Fields {
    const at = this.resolve(at0);
    const fields = new Map<string, At>();
    for (const { name, keyAt, valueAt } of this.entries(at, 'a field name')) {
      if (!allowed.includes(name)) this.fail(keyAt, `unknown field (expected ${listWords(allowed)})`);
      fields.set(name, valueAt);
    }
    return new Fields(this, at, fields);
  }

  /** A mapping's entries in order, whatever their names (each key a string, `what` in an error). */
  entries(at0: At, what: string): { name: string; keyAt: At; valueAt: At }[] {
    const at = this.resolve(at0);
    if (!isMap(at.node)) this.fail(at, `expected a mapping, got ${this.describe(at.node)}`);
    return at.node.items.map((pair) => {
      const key = isAlias(pair.key) ? pair.key.resolve(this.doc) : pair.key;
      const keyAt: At = { node: (pair.key as YamlNode | null) ?? null, path: at.path, fallbackLine: this.line(at) };
      if (!isScalar(key) || typeof key.value !== 'string') this.fail(keyAt, `expected ${what}, got ${this.describe(isScalar(key) || isMap(key) || isSeq(key) ? key : null)}`);
      const name = key.value;
      const path = at.path === '' ? name : `${at.path}.${name}`;
      return { name, keyAt: { ...keyAt, path }, valueAt: { node: (pair.value as YamlNode | null) ?? null, path, fallbackLine: this.line(keyAt) } };
    });
  }

  list(at0: At): At[] {
    const at = this.resolve(at0);
    if (!isSeq(at.node)) this.fail(at, `expected a list, got ${this.describe(at.node)}`);
    const line = this.line(at);
    return at.node.items.map((item, i) => ({ node: (item as YamlNode | null) ?? null, path: `${at.path}[${i}]`, fallbackLine: line }));
  }

  scalar(at0: At): { at: At; value: unknown } {
    const at = this.resolve(at0);
    if (!isScalar(at.node)) this.fail(at, `expected a single value, got ${this.describe(at.node)}`);
    return { at, value: at.node.value };
  }

  string(at: At): string {
    const { at: resolved, value } = this.scalar(at);
    if (typeof value !== 'string' || value === '') this.fail(resolved, `expected a non-empty string, got ${this.describe(resolved.node)}`);
    return value;
  }

  boolean(at: At): boolean {
    const { at: resolved, value } = this.scalar(at);
    if (typeof value !== 'boolean') this.fail(resolved, `expected true or false, got ${this.describe(resolved.node)}`);
    return value;
  }

  port(at: At): number {
    const { at: resolved, value } = this.scalar(at);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
      this.fail(resolved, `expected a port number (1-65535), got ${this.describe(resolved.node)}`);
    }
    return value;
  }

  oneOf<T extends string>(at: At, choices: readonly T[]): T {
    const { at: resolved, value } = this.scalar(at);
    if (typeof value !== 'string' || !includes(choices, value)) this.fail(resolved, `expected ${listWords(choices)}, got ${this.describe(resolved.node)}`);
    return value;
  }

  /** A plain JavaScript value of a subtree (aliases resolved). */
  plain(at: At): unknown {
    return at.node === null ? null : (at.node.toJS(this.doc) as unknown);
  }

  describe(node: YamlNode | null): string {
    if (node === null) return 'nothing';
    if (isMap(node)) return 'a mapping';
    if (isSeq(node)) return 'a list';
    if (isAlias(node)) return `alias *${node.source}`;
    if (isScalar(node)) {
      const value = node.value;
      if (value === null) return 'nothing';
      if (typeof value === 'string') return JSON.stringify(value);
      if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
    }
    return 'an unsupported value';
  }
}

/** The fields of one mapping. */
class Fields {
  constructor(
    private readonly reader: Reader,
    readonly at: At,
    private readonly fields: ReadonlyMap<string, At>,
  ) {}

  optional(name: string): At | undefined {
    return this.fields.get(name);
  }

  required(name: string): At {
    const field = this.fields.get(name);
    if (field === undefined) {
      this.reader.fail({ ...this.at, path: this.at.path === '' ? name : `${this.at.path}.${name}` }, 'required field is missing');
    }
    return field;
  }
}

function listWords(words: readonly string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} or ${words[words.length - 1] ?? ''}`;
}

// ---------------------------------------------------------------------------------------------------
// The scenario

/** RFC 1123 label: what a node or pod name may be here (it also keeps templates unambiguous). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** RFC 1035 label: what a service name may be. */
const SERVICE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A suspicion code, or (in `expect`) a prefix of codes ending in `*`. */
const SUSPICION_CODE = /^[A-Z][A-Za-z0-9]*\*?$/;
/** A label key's name part, and a non-empty label value: at most 63, alphanumeric at both ends. */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** A label key's prefix: an RFC 1123 subdomain, at most 253. */
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The label the lab puts on every pod of a scenario (scenario-manifests.ts); a scenario's `labels` cannot set it. */
export const LAB_PART_OF_LABEL = 'app.kubernetes.io/part-of';
/** The prefix of the labels the lab keeps to itself (a service's endpoints are selected by one). */
export const LAB_LABEL_PREFIX = 'lab.netdiag.io/';

/** Parses and checks a scenario file; throws a ScenarioError `FILE:LINE: FIELD: what is wrong`. */
export function parseScenario(text: string, file: string): Scenario {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const reader = new Reader(file, lines, doc);
  const [syntax] = doc.errors;
  if (syntax !== undefined) {
    const problem = syntax.code === 'MULTIPLE_DOCS' ? 'a scenario file holds one YAML document' : syntax.message;
    throw new ScenarioError(`${file}:${reader.lineOfOffset(syntax.pos[0])}: invalid YAML`, problem);
  }
  const root: At = { node: doc.contents, path: '', fallbackLine: 1 };
  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    throw new ScenarioError(`${file}:1: scenario`, 'the file is empty');
  }
  const top = reader.map(root, ['name', 'network', 'cniTap', 'nodes', 'services', 'policies', 'diagnose', 'expect']);
  const name = reader.string(top.required('name'));
  const network = reader.oneOf(top.required('network'), NETWORKS);
  const cniTapAt = top.optional('cniTap');
  const cniTap = cniTapAt === undefined ? undefined : reader.boolean(cniTapAt);
  const refusal = cniTap === true ? cniTapRefusal(network) : undefined;
  if (cniTapAt !== undefined && refusal !== undefined) reader.fail(cniTapAt, refusal);

  const names = new Names(reader);
  const nodesAt = reader.list(top.required('nodes'));
  if (nodesAt.length === 0) reader.fail(top.required('nodes'), 'expected at least one node');
  const faults: { command: string; at: At }[] = [];
  const nodes = nodesAt.map((at) => readNode(reader, at, names, faults));
  // Templates name existing nodes and pods, and a VXLAN address only where the network has one.
  for (const fault of faults) {
    for (const ref of templateRefs(fault.command, reader.where(fault.at))) {
      const exists = ref.kind === 'nodes' ? names.kindOf(ref.name) === 'node' : names.kindOf(ref.name) === 'pod';
      if (!exists) reader.fail(fault.at, `${ref.text}: no ${ref.kind === 'nodes' ? 'node' : 'pod'} named ${JSON.stringify(ref.name)}`);
      if (ref.kind === 'pods' && names.startsAfterFaults(ref.name)) reader.fail(fault.at, `${ref.text}: pod ${JSON.stringify(ref.name)} starts after the faults (start: afterFaults), so it has no address when they run`);
      if (ref.kind === 'nodes' && ref.attribute === 'vtep' && !hasVtep(network)) {
        reader.fail(fault.at, `${ref.text}: network ${network} has no VXLAN device`);
      }
    }
  }

  const services = readServices(reader, top.optional('services'), names);
  const policies = readPolicies(reader, top.optional('policies'));
  const diagnose = readDiagnose(reader, top.required('diagnose'), names);
  const expect = readExpect(reader, top.required('expect'), names);

  return { file, name, network, ...(cniTap === undefined ? {} : { cniTap }), nodes, services, policies, diagnose, expect };
}

type NameKind = 'node' | 'pod' | 'service';

/** The names of nodes, pods and services, and where each was given. */
class Names {
  /** Nodes and pods share one set of names: a path names netnodes by them. */
  private readonly netnodes = new Map<string, { kind: 'node' | 'pod'; path: string }>();
  private readonly services = new Map<string, string>();
  private readonly late = new Set<string>();

  constructor(private readonly reader: Reader) {}

  /** Marks pod NAME as created after the faults. */
  startAfterFaults(name: string): void {
    this.late.add(name);
  }

  startsAfterFaults(name: string): boolean {
    return this.late.has(name);
  }

  add(kind: NameKind, name: string, at: At): void {
    const previous = kind === 'service' ? this.services.get(name) : this.netnodes.get(name)?.path;
    if (previous !== undefined) this.reader.fail(at, `${JSON.stringify(name)} is already the name of ${previous.replace(/\.name$/, '')}`);
    if (kind === 'service') this.services.set(name, at.path);
    else this.netnodes.set(name, { kind, path: at.path });
  }

  kindOf(name: string): 'node' | 'pod' | undefined {
    return this.netnodes.get(name)?.kind;
  }

  isService(name: string): boolean {
    return this.services.has(name);
  }
}

function readName(reader: Reader, at: At, kind: NameKind): string {
  const name = reader.string(at);
  const pattern = kind === 'service' ? SERVICE_NAME : DNS_LABEL;
  if (!pattern.test(name)) {
    const what = kind === 'service' ? 'a DNS label starting with a letter' : 'a DNS label';
    reader.fail(at, `${JSON.stringify(name)} is not a valid ${kind} name (${what}: lower-case letters, digits and "-", at most 63)`);
  }
  return name;
}

function readNode(reader: Reader, at: At, names: Names, faults: { command: string; at: At }[]): ScenarioNode {
  const fields = reader.map(at, ['name', 'faults', 'listen', 'pods']);
  const nameAt = fields.required('name');
  const name = readName(reader, nameAt, 'node');
  names.add('node', name, nameAt);
  const faultList = readFaults(reader, fields.optional('faults'), faults);
  const listen = readListen(reader, fields.optional('listen'));
  const podsAt = fields.optional('pods');
  const pods = podsAt === undefined ? undefined : reader.list(podsAt).map((podAt) => readPod(reader, podAt, names, faults));
  return {
    name,
    ...(faultList === undefined ? {} : { faults: faultList }),
    ...(listen === undefined ? {} : { listen }),
    ...(pods === undefined ? {} : { pods }),
  };
}

function readPod(reader: Reader, at: At, names: Names, faults: { command: string; at: At }[]): ScenarioPod {
  const fields = reader.map(at, ['name', 'labels', 'listen', 'faults', 'start']);
  const nameAt = fields.required('name');
  const name = readName(reader, nameAt, 'pod');
  names.add('pod', name, nameAt);
  const labelsAt = fields.optional('labels');
  const labels = labelsAt === undefined ? undefined : readLabels(reader, labelsAt);
  const listen = readListen(reader, fields.optional('listen'));
  const startAt = fields.optional('start');
  const start = startAt === undefined ? undefined : reader.oneOf(startAt, POD_STARTS);
  const faultsAt = fields.optional('faults');
  if (start === 'afterFaults') {
    names.startAfterFaults(name);
    if (faultsAt !== undefined) reader.fail(faultsAt, 'a pod with start: afterFaults has no faults of its own (they run before it exists)');
  }
  const faultList = readFaults(reader, faultsAt, faults);
  return {
    name,
    ...(labels === undefined ? {} : { labels }),
    ...(listen === undefined ? {} : { listen }),
    ...(faultList === undefined ? {} : { faults: faultList }),
    ...(start === undefined ? {} : { start }),
  };
}

/** Labels as the API takes them: `[PREFIX/]NAME: VALUE`, every value a string (an empty one too). */
function readLabels(reader: Reader, at: At): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const { name: key, keyAt, valueAt } of reader.entries(at, 'a label key')) {
    const problem = labelKeyProblem(key);
    if (problem !== undefined) reader.fail(keyAt, problem);
    const { at: resolved, value } = reader.scalar(valueAt);
    if (typeof value !== 'string') {
      const hint = typeof value === 'number' || typeof value === 'boolean' ? ` (quote it: "${String(value)}")` : '';
      reader.fail(resolved, `expected a label value (a string), got ${reader.describe(resolved.node)}${hint}`);
    }
    if (value !== '' && !LABEL_NAME.test(value)) {
      reader.fail(resolved, `${JSON.stringify(value)} is not a valid label value (at most 63 of letters, digits, "-", "_" and ".", a letter or digit at both ends)`);
    }
    labels[key] = value;
  }
  return labels;
}

/** Why KEY cannot be a label key of a scenario's pod, or undefined when it can. */
function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (!LABEL_NAME.test(name)) {
    return `${JSON.stringify(key)} is not a valid label key (its name${prefix === undefined ? '' : ' after the "/"'}: at most 63 of letters, digits, "-", "_" and ".", a letter or digit at both ends)`;
  }
  if (prefix !== undefined && (prefix.length > 253 || !LABEL_PREFIX.test(prefix))) {
    return `${JSON.stringify(key)} is not a valid label key (its prefix before the "/": a DNS subdomain, lower-case letters, digits, "-" and ".", at most 253)`;
  }
  if (key === LAB_PART_OF_LABEL || key.startsWith(LAB_LABEL_PREFIX)) return `${JSON.stringify(key)} is a label the lab sets itself`;
  return undefined;
}

function readFaults(reader: Reader, at: At | undefined, faults: { command: string; at: At }[]): string[] | undefined {
  if (at === undefined) return undefined;
  return reader.list(at).map((item) => {
    const command = reader.string(item);
    faults.push({ command, at: item });
    return command;
  });
}

function readListen(reader: Reader, at: At | undefined): Listen[] | undefined {
  if (at === undefined) return undefined;
  const seen = new Map<string, string>();
  return reader.list(at).map((item) => {
    const fields = reader.map(item, ['port', 'protocol']);
    const port = reader.port(fields.required('port'));
    const protocol = reader.oneOf(fields.required('protocol'), ['TCP', 'UDP'] as const);
    const key = `${port}/${protocol}`;
    const previous = seen.get(key);
    if (previous !== undefined) reader.fail(item, `${key} is already listed at ${previous}`);
    seen.set(key, item.path);
    return { port, protocol };
  });
}

function readServices(reader: Reader, at: At | undefined, names: Names): ScenarioService[] {
  if (at === undefined) return [];
  return reader.list(at).map((item) => {
    const fields = reader.map(item, ['name', 'port', 'targetPort', 'protocol', 'endpoints']);
    const nameAt = fields.required('name');
    const name = readName(reader, nameAt, 'service');
    names.add('service', name, nameAt);
    const port = reader.port(fields.required('port'));
    const targetPortAt = fields.optional('targetPort');
    const targetPort = targetPortAt === undefined ? undefined : reader.port(targetPortAt);
    const protocolAt = fields.optional('protocol');
    const protocol = protocolAt === undefined ? undefined : reader.oneOf(protocolAt, ['TCP', 'UDP'] as const);
    const endpoints = reader.list(fields.required('endpoints')).map((endpointAt) => {
      const endpoint = reader.string(endpointAt);
      if (names.kindOf(endpoint) !== 'pod') reader.fail(endpointAt, `no pod named ${JSON.stringify(endpoint)}`);
      if (names.startsAfterFaults(endpoint)) reader.fail(endpointAt, `pod ${JSON.stringify(endpoint)} starts after the faults (start: afterFaults): a service's endpoints are waited for before the faults`);
      return endpoint;
    });
    return {
      name,
      port,
      ...(targetPort === undefined ? {} : { targetPort }),
      ...(protocol === undefined ? {} : { protocol }),
      endpoints,
    };
  });
}

function readPolicies(reader: Reader, at: At | undefined): ScenarioPolicy[] {
  if (at === undefined) return [];
  const seen = new Map<string, string>();
  return reader.list(at).map((item) => {
    const resolved = reader.resolve(item);
    if (!isMap(resolved.node)) reader.fail(resolved, `expected a NetworkPolicy manifest, got ${reader.describe(resolved.node)}`);
    const value = reader.plain(resolved) as Record<string, unknown>;
    const kind = value.kind;
    if (kind !== 'NetworkPolicy') reader.fail(resolved, `expected kind: NetworkPolicy, got ${kind === undefined ? 'no kind' : JSON.stringify(kind)}`);
    if (value.apiVersion !== 'networking.k8s.io/v1') {
      reader.fail(resolved, `expected apiVersion: networking.k8s.io/v1, got ${value.apiVersion === undefined ? 'no apiVersion' : JSON.stringify(value.apiVersion)}`);
    }
    const metadata = value.metadata;
    const name = typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) ? (metadata as Record<string, unknown>).name : undefined;
    if (typeof name !== 'string' || name === '') reader.fail(resolved, 'expected metadata.name, the policy\'s name');
    const previous = seen.get(name);
    if (previous !== undefined) reader.fail(resolved, `NetworkPolicy ${JSON.stringify(name)} is already defined at ${previous}`);
    seen.set(name, resolved.path);
    return value;
  });
}

function readDiagnose(reader: Reader, at: At, names: Names): ScenarioDiagnose {
  const fields = reader.map(at, ['source', 'destination', 'port', 'protocol']);
  const sourceAt = fields.required('source');
  const source = reader.string(sourceAt);
  if (names.isService(source) && names.kindOf(source) === undefined) reader.fail(sourceAt, `${JSON.stringify(source)} is a service: a service can only be a destination`);
  if (names.kindOf(source) === undefined && !isIp(source)) reader.fail(sourceAt, `no pod or node named ${JSON.stringify(source)}, and not an IP address`);
  const destinationAt = fields.required('destination');
  const destination = reader.string(destinationAt);
  const destinationKind = names.kindOf(destination);
  if (destinationKind !== undefined && names.isService(destination)) {
    reader.fail(destinationAt, `${JSON.stringify(destination)} names both a ${destinationKind} and a service: rename one`);
  }
  if (destinationKind === undefined && !names.isService(destination) && !isIp(destination)) {
    reader.fail(destinationAt, `no pod, node or service named ${JSON.stringify(destination)}, and not an IP address`);
  }
  const protocol = reader.oneOf(fields.required('protocol'), ['TCP', 'UDP', 'ICMP'] as const);
  const portAt = fields.optional('port');
  if (portAt === undefined && protocol !== 'ICMP') fields.required('port');
  const port = portAt === undefined ? undefined : reader.port(portAt);
  return { source, destination, ...(port === undefined ? {} : { port }), protocol };
}

/** A netnode as a scenario names it: a pod or node name, or an IP address. */
function readNetnode(reader: Reader, at: At, names: Names): string {
  const value = reader.string(at);
  if (names.kindOf(value) === undefined && !isIp(value)) reader.fail(at, `no pod or node named ${JSON.stringify(value)}, and not an IP address`);
  return value;
}

function readExpect(reader: Reader, at: At, names: Names): ScenarioExpect {
  const fields = reader.map(at, ['completed', 'verdict', 'path', 'suspicions', 'noOtherFatal', 'noOtherCritical', 'absent']);
  const completedAt = fields.optional('completed');
  const completed = completedAt === undefined ? undefined : reader.boolean(completedAt);
  const verdictAt = fields.optional('verdict');
  const verdict = verdictAt === undefined ? undefined : reader.oneOf(verdictAt, VERDICTS);
  if (completed === false && verdictAt !== undefined) reader.fail(verdictAt, 'a diagnosis expected not to complete has no verdict (completed: false)');
  const pathAt = fields.optional('path');
  const path = pathAt === undefined ? undefined : reader.list(pathAt).map((item) => readNetnode(reader, item, names));
  const suspicionsAt = fields.optional('suspicions');
  const suspicions = suspicionsAt === undefined ? undefined : reader.list(suspicionsAt).map((item) => readSuspicion(reader, item, names));
  const noOtherFatalAt = fields.optional('noOtherFatal');
  const noOtherFatal = noOtherFatalAt === undefined ? undefined : reader.boolean(noOtherFatalAt);
  const noOtherCriticalAt = fields.optional('noOtherCritical');
  const noOtherCritical = noOtherCriticalAt === undefined ? undefined : reader.boolean(noOtherCriticalAt);
  const absentAt = fields.optional('absent');
  const absent = absentAt === undefined ? undefined : reader.list(absentAt).map((item) => readSuspicion(reader, item, names));
  return {
    ...(completed === undefined ? {} : { completed }),
    ...(verdict === undefined ? {} : { verdict }),
    ...(path === undefined ? {} : { path }),
    ...(suspicions === undefined ? {} : { suspicions }),
    ...(noOtherFatal === undefined ? {} : { noOtherFatal }),
    ...(noOtherCritical === undefined ? {} : { noOtherCritical }),
    ...(absent === undefined ? {} : { absent }),
  };
}

function readSuspicion(reader: Reader, at: At, names: Names): ExpectedSuspicion {
  const fields = reader.map(at, ['node', 'level', 'code', 'contains']);
  const nodeAt = fields.optional('node');
  const node = nodeAt === undefined ? undefined : readNetnode(reader, nodeAt, names);
  const levelAt = fields.optional('level');
  const level = levelAt === undefined ? undefined : reader.oneOf(levelAt, LEVELS);
  const codeAt = fields.optional('code');
  const code = codeAt === undefined ? undefined : reader.string(codeAt);
  if (codeAt !== undefined && code !== undefined && !SUSPICION_CODE.test(code)) reader.fail(codeAt, `${JSON.stringify(code)} is not a suspicion code (e.g. LinkDown), nor a prefix of codes ending in * (e.g. Cni*)`);
  const containsAt = fields.optional('contains');
  const contains = containsAt === undefined ? undefined : reader.string(containsAt);
  if (node === undefined && level === undefined && code === undefined && contains === undefined) {
    reader.fail(at, 'expected at least one of node, level, code or contains');
  }
  return {
    ...(node === undefined ? {} : { node }),
    ...(level === undefined ? {} : { level }),
    ...(code === undefined ? {} : { code }),
    ...(contains === undefined ? {} : { contains }),
  };
}
