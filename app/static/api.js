// The edge's plain JSON endpoints the page needs beside the stream: create and cancel a
// response (both take an API key: docs/security.md), and the `{"error": {"code", "message"}}`
// bodies turned into readable messages.

import { bearer } from "./auth.js";

export async function errorText(resp) {
  try {
    const body = await resp.json();
    return `HTTP ${resp.status}: ${body?.error?.message ?? JSON.stringify(body)}`;
  } catch {
    return `HTTP ${resp.status}`;
  }
}

/** POST /v1/responses; returns {id, events_url, status, read_token, …} or throws with the edge's
 * message. `key`: the API key (null for an edge with TOKENRELAY_AUTH=off). */
export async function createResponse(body, { baseUrl = "", key = null, fetch = globalThis.fetch.bind(globalThis) } = {}) {
  const resp = await fetch(`${baseUrl}/v1/responses`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...bearer(key) },
    body: JSON.stringify(body),
  });
  if (resp.status !== 201) throw new Error(await errorText(resp));
  return resp.json();
}

/** POST /v1/responses/{id}/cancel: generation stops; the stream then ends with `cancelled`. */
export async function cancelResponse(rid, { baseUrl = "", key = null, fetch = globalThis.fetch.bind(globalThis) } = {}) {
  const resp = await fetch(`${baseUrl}/v1/responses/${encodeURIComponent(rid)}/cancel`, { method: "POST", headers: bearer(key) });
  if (!resp.ok) throw new Error(await errorText(resp));
  return resp.json();
}
