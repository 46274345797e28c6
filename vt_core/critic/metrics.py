"""How well a method predicts a critic's classes and ratings.

- accuracy: share of films whose class is right.
- recall per class: share of the critic's films of that class predicted as that class; NaN for a
  class the truth does not contain (there is nothing to recall).
- macro_f1: the mean of per-class F1 = 2TP / (2TP + FP + FN) over the classes that occur in the
  truth or in the predictions; a class predicted but absent from the truth counts with F1 0, a
  class absent from both is left out (as scikit-learn does by default).
- mae: mean absolute error on the critic's rating scale. A method that predicts only classes is
  given, for each film, the critic's mean training rating of the predicted class (`fill_ratings`).
- recall_spread: max - min of the per-class recalls over the classes present in the truth (0 with
  one class). The method claims even performance from low to high: the lower, the more even.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from vt_core.critic.data import CLASSES, Film, Split


@dataclass(frozen=True)
class Prediction:
    movie_id: int
    label: str
    rating: float | None  # on the critic's scale; None from a method that predicts only a class
    reason: str | None = None


@dataclass(frozen=True)
class Scores:
    accuracy: float
    recall: dict[str, float]  # per class; NaN for a class absent from the truth
    macro_f1: float
    mae: float | None  # None when no ratings were given
    recall_spread: float
    n: int


def _check(labels: Sequence[str], what: str) -> None:
    unknown = sorted(set(labels) - set(CLASSES))
    if unknown:
        raise ValueError(f"{what} labels must be one of {', '.join(CLASSES)}; got {', '.join(map(str, unknown))}")


def score(truth_labels: Sequence[str], predicted_labels: Sequence[str],
          truth_ratings: Sequence[float] | None = None, predicted_ratings: Sequence[float] | None = None) -> Scores:
    if len(truth_labels) != len(predicted_labels):
        raise ValueError(f"{len(truth_labels)} true labels but {len(predicted_labels)} predicted")
    if not truth_labels:
        raise ValueError("nothing to score: no films")
    _check(truth_labels, "true")
    _check(predicted_labels, "predicted")
    pairs = list(zip(truth_labels, predicted_labels))
    recall, f1 = {}, []
    for c in CLASSES:
        tp = sum(t == c and p == c for t, p in pairs)
        fn = sum(t == c and p != c for t, p in pairs)
        fp = sum(t != c and p == c for t, p in pairs)
        recall[c] = tp / (tp + fn) if tp + fn else math.nan
        if tp + fn + fp:
            f1.append(2 * tp / (2 * tp + fp + fn))
    present = [r for r in recall.values() if not math.isnan(r)]
    mae = None
    if truth_ratings is not None and predicted_ratings is not None:
        if len(truth_ratings) != len(truth_labels) or len(predicted_ratings) != len(truth_labels):
            raise ValueError("ratings and labels differ in length")
        if any(p is None for p in predicted_ratings):
            raise ValueError("a predicted rating is missing; fill it in with fill_ratings first")
        mae = sum(abs(t - p) for t, p in zip(truth_ratings, predicted_ratings)) / len(truth_ratings)
    return Scores(
        accuracy=sum(t == p for t, p in pairs) / len(pairs),
        recall=recall,
        macro_f1=sum(f1) / len(f1),
        mae=mae,
        recall_spread=max(present) - min(present),
        n=len(pairs),
    )


def class_means(films: Sequence[Film]) -> dict[str, float]:
    """The mean rating of the films of each class (classes without films left out)."""
    means = {}
    for c in CLASSES:
        ratings = [f.rating for f in films if f.label == c]
        if ratings:
            means[c] = sum(ratings) / len(ratings)
    return means


def fill_ratings(predictions: Sequence[Prediction], train: Sequence[Film]) -> list[Prediction]:
    """Predictions with a rating each: a missing one becomes the critic's mean training rating of its class."""
    means = class_means(train)
    return [p if p.rating is not None else Prediction(p.movie_id, p.label, means[p.label], p.reason)
            for p in predictions]


def score_predictions(split: Split, predictions: Sequence[Prediction]) -> Scores:
    """Score predictions of exactly the split's test films (in any order)."""
    by_id = {p.movie_id: p for p in fill_ratings(predictions, split.train)}
    missing = [f.title for f in split.test if f.movie_id not in by_id]
    if missing or len(predictions) != len(split.test):
        raise ValueError(f"predictions must cover the {len(split.test)} test films once each; "
                         f"missing: {', '.join(missing[:5]) or 'none'}; got {len(predictions)}")
    ordered = [by_id[f.movie_id] for f in split.test]
    return score([f.label for f in split.test], [p.label for p in ordered],
                 [f.rating for f in split.test], [p.rating for p in ordered])


def confusion(truth: Sequence[str], predicted: Sequence[str]) -> pd.DataFrame:
    """Counts with the true class as rows and the predicted class as columns, all three classes."""
    _check(truth, "true")
    _check(predicted, "predicted")
    table = pd.crosstab(pd.Categorical(truth, categories=CLASSES), pd.Categorical(predicted, categories=CLASSES),
                        dropna=False)
    table.index.name, table.columns.name = "truth", "predicted"
    return table.reindex(index=list(CLASSES), columns=list(CLASSES), fill_value=0).astype(int)
