"""Calibrated cutoffs for text (and composed) queries: pure functions on NumPy arrays.

A text query's cosine similarities to images live on another scale than the
image-to-image distances the gallery statistic m_g is measured in, and the
scale differs per model and per query. Three ways to decide "relevant" anyway:

- querybank normalisation (QB-Norm, Bogolin et al., CVPR 2022; the CSLS idea of
  Conneau et al., ICLR 2018): every image's mean and spread of similarity to a
  fixed bank of generic captions, stored with its embedding. A query's score
  s becomes z = (s - mu_img) / sigma_img: how much better the image answers
  this query than it answers an arbitrary caption. "Hub" images that are close
  to every text lose their advantage, and one cutoff on z fits every model;
- autocut: the largest gap between consecutive scores of the query's ranked
  top N (Weaviate's `autocut` cuts at such a discontinuity);
- a two-component Gaussian mixture of the top-N scores: the hits are those
  whose posterior of belonging to the upper component is at least 0.5;
- expected F1 (the default): each image's probability of relevance from a
  logistic model of two calibrated scores,
      p = 1 / (1 + exp(-(b z_bank + a z_own - c))),
  z_bank the query-bank z above and z_own the score against the query's own
  distribution over the model's collection, (s - q.mu) / sqrt(q' Sigma q)
  (mu, Sigma: the mean and covariance of the collection's vectors, so every
  query's score distribution is known without scoring every image). The cut
  is the depth k of the raw ranking with the best expected F1,
  2 sum(p[:k]) / (k + sum(p)) (the plug-in rule of Jansche, ACL 2005, and
  Lipton et al., ECML 2014). sum(p) estimates how many images are relevant,
  so a caption with one match stops after a few results and a class name with
  many goes deep. Without judgements b = 1, a = 0, c = 5; with them, c is the
  collection's prior log-odds of relevance fitted by maximum likelihood on
  the judged marks (fit_relevance_centre) under the judged shape.

No Django here: search/text_cutoff.py applies them to a search; the bank statistics
themselves are computed at indexing time (indexing/calibration.py).
"""

from __future__ import annotations

import numpy as np

QBNORM, AUTOCUT, MIXTURE = "qbnorm", "autocut", "mixture"
EXPECTED_F1 = "expected_f1"
QUERYTIME, DYNAMIC = "querytime", "dynamic"
TEXT_CUTOFF_METHODS = (EXPECTED_F1, QBNORM, AUTOCUT, MIXTURE, QUERYTIME, DYNAMIC)
_MIN_SPREAD = 1e-4  # an image equally close to every caption: avoid dividing by ~0


def z_scores(scores: np.ndarray, mean: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """(s - mu_img) / sigma_img, elementwise."""
    spread = np.maximum(np.asarray(spread, dtype=np.float64), _MIN_SPREAD)
    centred = np.asarray(scores, dtype=np.float64) - np.asarray(mean, dtype=np.float64)
    return np.asarray(centred / spread)


def autocut(scores: np.ndarray) -> int:
    """How many of the best-first `scores` lie above their largest consecutive gap.

    All of them when there are fewer than two (no gap to cut at).
    """
    ranked = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if len(ranked) < 2:
        return len(ranked)
    gaps = ranked[:-1] - ranked[1:]
    return int(np.argmax(gaps)) + 1


def mixture_cut(scores: np.ndarray, *, iterations: int = 200, tolerance: float = 1e-9) -> int:
    """How many of the best-first `scores` the upper of two Gaussian components claims.

    EM on the scores (one dimension, two components), started from the lower
    and upper quartiles; the hits are the leading run of scores whose posterior
    of the upper component is at least 0.5. All of them when the scores cannot
    be split (fewer than three, or all equal).
    """
    ranked = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if len(ranked) < 3 or np.ptp(ranked) <= 0:
        return len(ranked)
    posterior = upper_posterior(ranked, iterations=iterations, tolerance=tolerance)
    below = np.flatnonzero(posterior < 0.5)
    return int(below[0]) if len(below) else len(ranked)


def upper_posterior(
    scores: np.ndarray, *, iterations: int = 200, tolerance: float = 1e-9
) -> np.ndarray:
    """P(upper component | score) under a two-Gaussian mixture fitted to `scores` by EM."""
    x = np.asarray(scores, dtype=np.float64)
    floor = max(float(np.var(x)) * 1e-4, 1e-12)  # keeps a component from collapsing on a point
    means = np.quantile(x, [0.25, 0.75])
    variances = np.full(2, max(float(np.var(x)), floor))
    weights = np.full(2, 0.5)
    previous = -np.inf
    for _ in range(iterations):
        density = weights * _normal(x[:, None], means, variances)  # (n, 2)
        total = np.maximum(density.sum(axis=1, keepdims=True), 1e-300)
        resp = density / total
        likelihood = float(np.log(total).sum())
        counts = np.maximum(resp.sum(axis=0), 1e-12)
        weights = counts / len(x)
        means = (resp * x[:, None]).sum(axis=0) / counts
        variances = np.maximum((resp * (x[:, None] - means) ** 2).sum(axis=0) / counts, floor)
        if likelihood - previous < tolerance:
            break
        previous = likelihood
    density = weights * _normal(x[:, None], means, variances)
    resp = density / np.maximum(density.sum(axis=1, keepdims=True), 1e-300)
    return np.asarray(resp[:, int(np.argmax(means))])


def _normal(x: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    return np.asarray(np.exp(-((x - mean) ** 2) / (2 * variance)) / np.sqrt(2 * np.pi * variance))


def relevance_logits(
    z_bank: np.ndarray,
    z_own: np.ndarray | None,
    *,
    centre: float,
    bank_weight: float = 1.0,
    own_weight: float = 0.0,
) -> np.ndarray:
    """b z_bank + a z_own - c, elementwise; NaN where a score with a weight is unknown.

    A feature with weight 0 is not read (z_own may then be None).
    """
    logits = np.full(np.shape(z_bank), -float(centre), dtype=np.float64)
    if bank_weight:
        logits = logits + bank_weight * np.asarray(z_bank, dtype=np.float64)
    if own_weight:
        if z_own is None:
            raise ValueError("own_weight needs z_own")
        logits = logits + own_weight * np.asarray(z_own, dtype=np.float64)
    return logits


def expected_f1_cut(scores: np.ndarray, logits: np.ndarray) -> int:
    """How many of the best-first raw `scores` to keep for the best expected F1.

    `logits` is each score's log-odds of relevance (same order as `scores`, NaN
    where unknown: probability 0), p = 1 / (1 + exp(-logit)); keeping the k
    best by raw score has expected F1 2 sum(p[:k]) / (k + sum(p)). At least one
    is kept, so a query never ends empty; none when there are no scores.
    """
    raw = np.asarray(scores, dtype=np.float64)
    if len(raw) == 0:
        return 0
    order = np.argsort(-raw, kind="stable")
    ls = np.asarray(logits, dtype=np.float64)[order]
    p = np.where(np.isnan(ls), 0.0, 1.0 / (1.0 + np.exp(-np.nan_to_num(ls))))
    kept = np.cumsum(p)
    depth = np.arange(1, len(p) + 1)
    return int(np.argmax(2 * kept / (depth + kept[-1]))) + 1


def own_z(
    scores: np.ndarray, query: np.ndarray, mean: np.ndarray, covariance: np.ndarray
) -> np.ndarray:
    """(s - q.mu) / sqrt(q' Sigma q): a score against the query's distribution over the collection.

    The mean and variance of q.x over the collection's vectors x follow from
    their mean mu and covariance Sigma alone.
    """
    q = np.asarray(query, dtype=np.float64)
    centre = float(q @ np.asarray(mean, dtype=np.float64))
    variance = float(q @ np.asarray(covariance, dtype=np.float64) @ q)
    spread = max(np.sqrt(max(variance, 0.0)), _MIN_SPREAD)
    return np.asarray((np.asarray(scores, dtype=np.float64) - centre) / spread)


def own_z_rows(
    scores: np.ndarray, queries: np.ndarray, mean: np.ndarray, covariance: np.ndarray
) -> np.ndarray:
    """own_z of many (score, query) pairs at once: scores[i] against queries[i]'s distribution."""
    q = np.asarray(queries, dtype=np.float64)
    centres = q @ np.asarray(mean, dtype=np.float64)
    variances = np.einsum("ij,ij->i", q @ np.asarray(covariance, dtype=np.float64), q)
    spreads = np.maximum(np.sqrt(np.maximum(variances, 0.0)), _MIN_SPREAD)
    return np.asarray((np.asarray(scores, dtype=np.float64) - centres) / spreads)


def fit_relevance_centre(features: np.ndarray, relevant: np.ndarray) -> float:
    """The c with the highest likelihood of the marks under p = 1 / (1 + exp(-(f - c))).

    `features` is each mark's b z_bank + a z_own under a fixed shape (a, b);
    only the intercept is fitted: the judged marks are the top of rankings, so
    they tell the rate of relevant images well and the slope poorly. The
    score equation sum(relevant - p) = 0 is monotone in c: bisection, no
    divergence. Needs both labels among the marks.
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(relevant, dtype=bool)
    if len(f) == 0 or y.all() or not y.any():
        raise ValueError("the fit needs relevant and not-relevant marks")
    low, high = float(f.min()) - 40.0, float(f.max()) + 40.0
    positives = float(y.sum())
    for _ in range(100):
        centre = (low + high) / 2
        expected = float((1.0 / (1.0 + np.exp(-(f - centre)))).sum())
        if expected > positives:
            low = centre  # too many predicted relevant: a higher centre
        else:
            high = centre
    return (low + high) / 2


def cut_score(scores: np.ndarray, count: int) -> float:
    """A similarity between the last kept and the first dropped of the best-first scores.

    A hit is kept when its score is above it: count = len keeps every score.
    """
    ranked = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if len(ranked) == 0:
        return 1.0
    if count <= 0:
        return float(ranked[0])
    if count >= len(ranked):
        return float(ranked[-1]) - 1e-6
    return float((ranked[count - 1] + ranked[count]) / 2)


def best_f1_cut(values: np.ndarray, relevant: np.ndarray) -> tuple[float, float]:
    """(t, F1): the cut `value > t` with the best pooled F1 over labelled values, and its F1.

    t lies midway between the last kept and the first dropped value; ties in F1
    go to the stricter cut. Needs at least one relevant value.
    """
    v = np.asarray(values, dtype=np.float64)
    y = np.asarray(relevant, dtype=bool)
    if not y.any():
        raise ValueError("the fit needs relevant values")
    order = np.argsort(-v, kind="stable")
    ranked, flags = v[order], y[order]
    kept = np.arange(1, len(v) + 1)
    f1 = 2 * np.cumsum(flags) / (kept + y.sum())
    ends = np.append(ranked[1:] < ranked[:-1], True)  # a cut can only fall between values
    f1 = np.where(ends, f1, -1.0)
    best = int(np.argmax(f1))
    cut = (ranked[best] + ranked[best + 1]) / 2 if best + 1 < len(ranked) else ranked[-1] - 1e-6
    return float(cut), float(f1[best])
