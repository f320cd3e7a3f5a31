// ResponseStream against a scripted fake fetch: resume, gaps, duplicates, 204, 410, 404,
// half-open connections, backoff with jitter, drop() and close(). Real timers, tiny intervals.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ResponseStream } from "../../app/static/client.js";

const enc = new TextEncoder();

function frame(seq, type = "delta", text = `t${seq} `) {
  const data = { seq, type, source: "answer", ...(type === "delta" ? { text } : {}) };
  return `id: ${seq}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A streaming 200 whose body yields `parts` (strings or Uint8Arrays, or {wait: ms}), then
 * ends, or with hang: stays open until the request is aborted, as a half-open socket would. */
function sse(parts, { hang = false, signal } = {}) {
  const body = new ReadableStream({
    async start(controller) {
      signal?.addEventListener("abort", () => {
        try {
          controller.error(new DOMException("aborted", "AbortError"));
        } catch {}
      });
      for (const p of parts) {
        if (signal?.aborted) return;
        if (p.wait) await new Promise((r) => setTimeout(r, p.wait));
        else controller.enqueue(typeof p === "string" ? enc.encode(p) : p);
      }
      if (!hang) controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
}

const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

/** fetch that answers the i-th events request with handlers[i](after, signal). */
function server(handlers, snapshot = null) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const u = new URL(url, "http://edge");
    if (!u.pathname.endsWith("/events")) {
      calls.push({ snapshot: true });
      return json(200, snapshot);
    }
    const after = Number(u.searchParams.get("after"));
    const view = u.searchParams.get("view");
    calls.push(view === null ? { after } : { after, view });
    const h = handlers[Math.min(calls.filter((c) => !c.snapshot).length - 1, handlers.length - 1)];
    return h(after, init.signal);
  };
  return { fetch, calls };
}

function open(srv, options = {}) {
  const events = [];
  const statuses = [];
  const snapshots = [];
  const s = new ResponseStream("r1", { fetch: srv.fetch, backoffBaseMs: 2, backoffMaxMs: 20, heartbeatMs: 1000, ...options });
  s.on("event", (e) => events.push(e));
  s.on("status", (st) => statuses.push(st));
  s.on("snapshot", (snap) => snapshots.push(snap));
  s.start();
  return { s, events, statuses, snapshots };
}

const seqs = (events) => events.map((e) => e.seq);
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test("reads to the terminal event, each event once with its type", async () => {
  const srv = server([(after, signal) => sse([frame(1), frame(2), frame(3, "done")], { hang: true, signal })]);
  const { s, events } = open(srv);
  const end = await s.finished;
  assert.equal(end.state, "done");
  assert.deepEqual(seqs(events), [1, 2, 3]);
  assert.equal(events[0].text, "t1 ");
  assert.equal(events[2].type, "done");
  assert.deepEqual(srv.calls, [{ after: 0 }]);
});

test("an early end resumes from the last seq; replayed events are dropped, not shown twice", async () => {
  const srv = server([
    (after, signal) => sse([frame(1), frame(2), frame(3)], { signal }),
    (after, signal) => sse([frame(2), frame(3), frame(4), frame(5, "done")], { signal }),
  ]);
  const { s, events } = open(srv);
  await s.finished;
  assert.deepEqual(seqs(events), [1, 2, 3, 4, 5]);
  assert.deepEqual(srv.calls, [{ after: 0 }, { after: 3 }]);
  assert.equal(s.stats.duplicates, 2);
});

test("a seq that skips is a gap: resume from the last good seq at once", async () => {
  const srv = server([
    (after, signal) => sse([frame(1), frame(2), frame(4), frame(5)], { hang: true, signal }),
    (after, signal) => sse(range(after + 1, 5).map((n) => frame(n)).concat(frame(6, "cancelled")), { signal }),
  ]);
  const { s, events } = open(srv);
  const end = await s.finished;
  assert.equal(end.state, "cancelled");
  assert.deepEqual(seqs(events), range(1, 6));
  assert.deepEqual(srv.calls, [{ after: 0 }, { after: 2 }]);
  assert.equal(s.stats.gaps, 1);
});

test("a multi-byte character split across chunks arrives whole", async () => {
  const bytes = enc.encode(frame(1, "delta", "héllo ✓").concat(frame(2, "done")));
  const cut = bytes.indexOf(0xc3) + 1;
  const srv = server([(after, signal) => sse([bytes.slice(0, cut), bytes.slice(cut)], { signal })]);
  const { s, events } = open(srv);
  await s.finished;
  assert.equal(events[0].text, "héllo ✓");
});

test("204 means the response had already ended: stop, with the snapshot's status", async () => {
  const srv = server([() => new Response(null, { status: 204 })], { status: "cancelled", last_seq: 9, sources: {} });
  const { s, events } = open(srv, { after: 9 });
  const end = await s.finished;
  assert.equal(end.state, "cancelled");
  assert.deepEqual(events, []);
  assert.equal(srv.calls.filter((c) => !c.snapshot).length, 1);
});

test("410 reloads from the snapshot, says so, and goes on from its last seq", async () => {
  const notices = [];
  const srv = server(
    [() => json(410, { error: { code: "gone", message: "not retained" } }), (after, signal) => sse([frame(after + 1), frame(after + 2, "done")], { signal })],
    { status: "in_progress", last_seq: 40, sources: { answer: "forty tokens" } },
  );
  const { s, events, snapshots } = open(srv, { after: 3 });
  s.on("notice", (n) => notices.push(n));
  await s.finished;
  assert.deepEqual(snapshots.map((x) => x.sources.answer), ["forty tokens"]);
  assert.match(notices[0], /no longer retained.*snapshot/);
  assert.deepEqual(seqs(events), [41, 42]);
  assert.deepEqual(srv.calls.filter((c) => !c.snapshot), [{ after: 3 }, { after: 40 }]);
});

test("a view's stream names the view on every connection, reconnects included", async () => {
  const sentence = (seq) => `id: ${seq}\nevent: sentence\ndata: ${JSON.stringify({ seq, type: "sentence", raw_seq: seq * 7, text: `S${seq}. ` })}\n\n`;
  const srv = server([
    (after, signal) => sse([sentence(1), sentence(2)], { signal }),
    (after, signal) => sse([sentence(3)], { hang: true, signal }),
    (after, signal) => sse([sentence(4), frame(5, "done")], { signal }),
  ]);
  const { s, events } = open(srv, { view: "sentences" });
  s.on("event", (e) => {
    if (e.seq === 3) queueMicrotask(() => s.drop());
  });
  assert.equal((await s.finished).state, "done");
  assert.deepEqual(seqs(events), [1, 2, 3, 4, 5]);
  assert.deepEqual(events.slice(0, 4).map((e) => [e.type, e.text, e.raw_seq]), [
    ["sentence", "S1. ", 7],
    ["sentence", "S2. ", 14],
    ["sentence", "S3. ", 21],
    ["sentence", "S4. ", 28],
  ]);
  assert.deepEqual(srv.calls, [
    { after: 0, view: "sentences" },
    { after: 2, view: "sentences" },
    { after: 3, view: "sentences" },
  ]);
});

test("410 in a view ends with an error: the raw snapshot cannot stand in for a view", async () => {
  const srv = server([() => json(410, {})], { status: "in_progress", last_seq: 40, sources: { answer: "raw" } });
  const { s, snapshots } = open(srv, { view: "json", after: 3 });
  const end = await s.finished;
  assert.equal(end.state, "error");
  assert.equal(snapshots.length, 0);
  assert.deepEqual(srv.calls, [{ after: 3, view: "json" }]);
  assert.equal(s.lastSeq, 3);
});

test("410 with a finished snapshot ends there", async () => {
  const srv = server([() => json(410, {})], { status: "done", last_seq: 12, sources: { answer: "all" } });
  const { s, snapshots } = open(srv, { after: 3 });
  const end = await s.finished;
  assert.equal(end.state, "done");
  assert.equal(snapshots.length, 1);
});

test("no byte for heartbeat × factor is a half-open connection: reconnect", async () => {
  const srv = server([
    (after, signal) => sse([frame(1)], { hang: true, signal }),
    (after, signal) => sse([frame(2), frame(3, "done")], { signal }),
  ]);
  const t0 = Date.now();
  const { s, events } = open(srv, { heartbeatMs: 20, halfOpenFactor: 3 });
  await s.finished;
  assert.deepEqual(seqs(events), [1, 2, 3]);
  assert.equal(s.stats.halfOpen, 1);
  assert.deepEqual(srv.calls, [{ after: 0 }, { after: 1 }]);
  assert.ok(Date.now() - t0 >= 55, "waited about 60 ms of silence");
});

test("heartbeats keep a quiet connection alive", async () => {
  const pings = Array.from({ length: 10 }, () => [{ wait: 15 }, ": ping\n\n"]).flat();
  const srv = server([(after, signal) => sse([frame(1), ...pings, frame(2, "done")], { signal })]);
  const { s } = open(srv, { heartbeatMs: 20, halfOpenFactor: 3 });
  await s.finished;
  assert.equal(s.stats.halfOpen, 0);
  assert.equal(srv.calls.length, 1);
});

test("failures back off exponentially with jitter; progress resets the backoff", async () => {
  const fail = () => Promise.reject(new TypeError("connection refused"));
  const srv = server([fail, fail, fail, (after, signal) => sse([frame(1)], { signal }), fail, (after, signal) => sse([frame(2, "done")], { signal })]);
  const { s, statuses } = open(srv, { random: () => 1, backoffBaseMs: 4, backoffMaxMs: 12 });
  await s.finished;
  const delays = statuses.filter((x) => x.state === "reconnecting").map((x) => Number(/retrying in (\d+) ms/.exec(x.detail)[1]));
  assert.deepEqual(delays, [4, 8, 12, 4, 8]); // capped at 12; after seq 1 arrived, from 4 again
  assert.equal(s.backoff(0) <= 4 && s.backoff(0) >= 2, true);
  s.random = () => 0;
  assert.equal(s.backoff(1), 4); // equal jitter: at least half the exponential delay
});

test("a server retry: hint replaces the base delay", async () => {
  const srv = server([(after, signal) => sse(["retry: 30\n\n", frame(1)], { signal }), (after, signal) => sse([frame(2, "done")], { signal })]);
  const { s, statuses } = open(srv, { random: () => 1 });
  await s.finished;
  assert.match(statuses.find((x) => x.state === "reconnecting").detail, /retrying in 30 ms/);
});

test("404 for an id never seen gives up soon; 400 at once", async () => {
  const srv404 = server([() => json(404, { error: { code: "not_found", message: "no response" } })]);
  const a = open(srv404);
  const end = await a.s.finished;
  assert.equal(end.state, "error");
  assert.equal(srv404.calls.length, 3);
  const srv400 = server([() => json(400, { error: { code: "bad_cursor", message: "bad" } })]);
  const b = open(srv400);
  assert.equal((await b.s.finished).state, "error");
  assert.equal(srv400.calls.length, 1);
  assert.match(b.statuses.at(-1).detail, /HTTP 400: bad/);
});

test("a 404 after events were seen is an edge warming up: keep trying", async () => {
  const srv = server([
    (after, signal) => sse([frame(1)], { signal }),
    () => json(404, {}),
    () => json(404, {}),
    () => json(503, {}),
    (after, signal) => sse([frame(2, "done")], { signal }),
  ]);
  const { s, events } = open(srv);
  assert.equal((await s.finished).state, "done");
  assert.deepEqual(seqs(events), [1, 2]);
});

test("drop() cuts the connection; the stream resumes from the last seq", async () => {
  let dropped = false;
  const srv = server([
    (after, signal) => sse([frame(1), frame(2)], { hang: true, signal }),
    (after, signal) => sse([frame(3), frame(4, "done")], { signal }),
  ]);
  const { s, events } = open(srv);
  s.on("event", (e) => {
    if (e.seq === 2 && !dropped) {
      dropped = true;
      queueMicrotask(() => s.drop());
    }
  });
  await s.finished;
  assert.deepEqual(seqs(events), [1, 2, 3, 4]);
  assert.equal(s.stats.drops, 1);
  assert.deepEqual(srv.calls, [{ after: 0 }, { after: 2 }]);
});

test("close() stops for good: no reconnect, finished as closed", async () => {
  const srv = server([(after, signal) => sse([frame(1)], { hang: true, signal })]);
  const { s, events } = open(srv);
  await new Promise((r) => setTimeout(r, 20));
  s.close();
  const end = await s.finished;
  assert.equal(end.state, "closed");
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(srv.calls.length, 1);
  assert.deepEqual(seqs(events), [1]);
});

test("a listener that throws does not stop the stream", async () => {
  const srv = server([(after, signal) => sse([frame(1), frame(2, "done")], { signal })]);
  const s = new ResponseStream("r1", { fetch: srv.fetch });
  const seen = [];
  const orig = console.error;
  console.error = () => {};
  s.on("event", () => {
    throw new Error("bad renderer");
  });
  s.on("event", (e) => seen.push(e.seq));
  s.start();
  await s.finished;
  console.error = orig;
  assert.deepEqual(seen, [1, 2]);
});
