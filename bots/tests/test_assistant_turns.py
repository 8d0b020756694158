"""Turn taking on an injected clock: end of turn, being addressed, and what speech over the bot does."""
from __future__ import annotations

import pytest

from bots.assistant.turns.addressing import Addressing
from bots.assistant.turns.bargein import Action, BargeIn, BargeInPolicy, is_backchannel
from bots.assistant.turns.endpointing import Endpointing, TurnDetector, sounds_finished

ANN, BOB = "ann1", "bob2"


# --- End of turn --------------------------------------------------------------


def detector() -> TurnDetector:
    return TurnDetector(ANN, Endpointing(min_delay=0.5, max_delay=3.0))


def test_a_finished_sentence_ends_the_turn_at_the_minimum_delay() -> None:
    turns = detector()
    turns.speech_started(10.0)
    turns.utterance_ended(speech_ended_at=12.0)
    assert turns.poll(12.6) is None and turns.deadline() is None, "the transcript is not in yet"

    turns.transcript("What is the capital of France?")

    assert turns.deadline() == 12.5
    turn = turns.poll(12.6)
    assert turn is not None and (turn.text, turn.started_at, turn.speech_ended_at, turn.decided_at) == (
        "What is the capital of France?", 10.0, 12.0, 12.6)
    assert turns.poll(13.0) is None, "a turn is decided once"


@pytest.mark.parametrize("text", ["I was wondering if", "So the thing is, um", "Tell me about the", "and then...",
                                  "because,", "my favourite colour is"])
def test_a_sentence_that_sounds_unfinished_waits_up_to_the_maximum(text: str) -> None:
    turns = detector()
    turns.speech_started(0.0)
    turns.utterance_ended(speech_ended_at=1.0)
    turns.transcript(text)

    assert turns.poll(2.0) is None and turns.deadline() == 4.0
    assert turns.poll(4.0) is not None


def test_speech_that_starts_again_before_the_decision_belongs_to_the_same_turn() -> None:
    turns = detector()
    turns.speech_started(0.0)
    turns.utterance_ended(speech_ended_at=1.0)
    turns.transcript("I want to go to")
    turns.speech_started(2.0)
    assert turns.poll(10.0) is None, "speaking: nothing is decided"
    turns.utterance_ended(speech_ended_at=3.0)
    turns.transcript("Paris next week.")

    turn = turns.poll(3.5)

    assert turn is not None and turn.text == "I want to go to Paris next week." and turn.started_at == 0.0


def test_a_long_utterance_in_pieces_is_one_turn_and_an_empty_transcript_is_none() -> None:
    turns = detector()
    turns.speech_started(0.0)
    turns.utterance_ended(speech_ended_at=15.0, final=False)
    turns.transcript("First part of a long story,")
    turns.utterance_ended(speech_ended_at=20.0)
    turns.transcript("and here it ends.")
    assert turns.poll(20.5).text == "First part of a long story, and here it ends."

    turns.speech_started(30.0)
    turns.utterance_ended(speech_ended_at=31.0)
    turns.transcript("   ")
    assert turns.poll(100.0) is None and turns.deadline() is None


def test_a_discarded_turn_is_forgotten() -> None:
    turns = detector()
    turns.speech_started(0.0)
    turns.utterance_ended(speech_ended_at=0.5)
    turns.transcript("Okay.")

    turns.discard()

    assert turns.poll(10.0) is None


def test_sounds_finished() -> None:
    assert sounds_finished("Yes.") and sounds_finished("Is it raining?") and sounds_finished('He said "go."')
    assert not sounds_finished("") and not sounds_finished("It is") and not sounds_finished("Go to the.")


# --- Addressed or not ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "addressed"),
    [
        ("Jarvis, what time is it?", True),
        ("hey JARVIS what's up", True),
        ("What do you think, Jarvis?", True),
        ("That was Jarvis's idea.", True),
        ("Computer, lights on.", True),
        ("Ok computer", True),
        ("What time is it?", False),
        ("Jarvisson is my neighbour.", False),
        ("", False),
    ],
)
def test_in_a_group_only_a_turn_that_names_the_bot_or_a_wake_word_is_answered(text: str, addressed: bool) -> None:
    policy = Addressing(in_groups=True, wake_words=("computer", "ok computer"))

    assert policy.addressed(text, bot_name="Jarvis", humans=3) is addressed


def test_with_two_people_or_the_setting_off_every_turn_is_answered() -> None:
    assert Addressing(in_groups=True).addressed("What time is it?", bot_name="Jarvis", humans=2)
    assert Addressing(in_groups=False).addressed("What time is it?", bot_name="Jarvis", humans=8)


def test_a_full_name_and_its_first_name_both_address_the_bot_accents_ignored() -> None:
    policy = Addressing(in_groups=True)

    assert policy.addressed("ada lovelace, help", bot_name="Ada Lovelace", humans=4)
    assert policy.addressed("Ada, help", bot_name="Ada Lovelace", humans=4)
    assert policy.addressed("Zoe, help", bot_name="Zoë", humans=4)
    assert not policy.addressed("Al, help", bot_name="Al Bot", humans=4), "a first name under three letters"


def test_addressing_comes_from_settings_unless_the_profile_says(settings) -> None:  # noqa: ANN001
    settings.VOICEBOT_ASSISTANT_ADDRESS_IN_GROUPS = False
    settings.VOICEBOT_ASSISTANT_WAKE_WORDS = ["hey bot"]

    assert Addressing.from_settings() == Addressing(in_groups=False, wake_words=("hey bot",))
    assert Addressing.from_settings(in_groups=True, wake_words=[]) == Addressing(in_groups=True)


# --- Barge-in -----------------------------------------------------------------

POLICY = BargeInPolicy(min_interruption=0.6, false_interruption_timeout=1.5)


def test_speech_while_the_bot_is_not_speaking_is_no_barge_in() -> None:
    barge = BargeIn(POLICY)

    assert barge.speech_started(ANN, now=1.0, started_at=0.75, bot_speaking=False) is Action.NONE
    assert barge.deadline() is None and barge.poll(5.0) is Action.NONE


def test_speech_over_the_bot_pauses_it_at_once_and_stops_it_once_it_lasts() -> None:
    barge = BargeIn(POLICY)

    assert barge.speech_started(ANN, now=10.25, started_at=10.0, bot_speaking=True) is Action.PAUSE
    assert barge.paused and barge.deadline() == 10.6
    assert barge.poll(10.5) is Action.NONE
    assert barge.poll(10.6) is Action.INTERRUPT
    assert not barge.paused and barge.poll(20.0) is Action.NONE


def test_a_long_utterance_that_ended_before_the_poll_interrupts_too() -> None:
    barge = BargeIn(POLICY)
    barge.speech_started(ANN, now=0.25, started_at=0.0, bot_speaking=True)

    assert barge.utterance_ended(ANN, now=0.7, duration=0.65) is Action.INTERRUPT


@pytest.mark.parametrize("text", ["Ok.", "Hmm", "mm-hmm", "Uh-huh.", "Yeah, yeah.", "Right.", "I see.", "", "  "])
def test_a_short_backchannel_resumes_the_bot_and_is_no_turn(text: str) -> None:
    barge = BargeIn(POLICY)
    barge.speech_started(ANN, now=0.25, started_at=0.0, bot_speaking=True)
    assert barge.utterance_ended(ANN, now=0.85, duration=0.4) is Action.NONE

    assert barge.transcript(ANN, text, now=1.3) is Action.RESUME
    assert not barge.paused
    assert is_backchannel(text)


@pytest.mark.parametrize("text", ["Stop.", "Wait!", "No, Paris.", "Hmm, stop"])
def test_a_short_word_that_is_not_a_backchannel_interrupts(text: str) -> None:
    barge = BargeIn(POLICY)
    barge.speech_started(ANN, now=0.25, started_at=0.0, bot_speaking=True)
    barge.utterance_ended(ANN, now=0.8, duration=0.35)

    assert barge.transcript(ANN, text, now=1.2) is Action.INTERRUPT


def test_the_bots_own_voice_coming_back_does_not_even_pause_it() -> None:
    barge = BargeIn(POLICY)

    assert barge.speech_started(BOB, now=0.3, started_at=0.05, bot_speaking=True, echo=True) is Action.IGNORE
    assert not barge.paused and barge.poll(5.0) is Action.NONE


def test_echo_found_by_its_transcript_resumes_the_bot() -> None:
    barge = BargeIn(POLICY)
    barge.speech_started(BOB, now=0.3, started_at=0.05, bot_speaking=True)
    barge.utterance_ended(BOB, now=0.9, duration=0.5)

    assert barge.transcript(BOB, "the capital of France is", now=1.4, echo=True) is Action.RESUME


def test_no_transcript_within_the_timeout_resumes_the_bot() -> None:
    barge = BargeIn(POLICY)
    barge.speech_started(ANN, now=0.25, started_at=0.0, bot_speaking=True)
    barge.utterance_ended(ANN, now=0.8, duration=0.3)

    assert barge.deadline() == 1.75
    assert barge.poll(1.7) is Action.NONE
    assert barge.poll(1.75) is Action.RESUME
    assert barge.transcript(ANN, "Stop.", now=2.0) is Action.NONE, "too late: it becomes an ordinary turn"


def test_two_people_over_the_bot_resume_it_only_when_both_were_backchannels() -> None:
    barge = BargeIn(POLICY)
    assert barge.speech_started(ANN, now=0.25, started_at=0.0, bot_speaking=True) is Action.PAUSE
    assert barge.speech_started(BOB, now=0.35, started_at=0.1, bot_speaking=True) is Action.NONE
    barge.utterance_ended(ANN, now=0.7, duration=0.3)
    barge.utterance_ended(BOB, now=0.8, duration=0.3)

    assert barge.transcript(ANN, "ok", now=1.0) is Action.IGNORE, "Bob's transcript is not in"
    assert barge.paused
    assert barge.transcript(BOB, "hmm", now=1.1) is Action.RESUME


def test_speech_reported_after_the_minimum_already_interrupts() -> None:
    barge = BargeIn(POLICY)

    assert barge.speech_started(ANN, now=1.0, started_at=0.2, bot_speaking=True) is Action.INTERRUPT


def test_the_bot_stopping_by_itself_clears_the_pause() -> None:
    barge = BargeIn(POLICY)
    barge.speech_started(ANN, now=0.25, started_at=0.0, bot_speaking=True)

    barge.bot_stopped()

    assert not barge.paused and barge.poll(5.0) is Action.NONE and barge.deadline() is None


def test_the_policy_comes_from_settings(settings) -> None:  # noqa: ANN001
    settings.VOICEBOT_ASSISTANT_MIN_INTERRUPTION = 0.4
    settings.VOICEBOT_ASSISTANT_FALSE_INTERRUPTION_TIMEOUT = 2.5
    settings.VOICEBOT_ASSISTANT_ENDPOINTING_MIN = 0.3
    settings.VOICEBOT_ASSISTANT_ENDPOINTING_MAX = 2.0

    assert BargeInPolicy.from_settings() == BargeInPolicy(min_interruption=0.4, false_interruption_timeout=2.5)
    assert Endpointing.from_settings() == Endpointing(min_delay=0.3, max_delay=2.0)
