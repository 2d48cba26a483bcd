"""Load an evaluation dataset through the platform's own upload and embedding code.

An evaluation user owns one private gallery per dataset gallery. Files go in
through image_upload (validation, SHA-256, thumbnails) without queueing work;
embeddings come from images_embed, the worker's code, in batches. Re-runs
reuse what is there: galleries by slug, images by SHA-256, embeddings from
the database, or from the on-disk cache (model name, SHA-256) when the
database was reset, inserted as rows without running the encoder.
"""

from __future__ import annotations

import hashlib
import io
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.utils.text import slugify
from tqdm import tqdm

from evaluation.datasets import Dataset
from evaluation.vector_cache import VectorCache
from galleries.models import Gallery, Image
from galleries.services import gallery_create, image_delete, image_upload
from indexing.embedding import embeddings_store, images_embed
from indexing.encoders.base import Encoder
from indexing.models import Embedding
from indexing.vector_io import load_vectors

EVALUATION_USERNAME = "cbir-evaluation"
Log = Callable[[str], None]


@dataclass
class LoadedDataset:
    dataset: Dataset
    user: AbstractBaseUser
    galleries: dict[str, Gallery]  # dataset gallery name -> Gallery
    image_ids: dict[str, int]  # item key -> image id (duplicate files share one image)
    rejected: dict[str, str] = field(default_factory=dict)  # item key -> why
    counts: dict[str, int] = field(default_factory=dict)  # created, reused, duplicate, rejected

    @property
    def slugs(self) -> list[str]:
        return [g.slug for g in self.galleries.values()]

    def ids(self, keys: frozenset[str] | set[str]) -> set[int]:
        return {self.image_ids[k] for k in keys if k in self.image_ids}

    def keys_of(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = defaultdict(list)
        for key, image_id in self.image_ids.items():
            out[image_id].append(key)
        return out


@dataclass(frozen=True)
class EmbeddingReport:
    model_name: str
    images: int
    in_database: int  # already embedded under this model: nothing done
    from_cache: int  # inserted from the on-disk cache: no encoder run
    encoded: int  # run through the encoder now
    failed: dict[int, str]
    seconds: float
    cache_path: str


def evaluation_user() -> AbstractBaseUser:
    user, _ = get_user_model().objects.get_or_create(
        username=EVALUATION_USERNAME, defaults={"is_active": True}
    )
    return user


def gallery_slug(dataset: Dataset, gallery: str) -> str:
    return slugify(f"eval-{dataset.gallery_prefix}-{gallery}")[:80]


def dataset_load(*, dataset: Dataset, progress: bool = True, log: Log = print) -> LoadedDataset:
    user = evaluation_user()
    loaded = LoadedDataset(dataset, user, {}, {})
    counts: defaultdict[str, int] = defaultdict(int)
    for name in dataset.galleries:
        gallery = _gallery(dataset, name, user)
        loaded.galleries[name] = gallery
        known = dict(Image.objects.filter(gallery=gallery).values_list("sha256", "id"))
        before = set(known)  # loaded by an earlier run; later matches are duplicates in the data
        items = [i for i in dataset.items if i.gallery == name]
        for item in tqdm(items, desc=f"load {gallery.slug}", unit="img", disable=not progress):
            data = item.path.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            if sha in known:
                loaded.image_ids[item.key] = known[sha]
                counts["reused" if sha in before else "duplicate"] += 1
                continue
            outcome = image_upload(
                gallery=gallery,
                user=user,
                stream=io.BytesIO(data),
                filename=item.key,
                enqueue=False,
            )
            if outcome.image is None:
                loaded.rejected[item.key] = outcome.message
            else:
                loaded.image_ids[item.key] = outcome.image.pk
                known[sha] = outcome.image.pk
            counts[outcome.status] += 1
        # Images a different version of the dataset left here would be searched as distractors.
        kept = {loaded.image_ids[i.key] for i in items if i.key in loaded.image_ids}
        for stale in Image.objects.filter(gallery=gallery).exclude(id__in=kept):
            image_delete(image=stale)
            counts["removed"] += 1
    loaded.counts = dict(counts)
    log(
        f"Loaded {dataset.name}: {counts['created']} uploaded, {counts['reused']} already there "
        f"(matched by SHA-256), {counts['duplicate']} duplicates of another item, "
        f"{counts['rejected']} rejected, {counts['removed']} no longer in the dataset removed, "
        f"in {len(loaded.galleries)} galleries."
    )
    return loaded


def _gallery(dataset: Dataset, name: str, user: AbstractBaseUser) -> Gallery:
    slug = gallery_slug(dataset, name)
    gallery = Gallery.objects.filter(slug=slug).first()
    if gallery is None:
        gallery = gallery_create(
            user=user, name=f"Evaluation: {dataset.gallery_prefix} / {name}", slug=slug
        )
    return gallery


def embeddings_ensure(
    *,
    loaded: LoadedDataset,
    encoder: Encoder,
    cache_dir: Path,
    batch_size: int = 32,
    progress: bool = True,
    log: Log = print,
) -> EmbeddingReport:
    """Every loaded image embedded under `encoder.name`: from the DB, the cache, or the encoder."""
    started = time.perf_counter()
    cache = VectorCache(cache_dir, encoder.name)
    ids = sorted(set(loaded.image_ids.values()))
    sha_of = dict(Image.objects.filter(id__in=ids).values_list("id", "sha256"))
    done = set(
        Embedding.objects.filter(image_id__in=ids, model_name=encoder.name).values_list(
            "image_id", flat=True
        )
    )
    _cache_from_database(cache, encoder.name, [i for i in done if sha_of[i] not in cache], sha_of)
    todo = [i for i in ids if i not in done]
    cached = [i for i in todo if sha_of[i] in cache]
    if cached:
        images = list(Image.objects.filter(id__in=cached).order_by("id"))
        embeddings_store(
            encoder=encoder, images=images, vectors=cache.stack(sha_of[i.pk] for i in images)
        )
    failed: dict[int, str] = {}
    fresh = [i for i in todo if sha_of[i] not in cache]
    bar = tqdm(total=len(fresh), desc=f"embed {encoder.name}", unit="img", disable=not progress)
    for start in range(0, len(fresh), batch_size):
        batch = fresh[start : start + batch_size]
        report = images_embed(image_ids=batch, encoder=encoder)
        failed.update(report.failed)
        _cache_from_database(cache, encoder.name, report.embedded, sha_of)
        bar.update(len(batch))
    bar.close()
    result = EmbeddingReport(
        model_name=encoder.name,
        images=len(ids),
        in_database=len(done),
        from_cache=len(cached),
        encoded=len(fresh) - len(failed),
        failed=failed,
        seconds=time.perf_counter() - started,
        cache_path=str(cache.path),
    )
    log(
        f"Embeddings {encoder.name}: {result.in_database} already in the database, "
        f"{result.from_cache} inserted from the cache {cache.path} (no encoder run), "
        f"{result.encoded} encoded now, {len(failed)} failed."
    )
    return result


def _cache_from_database(
    cache: VectorCache, model_name: str, image_ids: list[int], sha_of: dict[int, str]
) -> None:
    """Copy stored vectors into the cache (and save it), so a reset database costs nothing."""
    if not image_ids:
        return
    stored = load_vectors(model_name, image_ids=image_ids)
    cache.update({sha_of[int(i)]: v for i, v in zip(stored.image_ids, stored.vectors, strict=True)})
    cache.save()
