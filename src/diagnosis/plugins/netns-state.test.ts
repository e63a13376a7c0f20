import { describe, expect, it } from '@jest/globals';
import { formatIp, parseIp } from '../model/ip.js';
import { hasListener, parseListeners } from './netns-state.js';

const ss = [
  'tcp   LISTEN 0      511          0.0.0.0:8080       0.0.0.0:*',
  'tcp   LISTEN 0      4096   127.0.0.53%lo:53         0.0.0.0:*',
  'udp   UNCONN 0      0         10.244.0.5:5353       0.0.0.0:*',
  'tcp   LISTEN 0      128            [::]:22             [::]:*',
  'tcp   LISTEN 0      128               *:9100              *:*',
  'tcp   LISTEN 0      128   [::ffff:10.0.0.1]:443           *:*',
  'garbage',
].join('\n');

describe('parseListeners (ss -Htuln)', () => {
  const { listeners, warnings } = parseListeners({ text: ss, source: 'ss' });

  it('reads protocol, address (wildcards as undefined) and port', () => {
    expect(listeners.map((l) => `${l.protocol} ${l.address === undefined ? '*' : formatIp(l.address)}:${l.port}`)).toEqual([
      'tcp *:8080',
      'tcp 127.0.0.53:53',
      'udp 10.244.0.5:5353',
      'tcp *:22',
      'tcp *:9100',
      'tcp 10.0.0.1:443',
    ]);
    expect(warnings).toEqual([{ code: 'unreadable-socket', message: 'cannot read socket line "garbage"', source: 'ss:7' }]);
  });

  it('skips the header of `ss -tuln` and reads the lines of `ss -e` (extra columns)', () => {
    const withHeader = [
      'Netid State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess',
      'tcp   LISTEN 0      128          0.0.0.0:2024      0.0.0.0:*    ino:1666 sk:1 cgroup:/ <->',
    ].join('\n');
    const parsed = parseListeners({ text: withHeader, source: 'ss' });
    expect(parsed).toEqual({ listeners: [{ protocol: 'tcp', port: 2024 }], warnings: [] });
  });

  it.each([
    ['tcp', '10.244.0.5', 8080, true],
    ['tcp', '10.244.0.5', 8081, false],
    ['udp', '10.244.0.5', 5353, true],
    ['udp', '10.244.0.6', 5353, false],
    ['tcp', '127.0.0.53', 53, true],
    ['tcp', '10.244.0.5', 53, false],
  ] as const)('%s %s:%i has a listener: %p', (protocol, address, port, expected) => {
    const ip = parseIp(address);
    expect(ip !== undefined && hasListener(listeners, protocol, ip, port)).toBe(expected);
  });
});
