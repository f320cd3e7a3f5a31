// ConversationStream against a scripted fake fetch (turns, labelled events, resume with
// Last-Event-ID, no duplicate, 404 then poke, fatal 400), the id helpers, and TurnList on the
// small fake DOM.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CONVERSATION_ID, ConversationStream, conversationFromUrl, newConversationId, urlWithConversation } from "../../app/static/conversation.js";
import { ResponseStream } from "../../app/static/client.js";
import { TurnList } from "../../app/static/turns.js";
import { fakeRoot } from "./fakedom.mjs";

const enc = new TextEncoder();

const announce = (id, rid, turn, prompt) => `id: ${id}\nevent: response\ndata: ${JSON.stringify({ rid, turn, prompt, created: 1 })}\n\n`;
function ev(id, rid, seq, type = "delta", text = `${rid}.${seq} `) {
  const data = { rid, seq, type, source: "answer", ...(type === "delta" ? { text } : {}) };
  return `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A 200 whose body yields `parts`, then stays open until aborted (a live stream). */
function sse(parts, signal) {
  const body = new ReadableStream({
    start(controller) {
      signal?.addEventListener("abort", () => {
        try {
          controller.error(new DOMException("aborted", "AbortError"));
        } catch {}
      });
      for (const p of parts) controller.enqueue(enc.encode(p));
    },
  });
  return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
}
const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

/** fetch answering the i-th request with handlers[i](signal); records each Last-Event-ID. */
function server(handlers) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url, lastEventId: init.headers?.["Last-Event-ID"] ?? null });
    return handlers[Math.min(calls.length - 1, handlers.length - 1)](init.signal);
  };
  return { fetch, calls };
}

function open(srv, options = {}) {
  const turns = [];
  const events = [];
  const statuses = [];
  const details = [];
  const c = new ConversationStream("chat-1", { fetch: srv.fetch, backoffBaseMs: 2, backoffMaxMs: 20, heartbeatMs: 1000, ...options });
  c.on("turn", (t) => turns.push(t)).on("event", (e) => events.push(e)).on("status", (s) => {
    statuses.push(s.state);
    details.push(s.detail);
  });
  c.start();
  return { c, turns, events, statuses, details };
}

const until = async (cond, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 2));
  }
};

test("turns and their labelled events, in order, and the cursor follows the ids", async () => {
  const srv = server([(signal) => sse([announce("1;", "r1", 1, "hi"), ev("1;r1:1", "r1", 1), ev("1;", "r1", 2, "done"), ": ping\n\n", announce("2;r2:0", "r2", 2, "more"), ev("2;r2:1", "r2", 1)], signal)]);
  const { c, turns, events } = open(srv);
  await until(() => events.length === 3);
  assert.deepEqual(turns.map((t) => [t.rid, t.turn, t.prompt]), [["r1", 1, "hi"], ["r2", 2, "more"]]);
  assert.deepEqual(events.map((e) => [e.rid, e.seq, e.type]), [["r1", 1, "delta"], ["r1", 2, "done"], ["r2", 1, "delta"]]);
  assert.equal(c.cursor, "2;r2:1");
  assert.equal(srv.calls[0].url, "/v1/conversations/chat-1/events");
  assert.equal(srv.calls[0].lastEventId, null);
  c.close();
  assert.equal((await c.finished).state, "closed");
});

test("a drop resumes with Last-Event-ID; what the edge sends again is not delivered twice", async () => {
  const srv = server([
    (signal) => sse([announce("1;r1:0", "r1", 1, "q"), ev("1;r1:1", "r1", 1), ev("1;r1:2", "r1", 2)], signal),
    (signal) => sse([announce("1;r1:0", "r1", 1, "q"), ev("1;r1:2", "r1", 2), ev("1;r1:3", "r1", 3), announce("2;r1:3,r2:0", "r2", 2, "q2")], signal),
  ]);
  const { c, turns, events } = open(srv);
  await until(() => events.length === 2);
  c.drop();
  await until(() => turns.length === 2);
  assert.deepEqual(srv.calls.map((x) => x.lastEventId), [null, "1;r1:2"]);
  assert.deepEqual(events.map((e) => e.seq), [1, 2, 3]);
  assert.deepEqual(turns.map((t) => t.rid), ["r1", "r2"]);
  assert.equal(c.stats.duplicates, 1);
  assert.equal(c.stats.drops, 1);
  assert.equal(c.cursor, "2;r1:3,r2:0");
  c.close();
});

test("404 (no turn yet) waits with backoff; poke() asks again at once", async () => {
  const srv = server([async () => json(404, { error: { code: "unknown_conversation", message: "none" } }), (signal) => sse([announce("1;r1:0", "r1", 1, "first")], signal)]);
  const { c, turns, statuses } = open(srv, { backoffBaseMs: 60000, backoffMaxMs: 60000 });
  await until(() => statuses.includes("waiting"));
  c.poke();
  await until(() => turns.length === 1);
  assert.deepEqual(statuses, ["connecting", "waiting", "following"]);
  c.close();
});

test("a 400 (bad cursor) is final; a 503 or a dead connection is retried", async () => {
  const bad = open(server([async () => json(400, { error: { code: "bad_cursor", message: "nope" } })]), { cursor: "x" });
  const end = await bad.c.finished;
  assert.equal(end.state, "error");
  assert.equal(bad.details.at(-1), "HTTP 400: nope");
  assert.equal(bad.c.stats.connects, 1);
  const srv = server([async () => json(503, {}), async () => Promise.reject(new TypeError("network")), (signal) => sse([announce("1;", "r1", 1, "q")], signal)]);
  const ok = open(srv);
  await until(() => ok.turns.length === 1);
  assert.equal(ok.c.stats.reconnects, 2);
  ok.c.close();
});

test("half-open: no byte for heartbeat × factor reconnects", async () => {
  const srv = server([(signal) => sse([announce("1;r1:0", "r1", 1, "q")], signal), (signal) => sse([ev("1;r1:1", "r1", 1)], signal)]);
  const { c, events } = open(srv, { heartbeatMs: 20, halfOpenFactor: 2 });
  await until(() => events.length === 1);
  assert.equal(c.stats.halfOpen, 1);
  assert.equal(srv.calls[1].lastEventId, "1;r1:0");
  c.close();
});

test("backoff (shared with ResponseStream): capped at backoffMaxMs; a retry: line is no hint here", () => {
  const c = new ConversationStream("chat-1", { fetch: async () => json(404, {}), random: () => 1, backoffBaseMs: 4, backoffMaxMs: 12 });
  assert.deepEqual([0, 1, 2, 3].map((a) => c.backoff(a)), [4, 8, 12, 12]);
  assert.equal(c.accept({ kind: "retry", retry: 999 }), "skip");
  assert.equal(c.backoff(0), 4);
  const high = { fetch: async () => json(404, {}), random: () => 1, backoffBaseMs: 40, backoffMaxMs: 12 };
  assert.equal(new ConversationStream("chat-1", high).backoff(0), 12);
  assert.equal(new ResponseStream("r1", high).backoff(0), 40); // a base (or retry: hint) above the cap is kept
});

test("conversation ids: generated ones are valid, the URL's is read and written", () => {
  const id = newConversationId();
  assert.match(id, CONVERSATION_ID);
  assert.notEqual(newConversationId(), id);
  assert.equal(conversationFromUrl("http://x/?c=chat-42&tokens=3"), "chat-42");
  assert.equal(conversationFromUrl("http://x/?c=a%20b"), null);
  assert.equal(conversationFromUrl("http://x/"), null);
  assert.equal(urlWithConversation("http://x/?tokens=3", "c-1"), "http://x/?tokens=3&c=c-1");
});

/** A stand-in for MarkdownView: the text it was given, and whether it finished. */
class FakeView {
  constructor(el) {
    this.el = el;
    this.text = "";
    this.finished = false;
  }
  append(t) {
    if (!this.finished) this.text += t;
  }
  finish() {
    this.finished = true;
  }
}

test("TurnList: one item per turn, prompt as text, answer deltas to its view, status on the end", () => {
  const root = fakeRoot("ol");
  const list = new TurnList(root, { view: (el) => new FakeView(el) });
  list.add({ rid: "r1", turn: 1, prompt: "<b>hi</b>" });
  list.add({ rid: "r1", turn: 1, prompt: "<b>hi</b>" }); // announced again after a reconnect
  list.add({ rid: "r2", turn: 2, prompt: "again" });
  list.event({ rid: "r1", type: "delta", source: "answer", text: "Hello " });
  list.event({ rid: "r2", type: "delta", source: "answer", text: "Second" });
  list.event({ rid: "r1", type: "delta", source: "critic", text: "not the answer" });
  list.event({ rid: "r1", type: "delta", source: "answer", text: "there" });
  list.event({ rid: "r1", type: "done", source: "answer" });
  list.event({ rid: "zz", type: "delta", text: "unknown turn" });
  assert.equal(root.children.length, 2);
  assert.deepEqual(root.children.map((li) => [li.dataset.rid, li.dataset.turn, li.dataset.status]), [["r1", "1", "done"], ["r2", "2", "streaming"]]);
  assert.equal(root.children[0].children[0].textContent, "<b>hi</b>");
  assert.deepEqual(list.texts, [
    { rid: "r1", turn: 1, prompt: "<b>hi</b>", text: "Hello there", status: "done" },
    { rid: "r2", turn: 2, prompt: "again", text: "Second", status: "streaming" },
  ]);
  list.add({ rid: "r3", turn: 3, prompt: "bad", moderated_url: "/v1/responses/r3/events?view=moderated" });
  assert.equal(root.children[2].dataset.status, "moderated");
  list.reset();
  assert.equal(root.children.length, 0);
  assert.deepEqual(list.texts, []);
});
