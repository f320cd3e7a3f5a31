// MarkdownView: renders a growing markdown text into an element progressively. Complete blocks
// are rendered once and appended, never touched again; only the open tail block is redrawn, so
// the work per update stays flat as the answer grows. An open code fence grows line by line.
//
//   const view = new MarkdownView(element, { md });   // md from createMarkdown()
//   view.append(text)    // more text (rendered on the next animation frame, batched)
//   view.setText(text)   // replace everything (e.g. reloaded from a snapshot)
//   view.finish()        // final form now; the typing cursor goes away
//   view.text            // everything appended so far
//   view.html            // the rendered blocks (without the chunk wrappers)
//   view.stats           // {flushes, flushMs, maxFlushMs, commits, samples: [[chars, ms], …]}

import { completeTail, fenceStart, scanFence, stableSplit } from "./markdown.js";

const STICK_PX = 48; // "at the bottom" tolerance for auto-scroll
// At most one render per this many ms: each frame costs style, layout, paint and compositing
// of the visible answer whatever the number of new tokens, so batching more per frame is what
// keeps a fast stream from saturating the main thread. 25 frames/s still reads as smooth.
const MIN_FLUSH_INTERVAL_MS = 40;
const MAX_SAMPLES = 20000;
// Committed blocks go into chunks of this many commits; CSS gives each chunk
// `content-visibility: auto`, so the browser skips layout and paint of chunks out of view and
// tracks a few dozen chunks rather than every paragraph of a long answer.
const CHUNK_COMMITS = 32;
const BLOCKS = new Set(["P", "LI", "UL", "OL", "BLOCKQUOTE", "PRE", "CODE", "H1", "H2", "H3", "H4", "H5", "H6", "TABLE", "THEAD", "TBODY", "TR", "TD", "TH", "DIV"]);

export class MarkdownView {
  constructor(root, { md, scroller = root, onFlush = null, minFlushMs = MIN_FLUSH_INTERVAL_MS } = {}) {
    this.root = root;
    this.minFlushMs = minFlushMs;
    this.lastFlush = -Infinity;
    this.md = md;
    this.scroller = scroller;
    this.onFlush = onFlush;
    this.stats = { flushes: 0, flushMs: 0, maxFlushMs: 0, commits: 0, samples: [] };
    this.reset("");
  }

  reset(text) {
    this.parts = []; // committed text, rendered and final
    this.committedChars = 0;
    this.pending = text; // the open tail: everything not committed yet
    this.code = null; // {el, partial, lang, markup, done, scanned} while a fence is open
    this.finished = false;
    this.scheduled = false;
    this.chunk = null;
    this.chunkCommits = 0;
    this.tail = document.createElement("div");
    this.tail.className = "tr-tail";
    this.cursor = document.createElement("span");
    this.cursor.className = "tr-cursor";
    this.cursor.setAttribute("aria-hidden", "true");
    this.root.replaceChildren(this.tail);
    this.tail.append(this.cursor);
  }

  get text() {
    return this.parts.join("") + this.pending;
  }

  get html() {
    return [...this.root.children].map((c) => c.innerHTML).join("");
  }

  append(text) {
    if (this.finished || text === "") return;
    this.pending += text;
    this.schedule();
  }

  setText(text) {
    const wasFinished = this.finished;
    this.reset(text);
    if (wasFinished) this.finish();
    else this.flush();
  }

  finish() {
    if (this.finished) return;
    this.flush(true);
    this.finished = true;
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      if (!this.scheduled) return;
      this.scheduled = false;
      this.flush();
    };
    // rAF batches all events of a frame into one render; it stalls in background tabs, so a
    // timer backs it up there.
    const wait = Math.max(0, this.lastFlush + this.minFlushMs - performance.now());
    const frame = () => (typeof requestAnimationFrame === "function" ? requestAnimationFrame(run) : run());
    if (wait > 0) setTimeout(frame, wait);
    else frame();
    setTimeout(run, wait + 100);
  }

  flush(final = false) {
    if (this.finished) return;
    this.scheduled = false;
    const t0 = performance.now();
    this.lastFlush = t0;
    const stick = this.atBottom();
    if (final) this.commitAll();
    else if (!(this.code && this.growCode())) this.renderTail();
    if (stick) this.scroller.scrollTop = this.scroller.scrollHeight;
    const ms = performance.now() - t0;
    const s = this.stats;
    s.flushes += 1;
    s.flushMs += ms;
    s.maxFlushMs = Math.max(s.maxFlushMs, ms);
    if (s.samples.length < MAX_SAMPLES) s.samples.push([this.committedChars + this.pending.length, ms]);
    this.onFlush?.(this);
  }

  atBottom() {
    const el = this.scroller;
    return el.scrollHeight - el.scrollTop - el.clientHeight <= STICK_PX;
  }

  commit(offset, html) {
    if (this.chunk === null || this.chunkCommits >= CHUNK_COMMITS) {
      this.chunk = document.createElement("div");
      this.chunk.className = "tr-chunk";
      this.tail.before(this.chunk);
      this.chunkCommits = 0;
    }
    this.chunk.insertAdjacentHTML("beforeend", html);
    this.chunkCommits += 1;
    const done = this.pending.slice(0, offset);
    this.parts.push(done);
    this.committedChars += done.length;
    this.pending = this.pending.slice(offset);
    this.stats.commits += 1;
  }

  commitAll() {
    if (this.pending !== "") this.commit(this.pending.length, this.md.render(this.pending));
    this.code = null;
    this.tail.remove();
  }

  /** Commit the blocks that became complete, then redraw what is left. */
  renderTail() {
    const { offset, head } = stableSplit(this.md, this.pending);
    if (offset > 0) this.commit(offset, this.md.renderer.render(head, this.md.options, {}));
    const fence = fenceStart(this.pending);
    if (fence && !scanFence(this.pending, Math.max(fence.bodyStart, 0), fence.markup).closed) {
      this.openCode(fence);
      this.growCode();
      return;
    }
    this.code = null;
    this.tail.innerHTML = this.md.render(completeTail(this.pending));
    deepestBlock(this.tail).append(this.cursor);
  }

  openCode(fence) {
    const pre = document.createElement("pre");
    const el = document.createElement("code");
    el.className = fence.lang ? `hljs language-${fence.lang}` : "hljs";
    const partial = document.createTextNode("");
    el.append(partial, this.cursor);
    pre.append(el);
    this.tail.replaceChildren(pre);
    this.code = { el, partial, ...fence, done: fence.bodyStart, scanned: fence.bodyStart };
  }

  /**
   * An open fence grows by whole lines, each batch highlighted once and appended; only the
   * partial last line is plain text. Returns false once the fence has closed (or the text no
   * longer opens with it), so the caller renders the final, fully highlighted block.
   */
  growCode() {
    const c = this.code;
    if (c.bodyStart < 0) {
      const fence = fenceStart(this.pending);
      if (!fence) {
        this.code = null;
        return false;
      }
      if (fence.bodyStart < 0) return true; // the opening line is still arriving
      Object.assign(c, fence, { done: fence.bodyStart, scanned: fence.bodyStart });
      c.el.className = fence.lang ? `hljs language-${fence.lang}` : "hljs";
    }
    const scan = scanFence(this.pending, c.scanned, c.markup);
    if (scan.closed) {
      this.code = null;
      return false;
    }
    c.scanned = scan.scanned;
    if (c.scanned > c.done) {
      const lines = this.pending.slice(c.done, c.scanned);
      const span = document.createElement("span");
      span.innerHTML = this.md.highlightCode(lines, c.lang);
      c.partial.before(span);
      c.done = c.scanned;
    }
    c.partial.data = this.pending.slice(c.done);
    return true;
  }
}

/** The innermost last block element, where the cursor belongs (inside <p>, <li>, <code> …). */
function deepestBlock(el) {
  let node = el;
  while (node.lastElementChild && BLOCKS.has(node.lastElementChild.tagName)) node = node.lastElementChild;
  return node;
}
