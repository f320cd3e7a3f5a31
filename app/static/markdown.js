// Pure helpers for progressive markdown, no DOM: the markdown-it instance (safe options and
// highlighting), where the complete blocks of a growing text end, open code fences, and the
// completion of dangling inline markup so the open tail block renders sensibly mid-stream.

/** markdown-it with raw HTML off (model text can never inject markup) and hljs highlighting. */
export function createMarkdown(MarkdownIt, hljs) {
  const md = new MarkdownIt({
    html: false, // `<script>`, `<img onerror=…>` come out as text
    linkify: false,
    typographer: false,
    langPrefix: "hljs language-",
    highlight: (code, lang) => highlight(hljs, code, lang),
  });
  // Links from model text open elsewhere and pass nothing on; javascript: and data: URLs are
  // already refused by markdown-it's validateLink.
  const open = md.renderer.rules.link_open ?? ((t, i, o, e, self) => self.renderToken(t, i, o));
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow");
    tokens[idx].attrSet("target", "_blank");
    return open(tokens, idx, options, env, self);
  };
  md.highlightCode = (code, lang) => highlight(hljs, code, lang) || escapeHtml(code);
  return md;
}

function highlight(hljs, code, lang) {
  if (!hljs || !lang || !hljs.getLanguage(lang)) return ""; // markdown-it escapes it itself
  try {
    return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
  } catch {
    return "";
  }
}

export function escapeHtml(s) {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

const BREAK = /\r\n?|\n/g;

/** Offset just past the `line`-th line break of text (0 for line 0), or -1 if there are fewer. */
export function lineOffset(text, line) {
  if (line === 0) return 0;
  BREAK.lastIndex = 0;
  let m;
  let n = 0;
  while ((m = BREAK.exec(text)) !== null) {
    if (++n === line) return m.index + m[0].length;
  }
  return -1;
}

/**
 * Where the complete blocks of `text` end: {offset, head} where text.slice(0, offset) is made of
 * top-level blocks that later text can no longer change, and `head` their parsed tokens.
 * A block is complete once another top-level block has started after it; an ATX heading, a
 * rule or a closed fence is complete as soon as its last line has ended.
 * Candid limit: reference-style link definitions that arrive later do not reach back.
 */
export function stableSplit(md, text) {
  const tokens = md.parse(text, {});
  let last = -1;
  let count = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.level === 0 && t.nesting >= 0 && t.map) {
      last = i;
      count++;
    }
  }
  if (last < 0) return { offset: 0, head: [] };
  const t = tokens[last];
  if (selfTerminating(t, text)) {
    const end = lineOffset(text, t.map[1]);
    if (end > 0) return { offset: end, head: tokens };
  }
  if (count < 2) return { offset: 0, head: [] };
  return { offset: lineOffset(text, t.map[0]), head: tokens.slice(0, last) };
}

function selfTerminating(token, text) {
  if (token.type === "hr") return true;
  if (token.type === "heading_open") return token.markup.startsWith("#");
  if (token.type !== "fence") return false;
  const start = lineOffset(text, token.map[1] - 1);
  const end = lineOffset(text, token.map[1]);
  if (start < 0 || end < 0 || token.map[1] - 1 === token.map[0]) return false;
  return isClosingFence(text.slice(start, end).replace(/\r?\n|\r$/, ""), token.markup);
}

const FENCE_OPEN = /^( {0,3})(`{3,}|~{3,})([^\n\r]*)$/;

/**
 * If `text` opens with a top-level code fence (after blank lines), its shape:
 * {markup, lang, bodyStart}, bodyStart being -1 while the opening line is still arriving.
 */
export function fenceStart(text) {
  const lead = /^(?:[ \t]*(?:\r\n?|\n))*/.exec(text)[0].length;
  const nl = text.slice(lead).search(/\r\n?|\n/);
  const first = nl < 0 ? text.slice(lead) : text.slice(lead, lead + nl);
  const m = FENCE_OPEN.exec(first);
  if (!m || (m[2][0] === "`" && m[3].includes("`"))) return null;
  const bodyStart = nl < 0 ? -1 : lineOffset(text.slice(lead), 1) + lead;
  return { markup: m[2], lang: m[3].trim().split(/\s+/)[0] ?? "", bodyStart };
}

export function isClosingFence(line, markup) {
  const m = /^ {0,3}(`{3,}|~{3,})[ \t]*$/.exec(line);
  return !!m && m[1][0] === markup[0] && m[1].length >= markup.length;
}

/**
 * Scan the complete lines of text from `from` for the fence's closing line.
 * Returns {closed, scanned}: scanned is where the next call should start (the last line start).
 */
export function scanFence(text, from, markup) {
  let start = from;
  for (;;) {
    const nl = text.indexOf("\n", start);
    if (nl < 0) return { closed: false, scanned: start };
    if (isClosingFence(text.slice(start, nl).replace(/\r$/, ""), markup)) return { closed: true, scanned: nl + 1 };
    start = nl + 1;
  }
}

// A last line made only of markup may still become a list, a heading, a rule, a setext
// underline or a fence: hold it back for a moment rather than flash the wrong block.
const MARKUP_ONLY = /^[ \t]*(?:[-=*_#>`~|+:]|\d+[.)])+[ \t]*$/;

/**
 * The tail block's text made presentable mid-stream: dangling code spans, emphasis and
 * strikethrough closed, a half-typed link shown as its label, a half-typed image hidden.
 * Works on the last line only: emphasis rarely spans lines, and this keeps the work flat.
 */
export function completeTail(text) {
  const cut = Math.max(text.lastIndexOf("\n"), text.lastIndexOf("\r")) + 1;
  const head = text.slice(0, cut);
  let line = text.slice(cut);
  if (line === "") return text;
  if (MARKUP_ONLY.test(line)) return head;
  if (/^( {4}|\t)/.test(line)) return text; // indented code: nothing inline in it
  line = closeCodeSpans(line);
  const masked = maskCodeSpans(line);
  const link = /(!?)\[([^[\]]*)\](\([^()\s]*)?$/.exec(masked) ?? /(!?)\[([^[\]]*)$/.exec(masked);
  if (link && !(link[3] === undefined && masked.endsWith("]"))) {
    const label = link[1] ? "" : line.slice(link.index + link[1].length + 1, link.index + link[1].length + 1 + link[2].length);
    line = line.slice(0, link.index) + label;
    return head + closeEmphasis(line, maskCodeSpans(line));
  }
  return head + closeEmphasis(line, masked);
}

/** Append a closing run to an unmatched backtick run (a code span still arriving). */
function closeCodeSpans(line) {
  let open = null;
  let at = -1;
  for (const r of line.matchAll(/`+/g)) {
    if (open === null) [open, at] = [r[0], r.index];
    else if (r[0] === open) open = null;
  }
  if (open === null) return line;
  if (at + open.length === line.length) return line.slice(0, at); // nothing in it yet
  return line + open;
}

/** The line with code span contents blanked out, same length, so delimiters inside are inert. */
function maskCodeSpans(line) {
  let out = "";
  let i = 0;
  const re = /(`+)([^`]|`(?!\1))*?\1/g;
  let m;
  while ((m = re.exec(line)) !== null) {
    out += line.slice(i, m.index) + "\u0000".repeat(m[0].length);
    i = m.index + m[0].length;
  }
  return out + line.slice(i);
}

/** Close emphasis (`*`, `**`, `***`, `_`, `__`) and `~~` left open, innermost first. */
function closeEmphasis(line, masked) {
  const stack = [];
  const re = /\*+|_+|~~/g;
  let m;
  while ((m = re.exec(masked)) !== null) {
    const run = m[0];
    const before = masked[m.index - 1] ?? " ";
    const after = masked[m.index + run.length] ?? "x"; // at the end: an opener still arriving
    if (run[0] === "_" && /\w/.test(before) && /\w/.test(after)) continue; // snake_case
    const canOpen = !/\s/.test(after);
    const canClose = !/\s/.test(before);
    const top = stack.at(-1);
    if (canClose && top && top.run === run) stack.pop();
    else if (canOpen) stack.push({ run, index: m.index });
  }
  if (stack.length === 0) return line;
  let body = line;
  const lastOpen = stack.at(-1);
  if (body.slice(lastOpen.index + lastOpen.run.length).trim() === "") {
    body = body.slice(0, lastOpen.index); // an opener with nothing after it yet: not shown
    stack.pop();
  }
  body = body.replace(/\s+$/, ""); // "**word " + "**" would not close
  return body + stack.reverse().map((s) => s.run).join("");
}
