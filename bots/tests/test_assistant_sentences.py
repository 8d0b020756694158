"""Speakable sentences out of a token stream, and the answer-length cut."""
from __future__ import annotations

import pytest

from bots.assistant.sentences import AnswerLimit, SentenceStream, spoken


def stream(text: str, size: int = 3, **options: int) -> list[str]:
    """The sentences of ``text`` pushed ``size`` characters at a time, then flushed."""
    splitter = SentenceStream(**options)
    sentences = []
    for start in range(0, len(text), size):
        sentences += splitter.push(text[start:start + size])
    return sentences + splitter.flush()


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_sentences_come_out_whole_however_the_tokens_fall(size: int) -> None:
    text = "The capital of France is Paris. It has about 2.1 million people! Would you like to know more?"

    assert stream(text, size) == ["The capital of France is Paris.", "It has about 2.1 million people!",
                                  "Would you like to know more?"]


def test_a_sentence_is_handed_out_once_the_next_word_begins_not_at_the_end_of_the_stream() -> None:
    splitter = SentenceStream()

    assert splitter.push("The capital of France is Paris.") == []
    assert splitter.push(" It") == ["The capital of France is Paris."]
    assert splitter.push(" is a very big city!") == []
    assert splitter.push(" ") == ["It is a very big city!"], "after ! the space is enough"


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Dr. Smith and Mrs. Jones met at 5 p.m. on Main St. near the park. They talked.",
         ["Dr. Smith and Mrs. Jones met at 5 p.m. on Main St. near the park.", "They talked."]),
        ("Bring fruit, e.g. apples or pears, and bread, i.e. something to eat. Thanks for that.",
         ["Bring fruit, e.g. apples or pears, and bread, i.e. something to eat.", "Thanks for that."]),
        ("J. R. R. Tolkien wrote The Hobbit in 1937. It is a classic.",
         ["J. R. R. Tolkien wrote The Hobbit in 1937.", "It is a classic."]),
        ("Pi is about 3.14159 and e is 2.718. Both are irrational numbers.",
         ["Pi is about 3.14159 and e is 2.718.", "Both are irrational numbers."]),
        ("It costs $1,299.99 at the store today. That is a lot of money.",
         ["It costs $1,299.99 at the store today.", "That is a lot of money."]),
        ("See www.example.org for the details of it. Then call us back.",
         ["See www.example.org for the details of it.", "Then call us back."]),
        ('He said "the train is late." Then he left the station.',
         ['He said "the train is late."', "Then he left the station."]),
        ("Wait... the answer is forty-two. Really, it is!", ["Wait... the answer is forty-two.", "Really, it is!"]),
        ("You need three steps:\n1. Open the door slowly.\n2. Walk through it carefully.",
         ["You need three steps:", "Open the door slowly.", "Walk through it carefully."]),
        ("东京是日本的首都。它很大吗？是的，它非常大！", ["东京是日本的首都。它很大吗？是的，它非常大！"]),
    ],
    ids=["titles_and_times", "eg_ie", "initials", "decimals", "money", "url", "quote", "ellipsis", "list",
         "cjk_short"],
)
def test_abbreviations_numbers_and_lists_do_not_end_a_sentence(text: str, sentences: list[str]) -> None:
    assert stream(text) == sentences


def test_no_tiny_fragments_a_short_sentence_joins_the_next() -> None:
    assert stream("Sure. Yes. The capital of France is Paris. OK.") == [
        "Sure. Yes. The capital of France is Paris.", "OK."]


def test_a_run_on_sentence_is_cut_at_a_clause_before_the_limit() -> None:
    text = "This sentence goes on, " * 20 + "and ends here."

    sentences = stream(text, max_chars=100)

    assert all(len(sentence) <= 100 for sentence in sentences)
    assert all(sentence.endswith(",") for sentence in sentences[:-1])
    assert " ".join(sentences) == text.strip()


def test_a_stream_without_spaces_is_cut_at_the_limit() -> None:
    sentences = stream("x" * 450, size=50, max_chars=200)

    assert [len(sentence) for sentence in sentences] == [200, 200, 50]


def test_markup_is_not_read_aloud() -> None:
    assert stream("## Answer\n**Paris** is the `capital` of France.\n- It is big and old.\n") == [
        "Answer Paris is the capital of France.", "It is big and old."]
    assert spoken("  __so__   *really*  ") == "so *really*"


def test_reset_forgets_the_text_of_a_provider_that_failed() -> None:
    splitter = SentenceStream()
    splitter.push("Half a sentence from the first provider")

    splitter.reset()

    assert splitter.push("A whole one from the second. And") == ["A whole one from the second."]
    assert splitter.flush() == ["And"]


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "...", "**"])
def test_nothing_to_say_yields_nothing(text: str) -> None:
    assert stream(text) in ([], ["..."])


def test_the_answer_length_cuts_the_sentence_that_crosses_it_and_stops() -> None:
    limit = AnswerLimit(8)

    said = [limit.take(s) for s in ["One two three four.", "Five six seven eight nine ten.", "Eleven."]]

    assert said == ["One two three four.", "Five six seven eight.", None]
    assert limit.reached and limit.words == 8


def test_exactly_the_answer_length_is_not_cut() -> None:
    limit = AnswerLimit(3)

    assert limit.take("One two three!") == "One two three!"
    assert limit.reached and limit.take("More.") is None


def test_an_endless_word_is_cut_by_characters() -> None:
    limit = AnswerLimit(2)

    assert limit.take("y" * 500) == "y" * 24 + "."
    assert limit.reached


def test_an_answer_length_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        AnswerLimit(0)
