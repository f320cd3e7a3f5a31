// Incremental Server-Sent Events parser (WHATWG "event stream interpretation"), no I/O:
// push decoded text in any chunking, get back complete messages and comments.

/**
 * @typedef {{kind: "event", id: string|null, event: string, data: string}
 *   | {kind: "comment", text: string}
 *   | {kind: "retry", retry: number}} SseMessage
 * As the spec says, the last `id:` seen carries over to later events that have none.
 */

export class SseParser {
  constructor() {
    this.buffer = "";
    this.sawCR = false; // the previous chunk ended in "\r": a "\n" opening the next is the same break
    this.first = true; // a UTF-8 BOM is stripped once, at the very start
    this.id = null;
    this.event = "";
    this.data = [];
  }

  /** Feed decoded text; returns the messages it completes, in order. */
  push(text) {
    if (text === "") return [];
    if (this.first && text.length > 0) {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.sawCR && text.startsWith("\n")) text = text.slice(1);
    this.sawCR = false;
    const out = [];
    const buf = this.buffer + text;
    let start = 0;
    let cr = buf.indexOf("\r"); // cached: the stream rarely has any, and rescanning is quadratic
    for (;;) {
      if (cr >= 0 && cr < start) cr = buf.indexOf("\r", start);
      const lf = buf.indexOf("\n", start);
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      if (end < 0) break;
      this.line(buf.slice(start, end), out);
      start = end + 1;
      if (end === cr) {
        if (start === buf.length) this.sawCR = true; // its "\n" may open the next chunk
        else if (buf[start] === "\n") start += 1;
      }
    }
    this.buffer = buf.slice(start);
    return out;
  }

  line(line, out) {
    if (line === "") {
      if (this.data.length > 0) {
        out.push({ kind: "event", id: this.id, event: this.event || "message", data: this.data.join("\n") });
      }
      this.event = "";
      this.data = [];
      return;
    }
    if (line[0] === ":") {
      out.push({ kind: "comment", text: line.slice(1).trimStart() });
      return;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value[0] === " ") value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\0")) this.id = value;
    else if (field === "retry" && /^[0-9]+$/.test(value)) out.push({ kind: "retry", retry: Number(value) });
    // Unknown fields are ignored, as the spec says.
  }
}
