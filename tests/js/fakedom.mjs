// The few DOM calls the view renderers make (createElement, append, after, replaceChildren,
// textContent, dataset, nextElementSibling), enough to test them in node without a browser.

class FakeElement {
  constructor(doc, tag) {
    this.ownerDocument = doc;
    this.tagName = tag.toUpperCase();
    this.children = [];
    this.parentElement = null;
    this.dataset = {};
    this.className = "";
    this.title = "";
    this.ownText = "";
  }

  get textContent() {
    return this.ownText + this.children.map((c) => c.textContent).join("");
  }

  set textContent(text) {
    for (const c of this.children) c.parentElement = null;
    this.children = [];
    this.ownText = String(text);
  }

  get innerHTML() {
    throw new Error("the renderers must not touch innerHTML");
  }

  set innerHTML(_) {
    throw new Error("the renderers must not touch innerHTML");
  }

  append(...nodes) {
    for (const n of nodes) {
      n.remove();
      n.parentElement = this;
      this.children.push(n);
    }
  }

  replaceChildren(...nodes) {
    this.textContent = "";
    this.append(...nodes);
  }

  remove() {
    if (!this.parentElement) return;
    const siblings = this.parentElement.children;
    siblings.splice(siblings.indexOf(this), 1);
    this.parentElement = null;
  }

  after(node) {
    node.remove();
    const siblings = this.parentElement.children;
    siblings.splice(siblings.indexOf(this) + 1, 0, node);
    node.parentElement = this.parentElement;
  }

  get nextElementSibling() {
    const siblings = this.parentElement?.children ?? [];
    return siblings[siblings.indexOf(this) + 1] ?? null;
  }
}

export function fakeRoot(tag = "div") {
  const doc = { createElement: (t) => new FakeElement(doc, t) };
  return doc.createElement(tag);
}
