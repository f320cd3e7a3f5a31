// Progressive markdown without a DOM: committed blocks are final (a prefix of the one-shot
// render at every step), open fences are found, dangling inline markup is completed, and
// model text cannot produce markup.
import assert from "node:assert/strict";
import { test } from "node:test";
import hljs from "@highlightjs/cdn-assets/es/core.min.js";
import python from "@highlightjs/cdn-assets/es/languages/python.min.js";
import MarkdownIt from "markdown-it";
import { completeTail, createMarkdown, fenceStart, lineOffset, scanFence, stableSplit } from "../../app/static/markdown.js";

hljs.registerLanguage("python", python);
const md = createMarkdown(MarkdownIt, hljs);

const DOC = `## Part 1: streaming

Streaming a model's answer token by token lets a reader start at once. It is *fast*,
and **resumable**, with \`code\` and [a link](https://example.com/x).

- the first token arrives within milliseconds;
- a dropped connection resumes **without a gap** or a repeat;

1. one
2. two

> quoted
> text

| a | b |
|---|---|
| 1 | 2 |

\`\`\`python
async def relay(tokens):
    async for token in tokens:
        yield token.upper()  # step
\`\`\`

---

Setext heading
==============

Closing paragraph.
`;

/** Feed text in tokens, committing as a renderer would; returns the committed HTML at each step. */
function simulate(text, step) {
  let pending = "";
  let html = "";
  const states = [];
  for (let i = 0; i < text.length; i += step) {
    pending += text.slice(i, i + step);
    const { offset, head } = stableSplit(md, pending);
    if (offset > 0) {
      html += md.renderer.render(head, md.options, {});
      pending = pending.slice(offset);
    }
    states.push(html);
  }
  return { html: html + md.render(pending), states };
}

test("committed HTML is always a prefix of the one-shot render, and the end is identical", () => {
  const full = md.render(DOC);
  for (const step of [1, 2, 3, 5, 8, 13]) {
    const { html, states } = simulate(DOC, step);
    assert.equal(html, full, `step ${step}`);
    for (const s of states) assert.ok(full.startsWith(s), `step ${step}: committed ${JSON.stringify(s.slice(-80))}`);
    assert.ok(states.at(-1).length > full.length / 2, "most blocks were committed before the end");
  }
});

test("a block is held until the next one starts; headings, rules and closed fences at once", () => {
  assert.equal(stableSplit(md, "para one\n\n").offset, 0);
  assert.equal(stableSplit(md, "para one\n\npara").offset, "para one\n\n".length);
  assert.equal(stableSplit(md, "# Title\n").offset, "# Title\n".length);
  assert.equal(stableSplit(md, "# Title").offset, 0, "the heading line may still grow");
  assert.equal(stableSplit(md, "```\ncode\n```\n").offset, "```\ncode\n```\n".length);
  assert.equal(stableSplit(md, "```\ncode\n").offset, 0);
  assert.equal(stableSplit(md, "- a\n- b\n\n").offset, 0, "a list may go on (and turn loose)");
  assert.equal(stableSplit(md, "| a |\n").offset, 0, "a table header waits for its delimiter row");
});

test("lineOffset counts \\n, \\r\\n and \\r line breaks", () => {
  assert.equal(lineOffset("a\nb\r\nc\rd", 0), 0);
  assert.equal(lineOffset("a\nb\r\nc\rd", 1), 2);
  assert.equal(lineOffset("a\nb\r\nc\rd", 2), 5);
  assert.equal(lineOffset("a\nb\r\nc\rd", 3), 7);
  assert.equal(lineOffset("a\nb", 2), -1);
});

test("open fences: the opening line, the language, the body start, the closing line", () => {
  assert.deepEqual(fenceStart("```python\ndef f"), { markup: "```", lang: "python", bodyStart: 10 });
  assert.deepEqual(fenceStart("\n~~~~\nx"), { markup: "~~~~", lang: "", bodyStart: 6 });
  assert.deepEqual(fenceStart("```pyth"), { markup: "```", lang: "pyth", bodyStart: -1 });
  assert.equal(fenceStart("para\n```"), null);
  assert.equal(fenceStart("``` a`b\n"), null, "a backtick in the info string is no fence");
  assert.deepEqual(scanFence("```\na\nb", 4, "```"), { closed: false, scanned: 6 });
  assert.deepEqual(scanFence("```\na\n```\n", 4, "```"), { closed: true, scanned: 10 });
  assert.equal(scanFence("````\na\n```\n", 5, "````").closed, false, "a shorter run does not close");
  assert.equal(scanFence("```\na\n~~~\n", 4, "```").closed, false);
});

const CASES = [
  ["Hello **wor", "Hello **wor**"],
  ["Hello **world** and *it", "Hello **world** and *it*"],
  ["**bold *both", "**bold *both***"],
  ["mid ~~stri", "mid ~~stri~~"],
  ["ends with an opener **", "ends with an opener"],
  ["word **bold ", "word **bold**"],
  ["a * b", "a * b"],
  ["snake_case and __bo", "snake_case and __bo__"],
  ["x `code", "x `code`"],
  ["x `", "x "],
  ["`a ** b` **c", "`a ** b` **c**"],
  ["see [the docs](http://exa", "see the docs"],
  ["see [the do", "see the do"],
  ["see [done](http://x.y) and", "see [done](http://x.y) and"],
  ["pic ![alt](http://x", "pic "],
  ["Things:\n-", "Things:\n"],
  ["Things:\n- ", "Things:\n"],
  ["para\n```", "para\n"],
  ["- a\n- b **c", "- a\n- b **c**"],
  ["    code **x", "    code **x"],
  ["done\n", "done\n"],
];

test("completeTail closes what is open and holds back ambiguous markup", () => {
  for (const [input, expected] of CASES) assert.equal(completeTail(input), expected, JSON.stringify(input));
});

test("mid-stream renders of a growing sentence never show stray delimiters", () => {
  const text = "A **bold claim** with *emphasis*, `code` and [a link](https://example.com).";
  for (let i = 1; i <= text.length; i++) {
    const html = md.render(completeTail(text.slice(0, i)));
    const visible = html.replace(/<[^>]+>/g, "");
    assert.ok(!/\*|`|\]\(/.test(visible), `prefix ${i}: ${visible}`);
  }
});

test("model text cannot inject markup: raw HTML is text, javascript: links are not links", () => {
  const html = md.render('<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n[x](javascript:alert(3)) <iframe src=//evil>');
  assert.ok(!/<(script|img|iframe)/i.test(html), html);
  assert.ok(html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
  assert.ok(html.includes("&lt;img src=x onerror=&quot;alert(2)&quot;&gt;"));
  assert.ok(!html.includes('href="javascript'));
  const link = md.render("[ok](https://example.com)");
  assert.match(link, /<a href="https:\/\/example.com" rel="noopener noreferrer nofollow" target="_blank">ok<\/a>/);
});

test("code is highlighted, and escaped when the language is unknown", () => {
  assert.match(md.render("```python\ndef f(): pass\n```\n"), /<span class="hljs-keyword">def<\/span>/);
  assert.equal(md.highlightCode("<b>", "nosuchlang"), "&lt;b&gt;");
  assert.match(md.highlightCode("x = 1 # c\n", "python"), /hljs-comment/);
});
