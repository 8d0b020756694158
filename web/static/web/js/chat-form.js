// The room's chat form: what the person types goes to the ChatOutbox, and the outbox's news
// (a line waiting for the rate limit, a line refused) is shown in the notices.

import { errorText, recoveryText } from "./error-messages.js";

/**
 * @param {object} parts
 * @param {object} parts.view  LobbyView (chatForm, chatInput)
 * @param {object} parts.notices  Notices
 * @param {object} parts.outbox  ChatOutbox
 * @param {object} parts.limit  the input's CharacterLimit
 * @param {() => boolean} parts.inLobby  the person is in the lobby, or on the way back into it
 * @param {() => boolean} parts.connected  the page is in the lobby right now
 */
export function wireChatForm({ view, notices, outbox, limit, inLobby, connected }) {
  view.chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = view.chatInput.value.trim();
    if (!text) {
      return;
    }
    const length = limit.state;
    if (length.over) {
      notices.show(`${length.problem} Nothing was sent.`, { kind: "warning", key: "chat" });
      return;
    }
    if (!inLobby()) {
      notices.show("You are not in the lobby; your message was not sent.", { kind: "warning", key: "chat" });
      return;
    }
    notices.dismiss("chat");
    view.chatInput.value = "";
    limit.update();
    if (!connected()) {
      notices.show("You are not connected right now; your message will be sent when the connection is back.", {
        kind: "info", key: "chat-wait",
      });
    }
    outbox.send(text).catch(() => {});  // refusals arrive as "refused"
  });

  outbox.addEventListener("change", ({ detail: { pending, waiting } }) => {
    if (pending === 0) {
      notices.dismiss("chat-wait");
      return;
    }
    if (waiting) {
      const { error, untilMs } = waiting;
      notices.show(errorText(error), {
        kind: "warning",
        key: "chat-wait",
        code: error.code,
        countdown: { untilMs, text: (left) => recoveryText(error, { secondsLeft: left }) },
        detail: pending === 1 ? "1 message is waiting to be sent." : `${pending} messages are waiting to be sent, in order.`,
      });
    }
  });

  outbox.addEventListener("refused", ({ detail: { error, text } }) => {
    notices.show(errorText(error), { kind: "error", key: "chat", code: error.code, reference: error.correlation_id || null });
    if (!view.chatInput.value) {
      // Nothing the person typed is lost: the refused line comes back to be fixed.
      view.chatInput.value = text;
      limit.update();
    }
  });
}
