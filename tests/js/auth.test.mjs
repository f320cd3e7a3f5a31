// The page's API key (auth.js): taken from the URL fragment, kept, removed from the address;
// and the Authorization header the streams and the JSON calls send.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cancelResponse, createResponse } from "../../app/static/api.js";
import { STORAGE_KEY, bearer, takeKey } from "../../app/static/auth.js";
import { ConversationStream } from "../../app/static/conversation.js";
import { ResponseStream } from "../../app/static/client.js";

function page(href) {
  const url = new URL(href);
  const store = new Map();
  const replaced = [];
  return {
    loc: { hash: url.hash, pathname: url.pathname, search: url.search },
    hist: { state: { s: 1 }, replaceState: (state, _title, to) => replaced.push([state, to]) },
    storage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) },
    store,
    replaced,
  };
}

test("the fragment's key is kept and taken out of the address", () => {
  const p = page("http://edge/?c=c-1#key=trk_abc&x=1");
  assert.equal(takeKey(p.loc, p.hist, p.storage), "trk_abc");
  assert.equal(p.store.get(STORAGE_KEY), "trk_abc");
  assert.deepEqual(p.replaced, [[{ s: 1 }, "/?c=c-1#x=1"]]);
  const later = page("http://edge/?c=c-2");
  later.store.set(STORAGE_KEY, "trk_abc");
  assert.equal(takeKey(later.loc, later.hist, later.storage), "trk_abc"); // another tab, no fragment
  assert.deepEqual(later.replaced, []);
  const none = page("http://edge/");
  assert.equal(takeKey(none.loc, none.hist, none.storage), null);
  const failing = page("http://edge/#key=trk_z");
  failing.storage.setItem = () => {
    throw new Error("quota");
  };
  assert.equal(takeKey(failing.loc, failing.hist, failing.storage), "trk_z");
  assert.deepEqual(failing.replaced, [[{ s: 1 }, "/"]]);
});

test("bearer headers", () => {
  assert.deepEqual(bearer("t"), { Authorization: "Bearer t" });
  assert.deepEqual(bearer(null), {});
});

function recording(status = 204, body = null) {
  const seen = [];
  const fetch = async (url, init = {}) => {
    seen.push({ url, method: init.method ?? "GET", auth: init.headers?.Authorization ?? null });
    return new Response(body === null ? null : JSON.stringify(body), { status });
  };
  return { fetch, seen };
}

test("streams send their token on every connection, and the snapshot request too", async () => {
  const srv = recording(204);
  let current = "tok-1";
  const s = new ResponseStream("r1", { fetch: srv.fetch, token: () => current, backoffBaseMs: 1 });
  const done = s.start().finished;
  assert.equal((await done).state, "done");
  assert.deepEqual(srv.seen.map((x) => x.auth), ["Bearer tok-1", "Bearer tok-1"]); // events, then the snapshot
  current = null;
  const c = recording(401, { error: { code: "unauthorized", message: "read token expired" } });
  const conv = new ConversationStream("c-1", { fetch: c.fetch, token: "trk_k" });
  const outcome = await conv.start().finished;
  assert.equal(outcome.state, "error");
  assert.equal(c.seen[0].auth, "Bearer trk_k");
  const none = recording(204);
  await new ResponseStream("r2", { fetch: none.fetch }).start().finished;
  assert.equal(none.seen[0].auth, null);
});

test("create and cancel send the key", async () => {
  const made = recording(201, { id: "r1", read_token: "t" });
  assert.equal((await createResponse({}, { fetch: made.fetch, key: "trk_k" })).read_token, "t");
  const cancelled = recording(202, { status: "cancelling" });
  await cancelResponse("r1", { fetch: cancelled.fetch, key: "trk_k" });
  assert.deepEqual([made.seen[0].auth, cancelled.seen[0].auth], ["Bearer trk_k", "Bearer trk_k"]);
  const refused = recording(401, { error: { code: "unauthorized", message: "an API key is required" } });
  await assert.rejects(createResponse({}, { fetch: refused.fetch }), /HTTP 401: an API key is required/);
});
