// The errors the dump parsers throw for malformed input. Each message already names the source
// and the line or entry; callers report it as is.

import { IpsetParseError } from './ipset/index.js';
import { IpvsParseError } from './ipvs/index.js';
import { IptablesParseError } from './netfilter/index.js';
import { NftParseError } from './nftables/index.js';
import { RoutingParseError } from './routing/index.js';

export function isDumpParseError(error: unknown): error is Error {
  return (
    error instanceof IptablesParseError ||
    error instanceof IpsetParseError ||
    error instanceof IpvsParseError ||
    error instanceof NftParseError ||
    error instanceof RoutingParseError
  );
}
