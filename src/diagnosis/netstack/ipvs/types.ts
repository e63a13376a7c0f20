// The IPVS table of one network namespace, as read from `ipvsadm -Save -n`. Names follow
// ipvsadm(8): virtual service, real server, scheduler, persistence, forwarding method.

import type { IpAddress, IpFamily } from '../../model/ip.js';

export type IpvsProtocol = 'tcp' | 'udp' | 'sctp';

/** How a virtual service is identified: by protocol, address and port, or by firewall mark. */
export type IpvsServiceKey =
  | { readonly kind: 'address'; readonly protocol: IpvsProtocol; readonly address: IpAddress; readonly port: number }
  | { readonly kind: 'fwmark'; readonly family: IpFamily; readonly mark: number };

/**
 * Packet forwarding method of a real server: `-m` masquerading (NAT), `-g` gatewaying (direct
 * routing; also what ipvsadm prints for a local real server), `-i` ipip (tunneling).
 */
export type IpvsForwarding = 'masquerade' | 'gateway' | 'tunnel';

export interface IpvsTunnel {
  /** `--tun-type`: ipip (the default), gue or gre. */
  readonly type: 'ipip' | 'gue' | 'gre';
  readonly port?: number;
  /** `--tun-nocsum`, `--tun-csum`, `--tun-remcsum`. */
  readonly checksum?: 'nocsum' | 'csum' | 'remcsum';
}

export interface IpvsRealServer {
  readonly address: IpAddress;
  /** 0 for fwmark services whose real servers keep the packet's port. */
  readonly port: number;
  readonly forwarding: IpvsForwarding;
  /** 0 is a quiescent server: it keeps its connections but gets no new ones. */
  readonly weight: number;
  readonly upperThreshold?: number;
  readonly lowerThreshold?: number;
  readonly tunnel?: IpvsTunnel;
  /** Where the `-a` line is: `SOURCE:LINE`. */
  readonly source: string;
}

export interface IpvsPersistence {
  /** Seconds (`-p`, 300 when given without a value). */
  readonly timeout: number;
  /** `-M`: clients are grouped by this prefix length (32/128: per client address). */
  readonly netmaskLength: number;
}

export interface IpvsVirtualService {
  readonly key: IpvsServiceKey;
  readonly family: IpFamily;
  /** `-s`: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos. */
  readonly scheduler: string;
  /** `-b`: scheduler flags (sh-fallback, sh-port, mh-fallback, mh-port, flag-1...). */
  readonly schedulerFlags: readonly string[];
  readonly persistence?: IpvsPersistence;
  /** `--pe`: persistence engine (sip). */
  readonly persistenceEngine?: string;
  /** `-o`: one-packet scheduling (UDP). */
  readonly onePacket: boolean;
  /** In the order of the dump (ipvsadm sorts them by address and port). */
  readonly realServers: readonly IpvsRealServer[];
  /** Where the `-A` line is: `SOURCE:LINE`. */
  readonly source: string;
}

export interface IpvsTable {
  readonly services: readonly IpvsVirtualService[];
}
