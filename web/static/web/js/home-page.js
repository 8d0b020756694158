// The home page: public lobbies with live counts, creating a lobby, joining by link.

import { api, ApiError } from "./api.js";
import { errorText } from "./error-messages.js";
import { lobbyIdFromInput, lobbyPath } from "./lobby-link.js";
import { Notices } from "./notices.js";
import { SessionStore } from "./session-store.js";

const REFRESH_MS = 5000;

const config = JSON.parse(document.getElementById("voicebot-config").textContent);
const store = new SessionStore({ api });
const notices = new Notices(document.getElementById("notices"));
const list = document.getElementById("lobby-list");
const listState = document.getElementById("lobby-list-state");
const createForm = document.getElementById("create-lobby");
const createButton = createForm.querySelector("button[type=submit]");
const joinForm = document.getElementById("join-by-link");
let refreshTimer = null;

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
  return li;
}

async function refresh() {
  clearTimeout(refreshTimer);
  try {
    const { lobbies } = await api.listLobbies();
    list.replaceChildren(...lobbies.map(lobbyItem));
    listState.textContent = lobbies.length ? "" : "No public lobbies yet. Create one below.";
    list.setAttribute("aria-busy", "false");
    notices.dismiss("list");
  } catch (error) {
    listState.textContent = "The list could not be loaded; trying again…";
    showError(error instanceof ApiError ? error : { code: "unexpected_response" }, "list");
  }
  if (document.visibilityState !== "hidden") {
    refreshTimer = setTimeout(refresh, REFRESH_MS);
  }
}

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
  if (!createForm.reportValidity()) {
    return;
  }
  const fields = fieldsOf(createForm);
  createButton.disabled = true;
  notices.dismiss("create");
  try {
    const lobby = await createLobby(fields);
    if (fields.password) {
      store.handOffPassword(lobby.id, fields.password);
    }
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
