// The page's API key (docs/security.md). `tokenrelay up` prints the demo URL with the key in its
// fragment (`#key=…`), which the browser never sends to a server, so it stays out of access
// logs. The page keeps it in localStorage (every tab of this origin in this browser: the
// conversation link opened elsewhere works too) and takes it out of the address bar, so a
// copied link never carries it.

export const STORAGE_KEY = "tokenrelay.key";

/** The key from `#key=` (kept, and removed from the URL), else the one kept before, else null. */
export function takeKey(loc = globalThis.location, hist = globalThis.history, storage = globalThis.localStorage) {
  const fragment = new URLSearchParams(loc.hash.slice(1));
  const given = fragment.get("key");
  if (given) {
    try {
      storage.setItem(STORAGE_KEY, given);
    } catch {
      // storage refused (a private window's quota): the key still serves this page
    }
    fragment.delete("key");
    const rest = fragment.toString();
    hist.replaceState(hist.state, "", `${loc.pathname}${loc.search}${rest ? `#${rest}` : ""}`);
    return given;
  }
  try {
    return storage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

/** Headers carrying `credential` (an API key or a read token), none for null. */
export function bearer(credential) {
  return credential ? { Authorization: `Bearer ${credential}` } : {};
}
