// The demo page: sends a prompt, attaches a ResponseStream, routes events by source to
// MarkdownViews (or a view's events to its list or table), and shows status and live numbers.
// It follows its conversation (`?c=`, made up when absent): every turn, from any tab, in
// #turns, and the latest turn's answer in #answer.
// Query parameters: tokens, rate, first_token_ms (demo model params), heartbeat_ms (the edge's
// ping interval), rid (attach), view (answer, sentences or json: the switch's first position),
// c (the conversation). Fragment: key (the API key `tokenrelay up` prints; see auth.js).

import { cancelResponse, createResponse } from "./api.js";
import { takeKey } from "./auth.js";
import { ResponseStream, TERMINAL } from "./client.js";
import { ConversationStream, conversationFromUrl, newConversationId, urlWithConversation } from "./conversation.js";
import { EXAMPLE_FORMAT } from "./example.js";
import { Meter, observeLongTasks } from "./meter.js";
import { MarkdownView } from "./render.js";
import { md } from "./setup.js";
import { TurnList } from "./turns.js";
import { JsonTable, SentenceList } from "./views.js";

const $ = (id) => document.getElementById(id);
// Security (docs/security.md): POST and cancel send the API key; a response this tab created is
// read with the read token its POST returned, anything else (another tab's turns, the
// conversation) with the key. An edge with TOKENRELAY_AUTH=off needs neither.
const key = takeKey();
const readTokens = new Map(); // rid -> read_token
const tokenFor = (rid) => readTokens.get(rid) ?? key;
const query = new URLSearchParams(location.search);
const longTasks = observeLongTasks();
const meter = new Meter();
let stream = null;
let views = new Map();
let ticker = null;
// The view switch. Every response the page sends asks for `sentences` (so the switch works
// mid-stream) and, sent with json chosen, for `json` with the example schema (the model then
// answers in JSON). A switch re-reads the chosen stream from its start: one stream open at a
// time, and each view's seq stays its own.
let current = null; // {rid, asked}: asked is the Set of views sent, null if unknown (?rid=)
const sentences = new SentenceList($("sentences"));
const json = new JsonTable($("json"));
const UNITS = { answer: "tokens", sentences: "sentences", json: "values" };
// The conversation: its stream feeds #turns; a turn it announces (this tab's or another's)
// becomes #answer's response once the page is not in the middle of sending its own.
let cid = null;
let conversation = null;
let latest = null; // the last turn announced
let sending = false;
let following = null; // the timer that moves #answer to the latest turn
// A turn's answer is a second renderer of the text #answer shows: it redraws less often.
const turns = new TurnList($("turns"), { view: (el) => new MarkdownView(el, { md, scroller: $("turns"), minFlushMs: 120 }) });

/** A 401: say plainly what the page needs instead of a bare status. */
function needKey(detail) {
  $("notice").textContent = key
    ? `The edge refused this page's API key (${detail}). Open the demo URL \`tokenrelay up\` printed again, or add #key=<an API key> to this address.`
    : "This edge needs an API key: open the demo URL that `tokenrelay up` (make run) printed, the one ending in #key=…, or add #key=<an API key> to this address.";
  $("notice").hidden = false;
}

const refused = (detail) => String(detail ?? "").startsWith("HTTP 401");

function numberParam(name) {
  const v = query.get(name);
  return v !== null && v !== "" && Number.isFinite(Number(v)) ? Number(v) : undefined;
}

function setStatus(state, detail = "") {
  $("status").textContent = state;
  $("status").dataset.state = state;
  $("detail").textContent = detail;
  const live = !["done", "cancelled", "error", "closed", "idle"].includes(state);
  $("stop").disabled = !live;
  $("drop").disabled = !live;
}

function viewFor(source) {
  let view = views.get(source);
  if (view) return view;
  let el = $("answer");
  if (source !== "answer") {
    $("sources").querySelector(".empty")?.remove();
    const box = document.createElement("section");
    const title = document.createElement("h2");
    title.className = "source-title";
    title.textContent = source; // a source name is text, never markup
    el = document.createElement("div");
    el.className = "md source-view";
    el.dataset.source = source;
    box.append(title, el);
    $("sources").append(box);
  }
  view = new MarkdownView(el, { md });
  views.set(source, view);
  return view;
}

function resetViews() {
  for (const [source, view] of views) if (source !== "answer") view.root.parentElement.remove();
  views = new Map();
  viewFor("answer");
}

function showView(view) {
  $("view-title").textContent = view;
  $("answer").hidden = view !== "answer";
  $("sentences").hidden = view !== "sentences";
  $("json").hidden = view !== "json";
  $("view-hint").hidden = true;
  $("count-unit").textContent = UNITS[view];
  $("rate-unit").textContent = `${UNITS[view]}/s`;
}

function finishAll() {
  for (const view of views.values()) view.finish();
  sentences.finish();
  json.finish();
}

function showMeters(ended = false) {
  const ttft = meter.ttftMs;
  $("ttft").textContent = ttft === null ? "–" : `${Math.round(ttft)} ms`;
  const rate = meter.rate(performance.now(), ended);
  $("rate").textContent = rate === null ? "–" : rate.toFixed(rate < 10 ? 1 : 0);
  $("tokens").textContent = String(meter.tokens);
  if (stream) {
    $("seq").textContent = String(stream.lastSeq);
    $("reconnects").textContent = String(stream.stats.reconnects + stream.stats.gaps);
  }
}

function attach(rid, t0, asked = current?.rid === rid ? current.asked : null) {
  const old = stream;
  stream = null;
  old?.close();
  resetViews();
  sentences.reset();
  json.reset();
  meter.reset(t0);
  current = { rid, asked };
  $("rid").textContent = rid;
  $("notice").hidden = true;
  const view = $("view").value;
  showView(view);
  if (view !== "answer" && asked && !asked.has(view)) {
    $("view-hint").textContent = `This response was sent without the ${view} view: choose ${view}, then Send.`;
    $("view-hint").hidden = false;
    finishAll();
    setStatus("idle", `no ${view} view`);
    return;
  }
  const s = new ResponseStream(rid, { heartbeatMs: numberParam("heartbeat_ms") ?? 15000, view: view === "answer" ? null : view, token: () => tokenFor(rid) });
  stream = s;
  s.on("event", (ev) => {
    meter.event(ev);
    if (ev.type === "delta") viewFor(ev.source ?? "answer").append(ev.text ?? "");
    else if (ev.type === "source.done") viewFor(ev.source ?? "answer").finish();
    else if (ev.type === "sentence") sentences.add(ev);
    else if (ev.type === "json" || ev.type === "json.invalid") json.add(ev);
    if (TERMINAL.has(ev.type)) finishAll();
  });
  s.on("snapshot", (snap) => {
    for (const [source, text] of Object.entries(snap.sources ?? {})) viewFor(source).setText(text);
  });
  s.on("notice", (text) => {
    $("notice").textContent = text;
    $("notice").hidden = false;
  });
  s.on("status", ({ state, detail }) => {
    if (s !== stream) return; // a stream this page has moved on from
    if (state === "error" && refused(detail)) needKey(detail);
    if (["done", "cancelled", "error", "closed"].includes(state)) {
      finishAll();
      clearInterval(ticker);
      showMeters(true);
    }
    setStatus(state, detail);
  });
  clearInterval(ticker);
  ticker = setInterval(showMeters, 250); // numbers refresh 4×/s, not per event
  s.start();
}

async function send(event) {
  event.preventDefault();
  const t0 = performance.now();
  const params = {};
  for (const name of ["tokens", "rate", "first_token_ms"]) {
    const v = numberParam(name);
    if (v !== undefined) params[name] = v;
  }
  const body = { model: $("model").value, input: $("prompt").value, params, views: ["sentences"], conversation_id: cid };
  if ($("view").value === "json") {
    body.views.push("json");
    body.response_format = EXAMPLE_FORMAT;
  }
  setStatus("connecting", "creating the response");
  sending = true;
  try {
    const created = await createResponse(body, { key });
    if (created.read_token) readTokens.set(created.id, created.read_token);
    attach(created.id, t0, new Set(body.views));
    conversation?.poke(); // a conversation's first turn: ask now, not at the next poll
  } catch (err) {
    setStatus("error", String(err.message ?? err));
    if (refused(err.message)) needKey(err.message);
  } finally {
    sending = false;
  }
}

/** Follow conversation `id`: its turns from the first, live; `push` adds a history entry. */
function follow(id, push = false) {
  cid = id;
  const url = urlWithConversation(location.href, id);
  if (url !== location.href) history[push ? "pushState" : "replaceState"](null, "", url);
  $("cid").textContent = id;
  $("cid").href = url;
  conversation?.close();
  turns.reset();
  latest = null;
  const c = new ConversationStream(id, { heartbeatMs: numberParam("heartbeat_ms") ?? 15000, token: key });
  conversation = c;
  c.on("turn", (turn) => {
    turns.add(turn);
    latest = turn.rid;
    clearTimeout(following);
    following = setTimeout(followLatest, 30); // a reload's burst of turns: attach the last only
  });
  c.on("event", (ev) => turns.event(ev));
  c.on("status", ({ state, detail }) => {
    if (c !== conversation) return;
    if (state === "error" && refused(detail)) needKey(detail);
    $("conv-status").textContent = state === "following" ? "" : detail ? `${state}: ${detail}` : state;
    $("conv-status").dataset.state = state;
  });
  c.start();
}

function followLatest() {
  if (sending || latest === null || latest === current?.rid) return;
  attach(latest, performance.now());
}

/** Another conversation (New conversation, or Back/Forward): an empty answer, then its turns. */
function switchTo(id, push) {
  const old = stream;
  stream = null;
  old?.close();
  current = null;
  clearInterval(ticker);
  resetViews();
  sentences.reset();
  json.reset();
  $("rid").textContent = "–";
  setStatus("idle");
  follow(id, push);
}

async function stop() {
  if (!stream) return;
  setStatus("cancelling", "asked the model to stop");
  try {
    await cancelResponse(stream.rid, { key });
  } catch (err) {
    $("detail").textContent = `cancel failed: ${err.message ?? err}`;
  }
}

/** The model picker: GET /v1/models if the edge has it (OpenAI-style or a plain list). */
async function loadModels() {
  let models = ["demo"];
  try {
    const resp = await fetch("/v1/models", { cache: "no-store" });
    if (resp.ok) {
      const body = await resp.json();
      const list = Array.isArray(body) ? body : (body.data ?? body.models ?? []);
      const ids = list.map((m) => (typeof m === "string" ? m : m?.id)).filter((m) => typeof m === "string");
      if (ids.length > 0) models = ids;
    }
  } catch {
    // no model list: the built-in demo model is always there
  }
  $("model").replaceChildren(...models.map((m) => new Option(m, m)));
}

$("ask").addEventListener("submit", send);
$("prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) send(e);
});
$("stop").addEventListener("click", stop);
$("drop").addEventListener("click", () => {
  stream?.drop();
  conversation?.drop();
});
$("new-conversation").addEventListener("click", () => switchTo(newConversationId(), true));
addEventListener("popstate", () => {
  const id = conversationFromUrl(location.href);
  if (id && id !== cid) switchTo(id, false);
});
$("view").addEventListener("change", () => {
  if (current) attach(current.rid, performance.now());
  else showView($("view").value);
});
if (Object.hasOwn(UNITS, query.get("view") ?? "")) $("view").value = query.get("view");
loadModels();
resetViews();
showView($("view").value);
if (query.get("rid")) attach(query.get("rid"), performance.now());
follow(conversationFromUrl(location.href) ?? newConversationId());

// For automation and the browser benchmark: read-only views of the page's state.
window.tokenrelay = {
  md,
  longTasks,
  meter,
  get stream() {
    return stream;
  },
  get views() {
    return views;
  },
  get conversation() {
    return conversation;
  },
  turns,
  state() {
    const answer = views.get("answer");
    return {
      status: $("status").dataset.state,
      rid: stream?.rid ?? null,
      lastSeq: stream?.lastSeq ?? 0,
      text: answer?.text ?? "",
      view: $("view").value,
      sentences: [...sentences.texts],
      json: Object.fromEntries(json.values),
      stats: stream ? { ...stream.stats } : null,
      render: answer ? { ...answer.stats, samples: undefined } : null,
      conversation: cid,
      turns: turns.texts,
    };
  },
  /** The same text rendered in one go, for comparing with what was rendered progressively. */
  renderOnce(text) {
    const div = document.createElement("div");
    div.innerHTML = md.render(text);
    return { html: div.innerHTML, text: div.textContent };
  },
};
