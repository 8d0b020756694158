// The public lobby list's search and pages: the API query, and what the page says about them.

/** The query string of GET /api/lobbies for a search and a page ("" for the first page of everything). */
export function lobbyListQuery({ q = "", page = 1 } = {}) {
  const params = new URLSearchParams();
  const text = String(q).trim();
  if (text) {
    params.set("q", text);
  }
  if (page > 1) {
    params.set("page", String(page));
  }
  const query = params.toString();
  return query ? `?${query}` : "";
}

/** The search and page a home page address asks for (its ?q= and ?page=). */
export function lobbyListState(search) {
  const params = new URLSearchParams(search);
  const page = Number.parseInt(params.get("page") || "1", 10);
  return { q: params.get("q") || "", page: Number.isInteger(page) && page >= 1 ? page : 1 };
}

/** What the list says under it, from the API's answer. */
export function lobbyListSummary({ lobbies, q, page, pages, total }) {
  if (total === 0) {
    return q ? `No public lobby matches “${q}”.` : "No public lobbies yet. Create one.";
  }
  const what = total === 1 ? "1 lobby" : `${total} lobbies`;
  const found = q ? `${what} match “${q}”` : `${what} open`;
  if (lobbies.length === 0) {
    return `${found}; page ${page} is past the last one (${pages}).`;
  }
  return pages > 1 ? `${found} · page ${page} of ${pages}` : found;
}
