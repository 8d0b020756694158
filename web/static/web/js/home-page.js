// The home page: public lobbies with live counts (searched and paged by the server),
// creating a lobby, joining by link.

import { api, ApiError } from "./api.js";
import { CharacterLimit } from "./char-limit.js";
import { errorText } from "./error-messages.js";
import { lobbyListQuery, lobbyListState, lobbyListSummary } from "./lobby-list.js";
import { lobbyIdFromInput, lobbyPath } from "./lobby-link.js";
import { Notices } from "./notices.js";
import { SessionStore } from "./session-store.js";

const REFRESH_MS = 5000;
const SEARCH_DELAY_MS = 300;

const config = JSON.parse(document.getElementById("voicebot-config").textContent);
const store = new SessionStore({ api });
const notices = new Notices(document.getElementById("notices"));
const list = document.getElementById("lobby-list");
const listState = document.getElementById("lobby-list-state");
const createForm = document.getElementById("create-lobby");
const createButton = createForm.querySelector("button[type=submit]");
const joinForm = document.getElementById("join-by-link");
const searchForm = document.getElementById("lobby-search");
const searchInput = document.getElementById("lobby-search-text");
const pager = document.getElementById("lobby-pages");
const previousPage = document.getElementById("lobby-page-previous");
const nextPage = document.getElementById("lobby-page-next");
const limits = {
  name: new CharacterLimit(createForm.elements.namedItem("name"), document.getElementById("lobby-name-count"), {
    max: config.limits.lobbyNameMaxLength, label: "A lobby name",
  }),
  description: new CharacterLimit(createForm.elements.namedItem("description"),
    document.getElementById("lobby-description-count"), {
      max: config.limits.lobbyDescriptionMaxLength, label: "A description",
    }),
  password: new CharacterLimit(createForm.elements.namedItem("password"), document.getElementById("lobby-password-count"), {
    max: config.limits.passwordMaxLength, label: "A password", trim: false,
    showFrom: config.limits.passwordMaxLength - 8,
  }),
};
// The search and page shown; kept in the address, so that a reload or a shared link shows the same.
const listing = { ...lobbyListState(location.search), pages: 1 };
let refreshTimer = null;
let searchTimer = null;
let refreshing = 0;

// The server's sentence alone: this page does not send a refused request again by itself.
function showError(error, key) {
  notices.show(errorText(error), { kind: "error", key, code: error.code, reference: error.correlation_id || null });
}

function lobbyItem(lobby) {
  const li = document.createElement("li");
  li.className = "lobby";
  li.dataset.lobbyId = lobby.id;
  const link = document.createElement("a");
  link.href = lobbyPath(lobby.id);
  link.className = "lobby-name";
  link.textContent = lobby.name;
  const count = document.createElement("span");
  count.className = "lobby-count";
  count.dataset.count = String(lobby.participant_count);
  const full = lobby.participant_count >= lobby.max_participants;
  count.textContent = `${lobby.participant_count} of ${lobby.max_participants}${full ? " · full" : ""}`;
  count.setAttribute("aria-label", `${lobby.participant_count} of ${lobby.max_participants} people${full ? ", full" : ""}`);
  li.append(link, count);
  if (lobby.has_password) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "Password";
    li.append(badge);
  }
  if (lobby.description) {
    const about = document.createElement("p");
    about.className = "lobby-description";
    about.textContent = lobby.description;
    li.append(about);
  }
  return li;
}

async function refresh() {
  clearTimeout(refreshTimer);
  const asked = ++refreshing;
  const wanted = { q: listing.q, page: listing.page };
  try {
    const answer = await api.listLobbies(wanted);
    if (asked !== refreshing) {
      return;  // a newer search or page was asked for meanwhile
    }
    if (answer.lobbies.length === 0 && answer.total > 0 && wanted.page > 1) {
      // Lobbies closed and the page is past the end now: show the last one.
      listing.page = answer.pages;
      showAddress();
      refresh();
      return;
    }
    listing.pages = answer.pages;
    list.replaceChildren(...answer.lobbies.map(lobbyItem));
    listState.textContent = lobbyListSummary(answer);
    pager.hidden = answer.pages <= 1;
    previousPage.disabled = listing.page <= 1;
    nextPage.disabled = listing.page >= answer.pages;
    list.setAttribute("aria-busy", "false");
    notices.dismiss("list");
  } catch (error) {
    if (asked !== refreshing) {
      return;
    }
    listState.textContent = "The list could not be loaded; trying again…";
    showError(error instanceof ApiError ? error : { code: "unexpected_response" }, "list");
  }
  if (document.visibilityState !== "hidden") {
    refreshTimer = setTimeout(refresh, REFRESH_MS);
  }
}

function showAddress() {
  history.replaceState(null, "", `${location.pathname}${lobbyListQuery(listing)}`);
}

function showPage(page) {
  listing.page = Math.max(1, page);
  showAddress();
  list.setAttribute("aria-busy", "true");
  refresh();
}

searchInput.value = listing.q;
searchInput.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    const text = searchInput.value.trim();
    if ([...text].length > config.limits.searchMaxLength) {
      listState.textContent = `A search is at most ${config.limits.searchMaxLength} characters.`;
      return;
    }
    if (text !== listing.q) {
      listing.q = text;
      showPage(1);
    }
  }, SEARCH_DELAY_MS);
});
searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(searchTimer);
  listing.q = searchInput.value.trim();
  showPage(1);
});
previousPage.addEventListener("click", () => showPage(listing.page - 1));
nextPage.addEventListener("click", () => showPage(listing.page + 1));

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") {
    refresh();
  } else {
    clearTimeout(refreshTimer);
  }
});

function fieldsOf(form) {
  const data = new FormData(form);
  const fields = {
    name: String(data.get("name") || "").trim(),
    private: data.get("private") === "on",
    max_participants: Number(data.get("max_participants")),
  };
  const description = String(data.get("description") || "").trim();
  if (description) {
    fields.description = description;
  }
  const password = String(data.get("password") || "");
  if (password) {
    fields.password = password;
  }
  return fields;
}

async function createLobby(fields) {
  const session = await store.ensure();
  try {
    return await api.createLobby(session.token, fields);
  } catch (error) {
    if (error instanceof ApiError && error.recovery === "reauthenticate") {
      const renewed = await store.renew();
      return api.createLobby(renewed.token, fields);
    }
    throw error;
  }
}

createForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const tooLong = Object.values(limits).map((limit) => [limit, limit.update()]).find(([, state]) => state.over);
  if (tooLong) {
    const [limit, state] = tooLong;
    notices.show(state.problem, { kind: "warning", key: "create" });
    limit.input.focus();
    return;
  }
  if (!createForm.reportValidity()) {
    return;
  }
  const fields = fieldsOf(createForm);
  createButton.disabled = true;
  notices.dismiss("create");
  try {
    const lobby = await createLobby(fields);
    // Its creator is not asked for the password (the server knows this session made it).
    store.markCreated(lobby.id);
    location.assign(lobbyPath(lobby.id));
  } catch (error) {
    showError(error instanceof ApiError ? error : { code: "unexpected_response" }, "create");
    createButton.disabled = false;
  }
});

joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const input = joinForm.elements.namedItem("link");
  const id = lobbyIdFromInput(input.value, location.href);
  if (!id) {
    notices.show("That is not a lobby link. Paste a link like " + `${location.origin}/lobby/AbC123/ or just its code.`, {
      kind: "warning",
      key: "join-link",
    });
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  location.assign(lobbyPath(id));
});

if (config.page === "home") {
  refresh();
}
