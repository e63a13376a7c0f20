// ipvs: parse `ipvsadm -Save -n` and find the virtual service of a packet.
export { formatServiceKey, IpvsParseError, IPVS_SCHEDULERS, parseAddressPort, parseIpvsSave, serviceKeyString, type IpvsParseResult } from './parse.js';
export {
  findVirtualService,
  lookupVirtualService,
  schedulableRealServers,
  type IpvsLookupOptions,
  type IpvsMatchKind,
  type IpvsServiceMatch,
} from './lookup.js';
export type * from './types.js';
