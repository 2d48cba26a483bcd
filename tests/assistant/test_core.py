"""The pure core: prompts, bounded parsing of untrusted output, cache keys."""

from __future__ import annotations

from assistant.core import (
    MAX_LINE_CHARS,
    MAX_NEGATIVES,
    Prompt,
    cache_key,
    clean_line,
    compose_prompt,
    parse_merged,
    parse_suggestions,
    rephrase_prompt,
)


def test_numbered_lines_become_rephrasings_and_not_line_negatives():
    found = parse_suggestions(
        "1. a red car\n2) a blue car\n- a car\nNOT: rain, snow", query="car", k=3
    )
    assert found.rephrasings == ["a red car", "a blue car", "a car"]
    assert found.negatives == ["rain", "snow"]


def test_at_most_k_distinct_rephrasings_never_the_query_itself():
    found = parse_suggestions("Car\na car\nA CAR\nb\nc\nd", query="car", k=2)
    assert found.rephrasings == ["a car", "b"]


def test_chatty_preambles_and_garbage_give_nothing():
    assert parse_suggestions("Here are some ideas:\n\n???\n1234", query="x", k=3).rephrasings == []
    assert parse_merged("Sure:\n!!!") == ""


def test_markup_entities_links_and_control_characters_are_removed():
    line = clean_line(
        '<a href="javascript:x()">a</a> **cat**\x00\u202e &lt;b&gt; http://evil.example/x'
    )
    assert line == "a cat b"  # the escaped tag loses its brackets, its letter stays as text


def test_a_flood_is_bounded_in_lines_and_length():
    text = "\n".join(["word " * 400] * 1000) + "\nNOT: " + ", ".join(f"w{i}" for i in range(50))
    found = parse_suggestions(text, query="x", k=8)
    assert len(found.rephrasings) == 1  # identical lines collapse
    assert len(found.rephrasings[0]) <= MAX_LINE_CHARS
    assert found.negatives == []  # the NOT line is beyond the lines ever read


def test_negatives_are_bounded():
    found = parse_suggestions("NOT: " + ", ".join(f"thing {i}" for i in range(20)), query="x", k=3)
    assert len(found.negatives) == MAX_NEGATIVES


def test_the_composed_answer_is_its_first_useful_line():
    assert parse_merged("Photo:\n<i>a street at night</i>\nsecond") == "a street at night"


def test_prompts_carry_the_query_and_the_description():
    assert "Query: dogs" in rephrase_prompt(query=" dogs ", k=3).user
    prompt = compose_prompt(description="a red bus", words="at night")
    assert "a red bus" in prompt.user and "at night" in prompt.user


def test_cache_keys_differ_by_provider_model_prompt_and_length():
    prompt = Prompt("s", "u")
    base = cache_key(provider="openai", model="m", prompt=prompt, max_tokens=10)
    assert base == cache_key(provider="openai", model="m", prompt=prompt, max_tokens=10)
    others = {
        cache_key(provider="bundled", model="m", prompt=prompt, max_tokens=10),
        cache_key(provider="openai", model="n", prompt=prompt, max_tokens=10),
        cache_key(provider="openai", model="m", prompt=Prompt("s", "v"), max_tokens=10),
        cache_key(provider="openai", model="m", prompt=prompt, max_tokens=11),
    }
    assert base not in others and len(others) == 4
