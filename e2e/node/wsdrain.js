// wsdrain.js URL CA: one `ws` client for tether's polite-ending test (e2e/wsending_test.go). It
// receives binary messages whose first 4 bytes are their length, prints {"event":"message"} after
// the first one, and when the connection closes prints what it saw:
// {"event":"close","code":...,"reason":...,"messages":N,"incomplete":M}. CA is the certificate
// to trust for a wss:// URL.
'use strict';
const fs = require('node:fs');
const WebSocket = require('ws');

const ws = new WebSocket(process.argv[2], { ca: fs.readFileSync(process.argv[3]) });
let messages = 0;
let incomplete = 0;
const print = (v) => process.stdout.write(JSON.stringify(v) + '\n');
ws.on('message', (data, isBinary) => {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
  if (!isBinary || buf.length < 4 || buf.readUInt32BE(0) !== buf.length) incomplete++;
  if (++messages === 1) print({ event: 'message' });
});
ws.on('error', (err) => print({ event: 'error', error: String(err) }));
ws.on('close', (code, reason) => {
  print({ event: 'close', code, reason: reason.toString(), messages, incomplete });
  process.exit(0);
});
setTimeout(() => {
  print({ event: 'timeout' });
  process.exit(1);
}, 60000);
