// peers.mjs: the client side of the Redis Streams and NATS JetStream peers of
// tests/bench/run.sh, for the steps that redis-cli cannot do (a read loop that
// acknowledges what it read, a follower) and for NATS, whose client is the npm package
// `nats` (run.sh installs it into its work folder and passes that folder as BENCH_NPM).
// Redis is spoken to in its protocol (RESP) over one socket per connection, pipelined.
//
//   node peers.mjs redis-xrange PORT N OUT      XRANGE inv, 1000 entries a call
//   node peers.mjs redis-xreadgroup PORT N OUT  XREADGROUP COUNT 1000 + XACK of each batch
//   node peers.mjs redis-latency PORT N PACE_MS XADD lat every PACE_MS, a
//                                               XREADGROUP BLOCK follower on a 2nd socket
//   node peers.mjs nats-ingest PORT FILE        JetStream stream INV (file storage), one
//                                               publish per line, 1000 acks in flight
//   node peers.mjs nats-read PORT N OUT         pull consumer, fetch 1000, AckAll the last
//   node peers.mjs nats-latency PORT N PACE_MS  publish to LAT every PACE_MS, a consumer
//                                               acking each event
//
// The read-outs write each event's value (the JSON line) to OUT, one a line, and fail
// unless exactly N came. The latency modes print "count p50 p90 p99 max" in
// microseconds, as latency_probe does. Exit status: 0 done, 1 failure.
import fs from "node:fs";
import net from "node:net";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";

const [mode, portArg, third, fourth] = process.argv.slice(2);
const port = Number(portArg);
const NL = Buffer.from("\n");

function die(msg) {
  process.stderr.write(`peers.mjs ${mode}: ${msg}\n`);
  process.exit(1);
}

// ------------------------------------------------------------------ Redis (RESP)
// parse(buf, i): [value, next index] of the reply starting at i, or null if incomplete.
function parse(buf, i) {
  if (i >= buf.length) return null;
  const e = buf.indexOf(13, i); // the \r of the header's \r\n
  if (e < 0 || e + 1 >= buf.length) return null;
  const type = buf[i];
  if (type === 0x24 || type === 0x2a) { // lengths: read the digits without a string
    let n = 0;
    let neg = false;
    for (let k = i + 1; k < e; k++) {
      if (buf[k] === 0x2d) neg = true; else n = n * 10 + buf[k] - 48;
    }
    if (neg) return [null, e + 2];
    if (type === 0x24) {
      if (e + 4 + n > buf.length) return null;
      return [buf.subarray(e + 2, e + 2 + n), e + 4 + n];
    }
    const out = new Array(n);
    let j = e + 2;
    for (let k = 0; k < n; k++) {
      const r = parse(buf, j);
      if (!r) return null;
      out[k] = r[0];
      j = r[1];
    }
    return [out, j];
  }
  const line = buf.toString("latin1", i + 1, e);
  switch (type) {
    case 0x2b: return [line, e + 2];                   // +simple
    case 0x2d: return [new Error(line), e + 2];        // -error
    case 0x3a: return [Number(line), e + 2];           // :integer
    default: throw new Error(`bad reply byte ${type}`);
  }
}

class Redis {
  constructor(p) {
    this.waiting = [];
    this.buf = Buffer.alloc(0);
    this.sock = net.connect(p, "127.0.0.1");
    this.sock.setNoDelay(true);
    this.sock.on("data", (d) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      for (;;) {
        if (!this.waiting.length) break;
        const r = parse(this.buf, 0);
        if (!r) break;
        this.buf = this.buf.subarray(r[1]);
        const w = this.waiting.shift();
        if (r[0] instanceof Error) w.reject(r[0]); else w.resolve(r[0]);
      }
    });
    this.sock.on("error", (e) => die(`redis 127.0.0.1:${p}: ${e.message}`));
  }
  // cmd(...args): sends one command (pipelined); resolves with its reply.
  cmd(...args) {
    const parts = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
    }
    this.sock.write(Buffer.concat(parts));
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
  close() { this.sock.end(); }
}

// value field of a stream entry [id, [f, v, f, v...]]
function entryValue(entry, name) {
  const f = entry[1];
  for (let k = 0; k + 1 < f.length; k += 2) if (f[k].toString() === name) return f[k + 1];
  die(`entry ${entry[0]} has no field ${name}`);
}

class Out {
  constructor(path) { this.fd = fs.openSync(path, "w"); this.parts = []; this.n = 0; }
  add(v) { this.parts.push(v, NL); this.n++; if (this.parts.length >= 4096) this.flush(); }
  flush() { if (this.parts.length) fs.writeSync(this.fd, Buffer.concat(this.parts)); this.parts = []; }
  close(want) {
    this.flush();
    fs.closeSync(this.fd);
    if (this.n !== want) die(`read ${this.n} events, expected ${want}`);
  }
}

function percentiles(lat) {
  lat.sort((a, b) => a - b);
  const at = (q) => lat[Math.floor(q * (lat.length - 1))];
  return `${lat.length} ${at(0.5)} ${at(0.9)} ${at(0.99)} ${lat[lat.length - 1]}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function redisXrange(n, outPath) {
  const r = new Redis(port);
  const out = new Out(outPath);
  let start = "-";
  for (;;) {
    const batch = await r.cmd("XRANGE", "inv", start, "+", "COUNT", 1000);
    if (!batch.length) break;
    for (const e of batch) out.add(entryValue(e, "value"));
    start = "(" + batch[batch.length - 1][0].toString();
  }
  out.close(n);
  r.close();
}

async function redisXreadgroup(n, outPath) {
  const r = new Redis(port);
  const out = new Out(outPath);
  await r.cmd("XGROUP", "CREATE", "inv", "bench", "0");
  for (;;) {
    const reply = await r.cmd("XREADGROUP", "GROUP", "bench", "c1", "COUNT", 1000, "STREAMS", "inv", ">");
    if (reply === null) break;
    const entries = reply[0][1];
    if (!entries.length) break;
    const ids = [];
    for (const e of entries) { out.add(entryValue(e, "value")); ids.push(e[0]); }
    r.cmd("XACK", "inv", "bench", ...ids); // pipelined with the next read
  }
  const pending = await r.cmd("XPENDING", "inv", "bench");
  if (pending[0] !== 0) die(`${pending[0]} entries left unacknowledged`);
  out.close(n);
  r.close();
}

async function redisLatency(n, pace) {
  const reader = new Redis(port);
  const writer = new Redis(port);
  await writer.cmd("DEL", "lat");
  await writer.cmd("XGROUP", "CREATE", "lat", "g", "$", "MKSTREAM");
  const lat = [];
  const done = (async () => {
    while (lat.length < n) {
      const reply = await reader.cmd("XREADGROUP", "GROUP", "g", "c", "COUNT", 100, "BLOCK", 0,
        "STREAMS", "lat", ">");
      const now = performance.now();
      const ids = [];
      for (const e of reply[0][1]) {
        lat.push(Math.round((now - Number(entryValue(e, "t").toString())) * 1000));
        ids.push(e[0]);
      }
      reader.cmd("XACK", "lat", "g", ...ids);
    }
  })();
  for (let i = 0; i < n; i++) {
    writer.cmd("XADD", "lat", "*", "t", performance.now().toFixed(3));
    await sleep(pace);
  }
  await done;
  console.log(percentiles(lat));
  reader.close();
  writer.close();
}

// ------------------------------------------------------------------ NATS JetStream
function natsModule() {
  if (!process.env.BENCH_NPM) die("BENCH_NPM (the folder with node_modules/nats) is not set");
  return createRequire(process.env.BENCH_NPM + "/")("nats");
}

async function natsIngest(file) {
  const { connect, StorageType, createInbox } = natsModule();
  const nc = await connect({ servers: `127.0.0.1:${port}` });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: "INV", subjects: ["inv"], storage: StorageType.File });
  // Each line is published with a reply subject, so the server acknowledges it once
  // stored (what js.publish does, without a promise and a timer per message, which
  // made the client, not the server, the bottleneck): at most WINDOW unacknowledged.
  const WINDOW = 2000;
  const inbox = createInbox();
  let sent = 0;
  let acked = 0;
  let wake = null;
  nc.subscribe(inbox, {
    callback: (err, m) => {
      if (err) die(err.message);
      const a = m.json();
      if (a.error) die(`publish refused: ${JSON.stringify(a.error)}`);
      acked++;
      if (wake && sent - acked <= WINDOW / 2) { const w = wake; wake = null; w(); }
    },
  });
  const data = fs.readFileSync(file);
  for (let i = 0; i < data.length;) {
    let e = data.indexOf(10, i);
    if (e < 0) e = data.length;
    nc.publish("inv", data.subarray(i, e), { reply: inbox });
    sent++;
    i = e + 1;
    if (sent - acked >= WINDOW) await new Promise((r) => { wake = r; });
  }
  while (acked < sent) await new Promise((r) => { wake = r; });
  const info = await jsm.streams.info("INV");
  if (info.state.messages !== sent) die(`stream holds ${info.state.messages} messages, sent ${sent}`);
  await nc.drain();
}

async function natsRead(n, outPath) {
  const { connect, AckPolicy } = natsModule();
  const nc = await connect({ servers: `127.0.0.1:${port}` });
  const jsm = await nc.jetstreamManager();
  try { await jsm.consumers.delete("INV", "bench"); } catch { /* none yet */ }
  await jsm.consumers.add("INV", { durable_name: "bench", ack_policy: AckPolicy.All });
  const c = await nc.jetstream().consumers.get("INV", "bench");
  const out = new Out(outPath);
  while (out.n < n) {
    const msgs = await c.fetch({ max_messages: 1000, expires: 2000 });
    let last = null;
    for await (const m of msgs) { out.add(m.data); last = m; }
    if (!last) break;
    if (!(await last.ackAck())) die("ack not confirmed");
  }
  out.close(n);
  await nc.drain();
}

async function natsLatency(n, pace) {
  const { connect, StorageType, AckPolicy } = natsModule();
  const nc = await connect({ servers: `127.0.0.1:${port}` });
  const jsm = await nc.jetstreamManager();
  try { await jsm.streams.delete("LAT"); } catch { /* none yet */ }
  await jsm.streams.add({ name: "LAT", subjects: ["lat"], storage: StorageType.File });
  await jsm.consumers.add("LAT", { durable_name: "lat", ack_policy: AckPolicy.Explicit });
  const js = nc.jetstream();
  const c = await js.consumers.get("LAT", "lat");
  const msgs = await c.consume({ max_messages: 100 });
  const lat = [];
  const done = (async () => {
    for await (const m of msgs) {
      lat.push(Math.round((performance.now() - Number(m.string())) * 1000));
      m.ack();
      if (lat.length >= n) break;
    }
  })();
  const acks = [];
  for (let i = 0; i < n; i++) {
    acks.push(js.publish("lat", performance.now().toFixed(3)));
    await sleep(pace);
  }
  await Promise.all(acks);
  await done;
  console.log(percentiles(lat));
  await nc.close();
}

const jobs = {
  "redis-xrange": () => redisXrange(Number(third), fourth),
  "redis-xreadgroup": () => redisXreadgroup(Number(third), fourth),
  "redis-latency": () => redisLatency(Number(third), Number(fourth)),
  "nats-ingest": () => natsIngest(third),
  "nats-read": () => natsRead(Number(third), fourth),
  "nats-latency": () => natsLatency(Number(third), Number(fourth)),
};
if (!jobs[mode] || !(port > 0)) die("usage: see the head of tests/bench/peers.mjs");
jobs[mode]().catch((e) => die(e.stack || String(e)));
