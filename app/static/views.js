// Renderers for two views' events (docs/views.md): SentenceList shows `sentence` events as a
// list that grows one item at a time; JsonTable shows `json` / `json.invalid` events as rows
// of paths and values, nested under their parent as each field or array item completes (a
// complete object or array is opened into rows of its own, a few levels and rows deep).
// Model text only ever becomes textContent, never markup.
//
//   const list = new SentenceList(element);  list.add(event);  list.text  // the exact texts joined
//   const table = new JsonTable(element);    table.add(event); table.values // Map path -> value
//   both: reset(), finish() (the live marker goes away)

/** A JSON Pointer's reference tokens (RFC 6901): "/a~1b/0" -> ["a/b", "0"]; "" -> []. */
export function pointerTokens(path) {
  if (path === "") return [];
  if (typeof path !== "string" || path[0] !== "/") return null;
  return path.slice(1).split("/").map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** The parent of a JSON Pointer ("/items/0" -> "/items", "/title" -> ""), null for the root. */
export function parentPointer(path) {
  const i = path.lastIndexOf("/");
  return i < 0 ? null : path.slice(0, i);
}

const MAX_VALUE_CHARS = 240;
const OPEN_DEPTH = 3; // a value's containers are opened into rows down to this pointer depth
const OPEN_ROWS = 200; // at most this many rows opened from one value; the rest reads as JSON

/** A JSON Pointer reference token escaped (RFC 6901): "a/b" -> "a~1b". */
export function escapeToken(key) {
  return String(key).replaceAll("~", "~0").replaceAll("/", "~1");
}

/** How a value reads in a row: {text, kind}, kind one of string, number, boolean, null, array,
 * object, or summary (a container whose items have rows of their own). */
export function formatValue(value, { children = 0 } = {}) {
  const kind = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
  if (kind === "array" && children > 0) return { text: `[${value.length} item${value.length === 1 ? "" : "s"}]`, kind: "summary" };
  if (kind === "object" && children > 0) {
    const n = Object.keys(value).length;
    return { text: `{${n} field${n === 1 ? "" : "s"}}`, kind: "summary" };
  }
  let text = kind === "string" ? value : JSON.stringify(value);
  if (text === undefined) text = String(value);
  if (text.length > MAX_VALUE_CHARS) text = `${text.slice(0, MAX_VALUE_CHARS - 1)}…`;
  return { text, kind };
}

const STICK_PX = 48;

/** Runs `change`; if the element was scrolled to its bottom before, keeps it there. */
function follow(el, change) {
  const atBottom = !(el.scrollHeight - el.scrollTop - el.clientHeight > STICK_PX);
  change();
  if (atBottom && el.scrollHeight > el.clientHeight) el.scrollTop = el.scrollHeight;
}

export class SentenceList {
  constructor(root) {
    this.root = root;
    this.doc = root.ownerDocument;
    this.reset();
  }

  reset() {
    this.texts = [];
    this.root.replaceChildren();
    this.root.dataset.live = "";
  }

  /** A `sentence` event: one more item, its text as given (trimmed only for display). */
  add(event) {
    const text = typeof event.text === "string" ? event.text : "";
    this.texts.push(text);
    const li = this.doc.createElement("li");
    li.dataset.seq = String(event.seq);
    if (event.source && event.source !== "answer") li.dataset.source = event.source; // shown by CSS
    li.textContent = text.trim();
    follow(this.root, () => this.root.append(li));
  }

  get text() {
    return this.texts.join("");
  }

  finish() {
    delete this.root.dataset.live;
  }
}

export class JsonTable {
  constructor(root) {
    this.root = root;
    this.doc = root.ownerDocument;
    this.reset();
  }

  reset() {
    this.rows = new Map(); // path -> {el, value, state}, in no particular order
    this.values = new Map(); // path -> parsed value, for every complete `json` event
    this.root.replaceChildren();
    this.root.dataset.live = "";
  }

  /** A `json` or `json.invalid` event; anything else is ignored. */
  add(event) {
    if (event.type !== "json" && event.type !== "json.invalid") return;
    const path = typeof event.path === "string" ? event.path : "";
    const row = this.row(path);
    if (event.type === "json") {
      this.values.set(path, event.value);
      row.el.dataset.seq = String(event.seq);
      // Items that came as events of their own stay; otherwise the value opens into rows.
      const budget = { rows: OPEN_ROWS };
      if (this.childCount(path) === 0) this.open(path, event.value, budget);
      this.complete(row, event.value, this.childCount(path));
    } else {
      row.state = "invalid";
      row.el.dataset.state = "invalid";
      row.value.textContent = typeof event.message === "string" ? event.message : "invalid";
      row.value.dataset.kind = "error";
      row.el.dataset.seq = String(event.seq);
    }
  }

  complete(row, value, children) {
    row.state = "complete";
    row.el.dataset.state = "complete";
    const shown = formatValue(value, { children });
    row.value.textContent = shown.text;
    row.value.dataset.kind = shown.kind;
  }

  /** Rows for a complete container's members, depth first, within the budget. */
  open(path, value, budget) {
    if (value === null || typeof value !== "object") return;
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    if ((pointerTokens(path)?.length ?? 0) >= OPEN_DEPTH || entries.length > budget.rows) return;
    budget.rows -= entries.length;
    for (const [key, child] of entries) {
      const childPath = `${path}/${escapeToken(key)}`;
      const row = this.row(childPath);
      this.open(childPath, child, budget);
      this.complete(row, child, this.childCount(childPath));
      row.el.dataset.opened = ""; // from its parent's value, not an event of its own
    }
  }

  /** The row of a path, made (pending, with its missing ancestors) under its parent if new. */
  row(path) {
    const have = this.rows.get(path);
    if (have) return have;
    const parent = parentPointer(path);
    const parentRow = parent === null || parent === "" ? null : this.row(parent);
    const el = this.doc.createElement("div");
    el.className = "json-row";
    el.dataset.path = path;
    el.dataset.state = "pending";
    const tokens = pointerTokens(path) ?? [path];
    el.dataset.depth = String(Math.max(0, tokens.length - 1));
    const key = this.doc.createElement("span");
    key.className = "json-key";
    key.textContent = tokens.length === 0 ? "(root)" : tokens[tokens.length - 1];
    key.title = path;
    const value = this.doc.createElement("span");
    value.className = "json-value";
    value.textContent = "…";
    el.append(key, value);
    follow(this.root, () => this.insert(el, parentRow));
    const row = { el, value, state: "pending" };
    this.rows.set(path, row);
    if (parentRow?.state === "complete" && this.values.has(parent)) {
      // A parent shown whole before its items came: it now reads as a summary of them.
      const shown = formatValue(this.values.get(parent), { children: 1 });
      parentRow.value.textContent = shown.text;
      parentRow.value.dataset.kind = shown.kind;
    }
    return row;
  }

  /** After the parent's last descendant (rows of a subtree stay together), or at the end. */
  insert(el, parentRow) {
    if (parentRow === null) {
      this.root.append(el);
      return;
    }
    const prefix = `${parentRow.el.dataset.path}/`;
    let after = parentRow.el;
    while (after.nextElementSibling?.dataset.path?.startsWith(prefix)) after = after.nextElementSibling;
    after.after(el);
  }

  childCount(path) {
    const prefix = `${path}/`;
    let n = 0;
    for (const p of this.rows.keys()) if (p.startsWith(prefix)) n += 1;
    return n;
  }

  finish() {
    delete this.root.dataset.live;
  }
}
