// The benchmark's peer: vercel's resumable-stream on Redis, run the way its README intends for
// servers without sticky routing. `producer` makes each stream on the harness's token schedule
// (and drains it itself, as the original request would); `edge` serves every reader as a resume
// through Redis pub/sub, so each token crosses a process boundary as tokenrelay's do.
// Usage: node peer.mjs producer|edge --port P --redis redis://127.0.0.1:R --prefix K
import http from "node:http";
import { createResumableStreamContext } from "resumable-stream";

const [role, ...rest] = process.argv.slice(2);
const opts = {};
for (let i = 0; i < rest.length; i += 2) opts[rest[i].replace(/^--/, "")] = rest[i + 1];
process.env.REDIS_URL = opts.redis;
const ctx = createResumableStreamContext({ waitUntil: null, keyPrefix: opts.prefix });
// Epoch ms with sub-ms precision, the same clock as the Python side's time.time().
const nowMs = () => performance.timeOrigin + performance.now();

function frame(rid, seq, type, text) {
  const data = { rid, source: "answer", seq, type, ts: nowMs() };
  if (text !== undefined) data.text = text;
  return `id: ${seq}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

async function body(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
}

function json(res, status, value) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(value));
}

// ---- producer ----------------------------------------------------------------------------
const streams = new Map(); // id -> { controller, emitted }

async function create(ids) {
  await Promise.all(
    ids.map(async (id) => {
      const entry = { controller: null, emitted: 0 };
      const made = () => new ReadableStream({ start: (c) => void (entry.controller = c) });
      const stream = await ctx.createNewResumableStream(id, made);
      streams.set(id, entry);
      drain(stream.getReader());
    }),
  );
}

async function drain(reader) {
  while (!(await reader.read()).done) {}
}

// One timer walks every stream's schedule: token i of stream j is due at
// start_at + (i * n + j) / (rate * n) s, so n streams at `rate` are spread evenly.
function schedule({ ids, tokens, rate, start_at: startAt, hold_ms: holdMs = 0, text = " tok" }) {
  const entries = ids.map((id) => [id, streams.get(id)]);
  const n = entries.length;
  const total = tokens * n;
  let k = 0;
  const step = () => {
    while (k < total) {
      const due = rate > 0 ? startAt + (k / (rate * n)) * 1000 : startAt;
      const wait = due - nowMs();
      if (wait > 0.5) return void setTimeout(step, wait);
      const [id, entry] = entries[k % n];
      const seq = Math.floor(k / n) + 1;
      entry.controller.enqueue(frame(id, seq, "delta", text));
      entry.emitted = seq;
      if (seq === tokens) finish(id, entry, holdMs);
      k += 1;
      if (rate <= 0 && k % 500 === 0) return void setImmediate(step);
    }
  };
  setTimeout(step, Math.max(0, startAt - nowMs()));
}

// The terminal event goes out with the last token; closing the stream (which marks it DONE
// in Redis, after which it cannot be resumed) can be held back so a replay can still run.
function finish(id, entry, holdMs) {
  entry.controller.enqueue(frame(id, entry.emitted + 1, "done"));
  entry.emitted += 1;
  setTimeout(() => {
    entry.controller.close();
    streams.delete(id);
  }, holdMs);
}

async function producer(req, res) {
  const url = new URL(req.url, "http://peer");
  if (req.method === "POST" && url.pathname === "/create") {
    await create((await body(req)).ids);
    return json(res, 200, { created: true });
  }
  if (req.method === "POST" && url.pathname === "/start") {
    schedule(await body(req));
    return json(res, 200, { started: true });
  }
  if (url.pathname === "/status") {
    const entry = streams.get(url.searchParams.get("id"));
    return json(res, 200, { emitted: entry ? entry.emitted : null });
  }
  if (url.pathname === "/healthz") return json(res, 200, { role });
  return json(res, 404, { error: "not found" });
}

// ---- edge --------------------------------------------------------------------------------
async function edge(req, res) {
  const url = new URL(req.url, "http://peer");
  if (url.pathname === "/healthz") return json(res, 200, { role });
  const m = url.pathname.match(/^\/streams\/([^/]+)$/);
  if (!m) return json(res, 404, { error: "not found" });
  let stream;
  try {
    stream = await ctx.resumeExistingStream(m[1], Number(url.searchParams.get("skip") || 0));
  } catch (e) {
    return json(res, 503, { error: String(e) });
  }
  if (stream === undefined) return json(res, 404, { error: "unknown stream" });
  if (stream === null) return void res.writeHead(204).end();
  res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
  res.flushHeaders(); // Node holds headers back until the first write otherwise
  const reader = stream.getReader();
  res.on("close", () => reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value) res.write(value);
    }
  } catch {
    // the reader went away
  }
  res.end();
}

const handler = role === "producer" ? producer : role === "edge" ? edge : null;
if (!handler) {
  console.error("usage: node peer.mjs producer|edge --port P --redis URL --prefix K");
  process.exit(2);
}
const server = http.createServer((req, res) =>
  handler(req, res).catch((e) => {
    if (!res.headersSent) json(res, 500, { error: String(e) });
    else res.end();
  }),
);
server.on("connection", (socket) => socket.setNoDelay(true));
server.keepAliveTimeout = 60_000;
server.listen(Number(opts.port), "127.0.0.1", () => console.log(`peer ${role} on ${opts.port}`));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
