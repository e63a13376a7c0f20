import { describe, expect, it } from '@jest/globals';
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { connectionKey, SharedConnectionsKubeConfig } from './shared-connections.js';

const b64 = (text: string): string => Buffer.from(text).toString('base64');

interface Material {
  readonly server?: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly skipTLSVerify?: boolean;
}

function configWith(m: Material = {}): SharedConnectionsKubeConfig {
  const config = new SharedConnectionsKubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'c', server: m.server ?? 'https://10.0.0.1:6443', caData: b64(m.ca ?? 'ca-1'), skipTLSVerify: m.skipTLSVerify ?? false }],
    users: [{ name: 'u', certData: b64(m.cert ?? 'cert-1'), keyData: b64(m.key ?? 'key-1') }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  return config;
}

async function dispatcherOf(config: SharedConnectionsKubeConfig): Promise<unknown> {
  const context = new RequestContext('https://10.0.0.1:6443/api/v1/namespaces', HttpMethod.GET);
  await config.applySecurityAuthentication(context);
  return context.getDispatcher();
}

describe('SharedConnectionsKubeConfig', () => {
  it('hands every request the same connection pool', async () => {
    const config = configWith();
    const first = await dispatcherOf(config);
    expect(first).toBeDefined();
    for (let i = 0; i < 5; i++) expect(await dispatcherOf(config)).toBe(first);
  });

  it('starts a new pool when the TLS material changes (a rotated certificate), then shares that one', async () => {
    const config = configWith();
    const before = await dispatcherOf(config);
    const user = config.getCurrentUser();
    if (user === null) throw new Error('no user');
    Object.assign(user, { certData: b64('cert-2') });
    const after = await dispatcherOf(config);
    expect(after).not.toBe(before);
    expect(await dispatcherOf(config)).toBe(after);
  });

  it('keeps pools apart between configurations', async () => {
    expect(await dispatcherOf(configWith())).not.toBe(await dispatcherOf(configWith()));
  });
});

describe('connectionKey', () => {
  it('is the same for the same cluster and TLS material', () => {
    expect(connectionKey(configWith())).toBe(connectionKey(configWith()));
  });

  it.each<[string, Material]>([
    ['server', { server: 'https://10.0.0.2:6443' }],
    ['CA', { ca: 'ca-2' }],
    ['client certificate', { cert: 'cert-2' }],
    ['client key', { key: 'key-2' }],
    ['certificate check', { skipTLSVerify: true }],
  ])('changes with the %s', (_what, material) => {
    expect(connectionKey(configWith(material))).not.toBe(connectionKey(configWith()));
  });
});
