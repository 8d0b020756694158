"""VOICEBOT_LLM_PROVIDERS parsed or refused in one line, and a profile's choice among the providers."""
from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from bots.assistant.llm import config as llm_config
from bots.assistant.llm.config import LLMProviderConfig, ProviderSelectionError, providers_select
from bots.assistant.llm.router import LLMRouter
from voicebot_site import settings as site_settings

SECRET = "sk-live-0123456789abcdef"


def parse(monkeypatch: pytest.MonkeyPatch, value: object) -> list[dict[str, str]]:
    monkeypatch.setenv("X", value if isinstance(value, str) else json.dumps(value))
    return site_settings.env_llm_providers("X")


def test_providers_are_read_in_order_with_names_made_from_host_and_model(monkeypatch: pytest.MonkeyPatch) -> None:
    providers = parse(monkeypatch, [
        {"base_url": "https://api.openai.com/v1/", "model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"},
        {"base_url": "http://127.0.0.1:11434/v1", "model": "llama3.2:1b"},
        {"base_url": "http://127.0.0.1:8080/v1", "model": "gemma", "name": "local"},
    ])

    assert providers == [
        {"name": "api-openai-com-gpt-4o-mini", "base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini",
         "api_key_env": "OPENAI_API_KEY"},
        {"name": "127-0-0-1-11434-llama3-2-1b", "base_url": "http://127.0.0.1:11434/v1", "model": "llama3.2:1b",
         "api_key_env": ""},
        {"name": "local", "base_url": "http://127.0.0.1:8080/v1", "model": "gemma", "api_key_env": ""},
    ]


def test_unset_or_empty_is_no_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse(monkeypatch, "") == [] and parse(monkeypatch, "  ") == [] and parse(monkeypatch, []) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[{", "not valid JSON"),
        ('{"base_url": "http://h/v1"}', "it is a JSON dict"),
        (["http://h/v1"], r"X\[0\] must be an object"),
        ([{"base_url": "http://h/v1"}], r"X\[0\].model must be"),
        ([{"model": "m"}], r"X\[0\].base_url must be"),
        ([{"base_url": "ftp://h/v1", "model": "m"}], "http:// or https://"),
        ([{"base_url": "http://user:pw@h/v1", "model": "m"}], "without credentials"),
        ([{"base_url": "http://h/v1?key=abc", "model": "m"}], "base_url must be"),
        ([{"base_url": "http://h/v1", "model": ""}], "model must be"),
        ([{"base_url": "http://h/v1", "model": "m\x00"}], "model must be"),
        ([{"base_url": "http://h/v1", "model": 7}], "model must be"),
        ([{"base_url": "http://h/v1", "model": "m", "name": "Has Space"}], "name must be"),
        ([{"base_url": "http://h/v1", "model": "m", "api_key": "x"}], "keys it does not know"),
        ([{"base_url": "http://h/v1", "model": "m"}, {"base_url": "http://h/v1", "model": "m"}],
         "two providers named h-m"),
    ],
    ids=["not_json", "an_object", "a_string", "no_model", "no_base_url", "ftp", "credentials", "query", "empty_model",
         "nul_in_model", "model_not_text", "bad_name", "unknown_key", "twice"],
)
def test_a_bad_value_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch, value: object, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        parse(monkeypatch, value)

    assert str(caught.value).startswith("X") and "\n" not in str(caught.value)


@pytest.mark.parametrize("entry", [
    {"base_url": "http://h/v1", "model": "m", "api_key_env": SECRET},
    {"base_url": f"http://{SECRET}:x@h/v1", "model": "m"},
    {"base_url": "http://h/v1", "model": "m", SECRET: "x"},
], ids=["key_as_env_name", "key_in_url", "key_as_a_key"])
def test_a_key_pasted_in_the_wrong_place_is_not_echoed(monkeypatch: pytest.MonkeyPatch, entry: dict) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        parse(monkeypatch, [entry])

    assert "0123456789abcdef" not in str(caught.value)


@pytest.fixture
def three(settings) -> None:  # noqa: ANN001
    settings.VOICEBOT_LLM_PROVIDERS = [
        {"name": "cloud", "base_url": "https://api.example.org/v1", "model": "big", "api_key_env": "K"},
        {"name": "local", "base_url": "http://127.0.0.1:8080/v1", "model": "small", "api_key_env": ""},
        {"name": "spare", "base_url": "http://127.0.0.1:8081/v1", "model": "small", "api_key_env": ""},
    ]


def test_a_profile_chooses_providers_by_name_or_index_in_its_order(three: None) -> None:
    assert [p.name for p in providers_select(None)] == ["cloud", "local", "spare"]
    assert [p.name for p in providers_select([])] == ["cloud", "local", "spare"]
    assert [p.name for p in providers_select(["spare", 0])] == ["spare", "cloud"]
    assert providers_select(["local"]) == [LLMProviderConfig("local", "http://127.0.0.1:8080/v1", "small", "")]
    assert [p.name for p in LLMRouter.from_settings(["local", "cloud"]).providers] == ["local", "cloud"]


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (["nope"], "no language-model provider named 'nope'; the configured ones are: cloud, local, spare"),
        ([3], "There is no language-model provider 3: VOICEBOT_LLM_PROVIDERS has 3"),
        ([-1], "There is no language-model provider -1"),
        ([True], "a name or a 0-based index"),
        ([1.5], "a name or a 0-based index"),
        (["local", 1], "chosen twice"),
        ("local", "a list of provider names"),
    ],
)
def test_a_profile_naming_a_provider_that_is_not_there_is_told_which(three: None, selection: object,
                                                                    message: str) -> None:
    with pytest.raises(ProviderSelectionError, match=message):
        providers_select(selection)  # type: ignore[arg-type]


def test_without_providers_the_assistant_says_which_setting_to_set(settings) -> None:  # noqa: ANN001
    settings.VOICEBOT_LLM_PROVIDERS = []
    assert llm_config.llm_unavailable_reason() == "No language-model provider is configured: set VOICEBOT_LLM_PROVIDERS."
    settings.VOICEBOT_LLM_PROVIDERS = [{"name": "a", "base_url": "http://h/v1", "model": "m", "api_key_env": ""}]
    assert llm_config.llm_unavailable_reason() is None


def test_the_fingerprint_changes_with_the_key_and_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K", "one")
    provider = LLMProviderConfig("a", "http://h/v1", "m", "K")
    before = provider.fingerprint()

    monkeypatch.setenv("K", "two")

    assert provider.fingerprint() != before
    assert LLMProviderConfig("a", "http://h/v1", "other", "K").fingerprint() != provider.fingerprint()
    assert "two" not in provider.fingerprint()
