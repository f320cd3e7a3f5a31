// Live numbers for the demo page: time to first token, tokens per second, and main-thread
// long tasks (PerformanceObserver "longtask", over 50 ms) for the browser benchmark.

// What counts as a "token": a raw delta, or one item of a view (a sentence, a JSON value).
const COUNTED = new Set(["delta", "sentence", "json", "json.invalid"]);

export class Meter {
  constructor() {
    this.reset(performance.now());
  }

  reset(t0) {
    this.t0 = t0; // when the request was sent (or the page attached to a response)
    this.first = null; // when the first delta (or view item) arrived
    this.last = null;
    this.tokens = 0;
    this.events = 0;
    // How far behind the producer the page is reading (its wall clock `ts`, same machine
    // in the demo): shows whether the page keeps up with a fast stream.
    this.lagMs = { last: null, max: 0, firstTs: null, lastTs: null };
  }

  event(ev, now = performance.now()) {
    this.events += 1;
    if (typeof ev.ts === "number") {
      const lag = Date.now() - ev.ts;
      this.lagMs.last = lag;
      this.lagMs.max = Math.max(this.lagMs.max, lag);
      this.lagMs.firstTs ??= ev.ts;
      this.lagMs.lastTs = ev.ts;
    }
    if (!COUNTED.has(ev.type)) return;
    this.tokens += 1;
    this.first ??= now;
    this.last = now;
  }

  get ttftMs() {
    return this.first === null ? null : this.first - this.t0;
  }

  /** Tokens per second since the first token (to the last one, once the stream is over). */
  rate(now = performance.now(), ended = false) {
    if (this.first === null) return null;
    const span = ((ended ? this.last : now) - this.first) / 1000;
    return span > 0 ? (this.tokens - 1) / span : null;
  }
}

/** Collects long tasks from page load on; returns the live list [{start, duration}]. */
export function observeLongTasks() {
  const tasks = [];
  if (typeof PerformanceObserver !== "function" || !PerformanceObserver.supportedEntryTypes?.includes("longtask")) {
    tasks.unsupported = true;
    return tasks;
  }
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) tasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: "longtask", buffered: true });
  return tasks;
}
