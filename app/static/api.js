// The edge's plain JSON endpoints the page needs beside the stream: create and cancel a
// response, and the `{"error": {"code", "message"}}` bodies turned into readable messages.

export async function errorText(resp) {
  try {
    const body = await resp.json();
    return `HTTP ${resp.status}: ${body?.error?.message ?? JSON.stringify(body)}`;
  } catch {
    return `HTTP ${resp.status}`;
  }
}

/** POST /v1/responses; returns {id, events_url, status} or throws with the edge's message. */
export async function createResponse(body, { baseUrl = "", fetch = globalThis.fetch.bind(globalThis) } = {}) {
  const resp = await fetch(`${baseUrl}/v1/responses`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (resp.status !== 201) throw new Error(await errorText(resp));
  return resp.json();
}

/** POST /v1/responses/{id}/cancel: generation stops; the stream then ends with `cancelled`. */
export async function cancelResponse(rid, { baseUrl = "", fetch = globalThis.fetch.bind(globalThis) } = {}) {
  const resp = await fetch(`${baseUrl}/v1/responses/${encodeURIComponent(rid)}/cancel`, { method: "POST" });
  if (!resp.ok) throw new Error(await errorText(resp));
  return resp.json();
}
