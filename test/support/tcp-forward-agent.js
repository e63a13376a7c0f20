// Started by test/support/flannel-cluster.ts inside a node's network namespace with
// `ip netns exec NS node tcp-forward-agent.js '<json>'`: listens on {host, port} there and pipes
// every connection to the unix socket {socket} (a path on the shared filesystem, so it crosses
// network namespaces), behind which the test process reaches the API server. Bytes are passed
// through untouched (TLS end to end). Prints {"event":"ready"} once listening; exits when its
// stdin closes, so it cannot outlive the test process. Plain JavaScript: it runs under bare `node`.
import net from 'node:net';

const request = JSON.parse(process.argv[2] ?? '{}');

const server = net.createServer((client) => {
  const upstream = net.connect({ path: request.socket });
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});
server.on('error', (error) => {
  process.stdout.write(`${JSON.stringify({ event: 'error', code: error.code ?? String(error) })}\n`);
  process.exit(1);
});
server.listen({ host: request.host, port: request.port }, () => process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
