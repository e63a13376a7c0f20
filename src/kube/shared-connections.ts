// One connection pool per cluster for every API call and watch of a process. client-node 2.0
// builds a new undici Agent for each request (KubeConfig.applySecurityAuthentication), so every
// call opened a TCP connection, made a TLS handshake with a TLS context of its own and left the
// connection idle in an Agent nobody reused: in the operator, which makes a dozen calls per
// reconcile, that was most of a reconcile's time and of the memory outside the JavaScript heap
// (docs/performance.md, operator). This KubeConfig keeps the first Agent made for the cluster and
// its TLS material, and hands it to later requests; a change of that material (another context, a
// rotated certificate or CA file, which client-node reads again on every request) starts a new one.

import { createHash } from 'node:crypto';
import { bufferFromFileOrString, KubeConfig, type RequestContext } from '@kubernetes/client-node';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

const digest = (data: Buffer | null): string => (data === null ? '' : createHash('sha256').update(data).digest('hex'));

/**
 * What the connections to the current cluster are made of: its endpoint and the TLS material
 * client-node puts into an Agent (the CA, the client certificate and key, the server name, whether
 * the server's certificate is checked). Credentials sent in headers (tokens) are not part of it.
 */
export function connectionKey(config: KubeConfig): string {
  const cluster = config.getCurrentCluster();
  const user = config.getCurrentUser();
  return JSON.stringify([
    cluster?.server ?? '',
    cluster?.proxyUrl ?? '',
    cluster?.skipTLSVerify === true,
    cluster?.tlsServerName ?? '',
    digest(bufferFromFileOrString(cluster?.caFile, cluster?.caData)),
    digest(bufferFromFileOrString(user?.certFile, user?.certData)),
    digest(bufferFromFileOrString(user?.keyFile, user?.keyData)),
  ]);
}

/** A KubeConfig whose requests share one connection pool while the cluster's TLS material stays the same. */
export class SharedConnectionsKubeConfig extends KubeConfig {
  private shared: { readonly key: string; readonly dispatcher: Dispatcher } | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    // No Agent (plain HTTP without TLS options): undici's global dispatcher already pools.
    if (fresh === undefined) return;
    const key = connectionKey(this);
    if (this.shared?.key === key) {
      // The fresh Agent never connected: it holds no socket and is garbage.
      context.setDispatcher(this.shared.dispatcher);
      return;
    }
    // The previous pool is not closed: requests still running on it (a watch) end on their own,
    // and its idle connections close after undici's keep-alive timeout.
    this.shared = { key, dispatcher: fresh };
  }
}
