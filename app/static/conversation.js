// ConversationStream: follows `GET /v1/conversations/{id}/events` (docs/conversations.md): each
// turn as it starts (a `response` event), then its events labelled with `rid`. The SSE id is the
// whole position (`T;RID:N,...`), sent back as Last-Event-ID on every reconnect, so a drop
// resumes every answer in flight and announces the turns missed, as EventSource would.
// fetch and not EventSource for the reasons in client.js (status codes, pings, drop on purpose).

import { errorText } from "./api.js";
import { SseParser } from "./sse.js";

/** What the edge accepts as a conversation id. */
export const CONVERSATION_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** A fresh id: `c-` and 16 random hex digits (getRandomValues works on plain http too). */
export function newConversationId(crypto = globalThis.crypto) {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `c-${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** The conversation a page URL names (`?c=`), or null when absent or not a valid id. */
export function conversationFromUrl(href) {
  const c = new URL(href).searchParams.get("c");
  return c !== null && CONVERSATION_ID.test(c) ? c : null;
}

/** The same URL naming conversation `cid` (its other parameters kept). */
export function urlWithConversation(href, cid) {
  const url = new URL(href);
  url.searchParams.set("c", cid);
  return url.toString();
}

const DEFAULTS = {
  baseUrl: "",
  cursor: null, // a position already held (the last SSE id); null: from the first turn
  heartbeatMs: 15000,
  halfOpenFactor: 3,
  backoffBaseMs: 250,
  backoffMaxMs: 5000,
};

/**
 * Events: "turn" ({rid, turn, prompt, created, moderated_url?}, once per turn, in order),
 * "event" (a response's event, parsed JSON with `rid` and `type`, once, in its seq order),
 * "status" ({state, detail}: connecting, following, waiting (no turn yet: 404, polled with
 * backoff, poke() to ask again now), reconnecting, error, closed).
 */
export class ConversationStream {
  constructor(cid, options = {}) {
    const o = { ...DEFAULTS, ...options };
    this.cid = cid;
    this.options = o;
    this.fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.random = o.random ?? Math.random;
    this.cursor = o.cursor;
    this.turns = new Set(); // rids announced
    this.seqs = new Map(); // rid -> last seq delivered: nothing twice even if the edge repeats
    this.closed = false;
    this.current = null;
    this.wake = null;
    this.listeners = new Map();
    this.stats = { connects: 0, reconnects: 0, drops: 0, halfOpen: 0, waits: 0, turns: 0, events: 0, duplicates: 0 };
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
    return this;
  }

  emit(type, value) {
    for (const fn of this.listeners.get(type) ?? []) {
      try {
        fn(value);
      } catch (err) {
        console.error(`tokenrelay: a conversation ${type} listener failed`, err);
      }
    }
  }

  start() {
    this.run().catch((err) => this.finish("error", String(err)));
    return this;
  }

  /** Cut the connection as a network would; it resumes from the cursor. */
  drop() {
    if (this.current) {
      this.stats.drops += 1;
      this.current.abort("dropped");
    }
  }

  /** Retry now rather than after the backoff (this page just started a turn). */
  poke() {
    this.wake?.();
  }

  close() {
    this.closed = true;
    this.current?.abort("closed");
    this.wake?.();
    this.finish("closed", "closed by the page");
  }

  finish(state, detail) {
    if (this.settled) return;
    this.settled = true;
    this.emit("status", { state, detail });
    this.resolveFinished({ state, cursor: this.cursor });
  }

  async run() {
    let attempt = 0;
    this.emit("status", { state: "connecting", detail: "" });
    while (!this.closed) {
      const r = await this.connect();
      if (this.closed) return;
      if (r.progressed) attempt = 0;
      if (r.kind === "fatal") {
        this.finish("error", r.detail);
        return;
      }
      const delay = this.backoff(attempt++);
      if (r.kind === "empty") {
        this.stats.waits += 1;
        this.emit("status", { state: "waiting", detail: "no turn yet" });
      } else {
        this.stats.reconnects += 1;
        this.emit("status", { state: "reconnecting", detail: `${r.detail}; retrying in ${Math.round(delay)} ms` });
      }
      await this.sleep(delay);
    }
  }

  backoff(attempt) {
    const ceiling = Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** attempt);
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

  /** One connection from the cursor. Returns {kind, detail, progressed}; never throws. */
  async connect() {
    const controller = new AbortController();
    let reason = null;
    const abort = (why) => {
      reason ??= why;
      controller.abort();
    };
    this.current = { abort };
    const idleMs = this.options.heartbeatMs * this.options.halfOpenFactor;
    let timer = null;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => abort("half-open"), idleMs);
    };
    let progressed = false;
    let reader = null;
    this.stats.connects += 1;
    arm();
    try {
      const headers = { Accept: "text/event-stream" };
      if (this.cursor) headers["Last-Event-ID"] = this.cursor;
      const url = `${this.options.baseUrl}/v1/conversations/${encodeURIComponent(this.cid)}/events`;
      const resp = await this.fetch(url, { headers, cache: "no-store", signal: controller.signal });
      if (resp.status === 404) return { kind: "empty", detail: await errorText(resp) };
      if (resp.status >= 400 && resp.status < 500 && resp.status !== 408 && resp.status !== 429) {
        return { kind: "fatal", detail: await errorText(resp) }; // 400 bad cursor, 410 a turn gone
      }
      if (resp.status !== 200 || !resp.body) return { kind: "retry", detail: `HTTP ${resp.status}` };
      this.emit("status", { state: "following", detail: this.cursor ? `resumed at ${this.cursor}` : "connected" });
      const parser = new SseParser();
      const decoder = new TextDecoder();
      reader = resp.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        arm();
        if (done) return { kind: "retry", detail: "the stream ended", progressed };
        for (const msg of parser.push(decoder.decode(value, { stream: true }))) {
          const verdict = this.accept(msg);
          if (verdict === "bad") return { kind: "retry", detail: "malformed event", progressed };
          if (verdict === "ok") progressed = true;
        }
      }
    } catch (err) {
      if (reason === "half-open") this.stats.halfOpen += 1;
      const detail = reason === "half-open" ? `no data for ${idleMs} ms (half-open)` : (reason ?? `network error: ${err?.message ?? err}`);
      return { kind: "retry", detail, progressed };
    } finally {
      clearTimeout(timer);
      this.current = null;
      if (reader) reader.cancel().catch(() => {});
      else controller.abort();
    }
  }

  /** One SSE message: "ok", "skip" or "bad". The cursor moves only past what was delivered. */
  accept(msg) {
    if (msg.kind !== "event") return "skip";
    let data;
    try {
      data = JSON.parse(msg.data);
    } catch {
      return "bad";
    }
    if (typeof data?.rid !== "string") return "bad";
    if (msg.event === "response") {
      if (!this.turns.has(data.rid)) {
        this.turns.add(data.rid);
        this.stats.turns += 1;
        this.emit("turn", data);
      }
    } else {
      const seq = Number(data.seq);
      if (!Number.isSafeInteger(seq)) return "bad";
      if (seq <= (this.seqs.get(data.rid) ?? 0)) {
        this.stats.duplicates += 1;
      } else {
        this.seqs.set(data.rid, seq);
        this.stats.events += 1;
        this.emit("event", { ...data, seq, type: msg.event !== "message" ? msg.event : data.type });
      }
    }
    if (msg.id !== null) this.cursor = msg.id;
    return "ok";
  }
}
