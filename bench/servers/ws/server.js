'use strict';
// The Node `ws` anchor of the Lifeline benchmarks (bench/Lifeline.Bench drives it).
//   node server.js --port P --heartbeat-interval-ms I [--heartbeat-timeout-ms T (unused: ws's timeout is one interval)] [--parent-pid PID]
// Messages (JSON text frames), equivalent to the Lifeline and SignalR benchmark servers:
//   {"type":"subscribe","id":1,"channel":"c"} -> {"type":"subscribed","id":1}
//   {"type":"publish","id":2,"channel":"c","data":"..."} -> {"type":"message","channel":"c","data":"..."} to every
//     subscriber (serialized once), then {"type":"reply","id":2} to the publisher.
//   {"type":"emit","id":3,"channel":"c","data":"..."} -> the same message to every subscriber but the sender (the
//     cursor workload), then {"type":"reply","id":3}.
//   POST /bench/burst?channel=c&messages=M&payload_bytes=P (plain HTTP, the w2-burst workload) -> M messages, each
//     stamped when created (~T<process.hrtime ns, 19 digits>:xxx), sent to every subscriber in a synchronous loop;
//     the response (the loop's duration in ms) is written when the loop is done.
// Heartbeat: the classic pattern from the ws README: ping every interval; a connection whose previous ping got no pong
// by the next tick is terminated; the interval is cleared when the server closes.
const http = require('http');
const { WebSocketServer } = require('ws');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const port = option('--port', 0);
const intervalMs = option('--heartbeat-interval-ms', 10000);
const channels = new Map(); // channel -> Set of sockets

const host = process.env.BENCH_LISTEN_ADDRESS || '127.0.0.1'; // a namespace's veth address in the network workloads
const server = http.createServer(burst);
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: true });

// The w2-burst control request: the same loop as the .NET servers' BenchBurst (bench/servers/Shared/BenchBurst.cs).
function burst(req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (req.method !== 'POST' || url.pathname !== '/bench/burst') { res.writeHead(404); res.end(); return; }
  const channel = url.searchParams.get('channel');
  const messages = Number(url.searchParams.get('messages'));
  const payloadBytes = Number(url.searchParams.get('payload_bytes'));
  const started = process.hrtime.bigint();
  for (let i = 0; i < messages; i++) {
    const stamp = '~T' + process.hrtime.bigint().toString().padStart(19, '0') + ':';
    const data = payloadBytes > stamp.length ? stamp + 'x'.repeat(payloadBytes - stamp.length) : stamp;
    const set = channels.get(channel);
    if (set) {
      const out = JSON.stringify({ type: 'message', channel, data });
      for (const s of set) s.send(out);
    }
  }
  res.end((Number(process.hrtime.bigint() - started) / 1e6).toFixed(1));
}

function heartbeat() { this.isAlive = true; }

wss.on('connection', (ws) => {
  ws.isAlive = true;
  ws.channels = [];
  ws.on('pong', heartbeat);
  ws.on('error', () => {});
  ws.on('message', (raw) => {
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    if (msg.type === 'subscribe') {
      let set = channels.get(msg.channel);
      if (!set) { set = new Set(); channels.set(msg.channel, set); }
      set.add(ws);
      ws.channels.push(msg.channel);
      ws.send(JSON.stringify({ type: 'subscribed', id: msg.id }));
    } else if (msg.type === 'publish') {
      const set = channels.get(msg.channel);
      if (set) {
        const out = JSON.stringify({ type: 'message', channel: msg.channel, data: msg.data });
        for (const s of set) s.send(out);
      }
      ws.send(JSON.stringify({ type: 'reply', id: msg.id }));
    } else if (msg.type === 'emit') {
      const set = channels.get(msg.channel);
      if (set) {
        const out = JSON.stringify({ type: 'message', channel: msg.channel, data: msg.data });
        for (const s of set) if (s !== ws) s.send(out);
      }
      ws.send(JSON.stringify({ type: 'reply', id: msg.id }));
    }
  });
  ws.on('close', () => {
    for (const c of ws.channels) {
      const set = channels.get(c);
      if (set) { set.delete(ws); if (set.size === 0) channels.delete(c); }
    }
  });
});

const interval = setInterval(() => {
  for (const ws of wss.clients) {
    if (ws.isAlive === false) { ws.terminate(); continue; }
    ws.isAlive = false;
    ws.ping();
  }
}, intervalMs);

wss.on('close', () => clearInterval(interval));
server.listen({ host, port, backlog: 4096 }, () => console.log(`READY ${server.address().port} ${process.pid}`));

// Exit when the generator is gone, however it ended (even SIGKILL): no server outlives its run.
const parentPid = option('--parent-pid', 0);
if (parentPid > 0) {
  setInterval(() => {
    try { process.kill(parentPid, 0); } catch { process.exit(0); }
  }, 1000).unref();
}

function stop() { wss.close(); for (const ws of wss.clients) ws.terminate(); process.exit(0); }
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
