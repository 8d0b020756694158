import assert from "node:assert/strict";
import { test } from "node:test";

import { botChoices } from "../../static/web/js/bots-panel.js";

const listing = {
  kinds: [
    { kind: "echo", available: true, description: "Plays you back.", reason: null },
    { kind: "assistant", available: false, description: "Answers.", reason: "Not built here yet." },
  ],
  profiles: [
    { id: "parrot", name: "Polly", kind: "echo", description: "" },
    { id: "sage", name: "Sage", kind: "assistant", description: "Wise." },
    { id: "ghost", name: "Ghost", kind: "haunting", description: "" },
  ],
};

test("every kind and profile becomes a choice; unavailable ones keep their reason", () => {
  const choices = botChoices(listing);
  assert.deepEqual(choices.map((c) => [c.value, c.label, c.available]), [
    ["kind:echo", "Echo", true],
    ["kind:assistant", "Assistant", false],
    ["profile:parrot", "Polly (Echo)", true],
    ["profile:sage", "Sage (Assistant)", false],
    ["profile:ghost", "Ghost (haunting)", false],
  ]);
  assert.equal(choices[1].reason, "Not built here yet.");
  // A profile without a description borrows its kind's; one of an unknown kind says so.
  assert.equal(choices[2].description, "Plays you back.");
  assert.equal(choices[3].reason, "Not built here yet.");
  assert.match(choices[4].reason, /not known/);
  assert.deepEqual([choices[2].kind, choices[2].profile], ["echo", "parrot"]);
});

test("no kinds, no choices", () => {
  assert.deepEqual(botChoices({ kinds: [], profiles: [] }), []);
});
