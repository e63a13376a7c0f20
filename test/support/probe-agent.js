// The process that test/support/packet-probe.ts starts inside a network namespace with
// `ip netns exec NS node probe-agent.js '<json>'`. Its only input is the JSON in argv[2]; its only
// output is JSON on stdout: one object for a probe, one object per line for a listener. Plain
// JavaScript because it runs under bare `node`, outside jest.
import { Buffer } from 'node:buffer';
import dgram from 'node:dgram';
import net from 'node:net';
import { clearTimeout, setTimeout } from 'node:timers';

const request = JSON.parse(process.argv[2] ?? '{}');
const started = Date.now();

function finish(result) {
  process.stdout.write(`${JSON.stringify({ ...result, elapsedMs: Date.now() - started })}\n`);
  process.exit(0);
}

function tcpConnect(r) {
  const socket = net.connect({
    host: r.dst,
    port: r.dport,
    ...(r.src ? { localAddress: r.src } : {}),
    ...(r.sport ? { localPort: r.sport } : {}),
  });
  let local;
  const timer = setTimeout(() => {
    socket.destroy();
    finish({ outcome: 'timeout' });
  }, r.timeoutMs);
  socket.on('connect', () => {
    local = { address: socket.localAddress, port: socket.localPort };
    if (r.payload === undefined) {
      clearTimeout(timer);
      socket.destroy();
      finish({ outcome: 'connected', local });
      return;
    }
    const chunks = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => {
      clearTimeout(timer);
      finish({ outcome: 'connected', local, reply: Buffer.concat(chunks).toString('utf8') });
    });
    socket.end(r.payload);
  });
  socket.on('error', (error) => {
    clearTimeout(timer);
    const code = error.code ?? 'UNKNOWN';
    finish({ outcome: code === 'ECONNREFUSED' ? 'refused' : 'error', code, ...(local ? { local } : {}) });
  });
}

function udpSend(r) {
  const socket = dgram.createSocket(r.dst.includes(':') ? 'udp6' : 'udp4');
  let timer;
  socket.on('error', (error) => {
    clearTimeout(timer);
    const code = error.code ?? 'UNKNOWN';
    finish({ outcome: code === 'ECONNREFUSED' ? 'refused' : 'error', code });
  });
  socket.on('message', (message, rinfo) => {
    clearTimeout(timer);
    finish({ outcome: 'reply', reply: message.toString('utf8'), replyFrom: { address: rinfo.address, port: rinfo.port } });
  });
  socket.bind({ port: r.sport ?? 0, ...(r.src ? { address: r.src } : {}) }, () => {
    // A connected socket receives the ICMP errors for what it sent (port unreachable = ECONNREFUSED).
    socket.connect(r.dport, r.dst, (connectError) => {
      if (connectError) {
        finish({ outcome: 'error', code: connectError.code ?? 'UNKNOWN' });
        return;
      }
      const local = socket.address();
      socket.send(r.payload ?? 'probe', (sendError) => {
        if (sendError) {
          // A send refused locally (an OUTPUT DROP gives EPERM) comes here, not as an 'error' event.
          finish({ outcome: 'error', code: sendError.code ?? 'UNKNOWN' });
          return;
        }
        timer = setTimeout(() => finish({ outcome: 'sent', local: { address: local.address, port: local.port } }), r.timeoutMs);
      });
    });
  });
}

// Many packets, one after the other, for oracles that read rule counters afterwards. TCP sends
// just the SYN of a connection attempt (the socket is closed before any retransmission).
async function burst(r) {
  const results = [];
  for (const p of r.packets) {
    results.push(await (p.protocol === 'tcp' ? burstTcp(p) : burstUdp(p)));
  }
  process.stdout.write(`${JSON.stringify({ outcome: 'sent', results, elapsedMs: Date.now() - started })}\n`);
  process.exit(0);
}

function burstUdp(p) {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(p.dst.includes(':') ? 'udp6' : 'udp4');
    const done = (result) => {
      socket.close();
      resolve(result);
    };
    socket.on('error', (error) => done({ ok: false, code: error.code ?? 'UNKNOWN' }));
    socket.bind({ port: p.sport ?? 0, ...(p.src ? { address: p.src } : {}) }, () => {
      socket.send(p.payload ?? 'burst', p.dport, p.dst, (error) => done(error ? { ok: false, code: error.code ?? 'UNKNOWN' } : { ok: true }));
    });
  });
}

function burstTcp(p) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: p.dst, port: p.dport, ...(p.src ? { localAddress: p.src } : {}), ...(p.sport ? { localPort: p.sport } : {}) });
    const timer = setTimeout(() => done({ ok: true }), p.waitMs ?? 30);
    const done = (result) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    socket.on('connect', () => done({ ok: true, connected: true }));
    socket.on('error', (error) => done({ ok: error.code === 'ECONNREFUSED', code: error.code ?? 'UNKNOWN' }));
  });
}

function listen(r) {
  const emit = (event) => process.stdout.write(`${JSON.stringify({ ...event, at: Date.now() })}\n`);
  let pending = r.listeners.length;
  const ready = () => {
    pending -= 1;
    if (pending === 0) emit({ event: 'ready' });
  };
  for (const l of r.listeners) {
    if (l.protocol === 'tcp') {
      const server = net.createServer((socket) => {
        const accepted = {
          protocol: 'tcp',
          local: { address: socket.localAddress, port: socket.localPort },
          peer: { address: socket.remoteAddress, port: socket.remotePort },
        };
        emit({ event: 'accept', ...accepted });
        const chunks = [];
        socket.on('data', (c) => chunks.push(c));
        socket.on('end', () => {
          const data = Buffer.concat(chunks).toString('utf8');
          if (data !== '') emit({ event: 'data', ...accepted, data });
          socket.end(l.echo ? data : undefined);
        });
        socket.on('error', () => socket.destroy());
      });
      server.on('error', (error) => emit({ event: 'error', protocol: 'tcp', address: l.address, port: l.port, code: error.code }));
      server.listen({ host: l.address, port: l.port }, ready);
    } else {
      const socket = dgram.createSocket(l.address.includes(':') ? 'udp6' : 'udp4');
      socket.on('message', (message, rinfo) => {
        const data = message.toString('utf8');
        emit({
          event: 'data',
          protocol: 'udp',
          local: { address: l.address, port: l.port },
          peer: { address: rinfo.address, port: rinfo.port },
          data,
        });
        if (l.echo) socket.send(message, rinfo.port, rinfo.address);
      });
      socket.on('error', (error) => emit({ event: 'error', protocol: 'udp', address: l.address, port: l.port, code: error.code }));
      socket.bind({ address: l.address, port: l.port }, ready);
    }
  }
  // The test process holds our stdin: when it goes away (stop() or a crash), so do we.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  process.on('SIGTERM', () => process.exit(0));
}

switch (request.op) {
  case 'tcp-connect':
    tcpConnect(request);
    break;
  case 'udp-send':
    udpSend(request);
    break;
  case 'listen':
    listen(request);
    break;
  case 'burst':
    void burst(request);
    break;
  default:
    finish({ outcome: 'error', code: 'EBADREQUEST', message: `unknown op ${String(request.op)}` });
}
