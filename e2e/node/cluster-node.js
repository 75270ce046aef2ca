// One node of the Socket.io cluster that tether's end-to-end test (e2e/socketio_test.go) puts
// behind tether: a plain-HTTP Socket.io v4 server whose rooms and broadcasts are shared with
// the other nodes through the Redis adapter (https://socket.io/docs/v4/redis-adapter/).
//
//   node cluster-node.js NAME PORT REDIS_URL NODES
//
// It prints JSON lines on stdout for the test to read:
//   {"event":"listening",...}         once it serves
//   {"event":"ready",...}             once it listens and all NODES nodes share the Redis channel
//   {"event":"connection_error",...}  every handshake/request engine.io refused, e.g. code 1
//                                     "Session ID unknown": a request for a session that lives
//                                     on another node (https://socket.io/docs/v4/using-multiple-nodes/)
//   {"event":"http_error",...}        every HTTP answer >= 400 it sent
//
// Events a client may emit (each answers through its acknowledgement callback):
//   whoami()      -> {node, transport}
//   echo(payload) -> {node, payload}
//   shout(msg)    -> io.emit("broadcast", {from: NAME, msg}) to every client of every node
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const [name, portArg, redisURL, nodesArg] = process.argv.slice(2);
const port = Number(portArg);
const nodes = Number(nodesArg);
if (!name || !port || !redisURL || !nodes) {
  console.error("usage: node cluster-node.js NAME PORT REDIS_URL NODES");
  process.exit(2);
}

function report(event, fields) {
  process.stdout.write(JSON.stringify({ event, node: name, ...fields }) + "\n");
}

function fail(what, err) {
  console.error(`${name}: ${what}: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
}

async function main() {
  const pub = createClient({ url: redisURL });
  const sub = pub.duplicate();
  pub.on("error", (err) => fail("redis pub", err));
  sub.on("error", (err) => fail("redis sub", err));
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter: createAdapter(pub, sub),
    // Long enough that nothing times out on a loaded 2-core machine, short enough to matter.
    pingInterval: 10000,
    pingTimeout: 20000,
  });
  // Added after engine.io's own listener, so it sees every request.
  httpServer.on("request", (req, res) => {
    res.on("finish", () => {
      if (res.statusCode >= 400) {
        report("http_error", { status: res.statusCode, method: req.method, url: req.url });
      }
    });
  });
  io.engine.on("connection_error", (err) => {
    report("connection_error", { code: err.code, message: err.message, url: err.req && err.req.url });
  });

  io.on("connection", (socket) => {
    socket.on("whoami", (ack) => ack({ node: name, transport: socket.conn.transport.name }));
    socket.on("echo", (payload, ack) => ack({ node: name, payload }));
    socket.on("shout", (msg, ack) => {
      io.emit("broadcast", { from: name, msg });
      ack({ node: name });
    });
  });

  await new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(port, "127.0.0.1", resolve);
  });
  report("listening", { port });
  // Ready only when every node has subscribed to the shared channel, so that a broadcast
  // reaches all of them (the adapter counts subscribers with PUBSUB NUMSUB).
  const adapter = io.of("/").adapter;
  for (;;) {
    const count = await adapter.serverCount();
    if (count >= nodes) {
      report("ready", { port, servers: count });
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

main().catch((err) => fail("start", err));
