// SseParser: the edge's exact wire format, and the spec's corner cases in any chunking.
import assert from "node:assert/strict";
import { test } from "node:test";
import { SseParser } from "../../app/static/sse.js";

const WIRE = 'id: 1\nevent: delta\ndata: {"seq":1,"type":"delta","source":"answer","text":"Hi"}\n\n: ping\n\nid: 2\nevent: done\ndata: {"seq":2,"type":"done","source":"answer"}\n\n';

function parseAll(chunks) {
  const p = new SseParser();
  return chunks.flatMap((c) => p.push(c));
}

test("the edge's frames and heartbeat parse into events and a comment", () => {
  assert.deepEqual(parseAll([WIRE]), [
    { kind: "event", id: "1", event: "delta", data: '{"seq":1,"type":"delta","source":"answer","text":"Hi"}' },
    { kind: "comment", text: "ping" },
    { kind: "event", id: "2", event: "done", data: '{"seq":2,"type":"done","source":"answer"}' },
  ]);
});

test("any chunking gives the same messages, one character at a time included", () => {
  const whole = parseAll([WIRE]);
  assert.deepEqual(parseAll([...WIRE]), whole);
  for (let cut = 1; cut < WIRE.length; cut += 7) assert.deepEqual(parseAll([WIRE.slice(0, cut), WIRE.slice(cut)]), whole);
});

test("CRLF and lone CR line endings, even split between chunks", () => {
  const crlf = WIRE.replaceAll("\n", "\r\n");
  const cr = WIRE.replaceAll("\n", "\r");
  const whole = parseAll([WIRE]);
  assert.deepEqual(parseAll([crlf]), whole);
  assert.deepEqual(parseAll([cr]), whole);
  const at = crlf.indexOf("\r\n") + 1; // between \r and \n
  assert.deepEqual(parseAll([crlf.slice(0, at), crlf.slice(at)]), whole);
});

test("multi-line data joins with newlines; a space after the colon is optional", () => {
  assert.deepEqual(parseAll(["data:a\ndata: b\ndata\n\n"]), [{ kind: "event", id: null, event: "message", data: "a\nb\n" }]);
});

test("retry is reported, unknown fields ignored, id carries over, a frame without data is not an event", () => {
  assert.deepEqual(parseAll(["retry: 1500\nfoo: bar\n\nid: 7\n\ndata: x\n\n"]), [
    { kind: "retry", retry: 1500 },
    { kind: "event", id: "7", event: "message", data: "x" },
  ]);
  assert.deepEqual(parseAll(["retry: soon\n\n"]), []);
});

test("a leading BOM is dropped once; an unfinished frame waits for its blank line", () => {
  const p = new SseParser();
  assert.deepEqual(p.push("\ufeffdata: a\n"), []);
  assert.deepEqual(p.push("\n"), [{ kind: "event", id: null, event: "message", data: "a" }]);
  assert.deepEqual(p.push("data: \ufeffb\n\n"), [{ kind: "event", id: null, event: "message", data: "\ufeffb" }]);
});
