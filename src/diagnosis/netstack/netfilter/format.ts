// Targets and NAT ranges written back as iptables-save writes them, for traces and messages.

import { formatIp, type IpAddress } from '../../model/ip.js';
import { assertNever } from '../../model/assert-never.js';
import type { NatRange, NumberRange, Target } from './model.js';

const hex = (n: number): string => `0x${n.toString(16)}`;

/** ` --a --b` for the flags that are set. */
function flags(...set: (string | false)[]): string {
  return set.filter((f) => f !== false).map((f) => ` ${f}`).join('');
}

function address(a: IpAddress): string {
  return a.family === 6 ? `[${formatIp(a)}]` : formatIp(a);
}

export function formatNatRange(r: NatRange): string {
  let text = '';
  if (r.minAddress !== undefined) {
    text = address(r.minAddress);
    if (r.maxAddress !== undefined && r.maxAddress.value !== r.minAddress.value) text += `-${address(r.maxAddress)}`;
    if (r.minAddress.family === 6 && r.minPort === undefined) text = text.replace(/[[\]]/g, '');
  }
  if (r.minPort !== undefined) {
    text += `:${r.minPort}`;
    if (r.maxPort !== undefined && r.maxPort !== r.minPort) text += `-${r.maxPort}`;
  }
  return text;
}

function ports(r: NumberRange | undefined): string {
  if (r === undefined) return '';
  return r.min === r.max ? ` --to-ports ${r.min}` : ` --to-ports ${r.min}-${r.max}`;
}

/** The target as `-j` would take it (without `-j`). */
export function formatTarget(t: Target): string {
  switch (t.kind) {
    case 'accept':
      return 'ACCEPT';
    case 'drop':
      return 'DROP';
    case 'return':
      return 'RETURN';
    case 'none':
      return '(none)';
    case 'reject':
      return `REJECT --reject-with ${t.rejectWith}`;
    case 'jump':
      return t.chain;
    case 'goto':
      return `goto ${t.chain}`;
    case 'dnat':
      return `DNAT${t.ranges.map((r) => ` --to-destination ${formatNatRange(r)}`).join('')}${flags(t.random && '--random', t.persistent && '--persistent')}`;
    case 'snat':
      return `SNAT${t.ranges.map((r) => ` --to-source ${formatNatRange(r)}`).join('')}${flags(t.random && '--random', t.randomFully && '--random-fully', t.persistent && '--persistent')}`;
    case 'masquerade':
      return `MASQUERADE${ports(t.ports)}${flags(t.random && '--random', t.randomFully && '--random-fully')}`;
    case 'redirect':
      return `REDIRECT${ports(t.ports)}${t.random ? ' --random' : ''}`;
    case 'mark':
      return `MARK --set-xmark ${hex(t.value)}/${hex(t.mask)}`;
    case 'connmark':
      return t.mode === 'set'
        ? `CONNMARK --set-xmark ${hex(t.value)}/${hex(t.mask)}`
        : `CONNMARK --${t.mode}-mark --nfmask ${hex(t.nfmask)} --ctmask ${hex(t.ctmask)}`;
    case 'log':
      return t.prefix === undefined ? 'LOG' : `LOG --log-prefix "${t.prefix}"`;
    case 'nflog':
      return `NFLOG${t.group === undefined ? '' : ` --nflog-group ${t.group}`}`;
    case 'trace':
      return 'TRACE';
    case 'ct':
      return `CT${t.notrack ? ' --notrack' : ''}${t.zone === undefined ? '' : ` --zone ${t.zone}`}${t.helper === undefined ? '' : ` --helper ${t.helper}`}`;
    case 'notrack':
      return 'NOTRACK';
    case 'checksum':
      return 'CHECKSUM --checksum-fill';
    case 'tproxy':
      return `TPROXY --on-port ${t.port}${t.address ? ` --on-ip ${formatIp(t.address)}` : ''} --tproxy-mark ${hex(t.markValue)}/${hex(t.markMask)}`;
    case 'dscp':
      return `DSCP --set-dscp ${hex(t.value)}`;
    case 'tos':
      return `TOS --set-tos ${hex(t.value)}/${hex(t.mask)}`;
    case 'passthrough':
    case 'unknown':
      return t.text.replace(/^-j /, '');
    default:
      return assertNever(t, 'target');
  }
}
