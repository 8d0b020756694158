// Reading a lobby link or code that someone pasted.

const LOBBY_ID = /^[A-Za-z0-9_-]{1,16}$/;

/** The lobby id in `text` (a link to /lobby/<id>/ or a bare id), or null. */
export function lobbyIdFromInput(text, base = "http://localhost/") {
  const value = String(text ?? "").trim();
  if (!value) {
    return null;
  }
  if (LOBBY_ID.test(value)) {
    return value;
  }
  let url;
  try {
    url = new URL(value, base);
  } catch {
    return null;
  }
  const match = url.pathname.match(/\/lobby\/([^/]+)\/?$/);
  if (!match) {
    return null;
  }
  const id = decodeURIComponent(match[1]);
  return LOBBY_ID.test(id) ? id : null;
}

/** The path of the room page of lobby `id`. */
export function lobbyPath(id) {
  return `/lobby/${encodeURIComponent(id)}/`;
}
