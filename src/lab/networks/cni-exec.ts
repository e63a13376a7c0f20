// The CNI chain executor, as a container runtime runs a network configuration list (libcni's
// AddNetworkList / DelNetworkList / CheckNetworkList): each plugin of `plugins` is found by its
// `type` in CNI_PATH and run inside the node's network namespace (`ip netns exec NODE PLUGIN`, as
// the runtime on that node would) with exactly the CNI_* variables and PATH in its environment and
// its configuration on stdin, `name` and `cniVersion` injected from the list, `runtimeConfig` for
// the capabilities it declares, and `prevResult` chained from the plugin before it. ADD returns the
// last plugin's result and caches it per container (ROOT/var/lib/cni/results, like libcni); DEL runs
// the plugins in reverse order with the cached ADD result as prevResult (from CNI 0.4.0), CHECK in
// order with it. A plugin's failure is a CniError carrying the plugin type, the command and the
// plugin's error JSON (code, msg, details).

import { constants } from 'node:fs';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../process.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK';

/** One plugin's configuration in a list: `type` names the binary; the rest is the plugin's. */
export interface CniPluginConf {
  readonly type: string;
  readonly capabilities?: Readonly<Record<string, boolean>>;
  readonly [key: string]: unknown;
}

export interface CniConflist {
  /** Where it was read from (for messages). */
  readonly file: string;
  readonly name: string;
  readonly cniVersion: string;
  readonly plugins: readonly CniPluginConf[];
  /** The file's text (cached with each result, as libcni does). */
  readonly text: string;
}

/** A CNI result as a plugin prints it (0.3.0 and later: interfaces, ips, routes, dns). */
export type CniResult = Readonly<Record<string, unknown>>;

/** The error JSON a plugin prints on failure. */
export interface CniErrorBody {
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

/** A configuration list that cannot be used: the message names the file and the field. */
export class CniConfigError extends Error {
  override readonly name = 'CniConfigError';
}

/** A plugin failed (or could not be found or run). */
export class CniError extends Error {
  override readonly name = 'CniError';
  constructor(
    readonly pluginType: string,
    readonly command: CniCommand,
    readonly network: string,
    readonly containerId: string,
    /** The plugin's error JSON; absent when the plugin could not run or printed none. */
    readonly cniError: CniErrorBody | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** Where the plugins run and what they get, on one node. */
export interface CniRuntime {
  /** The node's network namespace: plugins run inside it. */
  readonly nodeNetns: string;
  /** CNI_PATH: the directories searched for a plugin's `type`, in order. */
  readonly cniPath: readonly string[];
  /** The node's ROOT/var/lib/cni: cached results go to its results/ directory. */
  readonly cacheDir: string;
  readonly timeoutMs?: number;
}

/** One attachment: a container's interface in a network namespace. */
export interface CniRuntimeConf {
  readonly containerId: string;
  /** The pod's network namespace name (CNI_NETNS=/run/netns/NAME). */
  readonly netns: string;
  readonly ifName: string;
  /** CNI_ARGS, in order (`K=V;K=V`). */
  readonly args?: readonly (readonly [string, string])[];
  /** Values for the capabilities plugins declare (portMappings, bandwidth, ...), passed as runtimeConfig. */
  readonly capabilityArgs?: Readonly<Record<string, unknown>>;
}

const VERSION = /^(\d+)\.(\d+)\.(\d+)$/;
const PLUGIN_TYPE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** The spec versions a list may declare (each plugin checks its own support). */
const KNOWN_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** The CNI_ARGS kubelet's runtime (containerd, CRI-O) passes for a pod's sandbox. */
export function podCniArgs(pod: { readonly namespace: string; readonly name: string; readonly uid: string; readonly containerId: string }): [string, string][] {
  return [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', pod.namespace],
    ['K8S_POD_NAME', pod.name],
    ['K8S_POD_INFRA_CONTAINER_ID', pod.containerId],
    ['K8S_POD_UID', pod.uid],
  ];
}

/** Checks a configuration list's text; `file` names it in errors (`FILE: FIELD: what is wrong`). */
export function parseConflist(text: string, file: string): CniConflist {
  const fail = (field: string, what: string): never => {
    throw new CniConfigError(`${file}: ${field === '' ? '' : `${field}: `}${what}`);
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail('', `not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!isObject(value)) return fail('', `expected a JSON object (a network configuration list), got ${describe(value)}`);
  const { name, cniVersion, plugins } = value;
  if (typeof name !== 'string' || name === '') fail('name', `expected the network's name, got ${describe(name)}`);
  if (typeof cniVersion !== 'string' || !VERSION.test(cniVersion)) fail('cniVersion', `expected a version such as "1.0.0", got ${describe(cniVersion)}`);
  if (!KNOWN_VERSIONS.includes(String(cniVersion))) fail('cniVersion', `unknown CNI spec version ${JSON.stringify(cniVersion)} (known: ${KNOWN_VERSIONS.join(', ')})`);
  if (!Array.isArray(plugins)) {
    return fail('plugins', value.type !== undefined ? 'missing: this is a single network configuration, not a list (.conflist)' : `expected a list of plugin configurations, got ${describe(plugins)}`);
  }
  if (plugins.length === 0) fail('plugins', 'empty: a list needs at least one plugin');
  const checked = plugins.map((plugin: unknown, i): CniPluginConf => {
    if (!isObject(plugin)) return fail(`plugins[${i}]`, `expected a plugin configuration object, got ${describe(plugin)}`);
    const type = plugin.type;
    if (typeof type !== 'string' || type === '') return fail(`plugins[${i}].type`, `expected the plugin's type (its binary's name), got ${describe(type)}`);
    if (!PLUGIN_TYPE.test(type)) return fail(`plugins[${i}].type`, `${JSON.stringify(type)} is not a plugin name (a file name in CNI_PATH, no "/")`);
    const capabilities = plugin.capabilities;
    if (capabilities !== undefined && (!isObject(capabilities) || Object.values(capabilities).some((v) => typeof v !== 'boolean'))) {
      fail(`plugins[${i}].capabilities`, `expected an object of booleans, got ${describe(capabilities)}`);
    }
    return plugin as CniPluginConf;
  });
  return { file, name: String(name), cniVersion: String(cniVersion), plugins: checked, text };
}

/** Reads and checks a configuration list file. */
export async function readConflist(path: string): Promise<CniConflist> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new CniConfigError(`${path}: cannot read the network configuration list: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return parseConflist(text, path);
}

/** Runs ADD through the list; caches and returns the last plugin's result. */
export async function cniAdd(runtime: CniRuntime, list: CniConflist, conf: CniRuntimeConf): Promise<CniResult> {
  let prevResult: CniResult | undefined;
  for (const plugin of list.plugins) prevResult = await invoke(runtime, list, plugin, conf, 'ADD', prevResult);
  if (prevResult === undefined) throw new CniConfigError(`${list.file}: plugins: empty`);
  await writeCache(runtime, list, conf, prevResult);
  return prevResult;
}

/**
 * Runs DEL through the list in reverse order, each plugin with the cached ADD result as
 * prevResult (CNI 0.4.0 and later), then forgets the cached result. Without a cached result
 * (never added, already deleted) the plugins are still called, as libcni does: DEL is idempotent.
 */
export async function cniDel(runtime: CniRuntime, list: CniConflist, conf: CniRuntimeConf): Promise<void> {
  const cached = atLeast(list.cniVersion, '0.4.0') ? await cachedResult(runtime, list, conf) : undefined;
  for (const plugin of [...list.plugins].reverse()) await invoke(runtime, list, plugin, conf, 'DEL', cached);
  await rm(cachePath(runtime, list, conf), { force: true });
}

/** Runs CHECK through the list in order with the cached ADD result (CNI 0.4.0 and later). */
export async function cniCheck(runtime: CniRuntime, list: CniConflist, conf: CniRuntimeConf): Promise<void> {
  if (!atLeast(list.cniVersion, '0.4.0')) throw new CniConfigError(`${list.file}: cniVersion: CHECK needs 0.4.0 or later, the list says ${list.cniVersion}`);
  const cached = await cachedResult(runtime, list, conf);
  if (cached === undefined) throw new Error(`no cached result for ${list.name}/${conf.containerId}/${conf.ifName}: CHECK needs a previous ADD`);
  for (const plugin of list.plugins) await invoke(runtime, list, plugin, conf, 'CHECK', cached);
}

/** The result ADD cached for this attachment, if any. */
export async function cachedResult(runtime: CniRuntime, list: CniConflist, conf: CniRuntimeConf): Promise<CniResult | undefined> {
  try {
    const entry = JSON.parse(await readFile(cachePath(runtime, list, conf), 'utf8')) as { result?: unknown };
    return isObject(entry.result) ? entry.result : undefined;
  } catch {
    return undefined;
  }
}

/** The cache file of an attachment: RESULTS/NETWORK-CONTAINERID-IFNAME, as libcni names it. */
export function cachePath(runtime: CniRuntime, list: CniConflist, conf: CniRuntimeConf): string {
  return join(runtime.cacheDir, 'results', `${list.name}-${conf.containerId}-${conf.ifName}`);
}

/** The first IPv4 address of a result, without its prefix length (0.3.0+ `ips`, or 0.2.0 `ip4`). */
export function resultIPv4(result: CniResult): string | undefined {
  const ips = Array.isArray(result.ips) ? (result.ips as unknown[]) : [];
  for (const ip of ips) {
    const address = isObject(ip) && typeof ip.address === 'string' ? ip.address.split('/')[0] : undefined;
    if (address !== undefined && address.includes('.')) return address;
  }
  const ip4 = result.ip4;
  if (isObject(ip4) && typeof ip4.ip === 'string') return ip4.ip.split('/')[0];
  return undefined;
}

async function writeCache(runtime: CniRuntime, list: CniConflist, conf: CniRuntimeConf, result: CniResult): Promise<void> {
  const path = cachePath(runtime, list, conf);
  await mkdir(join(runtime.cacheDir, 'results'), { recursive: true });
  const entry = {
    kind: 'cniCacheV1',
    containerId: conf.containerId,
    config: Buffer.from(list.text).toString('base64'),
    ifName: conf.ifName,
    networkName: list.name,
    netns: netnsPath(conf),
    cniArgs: conf.args ?? [],
    ...(conf.capabilityArgs === undefined ? {} : { capabilityArgs: conf.capabilityArgs }),
    result,
  };
  await writeFile(path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
}

async function findPlugin(runtime: CniRuntime, type: string): Promise<string | undefined> {
  for (const dir of runtime.cniPath) {
    const path = join(dir, type);
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

async function invoke(runtime: CniRuntime, list: CniConflist, plugin: CniPluginConf, conf: CniRuntimeConf, command: CniCommand, prevResult: CniResult | undefined): Promise<CniResult | undefined> {
  const where = `CNI ${command} of plugin ${JSON.stringify(plugin.type)} (network ${list.name}, container ${conf.containerId}, ${conf.ifName})`;
  const binary = await findPlugin(runtime, plugin.type);
  if (binary === undefined) {
    throw new CniError(plugin.type, command, list.name, conf.containerId, undefined, `${where}: failed to find plugin ${JSON.stringify(plugin.type)} in path [${runtime.cniPath.join(' ')}]`);
  }
  const runtimeConfig: Record<string, unknown> = {};
  for (const [capability, enabled] of Object.entries(plugin.capabilities ?? {})) {
    const value = conf.capabilityArgs?.[capability];
    if (enabled && value !== undefined) runtimeConfig[capability] = value;
  }
  const config = {
    ...plugin,
    name: list.name,
    cniVersion: list.cniVersion,
    ...(Object.keys(runtimeConfig).length > 0 ? { runtimeConfig } : {}),
    ...(prevResult !== undefined ? { prevResult } : {}),
  };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: conf.containerId,
    CNI_NETNS: netnsPath(conf),
    CNI_IFNAME: conf.ifName,
    CNI_PATH: runtime.cniPath.join(':'),
  };
  if (conf.args !== undefined && conf.args.length > 0) env.CNI_ARGS = conf.args.map(([k, v]) => `${k}=${v}`).join(';');
  const result = await runCommand('ip', ['netns', 'exec', runtime.nodeNetns, binary], { env, input: JSON.stringify(config), timeoutMs: runtime.timeoutMs ?? 60_000 });
  if (!result.ok) {
    const body = parseErrorBody(result.stdout) ?? parseErrorBody(result.stderr);
    const text = body === undefined
      ? `exit ${result.status}: ${(result.stderr || result.stdout).trim() || 'no output'}`
      : `code ${body.code}: ${body.msg}${body.details !== undefined && body.details !== '' ? ` (${body.details})` : ''}`;
    throw new CniError(plugin.type, command, list.name, conf.containerId, body, `${where} failed: ${text}`);
  }
  if (command !== 'ADD') return prevResult;
  try {
    const parsed = JSON.parse(result.stdout) as unknown;
    if (isObject(parsed)) return parsed;
  } catch {
    // Reported below.
  }
  throw new CniError(plugin.type, command, list.name, conf.containerId, undefined, `${where} printed no result: ${JSON.stringify(result.stdout.trim().slice(0, 500))}`);
}

function parseErrorBody(text: string): CniErrorBody | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    if (isObject(value) && typeof value.code === 'number' && typeof value.msg === 'string') {
      return { code: value.code, msg: value.msg, ...(typeof value.details === 'string' ? { details: value.details } : {}) };
    }
  } catch {
    // Not an error JSON.
  }
  return undefined;
}

function netnsPath(conf: CniRuntimeConf): string {
  return `/run/netns/${conf.netns}`;
}

/** version >= floor, both `X.Y.Z`. */
function atLeast(version: string, floor: string): boolean {
  const a = VERSION.exec(version)?.slice(1).map(Number) ?? [0, 0, 0];
  const b = VERSION.exec(floor)?.slice(1).map(Number) ?? [0, 0, 0];
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : JSON.stringify(value);
}
