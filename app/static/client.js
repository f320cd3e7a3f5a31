// ResponseStream: reads one response's SSE stream and delivers each event exactly once, in seq
// order, across drops, edge restarts, gaps, half-open connections and lost history (410).
// The connection, backoff and half-open detection are ResumableStream's (stream.js), which also
// says why fetch and not EventSource.

import { errorText } from "./api.js";
import { ResumableStream } from "./stream.js";

export const TERMINAL = new Set(["done", "error", "cancelled"]);

const DEFAULTS = {
  after: 0, // the last seq already held: the stream starts after it
  view: null, // a view's name (docs/views.md): its own stream and seq, resumed like the raw one
  // baseUrl, heartbeatMs, halfOpenFactor, backoffBaseMs, backoffMaxMs: TRANSPORT_DEFAULTS (stream.js)
  maxNotFound: 8, // 404s in a row before giving up (a restarting edge may not know the id yet)
};

/**
 * Events: "event" (every accepted event, parsed JSON plus `type`, once, in seq order),
 * "status" ({state, detail}: connecting, streaming, reconnecting, done, cancelled, error, closed),
 * "snapshot" (the JSON snapshot after a 410: renderers replace their text with its sources),
 * "notice" (a human sentence worth showing, e.g. why the text was reloaded).
 */
export class ResponseStream extends ResumableStream {
  constructor(rid, options = {}) {
    super({ ...DEFAULTS, ...options });
    this.rid = rid;
    this.lastSeq = this.options.after;
    this.retryMs = null; // the server's `retry:` hint, if any, replaces backoffBaseMs
    this.terminal = null;
    // processMs: main-thread time parsing and dispatching events (listeners included)
    this.stats = { connects: 0, reconnects: 0, gaps: 0, duplicates: 0, halfOpen: 0, drops: 0, reloads: 0, events: 0, processMs: 0 };
    this.statusKinds = { 204: "finished", 404: "not-found", 410: "gone" };
    this.endedDetail = "the stream ended early";
  }

  status(state, detail = "") {
    this.emit("status", { state, detail, lastSeq: this.lastSeq });
  }

  outcome(state) {
    return { state, lastSeq: this.lastSeq, terminal: this.terminal };
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
      const resp = await this.fetch(this.url(""), { cache: "no-store", headers: this.authHeaders() });
      const snap = await resp.json();
      return TERMINAL.has(snap.status) ? snap.status : "done";
    } catch {
      return "done";
    }
  }

  /** A server's `retry:` hint replaces the base delay, and may exceed backoffMaxMs. */
  backoff(attempt) {
    const base = this.retryMs ?? this.options.backoffBaseMs;
    return super.backoff(attempt, base, Math.max(this.options.backoffMaxMs, base));
  }

  /** Every connection, the first and each reconnect, names the view: its seqs are its own. */
  query() {
    const view = this.options.view;
    return view ? `after=${this.lastSeq}&view=${encodeURIComponent(view)}` : `after=${this.lastSeq}`;
  }

  url(path) {
    return `${this.options.baseUrl}/v1/responses/${encodeURIComponent(this.rid)}${path}`;
  }

  request() {
    return { url: this.url(`/events?${this.query()}`), headers: {} };
  }

  opened() {
    this.status("streaming", this.lastSeq > 0 ? `resumed after seq ${this.lastSeq}` : "connected");
  }

  /** What ends a connection besides a malformed event: a gap, or the terminal event. */
  stopFor(verdict) {
    if (verdict === "terminal") return { kind: "terminal" };
    this.stats.gaps += 1;
    return { kind: "gap", detail: `seq jumped past ${this.lastSeq}` };
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
      const resp = await this.fetch(this.url(""), { cache: "no-store", headers: this.authHeaders() });
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
