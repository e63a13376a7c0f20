// A node's CNI configuration as the container runtime reads it: the first `.conf`, `.conflist` or
// `.json` file of the configuration directory in lexical order (libcni's ConfFiles, then the
// runtime takes the first), a network configuration list (`plugins`) or a single plugin's
// configuration, each plugin with its `type`. Field readers name the file and the field at fault
// (`plugins[0].ipam.subnet`), and host-local IPAM (`subnet`/`ranges`, `gateway`, `routes`) is read
// here because every bridge-shaped CNI delegates to it. Pure: the files arrive as strings.

import { ipAdd, parseIp, parsePrefix, prefixContains, formatPrefix, type IpAddress, type IpPrefix } from '../model/ip.js';
import type { CniConfigFile } from './cluster-state.js';

/** What is wrong with a configuration: the file, the field (a JSON path such as `plugins[0].ipam.subnet`) and why. */
export interface CniConfigError {
  readonly file: string;
  readonly field?: string;
  readonly message: string;
}

export function formatCniConfigError(e: CniConfigError): string {
  return `${e.file}${e.field !== undefined ? `: ${e.field}` : ''}: ${e.message}`;
}

/** One plugin of the list, with its raw fields for the plugin's own reader. */
export interface CniPluginConfig {
  readonly type: string;
  /** Position in `plugins` (0 for a single-plugin `.conf`). */
  readonly index: number;
  /** The JSON path of this plugin's object: `plugins[1]`, or `` for a single-plugin file. */
  readonly field: string;
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface CniNetworkConfig {
  readonly file: string;
  readonly name: string;
  readonly cniVersion?: string;
  readonly plugins: readonly CniPluginConfig[];
}

export type CniConfigResult = { readonly kind: 'ok'; readonly config: CniNetworkConfig } | { readonly kind: 'error'; readonly error: CniConfigError };

const EXTENSIONS = ['.conf', '.conflist', '.json'];

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Whether the runtime considers the file at all (by its extension). */
export function isCniConfigFileName(path: string): boolean {
  return EXTENSIONS.some((ext) => path.endsWith(ext));
}

/** The file the runtime uses: the first configuration file in lexical order of the paths. */
export function selectCniConfigFile(files: readonly CniConfigFile[]): CniConfigFile | undefined {
  return files.filter((f) => isCniConfigFileName(f.path)).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))[0];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(field: string, key: string | number): string {
  if (typeof key === 'number') return `${field}[${key}]`;
  return field === '' ? key : `${field}.${key}`;
}

/** Parses one configuration file: a list (`plugins`), or a single plugin's configuration (`.conf`). */
export function parseCniConfig(path: string, content: string): CniConfigResult {
  const fail = (message: string, field?: string): CniConfigResult => ({ kind: 'error', error: { file: path, ...(field !== undefined ? { field } : {}), message } });
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch (error) {
    return fail(`not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isObject(json)) return fail('not a JSON object');
  const cniVersion = json.cniVersion;
  if (cniVersion !== undefined && typeof cniVersion !== 'string') return fail(`must be a string, not ${JSON.stringify(cniVersion)}`, 'cniVersion');
  const name = json.name;
  if (typeof name !== 'string' || name === '') return fail('missing: a network configuration needs a name', 'name');
  const version = cniVersion === undefined ? {} : { cniVersion };
  // libcni reads a .conflist as a list; other files as one plugin, unless they carry `plugins`.
  if (path.endsWith('.conflist') || 'plugins' in json) {
    const list = json.plugins;
    if (!Array.isArray(list)) return fail('missing or not an array', 'plugins');
    if (list.length === 0) return fail('empty: the list has no plugin', 'plugins');
    const plugins: CniPluginConfig[] = [];
    for (const [index, raw] of list.entries()) {
      const field = join('plugins', index);
      if (!isObject(raw)) return fail('not a JSON object', field);
      if (typeof raw.type !== 'string' || raw.type === '') return fail('missing: every plugin needs a type', join(field, 'type'));
      plugins.push({ type: raw.type, index, field, raw });
    }
    return { kind: 'ok', config: { file: path, name, ...version, plugins } };
  }
  if (typeof json.type !== 'string' || json.type === '') return fail('missing: a plugin configuration needs a type', 'type');
  return { kind: 'ok', config: { file: path, name, ...version, plugins: [{ type: json.type, index: 0, field: '', raw: json }] } };
}

/** The node's configuration as the runtime would load it, or why there is none. */
export function loadCniConfig(files: readonly CniConfigFile[]): CniConfigResult | { readonly kind: 'none'; readonly message: string } {
  const file = selectCniConfigFile(files);
  if (file === undefined) {
    const names = files.map((f) => baseName(f.path));
    return { kind: 'none', message: names.length === 0 ? 'no CNI configuration file was collected' : `no .conf, .conflist or .json file among ${names.join(', ')}` };
  }
  if (file.content === undefined) return { kind: 'error', error: { file: file.path, message: `cannot be read (${file.error ?? 'no content collected'})` } };
  return parseCniConfig(file.path, file.content);
}

/** The first plugin of the list with this type. */
export function findPlugin(config: CniNetworkConfig, type: string): CniPluginConfig | undefined {
  return config.plugins.find((p) => p.type === type);
}

/**
 * Typed reads of a plugin's fields; a field of the wrong type is an error naming the file and its
 * JSON path. Readers return undefined for an absent field, so callers apply the plugin's defaults.
 */
export class CniFieldReader {
  private readonly errors: CniConfigError[] = [];

  constructor(
    private readonly file: string,
    private readonly field: string,
    private readonly raw: Readonly<Record<string, unknown>>,
    errors?: CniConfigError[],
  ) {
    if (errors !== undefined) this.errors = errors;
  }

  /** The errors met so far (shared with nested readers). */
  get problems(): readonly CniConfigError[] {
    return this.errors;
  }

  private fail(key: string, message: string): undefined {
    this.errors.push({ file: this.file, field: join(this.field, key), message });
    return undefined;
  }

  fieldPath(key: string | number): string {
    return join(this.field, key);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  string(key: string): string | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : this.fail(key, `must be a string, not ${JSON.stringify(v)}`);
  }

  boolean(key: string): boolean | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'boolean' ? v : this.fail(key, `must be true or false, not ${JSON.stringify(v)}`);
  }

  integer(key: string): number | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' && Number.isInteger(v) ? v : this.fail(key, `must be an integer, not ${JSON.stringify(v)}`);
  }

  ip(key: string): IpAddress | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    return parseIp(text) ?? this.fail(key, `"${text}" is not an IP address`);
  }

  /** A CIDR; host bits may be set (`10.244.0.1/24`), as Go's net.ParseCIDR allows. */
  prefix(key: string): IpPrefix | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    const prefix = /^[0-9a-fA-F.:]+\/\d{1,3}$/.test(text) ? parsePrefix(text) : undefined;
    return prefix ?? this.fail(key, `"${text}" is not a CIDR (address/length)`);
  }

  object(key: string): CniFieldReader | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (!isObject(v)) return this.fail(key, 'must be a JSON object');
    return new CniFieldReader(this.file, join(this.field, key), v, this.errors);
  }

  /** An array's elements; each element read by `each` with its own path. */
  array<T>(key: string, each: (value: unknown, field: string, index: number) => T | undefined): T[] | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) return this.fail(key, 'must be an array');
    const out: T[] = [];
    v.forEach((item, i) => {
      const read = each(item, join(join(this.field, key), i), i);
      if (read !== undefined) out.push(read);
    });
    return out;
  }

  /** A nested reader for an element of an array (see `array`). */
  nested(value: unknown, field: string): CniFieldReader | undefined {
    if (!isObject(value)) {
      this.errors.push({ file: this.file, field, message: 'must be a JSON object' });
      return undefined;
    }
    return new CniFieldReader(this.file, field, value, this.errors);
  }

  /** Records a problem that is not a field's type (a value out of range, an inconsistency). */
  problem(key: string, message: string): void {
    this.fail(key, message);
  }

  /** Records a problem at a full JSON path (an array element). */
  problemAt(field: string, message: string): void {
    this.errors.push({ file: this.file, field, message });
  }
}

/** A range of host-local IPAM: the subnet, the allocatable span, and the gateway. */
export interface IpamRange {
  readonly subnet: IpPrefix;
  readonly rangeStart?: IpAddress;
  readonly rangeEnd?: IpAddress;
  /** `gateway`, else the first address of the subnet (host-local's default). */
  readonly gateway: IpAddress;
  /** Whether the gateway was written in the configuration. */
  readonly gatewaySet: boolean;
}

export interface IpamRoute {
  readonly dst: IpPrefix;
  /** `gw`; undefined: the gateway of the interface's address of that family. */
  readonly gw?: IpAddress;
}

export interface HostLocalIpam {
  readonly type: 'host-local';
  /** Range sets (`ranges`); the legacy `subnet` form is one set of one range. */
  readonly rangeSets: readonly (readonly IpamRange[])[];
  readonly routes: readonly IpamRoute[];
  readonly dataDir?: string;
}

export type IpamConfig = HostLocalIpam | { readonly type: string; readonly unsupported: true };

function readRange(r: CniFieldReader): IpamRange | undefined {
  const subnet = r.prefix('subnet');
  if (subnet === undefined) {
    if (!r.has('subnet')) r.problem('subnet', 'missing: a host-local range needs a subnet');
    return undefined;
  }
  const rangeStart = r.ip('rangeStart');
  const rangeEnd = r.ip('rangeEnd');
  const gateway = r.ip('gateway');
  for (const [key, ip] of [['rangeStart', rangeStart], ['rangeEnd', rangeEnd], ['gateway', gateway]] as const) {
    if (ip !== undefined && !prefixContains(subnet, ip)) r.problem(key, `outside the subnet ${formatPrefix(subnet)}`);
  }
  return {
    subnet,
    ...(rangeStart !== undefined ? { rangeStart } : {}),
    ...(rangeEnd !== undefined ? { rangeEnd } : {}),
    gateway: gateway ?? ipAdd({ family: subnet.family, value: subnet.network }, 1n),
    gatewaySet: gateway !== undefined,
  };
}

/** Reads a plugin's `ipam` object; host-local is understood, other types are named as such. */
export function readIpam(plugin: CniFieldReader): IpamConfig | undefined {
  const ipam = plugin.object('ipam');
  if (ipam === undefined) return undefined;
  const type = ipam.string('type');
  if (type === undefined) {
    ipam.problem('type', 'missing: the IPAM plugin needs a type');
    return undefined;
  }
  if (type !== 'host-local') return { type, unsupported: true };
  const rangeSets: IpamRange[][] = [];
  if (ipam.has('subnet')) {
    const range = readRange(ipam);
    if (range !== undefined) rangeSets.push([range]);
  }
  const sets =
    ipam.array('ranges', (set, field) => {
      if (!Array.isArray(set)) {
        ipam.problemAt(field, 'must be an array of ranges');
        return undefined;
      }
      const ranges: IpamRange[] = [];
      set.forEach((r: unknown, i) => {
        const reader = ipam.nested(r, `${field}[${i}]`);
        const range = reader === undefined ? undefined : readRange(reader);
        if (range !== undefined) ranges.push(range);
      });
      return ranges;
    }) ?? [];
  rangeSets.push(...sets.filter((s) => s.length > 0));
  if (rangeSets.length === 0 && !ipam.has('subnet') && !ipam.has('ranges')) ipam.problem('ranges', 'missing: host-local needs `subnet` or `ranges`');
  const routes =
    ipam.array('routes', (route, field) => {
      const r = ipam.nested(route, field);
      if (r === undefined) return undefined;
      const dst = r.prefix('dst');
      if (dst === undefined) {
        if (!r.has('dst')) r.problem('dst', 'missing: a route needs a dst');
        return undefined;
      }
      const gw = r.ip('gw');
      return { dst, ...(gw !== undefined ? { gw } : {}) };
    }) ?? [];
  const dataDir = ipam.string('dataDir');
  return { type: 'host-local', rangeSets, routes, ...(dataDir !== undefined ? { dataDir } : {}) };
}

/** The range of `ipam` whose subnet holds `ip`, if any. */
export function rangeHolding(ipam: HostLocalIpam, ip: IpAddress): IpamRange | undefined {
  return ipam.rangeSets.flat().find((r) => prefixContains(r.subnet, ip));
}
