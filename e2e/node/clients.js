// Socket.io clients for tether's end-to-end test (e2e/socketio_test.go): many real
// socket.io-client v4 clients, each bound to its own loopback source address, run the whole
// scenario against one URL and print one JSON report on stdout. The test, not this script,
// decides what passes.
//
//   node clients.js CONFIG_JSON
//
// CONFIG_JSON: {"url": "https://127.0.0.1:PORT", "ca": "/path/ca.pem", "timeoutMs": 10000,
//               "clients": [{"addr": "127.10.0.1", "transports": ["polling", "websocket"]}, ...]}
//
// Steps, all clients at once within each step:
//  1. connect (HTTP long-polling first unless transports is ["websocket"]), then wait for the
//     upgrade to WebSocket;
//  2. ask the node's name (whoami) and echo a payload;
//  3. one client on each node shouts a token; every client records the broadcasts it receives;
//  4. disconnect, connect again from the same address (and upgrade again), ask the node's name.
// Every error seen on the way (connect_error, transport and upgrade errors with their HTTP
// status and body, unexpected disconnects) is recorded on the client it happened to.
"use strict";

const fs = require("node:fs");
const https = require("node:https");
const { io } = require("socket.io-client");

const config = JSON.parse(process.argv[2] || "{}");
const ca = fs.readFileSync(config.ca);
const timeoutMs = config.timeoutMs || 10000;

// describe turns a socket.io/engine.io error into one line: the message, then the HTTP status
// and response body when the error came from a polling request.
function describe(err) {
  if (!err) return "unknown error";
  let s = String(err.message || err);
  const d = err.description;
  if (typeof d === "number") s += ` (HTTP ${d})`;
  else if (d && d.message) s += ` (${d.message})`;
  const ctx = err.context;
  if (ctx && typeof ctx.responseText === "string" && ctx.responseText) s += ` body ${ctx.responseText}`;
  return s;
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// open connects one socket from addr and records its errors on rec.
function open(rec, addr, transports) {
  const agent = new https.Agent({ localAddress: addr, keepAlive: true, ca });
  const socket = io(config.url, {
    agent,
    ca,
    localAddress: addr,
    transports,
    forceNew: true,
    reconnection: false,
  });
  socket.agent = agent;
  socket.expectClose = false;
  socket.io.on("error", (err) => rec.errors.push(`manager: ${describe(err)}`));
  socket.io.on("open", () => {
    // The transport the engine.io handshake ran on; the upgrade may be done before "connect".
    if (!rec.firstTransport) rec.firstTransport = socket.io.engine.transport.name;
    socket.io.engine.on("upgradeError", (err) => rec.errors.push(`upgrade: ${describe(err)}`));
  });
  socket.on("disconnect", (reason, details) => {
    if (!socket.expectClose) rec.errors.push(`disconnect: ${reason} ${details ? describe(details) : ""}`.trim());
  });
  const connected = new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", (err) => reject(new Error(`connect_error: ${describe(err)}`)));
  });
  return { socket, connected };
}

function close(socket) {
  socket.expectClose = true;
  socket.disconnect();
  socket.agent.destroy();
}

// upgraded resolves when the engine runs on WebSocket, rejects on an upgrade error.
function upgraded(socket) {
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") return Promise.resolve();
  return new Promise((resolve, reject) => {
    engine.once("upgrade", () => resolve());
    engine.once("upgradeError", (err) => reject(new Error(`upgrade failed: ${describe(err)}`)));
  });
}

async function firstRound(rec, c) {
  const { socket, connected } = open(rec, c.addr, c.transports);
  rec.socket = socket;
  socket.on("broadcast", (m) => rec.broadcasts.push(m.msg));
  await withTimeout(connected, "connect");
  rec.connected = true;
  await withTimeout(upgraded(socket), "upgrade");
  rec.upgraded = true;
  const who = await socket.timeout(timeoutMs).emitWithAck("whoami");
  rec.node = who.node;
  rec.transport = who.transport;
  const payload = { addr: c.addr, text: `héllo ✓ ${c.addr}`, bulk: "x".repeat(20000) };
  const answer = await socket.timeout(timeoutMs).emitWithAck("echo", payload);
  rec.echo = answer.node === rec.node && JSON.stringify(answer.payload) === JSON.stringify(payload);
}

async function reconnect(rec, c) {
  const { socket, connected } = open(rec, c.addr, c.transports);
  try {
    await withTimeout(connected, "reconnect");
    // Closing during the upgrade would abort requests in flight: let it finish first.
    await withTimeout(upgraded(socket), "upgrade after reconnecting");
    const who = await socket.timeout(timeoutMs).emitWithAck("whoami");
    rec.reconnectNode = who.node;
  } finally {
    close(socket);
  }
}

async function settle(recs, fn) {
  await Promise.all(
    recs.map((rec, i) =>
      fn(rec, config.clients[i]).catch((err) => {
        rec.errors.push(String(err.message || err));
      }),
    ),
  );
}

async function main() {
  const recs = config.clients.map((c) => ({
    addr: c.addr,
    transports: c.transports,
    connected: false,
    firstTransport: "",
    upgraded: false,
    node: "",
    transport: "",
    echo: false,
    broadcasts: [],
    shouted: "",
    reconnectNode: "",
    errors: [],
  }));
  await settle(recs, firstRound);

  // One shout from a client on each node; every token must reach every connected client.
  const senders = new Map();
  for (const rec of recs) {
    if (rec.node && rec.socket.connected && !senders.has(rec.node)) senders.set(rec.node, rec);
  }
  const tokens = [];
  for (const [node, rec] of senders) {
    const token = `token from ${rec.addr} on ${node}`;
    tokens.push(token);
    rec.shouted = token;
    try {
      await rec.socket.timeout(timeoutMs).emitWithAck("shout", token);
    } catch (err) {
      rec.errors.push(`shout: ${err.message}`);
    }
  }
  const live = recs.filter((r) => r.socket && r.socket.connected);
  const everyoneHeard = () => live.every((r) => tokens.every((t) => r.broadcasts.includes(t)));
  const deadline = Date.now() + timeoutMs;
  while (!everyoneHeard() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

  for (const rec of recs) if (rec.socket) close(rec.socket);
  await settle(recs, reconnect);

  for (const rec of recs) delete rec.socket;
  process.stdout.write(JSON.stringify({ tokens, clients: recs }) + "\n");
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  },
);
