// The processes that stand in for a pod's containers: one TCP or UDP listener per declared
// containerPort, in the pod's (or the node's) network namespace, started with
// `ip netns exec NS node -e SCRIPT JSON`. A TCP listener writes one line naming the pod and port,
// then echoes what it reads; a UDP listener echoes each datagram. The script is plain JavaScript
// held here as text, so it runs the same from the sources and from dist/.

import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface ListenPort {
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
}

const SCRIPT = `
const net = require('node:net');
const dgram = require('node:dgram');
const { who, ports } = JSON.parse(process.argv[1]);
let pending = ports.length;
const ready = () => { if (--pending === 0) process.stdout.write(JSON.stringify({ ready: true }) + '\\n'); };
for (const { port, protocol } of ports) {
  if (protocol === 'UDP') {
    const socket = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
    socket.on('error', (e) => { process.stderr.write('udp ' + port + ': ' + e.message + '\\n'); process.exit(1); });
    socket.bind(port, '::', ready);
  } else {
    const server = net.createServer((c) => { c.on('error', () => c.destroy()); c.write(who + ' ' + port + '/TCP\\n'); c.pipe(c); });
    server.on('error', (e) => { process.stderr.write('tcp ' + port + ': ' + e.message + '\\n'); process.exit(1); });
    server.listen({ port, host: '::', ipv6Only: false }, ready);
  }
}
if (ports.length === 0) process.stdout.write(JSON.stringify({ ready: true }) + '\\n');
process.on('SIGTERM', () => process.exit(0));
`;

export interface RunningListener {
  readonly pid: number;
  readonly args: readonly string[];
  stop(): Promise<void>;
}

/**
 * Starts the listeners of `who` (a pod or node name) in `netns`; resolves once every port listens,
 * rejects when the process exits first (a port in use, a namespace gone).
 */
export function startListener(netns: string, who: string, ports: readonly ListenPort[], logFile: string): Promise<RunningListener> {
  const args = ['netns', 'exec', netns, process.execPath, '-e', SCRIPT, JSON.stringify({ who, ports })];
  const fd = openSync(logFile, 'a');
  const child = spawn('ip', args, { stdio: ['ignore', 'pipe', fd] });
  closeSync(fd);
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const listener: RunningListener = {
    pid: child.pid ?? -1,
    args: ['ip', ...args],
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    },
  };
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.includes('"ready"')) resolve(listener);
    });
    child.once('error', reject);
    void exit.then(() => reject(new Error(`the listeners of ${who} in ${netns} exited before listening (see ${logFile})`)));
  });
}
