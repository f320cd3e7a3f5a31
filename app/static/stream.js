// ResumableStream: the transport ResponseStream (client.js) and ConversationStream
// (conversation.js) share: listeners, one SSE connection at a time over fetch with half-open
// detection, equal-jitter backoff, drop() and close(). A subclass says what to ask for
// (request), which statuses mean something of its own (statusKinds), and what each parsed message
// is (accept); its run() loop decides when to reconnect.
//
// Why fetch() with a streaming body and not EventSource: EventSource hides what this needs.
// It cannot see status codes (204 "finished", 410 "position gone", 404 all look like "error"),
// it swallows `: ping` comments (so a half-open socket cannot be told from a quiet one), it
// offers no backoff or jitter control, and it cannot be cut on purpose without closing it for
// good. fetch + ReadableStream gives all four, and AbortController drops a connection at will.

import { errorText } from "./api.js";
import { bearer } from "./auth.js";
import { SseParser } from "./sse.js";

export const TRANSPORT_DEFAULTS = {
  baseUrl: "",
  heartbeatMs: 15000, // the edge's ping interval (TOKENRELAY_HEARTBEAT_S)
  halfOpenFactor: 3, // no byte for heartbeatMs * this: the connection is dead, reconnect
  backoffBaseMs: 250,
  backoffMaxMs: 5000,
  // An API key or the stream's read token (docs/security.md), sent as Authorization: Bearer on
  // every connection: a string, or a function asked each time (null: none).
  token: null,
};

export class ResumableStream {
  /** `label` names the stream in a failed listener's console message ("conversation "). */
  constructor(options, label = "") {
    const o = { ...TRANSPORT_DEFAULTS, ...options };
    this.options = o;
    this.label = label;
    this.fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.random = o.random ?? Math.random;
    this.closed = false;
    this.settled = false;
    this.listeners = new Map();
    this.current = null; // {abort(reason)} of the open connection
    this.wake = null; // cuts a backoff sleep short (close(), poke())
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
        console.error(`tokenrelay: a ${this.label}${type} listener failed`, err); // one bad renderer must not stop the stream
      }
    }
  }

  status(state, detail = "") {
    this.emit("status", { state, detail });
  }

  /** The Authorization header of the current token, if any. */
  authHeaders() {
    const t = this.options.token;
    return bearer(typeof t === "function" ? t() : t);
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

  finish(state, detail) {
    if (this.settled) return;
    this.settled = true;
    this.status(state, detail);
    this.resolveFinished(this.outcome(state));
  }

  /** Equal jitter: half the exponential delay is fixed, half random, so a crowd spreads out. */
  backoff(attempt, base = this.options.backoffBaseMs, max = this.options.backoffMaxMs) {
    const ceiling = Math.min(max, base * 2 ** attempt);
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

  /**
   * One connection: this.request() is {url, headers}; a status in this.statusKinds returns that
   * kind, another 4xx but 408/429 "fatal", anything but a 200 with a body "retry"; a 200 calls
   * this.opened() and hands each chunk's messages to this.acceptAll (a stop ends the
   * connection). Returns {kind, detail, progressed}; never throws.
   */
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
      const { url, headers } = this.request();
      const resp = await this.fetch(url, { headers: { Accept: "text/event-stream", ...this.authHeaders(), ...headers }, cache: "no-store", signal: controller.signal });
      const kind = this.statusKinds[resp.status];
      if (kind) return { kind, detail: await errorText(resp) };
      if (resp.status >= 400 && resp.status < 500 && resp.status !== 408 && resp.status !== 429) {
        return { kind: "fatal", detail: await errorText(resp) };
      }
      if (resp.status !== 200 || !resp.body) return { kind: "retry", detail: `HTTP ${resp.status}` };
      this.opened();
      const parser = new SseParser();
      const decoder = new TextDecoder();
      reader = resp.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        arm(); // any byte, ping included, proves the connection alive
        if (done) break;
        const t0 = performance.now();
        const verdict = this.acceptAll(parser.push(decoder.decode(value, { stream: true })));
        if ("processMs" in this.stats) this.stats.processMs += performance.now() - t0; // parsing and listeners
        if (verdict.progressed) progressed = true;
        if (verdict.stop) return { ...verdict.stop, progressed: progressed || verdict.stop.kind === "terminal" };
      }
      return { kind: "retry", detail: this.endedDetail, progressed };
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

  /** A chunk's messages, each through this.accept: "ok", "skip", "bad" (this connection ends and
   * the stream resumes), or a verdict of the subclass's own that ends it as this.stopFor says.
   * Returns {progressed, stop}. */
  acceptAll(messages) {
    let progressed = false;
    for (const msg of messages) {
      const verdict = this.accept(msg);
      if (verdict === "ok") progressed = true;
      else if (verdict === "bad") return { progressed, stop: { kind: "retry", detail: "malformed event" } };
      else if (verdict !== "skip") return { progressed, stop: this.stopFor(verdict) };
    }
    return { progressed, stop: null };
  }
}
