"""The assistant's pure core: prompts in, bounded plain-text suggestions out (no Django).

A language model's output is untrusted text: it may be empty, chatty, hundreds
of lines long, or carry markup meant for a browser. `parse_suggestions` keeps a
bounded number of lines of bounded length with every tag, markdown mark and
control character removed; callers still render the result as text, never HTML.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field

MAX_INPUT_CHARS = 20_000  # of a completion: the rest is never looked at
MAX_INPUT_LINES = 60
MAX_LINE_CHARS = 120  # a rephrasing
MAX_WORD_CHARS = 40  # a suggested negative
MAX_NEGATIVES = 5
MAX_REPHRASINGS = 8

REPHRASE_SYSTEM = (
    "You help people search a photo collection. You rewrite a search query as short, "
    "concrete descriptions of what the photo shows. Reply with plain lines only."
)
COMPOSE_SYSTEM = (
    "You help people search a photo collection. You combine a description of a photo with "
    "a requested change into one short description of the wanted photo. Reply with one line."
)


class ProviderError(Exception):
    """The provider could not answer (unreachable, timed out, malformed, not installed)."""


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Suggestions:
    rephrasings: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    merged: str = ""


def rephrase_prompt(*, query: str, k: int) -> Prompt:
    user = (
        "Example query: dog on a beach\n"
        "a brown dog running on the sand\n"
        "a puppy playing by the sea\n"
        "NOT: cat, snow\n\n"
        f"Query: {query.strip()}\n"
        f"Write {k} different short descriptions of a photo matching the query, one per "
        "line. Then one line starting with NOT: and a few words for what the searcher "
        "probably does not want."
    )
    return Prompt(system=REPHRASE_SYSTEM, user=user)


def compose_prompt(*, description: str, words: str) -> Prompt:
    user = (
        f"Photo: {description.strip()}\n"
        f"Change: {words.strip()}\n"
        "Describe the photo after the change in one short line."
    )
    return Prompt(system=COMPOSE_SYSTEM, user=user)


def cache_key(*, provider: str, model: str, prompt: Prompt, max_tokens: int) -> str:
    """Suggestions are cached per (provider, model, prompt): the same question, the same answer."""
    material = json.dumps([provider, model, prompt.system, prompt.user, max_tokens])
    return "assist:" + hashlib.sha256(material.encode()).hexdigest()


_TAG = re.compile(r"<[^>]{0,500}>")
_ENTITY = re.compile(r"&(#\d{1,7}|#x[0-9a-f]{1,6}|[a-z]{2,8});", re.IGNORECASE)
_MARKDOWN = re.compile(r"[*_`#~|\[\]{}<>\\]")
_LEAD = re.compile(r"^\s*(?:\(?\d{1,3}[.):]|[-+•·>])\s*")
_LINK = re.compile(r"\b(?:https?|javascript|data|vbscript):\S*", re.IGNORECASE)
_NEGATIVE = re.compile(r"^(?:not|negative|negatives|avoid|exclude)\s*[:\-]\s*", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_SENTENCE = re.compile(r"(?<=[a-z][.!?;])\s+(?=[A-Z])")


def clean_line(line: str, *, limit: int = MAX_LINE_CHARS) -> str:
    """One line as plain text: no tags, entities, links, markdown, control characters."""
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in line[: limit * 8])
    text = _TAG.sub(" ", text)
    text = _ENTITY.sub(" ", text)
    text = _LINK.sub(" ", text)
    text = _LEAD.sub("", text)
    text = _MARKDOWN.sub(" ", text)
    text = _SPACE.sub(" ", text).strip(" \"'“”‘’.,;:-")
    if len(text) > limit:  # cut at a word boundary where there is one
        text = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return text.strip()


def _raw_lines(text: str) -> list[str]:
    """Lines, and sentences within a line: small models answer with one run-on paragraph."""
    lines: list[str] = []
    for line in text[:MAX_INPUT_CHARS].splitlines()[:MAX_INPUT_LINES]:
        lines.extend(_SENTENCE.split(line))
    return lines[:MAX_INPUT_LINES]


def _useful(line: str) -> bool:
    return any(ch.isalpha() for ch in line)


def _preamble(raw: str) -> bool:
    """ "Here are three ideas:" announces suggestions; it is not one."""
    return raw.rstrip(" *_`").endswith(":")


def parse_suggestions(text: str, *, query: str, k: int) -> Suggestions:
    """At most k rephrasings (distinct, not the query itself) and MAX_NEGATIVES words."""
    k = max(0, min(k, MAX_REPHRASINGS))
    seen = {query.strip().casefold()}
    rephrasings: list[str] = []
    negatives: list[str] = []
    for raw in _raw_lines(text):
        stripped = _LEAD.sub("", _MARKDOWN.sub("", raw)).strip()
        negative = _NEGATIVE.match(stripped)
        if negative:
            for word in stripped[negative.end() :].split(","):
                word = clean_line(word, limit=MAX_WORD_CHARS)
                if _useful(word) and word.casefold() not in seen and len(negatives) < MAX_NEGATIVES:
                    seen.add(word.casefold())
                    negatives.append(word)
            continue
        line = clean_line(raw)
        if _preamble(raw) or not _useful(line) or line.casefold() in seen or ":" in line[:20]:
            continue
        if len(rephrasings) < k:
            seen.add(line.casefold())
            rephrasings.append(line)
    return Suggestions(rephrasings=rephrasings, negatives=negatives)


def parse_merged(text: str) -> str:
    """The first useful line of a composed query's answer, or "" (garbage in, nothing out)."""
    for raw in _raw_lines(text):
        line = clean_line(raw)
        if not _preamble(raw) and _useful(line) and ":" not in line[:20]:
            return line
    return ""
