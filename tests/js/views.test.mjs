// The view renderers against synthetic events: sentences as items with their seq, JSON rows
// nested under their parent in order, invalid values as error rows, text never as markup.
import assert from "node:assert/strict";
import { test } from "node:test";
import { JsonTable, SentenceList, escapeToken, formatValue, parentPointer, pointerTokens } from "../../app/static/views.js";
import { fakeRoot } from "./fakedom.mjs";

const rows = (root) => root.children.map((r) => [r.dataset.path, r.dataset.state, r.children[1].textContent]);
let seq = 0;
const json = (path, value) => ({ type: "json", seq: ++seq, path, value });
const invalid = (path, message) => ({ type: "json.invalid", seq: ++seq, path, message });

test("pointers: tokens unescaped, parents up to the root", () => {
  assert.deepEqual(pointerTokens(""), []);
  assert.deepEqual(pointerTokens("/a~1b/~0c/0"), ["a/b", "~c", "0"]);
  assert.equal(pointerTokens("no-slash"), null);
  assert.equal(parentPointer("/items/0"), "/items");
  assert.equal(parentPointer("/title"), "");
  assert.equal(parentPointer(""), null);
});

test("values read as their kind; containers with rows of their own read as a summary", () => {
  assert.deepEqual(formatValue("Lisbon"), { text: "Lisbon", kind: "string" });
  assert.deepEqual(formatValue(3.5), { text: "3.5", kind: "number" });
  assert.deepEqual(formatValue(false), { text: "false", kind: "boolean" });
  assert.deepEqual(formatValue(null), { text: "null", kind: "null" });
  assert.deepEqual(formatValue({ a: 1 }), { text: '{"a":1}', kind: "object" });
  assert.deepEqual(formatValue([1, 2], { children: 2 }), { text: "[2 items]", kind: "summary" });
  assert.deepEqual(formatValue({ a: 1 }, { children: 1 }), { text: "{1 field}", kind: "summary" });
  assert.ok(formatValue("x".repeat(1000)).text.length <= 240);
});

test("sentences: one item per event, with its seq, the exact texts kept", () => {
  const root = fakeRoot("ol");
  const list = new SentenceList(root);
  assert.equal(root.dataset.live, "");
  const texts = ["Streams resume. ", "They never repeat!\n\n", "```\ncode.\n```", "\n"];
  texts.forEach((text, i) => list.add({ type: "sentence", seq: i + 1, source: "answer", text }));
  assert.equal(list.text, texts.join(""));
  assert.deepEqual(root.children.map((li) => li.dataset.seq), ["1", "2", "3", "4"]);
  assert.deepEqual(root.children.map((li) => li.textContent), ["Streams resume.", "They never repeat!", "```\ncode.\n```", ""]);
  assert.equal(root.children[0].dataset.source, undefined);
  list.add({ type: "sentence", seq: 5, source: "critic", text: "Another source." });
  assert.equal(root.children[4].dataset.source, "critic");
  list.finish();
  assert.equal(root.dataset.live, undefined);
  list.reset();
  assert.equal(root.children.length, 0);
  assert.equal(list.text, "");
});

test("sentences: markup in model text stays text", () => {
  const root = fakeRoot("ol");
  const list = new SentenceList(root);
  list.add({ type: "sentence", seq: 1, text: "<img src=x onerror=alert(1)> hi." });
  assert.equal(root.children[0].textContent, "<img src=x onerror=alert(1)> hi.");
  assert.equal(root.children[0].children.length, 0);
});

test("json: top-level fields in order, items nested under a pending parent that completes", () => {
  const root = fakeRoot();
  const table = new JsonTable(root);
  table.add(json("/title", "Three days in Lisbon"));
  table.add(json("/tags/0", "food"));
  table.add(json("/tags/1", "tiles"));
  table.add(json("/days", 3));
  assert.deepEqual(rows(root), [
    ["/title", "complete", "Three days in Lisbon"],
    ["/tags", "pending", "…"],
    ["/tags/0", "complete", "food"],
    ["/tags/1", "complete", "tiles"],
    ["/days", "complete", "3"],
  ]);
  table.add(json("/tags", ["food", "tiles"]));
  assert.deepEqual(rows(root)[1], ["/tags", "complete", "[2 items]"]);
  assert.equal(root.children[1].children[1].dataset.kind, "summary");
  assert.deepEqual(root.children.map((r) => r.dataset.depth), ["0", "0", "1", "1", "0"]);
  assert.deepEqual(root.children.map((r) => r.children[0].textContent), ["title", "tags", "0", "1", "days"]);
  assert.deepEqual(Object.fromEntries(table.values), { "/title": "Three days in Lisbon", "/tags/0": "food", "/tags/1": "tiles", "/tags": ["food", "tiles"], "/days": 3 });
});

test("json: a late item of an earlier array goes under it, not at the end", () => {
  const root = fakeRoot();
  const table = new JsonTable(root);
  table.add(json("/stops/0", "Belém"));
  table.add(json("/booked", true));
  table.add(json("/stops/1", "Alfama"));
  assert.deepEqual(root.children.map((r) => r.dataset.path), ["/stops", "/stops/0", "/stops/1", "/booked"]);
  assert.equal(root.children[0].children[1].textContent, "…", "the array itself has not completed");
});

test("json: a complete object or array opens into rows of its own, a few levels deep", () => {
  const root = fakeRoot();
  const table = new JsonTable(root);
  table.add(json("/stops", [{ name: "Belém", hours: 2 }, { name: "Alfama", hours: 1.5 }]));
  table.add(json("/deep", { a: { b: { c: 1 } } }));
  table.add(json("/none", []));
  assert.deepEqual(rows(root), [
    ["/stops", "complete", "[2 items]"],
    ["/stops/0", "complete", "{2 fields}"],
    ["/stops/0/name", "complete", "Belém"],
    ["/stops/0/hours", "complete", "2"],
    ["/stops/1", "complete", "{2 fields}"],
    ["/stops/1/name", "complete", "Alfama"],
    ["/stops/1/hours", "complete", "1.5"],
    ["/deep", "complete", "{1 field}"],
    ["/deep/a", "complete", "{1 field}"],
    ["/deep/a/b", "complete", '{"c":1}'],
    ["/none", "complete", "[]"],
  ]);
  assert.deepEqual(root.children.map((r) => "opened" in r.dataset), [false, true, true, true, true, true, true, false, true, true, false]);
  assert.deepEqual([...table.values.keys()], ["/stops", "/deep", "/none"], "values are the events' only");
  table.add(json("/big", Array.from({ length: 500 }, (_, i) => i)));
  assert.equal(root.children.length, 12, "too many items for rows: one row of JSON");
  assert.match(root.children[11].children[1].textContent, /^\[0,1,2,.*…$/);
});

test("json: keys are unescaped for display and escaped in the rows' paths", () => {
  const root = fakeRoot();
  const table = new JsonTable(root);
  table.add(json("/m", { "a/b": 1, "c~d": 2 }));
  assert.deepEqual(root.children.map((r) => [r.dataset.path, r.children[0].textContent]), [
    ["/m", "m"],
    ["/m/a~1b", "a/b"],
    ["/m/c~0d", "c~d"],
  ]);
  assert.equal(escapeToken("x/~y"), "x~1~0y");
});

test("json: an invalid value is an error row with its message, and the table goes on", () => {
  const root = fakeRoot();
  const table = new JsonTable(root);
  table.add(json("/title", "ok"));
  table.add(invalid("/days", "20 is greater than the maximum of 14"));
  table.add(json("/booked", false));
  assert.deepEqual(rows(root), [
    ["/title", "complete", "ok"],
    ["/days", "invalid", "20 is greater than the maximum of 14"],
    ["/booked", "complete", "false"],
  ]);
  assert.equal(root.children[1].children[1].dataset.kind, "error");
  assert.equal(table.values.has("/days"), false);
  table.add({ type: "delta", seq: 99, text: "ignored" });
  assert.equal(root.children.length, 3);
});

test("json: keys and values with markup stay text; pointer escapes are shown unescaped", () => {
  const root = fakeRoot();
  const table = new JsonTable(root);
  table.add(json("/<b>a~1b<~1b>", "<script>x()</script>"));
  const [key, value] = root.children[0].children;
  assert.equal(key.textContent, "<b>a/b</b>");
  assert.equal(key.title, "/<b>a~1b<~1b>");
  assert.equal(value.textContent, "<script>x()</script>");
  table.finish();
  assert.equal(root.dataset.live, undefined);
  table.reset();
  assert.equal(root.children.length, 0);
  assert.equal(table.values.size, 0);
});
