// Socket.io clients for tether's polite-ending test (e2e/wsending_test.go): each connects from
// its own loopback address, waits for the upgrade to WebSocket and asks its node's name; then
// the script prints one line {"event":"ready","clients":[{"addr":...,"node":...}, ...]}. From
// then on a client whose connection ends reconnects with Socket.io's own reconnection (50 ms,
// no randomization) and, once connected, upgraded and told its node, prints
// {"event":"reconnected","addr":...,"from":OLD,"node":NEW,"reason":...,"ms":...}. It runs until
// killed.
//
//   node drainclients.js CONFIG_JSON
//
// CONFIG_JSON: {"url": "http://127.0.0.1:PORT", "timeoutMs": 10000,
//               "clients": [{"addr": "127.10.0.1", "transports": ["polling", "websocket"]}, ...]}
"use strict";

const http = require("node:http");
const { io } = require("socket.io-client");

const config = JSON.parse(process.argv[2] || "{}");
const timeoutMs = config.timeoutMs || 10000;
const print = (v) => process.stdout.write(JSON.stringify(v) + "\n");

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// upgraded resolves when the engine runs on WebSocket.
function upgraded(socket) {
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") return Promise.resolve();
  return new Promise((resolve, reject) => {
    engine.once("upgrade", () => resolve());
    engine.once("upgradeError", (err) => reject(new Error(`upgrade failed: ${err.message}`)));
  });
}

// whoami waits for the upgrade and asks the node's name.
async function whoami(socket) {
  await withTimeout(upgraded(socket), "upgrade");
  const who = await socket.timeout(timeoutMs).emitWithAck("whoami");
  return who.node;
}

function start(c) {
  const agent = new http.Agent({ localAddress: c.addr, keepAlive: true });
  const socket = io(config.url, {
    agent,
    localAddress: c.addr,
    transports: c.transports,
    forceNew: true,
    reconnection: true,
    reconnectionDelay: 50,
    reconnectionDelayMax: 50,
    randomizationFactor: 0,
  });
  const rec = { addr: c.addr, node: "" };
  let lost = null;
  socket.on("disconnect", (reason) => {
    lost = { reason, at: Date.now(), from: rec.node };
  });
  socket.on("connect", () => {
    if (!lost) return;
    const was = lost;
    lost = null;
    whoami(socket).then(
      (node) => {
        rec.node = node;
        print({ event: "reconnected", addr: c.addr, from: was.from, node, reason: was.reason, ms: Date.now() - was.at });
      },
      (err) => print({ event: "error", addr: c.addr, error: String(err.message || err) }),
    );
  });
  const connected = new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", (err) => reject(new Error(`connect_error: ${err.message}`)));
  });
  return withTimeout(connected, "connect")
    .then(() => whoami(socket))
    .then((node) => {
      rec.node = node;
      return rec;
    });
}

Promise.all(config.clients.map(start)).then(
  (clients) => print({ event: "ready", clients }),
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  },
);
