"""The openai provider against a real chat-completions server: answers, failures, hostile output."""

from __future__ import annotations

import time

import pytest

from assistant.core import ProviderError, parse_suggestions, rephrase_prompt
from assistant.openai_provider import OpenAIProvider, is_loopback_url


def provider(llm, *, timeout_s: float = 2.0, retries: int = 0) -> OpenAIProvider:  # type: ignore[no-untyped-def]
    return OpenAIProvider(
        url=llm.url, model="test-model", api_key="", timeout_s=timeout_s, max_retries=retries
    )


def test_success_returns_the_text_and_token_counts(llm):
    llm.reply = "a brown dog on sand\na puppy by the sea\nNOT: cat"
    completion = provider(llm).complete(rephrase_prompt(query="dog", k=2), max_tokens=50)
    assert completion.text.startswith("a brown dog")
    assert (completion.prompt_tokens, completion.completion_tokens) == (42, 7)
    sent = llm.requests[-1]
    assert llm.paths[-1] == "/v1/chat/completions"
    assert sent["model"] == "test-model" and sent["max_tokens"] == 50
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert "Query: dog" in sent["messages"][1]["content"]


def test_a_slow_server_times_out_with_a_clear_error(llm):
    llm.mode, llm.delay = "slow", 3.0
    started = time.perf_counter()
    with pytest.raises(ProviderError, match="in time"):
        provider(llm, timeout_s=0.5).complete(rephrase_prompt(query="x", k=1), max_tokens=5)
    assert time.perf_counter() - started < 2.5


def test_a_server_error_is_retried_a_bounded_number_of_times(llm):
    llm.mode = "error"
    with pytest.raises(ProviderError, match="HTTP 500"):
        provider(llm, retries=2).complete(rephrase_prompt(query="x", k=1), max_tokens=5)
    assert len(llm.requests) == 3  # the first try and two retries, then it gives up


def test_a_body_that_is_not_json_is_an_error_not_a_suggestion(llm):
    llm.mode = "malformed"
    with pytest.raises(ProviderError):
        provider(llm).complete(rephrase_prompt(query="x", k=1), max_tokens=5)


def test_injected_markup_and_floods_come_out_bounded_and_plain(llm):
    llm.reply = (
        "<script>alert(1)</script>a red car\n"
        '<img src=x onerror="alert(2)"> **a blue** [car](javascript:alert(3))\n'
        + ("x" * 5000 + "\n")
        + "\n".join(f"line {n} of a flood" for n in range(500))
        + "\nNOT: <b>rain</b>, &lt;svg onload=1&gt;, snow"
    )
    completion = provider(llm).complete(rephrase_prompt(query="car", k=3), max_tokens=50)
    found = parse_suggestions(completion.text, query="car", k=3)
    lines = found.rephrasings + found.negatives
    assert 1 <= len(found.rephrasings) <= 3 and len(found.negatives) <= 5
    assert all(len(line) <= 120 for line in lines)
    for line in lines:
        assert not any(ch in line for ch in '<>&"`*[]'), line
        assert "javascript" not in line.lower() and "onerror" not in line.lower()
    assert found.rephrasings[0] == "alert(1) a red car"


def test_only_a_server_on_this_machine_keeps_the_query_here():
    assert is_loopback_url("http://127.0.0.1:11434/v1")
    assert is_loopback_url("http://localhost:8080/v1")
    assert is_loopback_url("http://[::1]:8000/v1")
    assert not is_loopback_url("https://api.openai.com/v1")
    assert not is_loopback_url("http://10.0.0.5:8000/v1")


def test_missing_settings_name_the_setting_to_fix():
    with pytest.raises(ProviderError, match="CBIR_LLM_URL"):
        OpenAIProvider(url="", model="m", api_key="", timeout_s=1, max_retries=0)
    with pytest.raises(ProviderError, match="CBIR_LLM_MODEL"):
        OpenAIProvider(
            url="http://127.0.0.1:1/v1", model="", api_key="", timeout_s=1, max_retries=0
        )
