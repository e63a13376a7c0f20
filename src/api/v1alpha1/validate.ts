// Checks a NetworkDiagnosis spec the way the CRD's OpenAPI schema and CEL rules do, for the
// operator's own defence (a spec that got past an older CRD) and for the CLI, before anything is
// sent. Each problem names the field (`spec.source.ip`) and says what is wrong; the CEL messages
// are the CRD's own words, word for word (test/api/crd.test.ts holds both to the same table).

import { NETWORK_PLUGINS, NETWORK_PROVIDERS, PROTOCOLS, type NetworkDiagnosisSpec } from './types.js';

export interface SpecProblem {
  /** The field at fault, as the API server names it: `spec.source`, `spec.destination.pod.name`. */
  readonly field: string;
  readonly message: string;
}

/** The messages of the CRD's CEL rules (crds/netdiag.io_networkdiagnoses.yaml), word for word. */
export const MESSAGES = {
  sourceExactlyOne: 'exactly one of pod, node or ip must be set',
  destinationExactlyOne: 'exactly one of pod, service, node or ip must be set',
  serviceOnlyDestination: 'a service can only be a destination',
  ip: 'ip must be an IPv4 or IPv6 address',
  portRequired: 'port is required for TCP and UDP',
  portWithIcmp: 'port must not be set for ICMP',
  namespace: "namespace must be a lowercase RFC 1123 label (a-z, 0-9 and '-', at most 63 characters)",
  subdomainName: "name must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-' and '.', at most 253 characters)",
  serviceName: "name must be a lowercase RFC 1035 label (a-z, 0-9 and '-', starting with a letter, at most 63 characters)",
  intervalFormat: 'interval must be a duration such as 90s, 5m or 1h30m',
  intervalMinimum: 'interval must be at least 1m',
} as const;

/** The shortest interval allowed, in seconds. */
export const MIN_INTERVAL_SECONDS = 60;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DURATION = /^([0-9]+(h|m|s))+$/;
const UNIT_SECONDS: Readonly<Record<string, number>> = { h: 3600, m: 60, s: 1 };

type Json = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseIpv4Octets(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const part of parts) {
    // No leading zeros: 010 is octal to some parsers and decimal to others.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    octets.push(octet);
  }
  return octets;
}

/** The 8 groups of an IPv6 address (an embedded IPv4 tail allowed), undefined when it is not one. */
function parseIpv6Groups(text: string): number[] | undefined {
  let body = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.includes('.', lastColon)) {
    const v4 = parseIpv4Octets(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = v4;
    tail = [(a << 8) | b, (c << 8) | d];
    body = text.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::"; "64:ff9b::1.2.3.4" leaves "64:ff9b::"; "1:2:3:4:5:6:1.2.3.4" leaves "1:2:3:4:5:6:".
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): number[] | undefined => {
    if (s === '') return [];
    const groups: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      groups.push(parseInt(g, 16));
    }
    return groups;
  };
  const head = groupsOf(halves[0] ?? '');
  const rest = halves.length === 2 ? groupsOf(halves[1] ?? '') : [];
  if (head === undefined || rest === undefined) return undefined;
  const explicit = head.length + rest.length + tail.length;
  if (halves.length === 1 ? explicit !== 8 : explicit > 7) return undefined;
  return [...head, ...Array<number>(8 - explicit).fill(0), ...rest, ...tail];
}

/**
 * Whether `text` is an IPv4 or IPv6 address as Kubernetes' CEL `isIP()` takes it: no zone
 * (`%eth0`), no prefix, no leading zeros in IPv4, and no IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
 */
export function isIpAddress(text: string): boolean {
  if (text.includes(':')) {
    const groups = parseIpv6Groups(text);
    if (groups === undefined) return false;
    const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
    return !mapped;
  }
  return parseIpv4Octets(text) !== undefined;
}

/** Seconds in a duration of the form the CRD accepts (`90s`, `5m`, `1h30m`); undefined when not one. */
export function parseIntervalSeconds(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let seconds = 0;
  for (const [, amount = '0', unit = 's'] of text.matchAll(/([0-9]+)(h|m|s)/g)) seconds += Number(amount) * (UNIT_SECONDS[unit] ?? 0);
  return seconds;
}

function checkString(value: unknown, field: string, maxLength: number, problems: SpecProblem[]): value is string {
  if (typeof value !== 'string') {
    problems.push({ field, message: 'must be a string' });
    return false;
  }
  if (value.length > maxLength) {
    problems.push({ field, message: `may not be longer than ${maxLength} characters` });
    return false;
  }
  return true;
}

function checkRef(value: unknown, field: string, kind: 'pod' | 'service' | 'node', problems: SpecProblem[]): void {
  if (!isObject(value)) {
    problems.push({ field, message: 'must be an object' });
    return;
  }
  if (kind !== 'node' && value.namespace !== undefined) {
    if (checkString(value.namespace, `${field}.namespace`, 63, problems) && !DNS1123_LABEL.test(value.namespace)) {
      problems.push({ field: `${field}.namespace`, message: MESSAGES.namespace });
    }
  }
  if (value.name === undefined) {
    problems.push({ field: `${field}.name`, message: 'name is required' });
  } else if (kind === 'service') {
    if (checkString(value.name, `${field}.name`, 63, problems) && !DNS1035_LABEL.test(value.name)) {
      problems.push({ field: `${field}.name`, message: MESSAGES.serviceName });
    }
  } else if (checkString(value.name, `${field}.name`, 253, problems) && !DNS1123_SUBDOMAIN.test(value.name)) {
    problems.push({ field: `${field}.name`, message: MESSAGES.subdomainName });
  }
}

function checkEndpoint(value: unknown, field: 'spec.source' | 'spec.destination', problems: SpecProblem[]): void {
  if (value === undefined) {
    problems.push({ field, message: `${field.slice('spec.'.length)} is required` });
    return;
  }
  if (!isObject(value)) {
    problems.push({ field, message: 'must be an object' });
    return;
  }
  if (value.pod !== undefined) checkRef(value.pod, `${field}.pod`, 'pod', problems);
  if (value.service !== undefined) checkRef(value.service, `${field}.service`, 'service', problems);
  if (value.node !== undefined) checkRef(value.node, `${field}.node`, 'node', problems);
  if (value.ip !== undefined && checkString(value.ip, `${field}.ip`, 45, problems) && !isIpAddress(value.ip)) {
    problems.push({ field: `${field}.ip`, message: MESSAGES.ip });
  }
  const set = (['pod', 'service', 'node', 'ip'] as const).filter((k) => value[k] !== undefined);
  if (field === 'spec.source') {
    if (value.service !== undefined) problems.push({ field, message: MESSAGES.serviceOnlyDestination });
    else if (set.length !== 1) problems.push({ field, message: MESSAGES.sourceExactlyOne });
  } else if (set.length !== 1) {
    problems.push({ field, message: MESSAGES.destinationExactlyOne });
  }
}

/**
 * The problems of a NetworkDiagnosis spec (parsed JSON/YAML of unknown shape), as the CRD would
 * refuse it; empty when it is valid. Fields the CRD does not know are reported too (the API
 * server drops or refuses them, depending on the client's field validation).
 */
export function validateSpec(spec: unknown): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (!isObject(spec)) return [{ field: 'spec', message: 'spec is required and must be an object' }];
  const known = new Set(['source', 'destination', 'port', 'protocol', 'network', 'interval']);
  for (const key of Object.keys(spec)) if (!known.has(key)) problems.push({ field: `spec.${key}`, message: `unknown field "${key}"` });

  checkEndpoint(spec.source, 'spec.source', problems);
  checkEndpoint(spec.destination, 'spec.destination', problems);

  const { port, protocol } = spec;
  let protocolValid = false;
  if (protocol === undefined) problems.push({ field: 'spec.protocol', message: 'protocol is required' });
  else if (typeof protocol !== 'string' || !(PROTOCOLS as readonly string[]).includes(protocol)) {
    problems.push({ field: 'spec.protocol', message: `protocol must be one of ${PROTOCOLS.join(', ')}` });
  } else protocolValid = true;

  if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)) {
    problems.push({ field: 'spec.port', message: 'port must be an integer from 1 to 65535' });
  } else if (protocolValid && protocol !== 'ICMP' && port === undefined) {
    problems.push({ field: 'spec.port', message: MESSAGES.portRequired });
  } else if (protocolValid && protocol === 'ICMP' && port !== undefined) {
    problems.push({ field: 'spec.port', message: MESSAGES.portWithIcmp });
  }

  if (spec.network !== undefined) {
    if (!isObject(spec.network)) problems.push({ field: 'spec.network', message: 'must be an object' });
    else {
      const { plugin, provider } = spec.network;
      if (plugin !== undefined && !(NETWORK_PLUGINS as readonly unknown[]).includes(plugin)) {
        problems.push({ field: 'spec.network.plugin', message: `plugin must be one of ${NETWORK_PLUGINS.join(', ')}` });
      }
      if (provider !== undefined && !(NETWORK_PROVIDERS as readonly unknown[]).includes(provider)) {
        problems.push({ field: 'spec.network.provider', message: `provider must be one of ${NETWORK_PROVIDERS.join(', ')}` });
      }
    }
  }

  if (spec.interval !== undefined && checkString(spec.interval, 'spec.interval', 32, problems)) {
    const seconds = parseIntervalSeconds(spec.interval);
    if (seconds === undefined) problems.push({ field: 'spec.interval', message: MESSAGES.intervalFormat });
    else if (seconds < MIN_INTERVAL_SECONDS) problems.push({ field: 'spec.interval', message: MESSAGES.intervalMinimum });
  }
  return problems;
}

/** A spec known to be valid, typed; throws an Error listing every problem (`FIELD: MESSAGE`) otherwise. */
export function parseSpec(spec: unknown): NetworkDiagnosisSpec {
  const problems = validateSpec(spec);
  if (problems.length > 0) throw new Error(`invalid NetworkDiagnosis spec:\n${problems.map((p) => `  ${p.field}: ${p.message}`).join('\n')}`);
  return spec as NetworkDiagnosisSpec;
}
