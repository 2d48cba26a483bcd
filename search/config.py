"""The search app's knobs: modes, thresholds, text cutoffs, fusion, models (cbir_site/config.py)."""

from __future__ import annotations

from dataclasses import dataclass

from cbir_site.config import build, config_builder, knob
from cbir_site.env import env_bool, env_choice, env_float, env_int

_MODES = {"auto", "topk", "static", "dynamic", "query"}
_TEXT_CUTOFFS = {"expected_f1", "qbnorm", "autocut", "mixture", "querytime", "dynamic"}


@dataclass(frozen=True)
class SearchConfig:
    default_k: int = knob("CBIR_SEARCH_DEFAULT_K", env_int, 24, minimum=1)
    # How long an uploaded example image is kept (in the cache, for the browser session that
    # sent it) so that its search can be edited, paged and extended: search/example_store.py.
    query_example_ttl: int = knob("CBIR_QUERY_EXAMPLE_TTL", env_int, 6 * 3600, minimum=60)
    # auto: the dynamic threshold where every searched gallery has one, else top-k.
    default_mode: str = knob("CBIR_SEARCH_DEFAULT_MODE", env_choice, "auto", _MODES)
    # Dynamic thresholds: T_g = T_static + w (m_g - M), distances between unit vectors (0-2).
    # T_static differs by query kind: text-to-image similarities run lower than image-to-image.
    # Image defaults fitted for the bundled encoder on clip-art classes (bench_thresholds.py).
    # These are defaults: each model's fitted values and per-gallery overrides win
    # (search/cutoffs.py).
    threshold_static_image: float = knob(
        "CBIR_THRESHOLD_STATIC_IMAGE", env_float, 1.01, minimum=0, maximum=2
    )
    threshold_static_text: float = knob(
        "CBIR_THRESHOLD_STATIC_TEXT", env_float, 1.0, minimum=0, maximum=2
    )
    threshold_weight: float = knob("CBIR_THRESHOLD_WEIGHT", env_float, 1.1, minimum=0, maximum=10)
    threshold_neighbours: int = knob(
        "CBIR_THRESHOLD_NEIGHBOURS", env_int, 5, minimum=1, maximum=1000
    )
    # Galleries smaller than this get no statistic (top-k for them in auto mode).
    threshold_min_images: int = knob("CBIR_THRESHOLD_MIN_IMAGES", env_int, 20, minimum=2)
    # Above this many images, m_g uses a random sample of this many images as queries.
    threshold_sample: int = knob("CBIR_THRESHOLD_SAMPLE", env_int, 2000, minimum=10)
    threshold_debounce_s: int = knob("CBIR_THRESHOLD_DEBOUNCE_S", env_int, 30, minimum=0)
    # Thresholded searches return every hit below the cutoff, paginated, up to this many.
    threshold_max_results: int = knob("CBIR_THRESHOLD_MAX_RESULTS", env_int, 5000, minimum=1)
    # A model's cutoffs are refitted from the judgement log once it holds this many marks
    # (at least 5 of each label) for a query kind.
    cutoff_fit_min_marks: int = knob("CBIR_CUTOFF_FIT_MIN_MARKS", env_int, 30, minimum=10)
    # Text and composed queries in auto/dynamic mode: how their cutoff is calibrated
    # (search/text_cut_methods.py). qbnorm: z = (s - mean) / spread of the image's similarity
    # to a bank of generic captions, kept when z > CBIR_QBNORM_Z; autocut: the largest gap in
    # the query's top N scores; mixture: two Gaussians fitted to the top N; querytime: the
    # query-time variant of the dynamic threshold; dynamic: the image statistic; expected_f1:
    # the depth of the top CBIR_TEXT_F1_TOP_N with the best expected F1, each hit's
    # probability 1 / (1 + exp(-(b z_bank + a z_own - c))) from its query-bank z and its z
    # against the query's own scores over the collection (b = CBIR_TEXT_F1_BANK_WEIGHT,
    # a = CBIR_TEXT_F1_OWN_WEIGHT, c = CBIR_TEXT_F1_CENTRE: defaults per model, refitted from
    # the judgement log, search/cutoff_fit.py). expected_f1
    # had the best macro F1 of the calibrated methods on captions and on class names, and
    # never an empty page (docs/evaluation/README.md).
    text_cutoff: str = knob("CBIR_TEXT_CUTOFF", env_choice, "expected_f1", _TEXT_CUTOFFS)
    qbnorm_z: float = knob("CBIR_QBNORM_Z", env_float, 2.0, minimum=-10, maximum=20)
    text_cutoff_top_n: int = knob("CBIR_TEXT_CUTOFF_TOP_N", env_int, 50, minimum=3, maximum=5000)
    text_f1_top_n: int = knob("CBIR_TEXT_F1_TOP_N", env_int, 1000, minimum=3, maximum=5000)
    text_f1_centre: float = knob("CBIR_TEXT_F1_CENTRE", env_float, 5.0, minimum=-10, maximum=20)
    text_f1_bank_weight: float = knob(
        "CBIR_TEXT_F1_BANK_WEIGHT", env_float, 1.0, minimum=0, maximum=10
    )
    text_f1_own_weight: float = knob(
        "CBIR_TEXT_F1_OWN_WEIGHT", env_float, 0.0, minimum=0, maximum=10
    )
    fusion_method: str = knob("CBIR_FUSION_METHOD", env_choice, "log_vote", {"rrf", "log_vote"})
    # The default weight of "not like this", chosen by measurement on COCO-MINI
    # (docs/evaluation/negative-weight.md); 0.5 let unrelated images in.
    negative_weight: float = knob("CBIR_NEGATIVE_WEIGHT", env_float, 0.15, minimum=0, maximum=10)
    # Composed queries, two-phase: how many text results the example images re-rank (M).
    two_phase_candidates: int = knob(
        "CBIR_TWO_PHASE_CANDIDATES", env_int, 100, minimum=1, maximum=10_000
    )
    # Model management: the share of ready images a candidate must cover before search switches
    # to it; whether `./cbir up` pulls the recommended model; images per re-embedding task.
    model_switch_coverage: float = knob(
        "CBIR_MODEL_SWITCH_COVERAGE", env_float, 1.0, minimum=0.5, maximum=1.0
    )
    model_auto_pull: bool = knob("CBIR_MODEL_AUTO_PULL", env_bool, True)
    model_reembed_batch: int = knob(
        "CBIR_MODEL_REEMBED_BATCH", env_int, 64, minimum=1, maximum=4096
    )


@config_builder
def search_config() -> SearchConfig:
    return build(SearchConfig)
