// ConversationStream: follows `GET /v1/conversations/{id}/events` (docs/conversations.md): each
// turn as it starts (a `response` event), then its events labelled with `rid`. The SSE id is the
// whole position (`T;RID:N,...`), sent back as Last-Event-ID on every reconnect, so a drop
// resumes every answer in flight and announces the turns missed, as EventSource would.
// The connection, backoff and half-open detection are ResumableStream's (stream.js), as for
// ResponseStream; fetch and not EventSource for the reasons given there.

import { ResumableStream } from "./stream.js";

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

/**
 * Events: "turn" ({rid, turn, prompt, created, moderated_url?}, once per turn, in order),
 * "event" (a response's event, parsed JSON with `rid` and `type`, once, in its seq order),
 * "status" ({state, detail}: connecting, following, waiting (no turn yet: 404, polled with
 * backoff, poke() to ask again now), reconnecting, error, closed).
 */
export class ConversationStream extends ResumableStream {
  constructor(cid, options = {}) {
    // cursor: a position already held (the last SSE id); null: from the first turn
    super({ cursor: null, ...options }, "conversation ");
    this.cid = cid;
    this.cursor = this.options.cursor;
    this.turns = new Set(); // rids announced
    this.seqs = new Map(); // rid -> last seq delivered: nothing twice even if the edge repeats
    this.stats = { connects: 0, reconnects: 0, drops: 0, halfOpen: 0, waits: 0, turns: 0, events: 0, duplicates: 0 };
    this.statusKinds = { 404: "empty" }; // no turn yet; another 4xx (400 bad cursor, 410 a turn gone) is fatal
    this.endedDetail = "the stream ended";
  }

  /** Retry now rather than after the backoff (this page just started a turn). */
  poke() {
    this.wake?.();
  }

  outcome(state) {
    return { state, cursor: this.cursor };
  }

  async run() {
    let attempt = 0;
    this.status("connecting");
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
        this.status("waiting", "no turn yet");
      } else {
        this.stats.reconnects += 1;
        this.status("reconnecting", `${r.detail}; retrying in ${Math.round(delay)} ms`);
      }
      await this.sleep(delay);
    }
  }

  request() {
    const url = `${this.options.baseUrl}/v1/conversations/${encodeURIComponent(this.cid)}/events`;
    return { url, headers: this.cursor ? { "Last-Event-ID": this.cursor } : {} };
  }

  opened() {
    this.status("following", this.cursor ? `resumed at ${this.cursor}` : "connected");
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
