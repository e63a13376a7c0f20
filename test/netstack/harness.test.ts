// Proves the kernel-oracle harness (test/support/packet-probe, conntrack, iptables-counters,
// netns) against the real kernel: a client, a host under test and a backend namespace, a small
// rule set in the host, and one probe per behaviour, each checked against what the kernel did.
//
//   client (192.168.50.2) --c0/h0-- host (192.168.50.1 | 192.168.60.1) --h1/b0-- backend (192.168.60.2)
//
// The backend has no route back to the client's subnet, so only a MASQUERADEd packet gets an answer.
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { flushConntrack, readConntrack } from '../support/conntrack.js';
import { countersDelta, readIptablesCounters, restoreIptables } from '../support/iptables-counters.js';
import { addAddress, createNamespace, deleteNamespace, execIn, setSysctl, vethPair } from '../support/netns.js';
import { probeIcmp, probeTcp, probeUdp, startListeners, type Listeners } from '../support/packet-probe.js';
import { describeAsRoot } from '../support/root.js';

const HOST_RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 192.168.50.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.168.50.1:9090
-A PREROUTING -d 192.168.50.1/32 -p udp -m udp --dport 5353 -j DNAT --to-destination 192.168.50.1:9053
-A POSTROUTING -o h1 -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 7001 -j REJECT --reject-with tcp-reset
-A INPUT -p tcp -m tcp --dport 7002 -j REJECT --reject-with icmp-port-unreachable
-A INPUT -p tcp -m tcp --dport 7003 -j REJECT --reject-with icmp-host-unreachable
-A INPUT -p tcp -m tcp --dport 7004 -j DROP
-A INPUT -p udp -m udp --dport 7005 -j REJECT --reject-with icmp-port-unreachable
-A FORWARD -d 192.168.60.3/32 -p icmp -j REJECT --reject-with icmp-admin-prohibited
COMMIT
`;

const CLIENT_RULES = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p tcp -m tcp --dport 7006 -j DROP
-A OUTPUT -p udp -m udp --dport 7006 -j DROP
-A OUTPUT -d 192.168.50.9/32 -p icmp -j DROP
COMMIT
`;

describeAsRoot('packet-probe harness against the kernel', () => {
  let client = '';
  let host = '';
  let backend = '';
  let hostListeners: Listeners | undefined;
  let backendListeners: Listeners | undefined;

  beforeAll(async () => {
    client = await createNamespace('ndt-h-c-');
    host = await createNamespace('ndt-h-h-');
    backend = await createNamespace('ndt-h-b-');
    await vethPair(client, 'c0', host, 'h0');
    await vethPair(host, 'h1', backend, 'b0');
    await addAddress(client, 'c0', '192.168.50.2/24');
    await addAddress(host, 'h0', '192.168.50.1/24');
    await addAddress(host, 'h1', '192.168.60.1/24');
    await addAddress(backend, 'b0', '192.168.60.2/24');
    await execIn(client, 'ip', ['route', 'add', 'default', 'via', '192.168.50.1']);
    await execIn(client, 'ip', ['route', 'add', 'prohibit', '203.0.113.0/24']);
    await execIn(client, 'ip', ['route', 'add', 'unreachable', '198.51.100.0/24']);
    await execIn(client, 'ip', ['route', 'add', 'throw', '100.64.0.0/10']);
    await setSysctl(host, 'net.ipv4.ip_forward', 1);
    await restoreIptables(host, HOST_RULES);
    await restoreIptables(client, CLIENT_RULES);
    hostListeners = await startListeners(host, [
      { protocol: 'tcp', address: '192.168.50.1', port: 9090, echo: true },
      { protocol: 'udp', address: '192.168.50.1', port: 9053, echo: true },
    ]);
    backendListeners = await startListeners(backend, [{ protocol: 'tcp', address: '192.168.60.2', port: 80 }]);
  }, 30_000);

  afterAll(async () => {
    await hostListeners?.stop();
    await backendListeners?.stop();
    for (const ns of [client, host, backend]) if (ns !== '') await deleteNamespace(ns);
  }, 30_000);

  /** Runs `probe` and returns the host rules it hit, as `table/chain/index xN`. */
  async function hostRulesHit(probe: () => Promise<unknown>): Promise<string[]> {
    const before = await readIptablesCounters(host);
    await probe();
    const after = await readIptablesCounters(host);
    return countersDelta(before, after).map((r) => `${r.table}/${r.chain}/${r.index} x${r.delta}`);
  }

  it('DNAT to a local listener: connects, the listener sees the translated destination, conntrack shows it', async () => {
    let result: unknown;
    const hits = await hostRulesHit(async () => {
      result = await probeTcp(client, { dst: '192.168.50.1', dport: 8080, sport: 41001, timeoutMs: 2000, payload: 'hello' });
    });
    expect(result).toMatchObject({ outcome: 'connected', local: { address: '192.168.50.2', port: 41001 }, reply: 'hello' });
    const seen = await hostListeners?.waitFor((r) => r.event === 'accept' && r.peer.port === 41001);
    expect(seen).toMatchObject({ local: { address: '192.168.50.1', port: 9090 }, peer: { address: '192.168.50.2', port: 41001 } });
    // Only the first packet of a connection goes through the nat table.
    expect(hits).toEqual(['nat/PREROUTING/1 x1']);
    const entry = (await readConntrack(host, 4)).find((e) => e.protocol === 'tcp' && e.original.sport === 41001);
    expect(entry).toMatchObject({
      original: { src: '192.168.50.2', dst: '192.168.50.1', sport: 41001, dport: 8080 },
      reply: { src: '192.168.50.1', dst: '192.168.50.2', sport: 9090, dport: 41001 },
    });
  });

  it('UDP DNAT: the echo comes back from the address the client sent to', async () => {
    let result: unknown;
    const hits = await hostRulesHit(async () => {
      result = await probeUdp(client, { dst: '192.168.50.1', dport: 5353, sport: 41002, payload: 'ping', timeoutMs: 1000 });
    });
    expect(result).toMatchObject({ outcome: 'reply', reply: 'ping', replyFrom: { address: '192.168.50.1', port: 5353 } });
    const seen = await hostListeners?.waitFor((r) => r.protocol === 'udp' && r.peer.port === 41002);
    expect(seen).toMatchObject({ local: { address: '192.168.50.1', port: 9053 }, data: 'ping' });
    expect(hits).toEqual(['nat/PREROUTING/2 x1']);
    const entry = (await readConntrack(host, 4)).find((e) => e.protocol === 'udp' && e.original.sport === 41002);
    expect(entry?.reply).toEqual({ src: '192.168.50.1', dst: '192.168.50.2', sport: 9053, dport: 41002 });
  });

  it.each([
    [7001, 'REJECT --reject-with tcp-reset', { outcome: 'refused', code: 'ECONNREFUSED' }, 'filter/INPUT/1 x1'],
    [7002, 'REJECT --reject-with icmp-port-unreachable', { outcome: 'refused', code: 'ECONNREFUSED' }, 'filter/INPUT/2 x1'],
    [7003, 'REJECT --reject-with icmp-host-unreachable', { outcome: 'error', code: 'EHOSTUNREACH' }, 'filter/INPUT/3 x1'],
    [7004, 'DROP', { outcome: 'timeout' }, 'filter/INPUT/4 x1'],
  ])('TCP to port %i (%s) reports %o', async (port, _rule, expected, hit) => {
    let result: unknown;
    const hits = await hostRulesHit(async () => {
      result = await probeTcp(client, { dst: '192.168.50.1', dport: port, timeoutMs: 300 });
    });
    expect(result).toMatchObject(expected);
    expect(hits).toEqual([hit]);
  });

  it('TCP to a port nobody listens on is refused by the kernel, no rule involved', async () => {
    const hits = await hostRulesHit(async () => {
      expect(await probeTcp(client, { dst: '192.168.50.1', dport: 7011, timeoutMs: 500 })).toMatchObject({ outcome: 'refused' });
    });
    expect(hits).toEqual([]);
  });

  it('UDP: REJECT and a closed port are refused; the REJECT rule counted the datagram', async () => {
    const hits = await hostRulesHit(async () => {
      expect(await probeUdp(client, { dst: '192.168.50.1', dport: 7005, sport: 41003, timeoutMs: 500 })).toMatchObject({
        outcome: 'refused',
      });
    });
    expect(hits).toEqual(['filter/INPUT/5 x1']);
    expect(await probeUdp(client, { dst: '192.168.50.1', dport: 7010, timeoutMs: 500 })).toMatchObject({ outcome: 'refused' });
  });

  it('MASQUERADE toward the backend: the backend sees the host address, conntrack shows the SNAT', async () => {
    let result: unknown;
    const hits = await hostRulesHit(async () => {
      result = await probeTcp(client, { dst: '192.168.60.2', dport: 80, sport: 41004, timeoutMs: 2000 });
    });
    expect(result).toMatchObject({ outcome: 'connected' });
    const seen = await backendListeners?.waitFor((r) => r.event === 'accept');
    expect(seen).toMatchObject({ local: { address: '192.168.60.2', port: 80 }, peer: { address: '192.168.60.1' } });
    expect(hits).toEqual(['nat/POSTROUTING/1 x1']);
    const entry = (await readConntrack(host, 4)).find((e) => e.protocol === 'tcp' && e.original.sport === 41004);
    expect(entry).toMatchObject({
      original: { src: '192.168.50.2', dst: '192.168.60.2', dport: 80 },
      reply: { src: '192.168.60.2', dst: '192.168.60.1', sport: 80 },
    });
  });

  it('ICMP: an echo through the MASQUERADE is answered; a FORWARD REJECT comes back as Packet filtered', async () => {
    expect(await probeIcmp(client, { dst: '192.168.60.2', waitSeconds: 1 })).toMatchObject({ outcome: 'reply', from: '192.168.60.2' });
    let result: unknown;
    const hits = await hostRulesHit(async () => {
      result = await probeIcmp(client, { dst: '192.168.60.3', waitSeconds: 1 });
    });
    expect(result).toMatchObject({ outcome: 'unreachable', from: '192.168.50.1', message: 'Packet filtered' });
    expect(hits).toEqual(['filter/FORWARD/1 x1']);
  });

  it.each([
    ['a prohibit route', '203.0.113.5', 'EACCES'],
    ['an unreachable route', '198.51.100.5', 'EHOSTUNREACH'],
    ['no route (a throw with nothing behind it)', '100.64.0.5', 'ENETUNREACH'],
  ])('local rejects in the client: %s (to %s) fails the connect with %s', async (_what, dst, code) => {
    expect(await probeTcp(client, { dst, dport: 7000, timeoutMs: 300 })).toMatchObject({ outcome: 'error', code });
  });

  // What a local OUTPUT DROP looks like depends on the socket: sendmsg on a UDP socket returns
  // EPERM, a TCP SYN is just retransmitted, and ping (an ICMP datagram socket) sees no error.
  it("the client's own OUTPUT DROP: EPERM for UDP, a silent timeout for TCP and ping", async () => {
    const before = await readIptablesCounters(client);
    expect(await probeUdp(client, { dst: '192.168.50.1', dport: 7006, timeoutMs: 300 })).toMatchObject({ outcome: 'error', code: 'EPERM' });
    expect(await probeTcp(client, { dst: '192.168.50.1', dport: 7006, timeoutMs: 300 })).toMatchObject({ outcome: 'timeout' });
    expect(await probeIcmp(client, { dst: '192.168.50.9', waitSeconds: 0.3 })).toMatchObject({ outcome: 'timeout' });
    const hits = countersDelta(before, await readIptablesCounters(client)).map((r) => `${r.chain}/${r.index} x${r.delta}`);
    expect(hits).toEqual(['OUTPUT/1 x1', 'OUTPUT/2 x1', 'OUTPUT/3 x1']);
  });

  it('flushes conntrack', async () => {
    expect((await readConntrack(host)).length).toBeGreaterThan(0);
    await flushConntrack(host);
    expect(await readConntrack(host)).toEqual([]);
  });
});
