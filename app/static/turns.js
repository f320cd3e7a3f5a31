// TurnList: a conversation's turns as a list, one item per turn (`data-rid`): its prompt as
// text, then its answer rendered progressively by the view the page gives (a MarkdownView).
// Fed by ConversationStream's `turn` and `event` events; prompts only ever become textContent.
//
//   const list = new TurnList(element, { view: (el) => new MarkdownView(el, { md }) });
//   list.add(turn); list.event(ev); list.texts  // [{rid, turn, prompt, text, status}]

import { TERMINAL } from "./client.js";

export const ANSWER = "answer"; // the source a turn's answer is read from
const STICK_PX = 48;

export class TurnList {
  constructor(root, { view }) {
    this.root = root;
    this.doc = root.ownerDocument;
    this.makeView = view;
    this.reset();
  }

  reset() {
    this.turns = new Map(); // rid -> {item, view, turn, prompt, status}
    this.root.replaceChildren();
  }

  /** A turn announced: its item, at the end (turns are announced in order). Idempotent. */
  add({ rid, turn, prompt, moderated_url: moderated }) {
    if (this.turns.has(rid)) return this.turns.get(rid);
    const item = this.doc.createElement("li");
    item.className = "turn";
    item.dataset.rid = rid;
    item.dataset.turn = String(turn ?? "");
    const question = this.doc.createElement("p");
    question.className = "turn-prompt";
    question.textContent = prompt ?? "";
    const answer = this.doc.createElement("div");
    answer.className = "md turn-answer";
    item.append(question, answer);
    // A list scrolled to its end stays there: the new turn is what the reader waits for.
    const el = this.root;
    const atEnd = !(el.scrollHeight - el.scrollTop - el.clientHeight > STICK_PX);
    el.append(item);
    if (atEnd && el.scrollHeight > el.clientHeight) el.scrollTop = el.scrollHeight;
    const entry = { item, view: this.makeView(answer), turn, prompt: prompt ?? "", status: "streaming" };
    if (moderated) {
      // Its raw events are withheld; the moderated view has them (docs/conversations.md).
      entry.view.finish();
      answer.textContent = "(moderated: the answer is shown only through its moderated view)";
      this.setStatus(entry, "moderated");
    } else this.setStatus(entry, "streaming");
    this.turns.set(rid, entry);
    return entry;
  }

  /** One of a turn's events; events of a turn not announced are ignored. */
  event(ev) {
    const entry = this.turns.get(ev.rid);
    if (!entry) return;
    const source = ev.source ?? ANSWER;
    if (ev.type === "delta" && source === ANSWER) entry.view.append(ev.text ?? "");
    else if (ev.type === "source.done" && source === ANSWER) entry.view.finish();
    if (TERMINAL.has(ev.type)) {
      entry.view.finish();
      this.setStatus(entry, ev.type);
    }
  }

  setStatus(entry, status) {
    entry.status = status;
    entry.item.dataset.status = status;
  }

  get texts() {
    return [...this.turns].map(([rid, e]) => ({ rid, turn: e.turn, prompt: e.prompt, text: e.view.text, status: e.status }));
  }
}
