"""Any OpenAI-compatible chat-completions server (Ollama, vLLM, llama.cpp server, OpenAI).

The `openai` client does the HTTP: a timeout per request and a bounded number of
retries with backoff on connection errors, 408/429 and 5xx. Anything else
(a 4xx, a body that is not a completion) is a ProviderError at once.
"""

from __future__ import annotations

import ipaddress
import time
from urllib.parse import urlsplit

from assistant.core import Completion, Prompt, ProviderError


def is_loopback_url(url: str) -> bool:
    """True when the server is this machine: the query text then never leaves it."""
    host = (urlsplit(url).hostname or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpenAIProvider:
    name = "openai"

    def __init__(
        self, *, url: str, model: str, api_key: str, timeout_s: float, max_retries: int
    ) -> None:
        if not url:
            raise ProviderError("CBIR_ASSISTANT=openai needs CBIR_LLM_URL (e.g. http://host/v1).")
        if not model:
            raise ProviderError("CBIR_ASSISTANT=openai needs CBIR_LLM_MODEL (the model's name).")
        import openai

        self.url = url
        self.model_name = model
        self._client = openai.OpenAI(
            base_url=url,
            # Local servers take any key; the client refuses to start without one.
            api_key=api_key or "not-needed",
            timeout=timeout_s,
            max_retries=max_retries,
        )

    @property
    def remote(self) -> bool:
        return not is_loopback_url(self.url)

    def complete(self, prompt: Prompt, *, max_tokens: int) -> Completion:
        import openai

        started = time.perf_counter()
        try:
            response = self._client.chat.completions.create(
                model=self.model_name,
                messages=[
                    {"role": "system", "content": prompt.system},
                    {"role": "user", "content": prompt.user},
                ],
                max_tokens=max_tokens,
                temperature=0.2,
            )
        except openai.APITimeoutError as exc:
            raise ProviderError("The language model did not answer in time.") from exc
        except openai.APIStatusError as exc:
            raise ProviderError(f"The language model answered HTTP {exc.status_code}.") from exc
        except openai.APIError as exc:  # connection errors
            raise ProviderError(f"The language model failed: {type(exc).__name__}.") from exc
        except ValueError as exc:  # a 200 whose body is not JSON (json.JSONDecodeError)
            raise ProviderError("The language model's answer was not JSON.") from exc
        try:
            text = response.choices[0].message.content or ""
        except (AttributeError, IndexError, TypeError) as exc:
            raise ProviderError("The language model's answer had no message.") from exc
        if not isinstance(text, str):
            raise ProviderError("The language model's answer was not text.")
        usage = getattr(response, "usage", None)
        return Completion(
            text=text,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            seconds=time.perf_counter() - started,
        )
