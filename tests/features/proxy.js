// An HTTP CONNECT proxy for the features suite's client/http_proxy* features (the suite's Go
// runner starts one; run.sh starts this instead). A request with a Proxy-Authorization header must
// carry the user and password those features use.
'use strict';
const http = require('node:http');
const net = require('node:net');

const port = Number(process.argv[2] || 18080);
const expectedAuth = 'Basic ' + Buffer.from('proxy-user:proxy-pass').toString('base64');
let tunnels = 0;

const server = http.createServer((req, res) => {
  res.writeHead(405).end('only CONNECT is served here\n');
});
server.on('connect', (req, client, head) => {
  const auth = req.headers['proxy-authorization'];
  if (auth !== undefined && auth !== expectedAuth) {
    client.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
    return;
  }
  const url = new URL(`http://${req.url}`);
  const upstream = net.connect(Number(url.port), url.hostname, () => {
    tunnels += 1;
    console.log(`tunnel ${tunnels} to ${req.url} (${auth ? 'with' : 'without'} credentials)`);
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream).pipe(client);
  });
  upstream.on('error', (err) => {
    console.log(`tunnel to ${req.url} failed: ${err.message}`);
    client.destroy();
  });
  client.on('error', () => upstream.destroy());
});
server.listen(port, '127.0.0.1', () => console.log(`CONNECT proxy on 127.0.0.1:${port}`));
