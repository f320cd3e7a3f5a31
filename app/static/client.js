// ResponseStream: reads one response's SSE stream and delivers each event exactly once, in seq
// order, across drops, edge restarts, gaps, half-open connections and lost history (410).
//
// Why fetch() with a streaming body and not EventSource: EventSource hides what this needs.
// It cannot see status codes (204 "finished", 410 "position gone", 404 all look like "error"),
// it swallows `: ping` comments (so a half-open socket cannot be told from a quiet one), it
// offers no backoff or jitter control, and it cannot be cut on purpose without closing it for
// good. fetch + ReadableStream gives all four, and AbortController drops a connection at will.

import { errorText } from "./api.js";
import { SseParser } from "./sse.js";

export const TERMINAL = new Set(["done", "error", "cancelled"]);

const DEFAULTS = {
  baseUrl: "",
  after: 0, // the last seq already held: the stream starts after it
  view: null, // a view's name (docs/views.md): its own stream and seq, resumed like the raw one
  heartbeatMs: 15000, // the edge's ping interval (TOKENRELAY_HEARTBEAT_S)
  halfOpenFactor: 3, // no byte for heartbeatMs * this: the connection is dead, reconnect
  backoffBaseMs: 250,
  backoffMaxMs: 5000,
  maxNotFound: 8, // 404s in a row before giving up (a restarting edge may not know the id yet)
};

/**
 * Events: "event" (every accepted event, parsed JSON plus `type`, once, in seq order),
 * "status" ({state, detail}: connecting, streaming, reconnecting, done, cancelled, error, closed),
 * "snapshot" (the JSON snapshot after a 410: renderers replace their text with its sources),
 * "notice" (a human sentence worth showing, e.g. why the text was reloaded).
 */
export class ResponseStream {
  constructor(rid, options = {}) {
    const o = { ...DEFAULTS, ...options };
    this.rid = rid;
    this.options = o;
    this.fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.random = o.random ?? Math.random;
    this.lastSeq = o.after;
    this.retryMs = null; // the server's `retry:` hint, if any, replaces backoffBaseMs
    this.terminal = null;
    this.closed = false;
    this.settled = false;
    this.listeners = new Map();
    // processMs: main-thread time parsing and dispatching events (listeners included)
    this.stats = { connects: 0, reconnects: 0, gaps: 0, duplicates: 0, halfOpen: 0, drops: 0, reloads: 0, events: 0, processMs: 0 };
    this.current = null; // {abort(reason)} of the open connection
    this.wake = null; // cuts a backoff sleep short on close()
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
    return this;
  }

  start() {
    this.run().catch((err) => this.finish("error", String(err)));
    return this;
  }

  /** Cut the connection as a network failure would; the stream resumes by itself. */
  drop() {
    if (this.current) {
      this.stats.drops += 1;
      this.current.abort("dropped");
    }
  }

  /** Stop for good: no more events, no reconnects. Does not cancel generation. */
  close() {
    this.closed = true;
    this.current?.abort("closed");
    this.wake?.();
    this.finish("closed", "closed by the page");
  }

  emit(type, value) {
    for (const fn of this.listeners.get(type) ?? []) {
      try {
        fn(value);
      } catch (err) {
        console.error(`tokenrelay: a ${type} listener failed`, err); // one bad renderer must not stop the stream
      }
    }
  }

  status(state, detail = "") {
    this.emit("status", { state, detail, lastSeq: this.lastSeq });
  }

  finish(state, detail) {
    if (this.settled) return;
    this.settled = true;
    this.status(state, detail);
    this.resolveFinished({ state, lastSeq: this.lastSeq, terminal: this.terminal });
  }

  async run() {
    let attempt = 0;
    let notFound = 0;
    this.status("connecting");
    while (!this.closed && !this.terminal) {
      const r = await this.connect();
      if (this.closed) return;
      if (r.progressed) attempt = 0;
      notFound = r.kind === "not-found" ? notFound + 1 : 0;
      if (r.kind === "terminal") break;
      if (r.kind === "finished") {
        this.finish(await this.finalState(), "the response had already ended");
        return;
      }
      if (r.kind === "gone") {
        if (await this.reload()) break;
        continue;
      }
      // An id never seen is likely wrong; one that streamed before is on an edge still warming up.
      const notFoundLimit = this.lastSeq > 0 ? this.options.maxNotFound : 2;
      if (r.kind === "fatal" || notFound > notFoundLimit) {
        this.finish("error", r.detail);
        return;
      }
      if (r.kind === "gap" && r.progressed) continue; // resume at once from the last good seq
      const delay = this.backoff(attempt++);
      this.stats.reconnects += 1;
      this.status("reconnecting", `${r.detail}; retrying in ${Math.round(delay)} ms from seq ${this.lastSeq}`);
      await this.sleep(delay);
    }
    if (this.terminal) this.finish(this.terminal.type, describe(this.terminal));
  }

  /** A 204 says our cursor holds the terminal event; which one it was, the snapshot tells (for
   * a view, the raw stream's: the same but where moderation ended the view first). */
  async finalState() {
    try {
      const resp = await this.fetch(this.url(""), { cache: "no-store" });
      const snap = await resp.json();
      return TERMINAL.has(snap.status) ? snap.status : "done";
    } catch {
      return "done";
    }
  }

  /** Equal jitter: half the exponential delay is fixed, half random, so a crowd spreads out. */
  backoff(attempt) {
    const base = this.retryMs ?? this.options.backoffBaseMs;
    const ceiling = Math.min(Math.max(this.options.backoffMaxMs, base), base * 2 ** attempt);
    return ceiling / 2 + (this.random() * ceiling) / 2;
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Every connection, the first and each reconnect, names the view: its seqs are its own. */
  query() {
    const view = this.options.view;
    return view ? `after=${this.lastSeq}&view=${encodeURIComponent(view)}` : `after=${this.lastSeq}`;
  }

  url(path) {
    return `${this.options.baseUrl}/v1/responses/${encodeURIComponent(this.rid)}${path}`;
  }

  /** One connection, from lastSeq. Returns {kind, detail, progressed}; never throws. */
  async connect() {
    const controller = new AbortController();
    let reason = null;
    const abort = (why) => {
      reason ??= why;
      controller.abort();
    };
    this.current = { abort };
    let timer = null;
    const idleMs = this.options.heartbeatMs * this.options.halfOpenFactor;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => abort("half-open"), idleMs); // also bounds the wait for headers
    };
    let progressed = false;
    let reader = null;
    this.stats.connects += 1;
    arm();
    try {
      const resp = await this.fetch(this.url(`/events?${this.query()}`), {
        headers: { Accept: "text/event-stream" },
        cache: "no-store",
        signal: controller.signal,
      });
      if (resp.status === 204) return { kind: "finished" };
      if (resp.status === 410) return { kind: "gone", detail: await errorText(resp) };
      if (resp.status === 404) return { kind: "not-found", detail: await errorText(resp) };
      if (resp.status >= 400 && resp.status < 500 && resp.status !== 408 && resp.status !== 429) {
        return { kind: "fatal", detail: await errorText(resp) };
      }
      if (resp.status !== 200 || !resp.body) return { kind: "retry", detail: `HTTP ${resp.status}` };
      this.status("streaming", this.lastSeq > 0 ? `resumed after seq ${this.lastSeq}` : "connected");
      const parser = new SseParser();
      const decoder = new TextDecoder();
      reader = resp.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        arm(); // any byte, ping included, proves the connection alive
        if (done) break;
        const t0 = performance.now();
        const verdict = this.acceptAll(parser.push(decoder.decode(value, { stream: true })));
        this.stats.processMs += performance.now() - t0;
        if (verdict.progressed) progressed = true;
        if (verdict.stop) return { ...verdict.stop, progressed: progressed || verdict.stop.kind === "terminal" };
      }
      return { kind: "retry", detail: "the stream ended early", progressed };
    } catch (err) {
      if (reason === "half-open") this.stats.halfOpen += 1;
      const detail = reason === "half-open" ? `no data for ${idleMs} ms (half-open)` : (reason ?? `network error: ${err?.message ?? err}`);
      return { kind: "retry", detail, progressed };
    } finally {
      clearTimeout(timer);
      this.current = null;
      if (reader) reader.cancel().catch(() => {});
      else controller.abort(); // a body never read must not keep the socket
    }
  }

  /** A chunk's messages: {progressed, stop} where stop ends this connection (gap, end, bad). */
  acceptAll(messages) {
    let progressed = false;
    for (const msg of messages) {
      const verdict = this.accept(msg);
      if (verdict === "ok") progressed = true;
      else if (verdict === "gap") {
        this.stats.gaps += 1;
        return { progressed, stop: { kind: "gap", detail: `seq jumped past ${this.lastSeq}` } };
      } else if (verdict === "terminal") return { progressed: true, stop: { kind: "terminal" } };
      else if (verdict === "bad") return { progressed, stop: { kind: "retry", detail: "malformed event" } };
    }
    return { progressed, stop: null };
  }

  /** One parsed SSE message: "ok", "skip", "gap", "terminal" or "bad". */
  accept(msg) {
    if (msg.kind === "retry") {
      this.retryMs = msg.retry;
      return "skip";
    }
    if (msg.kind !== "event") return "skip";
    let data;
    try {
      data = JSON.parse(msg.data);
    } catch {
      return "bad";
    }
    const seq = msg.id !== null && /^[0-9]+$/.test(msg.id) ? Number(msg.id) : Number(data?.seq);
    if (!Number.isSafeInteger(seq)) return "bad";
    if (seq <= this.lastSeq) {
      this.stats.duplicates += 1;
      return "skip";
    }
    if (seq > this.lastSeq + 1) return "gap";
    this.lastSeq = seq;
    this.stats.events += 1;
    const event = { ...data, seq, type: msg.event !== "message" ? msg.event : data.type };
    this.emit("event", event);
    if (TERMINAL.has(event.type)) {
      this.terminal = event;
      return "terminal";
    }
    return "ok";
  }

  /** After a 410: take the snapshot as the new truth. Returns true when it is final. */
  async reload() {
    this.stats.reloads += 1;
    if (this.options.view) {
      // The snapshot holds the raw text and the raw seq: nothing in it stands in for a view.
      this.closed = true;
      this.finish("error", `the ${this.options.view} view's events after seq ${this.lastSeq} are no longer retained`);
      return true;
    }
    let snap;
    try {
      const resp = await this.fetch(this.url(""), { cache: "no-store" });
      if (!resp.ok) throw new Error(await errorText(resp));
      snap = await resp.json();
    } catch (err) {
      this.finish("error", `events were no longer retained and the snapshot failed: ${err.message ?? err}`);
      this.closed = true;
      return true;
    }
    this.emit("snapshot", snap);
    this.emit("notice", `Events after seq ${this.lastSeq} are no longer retained: reloaded the text from the snapshot (seq ${snap.last_seq}).`);
    this.lastSeq = snap.last_seq;
    if (TERMINAL.has(snap.status)) {
      this.terminal = { type: snap.status, seq: snap.last_seq, fromSnapshot: true };
      return true;
    }
    return false;
  }
}

/** The human part of a terminal event (an error's message, if it has one). */
function describe(event) {
  const why = event.message ?? event.error ?? event.text ?? "";
  if (typeof why === "string") return why;
  return why?.message ?? JSON.stringify(why);
}
