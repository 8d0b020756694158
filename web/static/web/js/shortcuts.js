// The room's keyboard shortcuts: M mutes or unmutes, holding Space talks (push to talk).
//
// They never fire while the person types in a field. Space stays a
// shortcut on buttons too (Enter still presses them), as in other voice
// rooms, but only while push to talk is on.

export const SHORTCUT_KEYS = { mute: "M", talk: "Space" };

const TEXT_ENTRY = new Set(["INPUT", "TEXTAREA", "SELECT"]);
const NOT_TEXT_INPUTS = new Set(["button", "checkbox", "radio", "submit", "reset", "range", "color", "file", "image"]);

/** Whether `target` takes typed text (where letters and Space are the person's, not ours). */
export function takesText(target) {
  if (!target || typeof target !== "object") {
    return false;
  }
  if (target.isContentEditable) {
    return true;
  }
  if (!TEXT_ENTRY.has(target.tagName)) {
    return false;
  }
  return !(target.tagName === "INPUT" && NOT_TEXT_INPUTS.has(String(target.type).toLowerCase()));
}

/**
 * What a key event means here: "mute", "talk-start", "talk-end", or null.
 * @param {KeyboardEvent} event
 * @param {{pushToTalk: boolean}} mode
 */
export function shortcutOf(event, { pushToTalk }) {
  if (event.ctrlKey || event.metaKey || event.altKey || takesText(event.target)) {
    return null;
  }
  if (event.code === "Space" || event.key === " ") {
    if (!pushToTalk) {
      return null;
    }
    if (event.type === "keyup") {
      return "talk-end";
    }
    return event.repeat ? "talk-hold" : "talk-start";
  }
  if (event.type === "keydown" && !event.repeat && (event.key === "m" || event.key === "M")) {
    return "mute";
  }
  return null;
}

/** Listens on `target` (the document) and calls the handlers; Space's default (scroll, press) is kept from happening. */
export class ShortcutKeys {
  constructor({ target, isActive, pushToTalk, onMute, onTalkStart, onTalkEnd }) {
    this.isActive = isActive;
    this.pushToTalk = pushToTalk;
    const handle = (event) => {
      if (!this.isActive()) {
        return;
      }
      const shortcut = shortcutOf(event, { pushToTalk: this.pushToTalk() });
      if (shortcut === null) {
        return;
      }
      event.preventDefault();
      if (shortcut === "mute") {
        onMute();
      } else if (shortcut === "talk-start") {
        onTalkStart();
      } else if (shortcut === "talk-end") {
        onTalkEnd();
      }
    };
    target.addEventListener("keydown", handle);
    target.addEventListener("keyup", handle);
    // A key released while the window was in the background never sends keyup.
    globalThis.addEventListener?.("blur", () => onTalkEnd());
  }
}
