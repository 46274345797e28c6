"""Baselines for the critic case study; each predicts every film of a split's test set.

- mean: the critic's mean training rating for every film, and its class. (Training holds K films
  per class, so a majority vote over it always ties; the class of the mean stands in for it.)
- genre_means: for each film, the mean of the critic's per-genre mean training ratings over the
  film's genres; the critic's mean when none of its genres occurs in training.
- item_knn: item-based nearest neighbours over all other MovieLens users (adjusted cosine:
  each rating minus its user's mean). The critic's own ratings, train and test alike, are left
  out of the item vectors; the neighbours of a test film are the k training films most similar
  to it (similarity > 0), and the prediction is the critic's mean training rating plus the
  similarity-weighted mean of their deviations from it; with no neighbour, the critic's mean.
  k is chosen per split on its validation films: averaging many neighbours pulls every
  prediction to the middle class (on the validation parts of 10 critics x 2 seeds at K=10,
  macro-F1 fell from 0.40 at k=1 to 0.26 at k=20).
- zero_shot: an LLM rates the films from title, year and genres alone.
- few_shot: the same, with the critic's K-per-class training ratings in the prompt.
The LLM baselines send `batch_size` films per call, several calls at a time (the LLM's
concurrency), at temperature 0 with the split's seed, and predict a class per film (as the
tuned specification does): a class is an enum every backend can be held to, where a free rating
is not (the embedded model answers 6.8 on a 0.5-5 scale). For the MAE, a class stands for the
critic's mean training rating of that class (metrics.fill_ratings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, create_model
from scipy import sparse

from vt_core.core.llm import LLM, ChatRequest, response_format
from vt_core.core.progress import Progress
from vt_core.core.prompts import render
from vt_core.critic.data import CLASSES, Critic, Film, Split, rating_rows
from vt_core.critic.metrics import Prediction, score

DEFAULT_NEIGHBOURS = 5
NEIGHBOUR_CHOICES = (1, 2, 3, 5, 10, 20)
DEFAULT_BATCH = 10


@dataclass(frozen=True)
class Method:
    name: str
    predict: Callable[[Split], list[Prediction]]
    llm: LLM | None = None  # the model behind an LLM method, whose backend is recorded with its results


def _rated(critic: Critic, movie_id: int, rating: float, reason: str | None = None) -> Prediction:
    low, high = critic.scale
    rating = float(min(max(rating, low), high))
    return Prediction(movie_id, critic.thresholds.classify(rating), rating, reason)


def _mean(films: Sequence[Film]) -> float:
    return sum(f.rating for f in films) / len(films)


def mean(split: Split) -> list[Prediction]:
    average = _mean(split.train)
    return [_rated(split.critic, f.movie_id, average) for f in split.test]


def genre_means(split: Split) -> list[Prediction]:
    by_genre: dict[str, list[float]] = {}
    for film in split.train:
        for genre in film.genres:
            by_genre.setdefault(genre, []).append(film.rating)
    average = _mean(split.train)
    predictions = []
    for film in split.test:
        known = [sum(by_genre[g]) / len(by_genre[g]) for g in film.genres if g in by_genre]
        predictions.append(_rated(split.critic, film.movie_id, sum(known) / len(known) if known else average))
    return predictions


def _similarities(split: Split, films: Sequence[Film], ratings: pd.DataFrame | None) -> tuple[np.ndarray, list[Film]]:
    """Adjusted cosine between each of `films` and the critic's training films that other users rated:
    (len(films) x len(neighbours)) and those training films. The critic's own ratings are left out."""
    rows = rating_rows(ratings)
    if split.critic.user_id is not None:
        rows = rows[rows["userId"] != split.critic.user_id]
    items, item_index = pd.factorize(rows["movieId"])
    users, _ = pd.factorize(rows["userId"])
    centred = rows["rating"].to_numpy(float) - rows.groupby("userId")["rating"].transform("mean").to_numpy(float)
    vectors = sparse.csr_matrix((centred, (items, users)), shape=(len(item_index), users.max(initial=-1) + 1))
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    position = {int(m): i for i, m in enumerate(item_index)}
    train = [f for f in split.train if f.movie_id in position and norms[position[f.movie_id]] > 0]
    targets = [(i, position[f.movie_id]) for i, f in enumerate(films) if f.movie_id in position]
    similarity = np.zeros((len(films), len(train)))
    if targets and train:
        target_rows = [r for _, r in targets]
        train_rows = [position[f.movie_id] for f in train]
        dots = (vectors[target_rows] @ vectors[train_rows].T).toarray()
        with np.errstate(divide="ignore", invalid="ignore"):
            similarity[[i for i, _ in targets]] = np.nan_to_num(dots / np.outer(norms[target_rows], norms[train_rows]))
    return similarity, train


def _neighbour_ratings(similarity: np.ndarray, train: Sequence[Film], average: float, neighbours: int) -> list[float]:
    deviations = np.array([f.rating - average for f in train])
    predicted = []
    for sims in similarity:
        nearest = [j for j in np.argsort(-sims, kind="stable")[:neighbours] if sims[j] > 0]
        weights = sims[nearest]
        predicted.append(average + float(weights @ deviations[nearest] / weights.sum()) if nearest else average)
    return predicted


def item_knn(split: Split, ratings: pd.DataFrame | None = None, neighbours: int | None = None) -> list[Prediction]:
    """`neighbours` None: the number in NEIGHBOUR_CHOICES with the best macro-F1 on the split's
    validation films (ties to the larger), or DEFAULT_NEIGHBOURS without validation films."""
    films = [*split.validation, *split.test]
    similarity, train = _similarities(split, films, ratings)
    average = _mean(split.train)
    validation, test = similarity[:len(split.validation)], similarity[len(split.validation):]
    if neighbours is None:
        neighbours = DEFAULT_NEIGHBOURS
        if split.validation:
            truth = [f.label for f in split.validation]

            def fit(n: int) -> float:
                labels = [split.critic.thresholds.classify(r) for r in _neighbour_ratings(validation, train, average, n)]
                return score(truth, labels).macro_f1

            neighbours = max(reversed(NEIGHBOUR_CHOICES), key=fit)
    predicted = _neighbour_ratings(test, train, average, neighbours)
    return [_rated(split.critic, f.movie_id, r) for f, r in zip(split.test, predicted)]


def film_line(film: Film) -> str:
    """A film as every prompt shows it: "The Matrix (1999): Action, Sci-Fi"."""
    year = f" ({film.year})" if film.year else ""
    genres = f": {', '.join(film.genres)}" if film.genres else ""
    return f"{film.title}{year}{genres}"


def class_schema(n: int) -> type[BaseModel]:
    """One class per film of a batch, film_1 ... film_n. An enum, so that even a backend that
    constrains decoding only by the schema's shape (llama.cpp) yields valid replies."""
    return create_model("FilmClasses", **{f"film_{i}": (Literal[CLASSES], ...) for i in range(1, n + 1)})


def class_request(llm: LLM, template: str, batch: Sequence[Film], *, seed: int, system: str | None = None,
                  **values: object) -> ChatRequest:
    """The request for one batch: `template` rendered with the numbered films ($films), the reply's
    fields ($fields) and `values`; `system`, if given, goes first as the system message."""
    fields = ", ".join(f'"film_{i}": "low" or "mid" or "high"' for i in range(1, len(batch) + 1))
    films = "\n".join(f"{i}. {film_line(f)}" for i, f in enumerate(batch, start=1))
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages.append({"role": "user", "content": render(template, films=films, fields=fields, **values)})
    fmt = response_format(class_schema(len(batch)), llm.backend.structured_format)
    return ChatRequest(messages, temperature=0.0, max_tokens=12 * len(batch) + 32, seed=seed, response_format=fmt)


def ask_classes(llm: LLM, template: str, films: Sequence[Film], *, seed: int, system: str | None = None,
                batch_size: int = DEFAULT_BATCH, progress: Progress | None = None,
                **values: object) -> list[Prediction]:
    """The class of every film (labels only, rating None), in order: `batch_size` films per call,
    the calls at the LLM's concurrency, at temperature 0 with `seed`."""
    def one(batch: Sequence[Film]) -> list[Prediction]:
        request = class_request(llm, template, batch, seed=seed, system=system, **values)
        reply = llm.structured(request.messages, class_schema(len(batch)), temperature=request.temperature,
                               max_tokens=request.max_tokens, seed=request.seed)
        return [Prediction(f.movie_id, getattr(reply, f"film_{i}"), None) for i, f in enumerate(batch, start=1)]

    batches = [films[i:i + batch_size] for i in range(0, len(films), batch_size)]
    return [p for batch in llm.map(one, batches, progress=progress) for p in batch]


def llm_ratings(llm: LLM, split: Split, *, few_shot: bool, batch_size: int = DEFAULT_BATCH) -> list[Prediction]:
    """The zero-shot (few_shot=False) or few-shot LLM baseline."""
    name = "few_shot" if few_shot else "zero_shot"
    critic = split.critic
    examples = "\n".join(f"- {film_line(f)}: {f.rating:g} ({f.label})" for f in split.train) if few_shot else ""
    return ask_classes(llm.for_run(f"critic:{name}:{critic.id}:k{split.k}:s{split.seed}"),
                       f"critic_predict_{name}", split.test, seed=split.seed, batch_size=batch_size,
                       examples=examples, low=f"{critic.scale[0]:g}", high=f"{critic.scale[1]:g}",
                       low_max=f"{critic.thresholds.low_max:g}", high_min=f"{critic.thresholds.high_min:g}")


def baseline_methods(llm: LLM | None, ratings: pd.DataFrame | None = None,
                     batch_size: int = DEFAULT_BATCH) -> list[Method]:
    """Every baseline; the LLM ones only when there is an LLM."""
    methods = [Method("mean", mean), Method("genre_means", genre_means),
               Method("item_knn", lambda s: item_knn(s, ratings))]
    if llm is not None:
        methods += [
            Method("zero_shot", lambda s: llm_ratings(llm, s, few_shot=False, batch_size=batch_size), llm),
            Method("few_shot", lambda s: llm_ratings(llm, s, few_shot=True, batch_size=batch_size), llm),
        ]
    return methods
