"""Model files on this machine: pull from the Hugging Face hub (or a mirror), verify, remove.

Files are stored in the Hugging Face cache layout under CBIR_DATA_DIR/models/hub
(models--org--name/blobs/<etag>, snapshots/<commit>/<file>, refs/<revision>), so
that the open_clip loader finds them exactly as it finds a cache copied by hand.
Every HTTP request goes through huggingface_hub: HF_ENDPOINT (a mirror), the
proxy variables, HF_TOKEN and HF_HUB_OFFLINE are honoured as in any hub client.

Unlike hf_hub_download (which starts over after an interruption), a partial file
is kept as blobs/<etag>.part and the next pull continues it with a Range request.
Every file is checked against the hub's checksum before it is used: the ETag of
an LFS file is the SHA-256 of its content, that of a small file its git blob id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone

from indexing.config import indexing_config
from indexing.model_catalogue import KnownModel, hub_cache_dir, models_dir

logger = logging.getLogger(__name__)

# (file name, bytes done, bytes in all or None)
ProgressCallback = Callable[[str, int, int | None], None]
_SHA256 = 64
_GIT_SHA1 = 40


class ModelPullError(RuntimeError):
    """A pull that cannot proceed; the message says what to do."""

    def __init__(self, message: str, *, reason: str = "error"):
        super().__init__(message)
        self.reason = reason  # offline | unreachable | not_found | checksum | error


@dataclass(frozen=True)
class PulledFile:
    name: str
    size: int
    etag: str
    path: str


@dataclass(frozen=True)
class FileCheck:
    name: str
    ok: bool
    detail: str


def hub_endpoint() -> str:
    """HF_ENDPOINT as set now (a mirror), else the public hub."""
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_offline() -> bool:
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"} or constants.HF_HUB_OFFLINE


def manual_instructions(model: KnownModel) -> str:
    """How to bring a model's weights onto a machine that cannot download them."""
    if not model.downloadable:
        return f"{model.key} needs no download."
    names = " ".join(f.names[0] for f in model.files)
    return (
        f"To install {model.key} by hand: on a connected machine run "
        f"`hf download {model.repo_id} {names} --cache-dir models-hub` "
        f"(or `python manage.py cbir_models pull {model.key}` there), copy the folder "
        f"models-hub/{_repo_folder(model.repo_id)} into {hub_cache_dir()} on this machine, "
        f"then run `python manage.py cbir_models verify {model.key}`. Alternatively point "
        "CBIR_OPENCLIP_CACHE_DIR at a copied Hugging Face cache, or CBIR_OPENCLIP_PRETRAINED "
        "at a checkpoint file."
    )


def offline_message(model: KnownModel) -> str:
    return (
        f"Cannot pull {model.key}: HF_HUB_OFFLINE is set, so nothing is downloaded. "
        + manual_instructions(model)
    )


def hub_probe(*, timeout: float | None = None) -> str | None:
    """None when the hub (or the HF_ENDPOINT mirror) answers; otherwise why not, in one line.

    Bounded by CBIR_MODEL_HUB_TIMEOUT_S: a machine without a route to the hub
    finds out in seconds, not after a download's retries.
    """
    if hub_offline():
        return "HF_HUB_OFFLINE is set"
    import httpx2 as httpx
    from huggingface_hub import get_session

    timeout = indexing_config().model_hub_timeout_s if timeout is None else timeout
    url = f"{hub_endpoint()}/api/models"
    try:
        response = get_session().head(url, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as exc:
        return f"{hub_endpoint()} cannot be reached ({type(exc).__name__}: {exc})"
    if response.status_code >= 500:
        return f"{hub_endpoint()} answered HTTP {response.status_code}"
    return None


def model_files_present(model: KnownModel) -> bool:
    """The model's weights are on this machine (pulled, or copied by hand into the cache).

    Looks in the Hugging Face cache layout only (no torch or open_clip import: `./cbir up`
    asks this before serving); a model without a hub repository is checked by open_clip.
    """
    if model.kind != "open_clip":
        return True
    if not model.downloadable:
        from indexing.encoders.base import EncoderConfig
        from indexing.encoders.openclip import openclip_weights_present

        return openclip_weights_present(EncoderConfig(**model.encoder_overrides()))
    from huggingface_hub import try_to_load_from_cache

    for wanted in model.files:
        if not wanted.required:
            continue
        found = [
            try_to_load_from_cache(
                model.repo_id, name, cache_dir=str(hub_cache_dir()), revision=model.revision
            )
            for name in wanted.names
        ]
        if not any(isinstance(path, str) and Path(path).is_file() for path in found):
            return False
    return True


def model_pull(
    model: KnownModel,
    *,
    progress: ProgressCallback | None = None,
    show_bar: bool = False,
) -> list[PulledFile]:
    """Download the model's files (resuming partial ones) and verify each; returns them."""
    if not model.downloadable:
        return []
    if hub_offline():
        raise ModelPullError(offline_message(model), reason="offline")
    from huggingface_hub.file_download import repo_folder_name

    storage = hub_cache_dir() / repo_folder_name(repo_id=model.repo_id, repo_type="model")
    pulled: list[PulledFile] = []
    commit = None
    for wanted in model.files:
        found = _metadata(model, wanted.names)
        if found is None:
            if wanted.required:
                raise ModelPullError(
                    f"{model.repo_id}@{model.revision} has none of {', '.join(wanted.names)}.",
                    reason="not_found",
                )
            continue
        name, meta = found
        commit = commit or meta.commit_hash
        pulled.append(_download(model, storage, name, meta, progress, show_bar))
    if commit:
        (storage / "refs").mkdir(parents=True, exist_ok=True)
        (storage / "refs" / model.revision).write_text(commit)
    _manifest_write(model, commit, pulled)
    return pulled


def _metadata(model: KnownModel, names: tuple[str, ...]) -> tuple[str, Any] | None:
    import httpx2 as httpx
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    for name in names:
        url = hf_hub_url(model.repo_id, name, revision=model.revision, endpoint=hub_endpoint())
        try:
            meta = get_hf_file_metadata(
                url, timeout=indexing_config().model_hub_timeout_s, endpoint=hub_endpoint()
            )
        except EntryNotFoundError:
            continue
        except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
            raise ModelPullError(
                f"{model.repo_id}@{model.revision} is not on {hub_endpoint()}: {exc}",
                reason="not_found",
            ) from exc
        except OfflineModeIsEnabled as exc:
            raise ModelPullError(offline_message(model), reason="offline") from exc
        except (httpx.ConnectError, httpx.TimeoutException, httpx.ProxyError) as exc:
            raise ModelPullError(
                f"Cannot reach {hub_endpoint()} to pull {model.key} ({exc}). Check the network, "
                "HTTPS_PROXY or HF_ENDPOINT (a mirror). " + manual_instructions(model),
                reason="unreachable",
            ) from exc
        except HfHubHTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                continue
            raise ModelPullError(f"{hub_endpoint()} refused {name}: {exc}") from exc
        if not meta.etag or not meta.commit_hash:
            raise ModelPullError(
                f"{hub_endpoint()} gave no checksum (ETag) or commit for {name}: not a hub "
                "endpoint? Check HF_ENDPOINT."
            )
        return name, meta
    return None


def _download(
    model: KnownModel,
    storage: Path,
    name: str,
    meta: Any,
    progress: ProgressCallback | None,
    show_bar: bool,
) -> PulledFile:
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    etag = meta.etag
    blob = storage / "blobs" / etag
    pointer = storage / "snapshots" / meta.commit_hash / name
    blob.parent.mkdir(parents=True, exist_ok=True)
    if not (blob.is_file() and checksum_matches(blob, etag)):
        part = blob.with_name(f"{etag}.part")
        done = part.stat().st_size if part.exists() else 0
        if meta.size is not None and done > meta.size:
            part.unlink()
            done = 0
        if done:
            logger.info("Resuming %s of %s at byte %d", name, model.key, done)
        headers = build_hf_headers(headers={"Accept-Encoding": "identity"})
        if urlsplit(meta.location).netloc != urlsplit(hub_endpoint()).netloc:
            headers.pop("authorization", None)  # a signed CDN address: no token to a third party
        with part.open("ab") as fh:
            http_get(
                meta.location,
                fh,
                resume_size=done,
                headers=headers,
                expected_size=meta.size,
                displayed_filename=name,
                tqdm_class=_progress_bar(name, progress, show_bar),
            )
        if not checksum_matches(part, etag):
            part.unlink(missing_ok=True)
            raise ModelPullError(
                f"{name} of {model.key} does not match the hub's checksum ({etag}); the download "
                "was discarded. Pull again; if it fails again, the mirror serves a damaged file.",
                reason="checksum",
            )
        part.replace(blob)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    try:
        pointer.symlink_to(os.path.relpath(blob, pointer.parent))
    except OSError:  # no symlinks (some Windows setups): a copy
        shutil.copyfile(blob, pointer)
    return PulledFile(name=name, size=blob.stat().st_size, etag=etag, path=str(pointer))


def _progress_bar(name: str, progress: ProgressCallback | None, show: bool) -> type:
    from huggingface_hub.utils import tqdm as hub_tqdm

    class Bar(hub_tqdm):
        def __init__(self, *args: Any, **kwargs: Any):
            if not show:
                kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            # Counted here: a disabled tqdm does not count.
            self._done = int(kwargs.get("initial") or 0)
            self._all = kwargs.get("total")
            if progress is not None:
                progress(name, self._done, self._all)

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            self._done += int(n or 0)
            if progress is not None:  # per chunk (10 MB): the callback throttles its own writes
                progress(name, self._done, self._all)
            return shown

    return Bar


def checksum_matches(path: Path, etag: str) -> bool:
    """The file's content against the hub's ETag: SHA-256 (LFS) or git blob SHA-1 (small files)."""
    etag = etag.strip('"').removeprefix("W/").strip('"')
    if len(etag) == _SHA256:
        digest = hashlib.sha256()
    elif len(etag) == _GIT_SHA1:
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(f"blob {path.stat().st_size}\0".encode())
    else:
        return False  # an ETag that is no checksum cannot vouch for anything
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == etag.lower()


def model_verify(model: KnownModel) -> list[FileCheck]:
    """Check every pulled file of `model` against the checksum the hub gave when it was pulled."""
    if not model.downloadable:
        return [FileCheck("(bundled)", True, "ships with the product")]
    manifest = manifest_read(model)
    if manifest is None:
        if model_files_present(model):
            return [
                FileCheck(
                    "(copied by hand)",
                    True,
                    "weights found in the cache; no pull record, so no checksum to compare",
                )
            ]
        return [FileCheck("(all)", False, "not on this machine: pull it first")]
    checks = []
    for entry in manifest["files"]:
        path = Path(entry["path"])
        if not path.exists():
            checks.append(FileCheck(entry["name"], False, "missing"))
        elif not checksum_matches(path.resolve(), entry["etag"]):
            checks.append(FileCheck(entry["name"], False, f"checksum differs from {entry['etag']}"))
        else:
            checks.append(FileCheck(entry["name"], True, f"{entry['size']} bytes, {entry['etag']}"))
    return checks


def model_files_remove(model: KnownModel, *, keep_repos: set[str] | None = None) -> int:
    """Delete the model's downloaded files (unless another kept model shares its repository)."""
    if not model.downloadable or model.repo_id in (keep_repos or set()):
        return 0
    from huggingface_hub.file_download import repo_folder_name

    folder = hub_cache_dir() / repo_folder_name(repo_id=model.repo_id, repo_type="model")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    shutil.rmtree(folder, ignore_errors=True)
    _manifest_path(model).unlink(missing_ok=True)
    return size


def files_size(model: KnownModel) -> int:
    """Bytes the model's pulled files take here (0 when nothing was pulled)."""
    manifest = manifest_read(model)
    return sum(f["size"] for f in manifest["files"]) if manifest else 0


def manifest_read(model: KnownModel) -> dict[str, Any] | None:
    path = _manifest_path(model)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _manifest_path(model: KnownModel) -> Path:
    return models_dir() / f"{model.key}.json"


def _manifest_write(model: KnownModel, commit: str | None, files: list[PulledFile]) -> None:
    data = {
        "key": model.key,
        "repo_id": model.repo_id,
        "revision": model.revision,
        "commit": commit,
        "endpoint": hub_endpoint(),
        "pulled_at": timezone.now().isoformat(),
        "files": [asdict(f) for f in files],
    }
    path = _manifest_path(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def _repo_folder(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")
