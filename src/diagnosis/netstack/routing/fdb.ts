// `bridge -j fdb show`: the forwarding databases of bridges and VXLAN devices.

import type { IpAddress } from '../../model/ip.js';
import type { Warning } from '../../model/warning.js';
import { optional, readEntries, type JsonDump } from './json-reader.js';

/** An entry of a bridge or VXLAN forwarding database. */
export interface FdbEntry {
  readonly mac: string;
  /** The port (bridge port or the vxlan device itself). */
  readonly dev: string;
  /** Remote VTEP of a vxlan entry. */
  readonly dst?: IpAddress;
  readonly vlan?: number;
  /** UDP port of a vxlan entry, when it differs from the device's. */
  readonly port?: number;
  readonly vni?: number;
  readonly srcVni?: number;
  /** Underlay device of a vxlan entry (`via`). */
  readonly via?: string;
  /** The bridge the port belongs to (entries of the bridge's own database). */
  readonly master?: string;
  /** NTF_SELF: the entry is in the device's own database (vxlan, or the bridge device itself). */
  readonly self: boolean;
  /** NTF_MASTER: the entry is in the master bridge's database. */
  readonly masterFlag: boolean;
  readonly router: boolean;
  readonly externLearn: boolean;
  readonly offload: boolean;
  readonly sticky: boolean;
  /** `permanent` (local), `static`, `stale`, or `dynamic` (printed as nothing). */
  readonly state: 'permanent' | 'static' | 'stale' | 'dynamic' | 'unknown';
}

export interface ParsedFdb {
  readonly entries: readonly FdbEntry[];
  readonly warnings: readonly Warning[];
}

/** Parses `bridge -j fdb show`. */
export function parseFdb(json: JsonDump, source: string): ParsedFdb {
  const warnings: Warning[] = [];
  const entries = readEntries(json, source, 'fdb entry', (raw) => {
    const mac = raw.string('mac');
    const e = raw.relabel(`${raw.entry} (${mac})`);
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) e.fail('mac', `expected a MAC address, got "${mac}"`);
    const dev = e.optString('ifname') ?? e.optString('dev') ?? e.fail('ifname', 'missing');
    const flags = e.stringArray('flags');
    const stateText = e.optString('state') ?? '';
    let state: FdbEntry['state'];
    switch (stateText) {
      case 'permanent':
      case 'static':
      case 'stale':
        state = stateText;
        break;
      case '':
        state = 'dynamic';
        break;
      default:
        warnings.push({ code: 'unknown-fdb-state', message: `${e.entry}: state "${stateText}" is not known`, source });
        state = 'unknown';
    }
    const viaIndex = e.optInteger('viaIfIndex');
    const entry: FdbEntry = {
      mac: mac.toLowerCase(),
      dev,
      ...optional('dst', e.optIp('dst')),
      ...optional('vlan', e.optInteger('vlan', 4095)),
      ...optional('port', e.optInteger('port', 0xffff)),
      ...optional('vni', e.optInteger('vni')),
      ...optional('srcVni', e.optInteger('src_vni')),
      ...optional('via', e.optString('viaIf') ?? (viaIndex === undefined ? undefined : `if${viaIndex}`)),
      ...optional('master', e.optString('master')),
      self: flags.includes('self'),
      masterFlag: flags.includes('master') || e.has('master'),
      router: flags.includes('router'),
      externLearn: flags.includes('extern_learn'),
      offload: flags.includes('offload'),
      sticky: flags.includes('sticky'),
      state,
    };
    return entry;
  });
  return { entries, warnings };
}
