// `ip -j -d addr show`: the addresses of one network namespace, in the kernel's order (per
// device, the order of the in_device address list, which source address selection walks).

import type { IpAddress, IpFamily } from '../../model/ip.js';
import { formatIp } from '../../model/ip.js';
import type { Warning } from '../../model/warning.js';
import { optional, readEntries, type JsonDump } from './json-reader.js';
import { readLink, type Link } from './link.js';
import { scopeId, scopeName } from './names.js';

export interface Address {
  /** The device the address is on. */
  readonly dev: string;
  readonly ifindex: number;
  readonly family: IpFamily;
  /** The local address (`inet 10.0.0.1/24` → 10.0.0.1). */
  readonly local: IpAddress;
  readonly prefixLength: number;
  /** The peer of a point-to-point address (`peer`), when there is one. */
  readonly peer?: IpAddress;
  readonly broadcast?: IpAddress;
  /** RT_SCOPE_* number: 0 global, 200 site, 253 link, 254 host. */
  readonly scope: number;
  readonly label?: string;
  /** A secondary address (another address of the same subnet was there first); never a preferred source. */
  readonly secondary: boolean;
  /** Other IFA_F_* flags as printed: nodad, tentative, dadfailed, deprecated, noprefixroute, ... */
  readonly flags: readonly string[];
}

export interface ParsedAddresses {
  readonly addresses: readonly Address[];
  /** `ip addr` also prints each device's link attributes. */
  readonly links: readonly Link[];
  readonly warnings: readonly Warning[];
}

const ADDRESS_FLAGS = [
  'nodad',
  'optimistic',
  'dadfailed',
  'home',
  'deprecated',
  'tentative',
  'permanent',
  'mngtmpaddr',
  'noprefixroute',
  'autojoin',
  'stable-privacy',
  'dynamic',
];

/** Parses `ip -j [-d] addr show` (either family or both). */
export function parseAddresses(json: JsonDump, source: string): ParsedAddresses {
  const warnings: Warning[] = [];
  const addresses: Address[] = [];
  const links = readEntries(json, source, 'interface', (raw) => {
    const link = readLink(raw, warnings);
    raw.objectArray('addr_info').forEach((a, i) => {
      // `ip -4 -j addr` prints `{}` for addresses of the other family on some versions.
      if (!a.has('local') && !a.has('family')) return;
      const e = a.relabel(`interface ${link.name}, address #${i}`);
      const familyText = e.string('family');
      const family: IpFamily | undefined = familyText === 'inet' ? 4 : familyText === 'inet6' ? 6 : undefined;
      if (family === undefined) {
        warnings.push({ code: 'unsupported-address-family', message: `${link.name}: address family ${familyText} ignored`, source });
        return;
      }
      const local = e.ip('local', family);
      const prefixLength = e.integer('prefixlen', family === 4 ? 32 : 128);
      const scopeText = e.optString('scope') ?? (e.has('scope') ? String(e.integer('scope')) : 'global');
      const scope = scopeId(scopeText) ?? e.fail('scope', `unknown scope "${scopeText}"`);
      const address: Address = {
        dev: link.name,
        ifindex: link.ifindex,
        family,
        local,
        prefixLength,
        ...optional('peer', e.optIp('address', family)),
        ...optional('broadcast', e.optIp('broadcast', family)),
        scope,
        ...optional('label', e.optString('label')),
        secondary: e.flag('secondary') || e.flag('temporary'),
        flags: ADDRESS_FLAGS.filter((f) => e.flag(f)),
      };
      addresses.push(address);
    });
    return link;
  });
  return { addresses, links, warnings };
}

/** `10.0.0.1/24 scope global secondary dev eth0`, the words of `ip addr`. */
export function formatAddress(address: Address): string {
  const scope = address.scope === 0 ? '' : ` scope ${scopeName(address.scope)}`;
  return `${formatIp(address.local)}/${address.prefixLength}${scope}${address.secondary ? ' secondary' : ''} dev ${address.dev}`;
}
