"""Baselines on a small hand-made slice with answers worked by hand, and the LLM baselines against
a scripted OpenAI-compatible server over real HTTP."""

import dataclasses
import json
import math
import re

import pandas as pd
import pytest

from tests.scripted_server import MODEL, Reply
from tests.test_critic_data import ratings_frame
from vt_core.core.config import Settings
from vt_core.core.llm import LLM, LLMError
from vt_core.core.store import Store
from vt_core.critic.baselines import genre_means, item_knn, llm_ratings, mean
from vt_core.critic.data import Split, choose_critics, movielens_critic, split
from vt_core.critic.run import run_methods, summarise

A, B, C, T, D, X, Y, Z, M, U = 1, 2, 3, 4, 5, 6, 7, 8, 50, 99
TITLES = {A: "Alpha", B: "Bravo", C: "Charlie", T: "Tango", D: "Delta", X: "Xray", Y: "Yankee", Z: "Zulu",
          M: "Mike", U: "Uniform"}
GENRES = {A: "Drama|Sci-Fi", B: "Comedy", C: "Comedy|Drama", M: "Horror", T: "Sci-Fi", D: "Comedy|Horror",
          Y: "Drama|Comedy", U: "Western", X: "", Z: ""}
OTHERS = {  # every user's mean is a round number, so the centred ratings are easy to write down
    2: {A: 4, B: 2, T: 4, D: 2},  # mean 3: A +1, B -1, T +1, D -1
    3: {A: 5, B: 1, T: 5, D: 1},  # mean 3: A +2, B -2, T +2, D -2
    4: {A: 2, B: 4, T: 2, D: 4},  # mean 3: A -1, B +1, T -1, D +1
    5: {A: 5, C: 5, X: 5, Y: 5, B: 2, D: 3, Z: 3},  # mean 4: A C X Y +1, B -2, D -1, Z -1
}
# Item vectors over users 2-5: A (1,2,-1,1) B (-1,-2,1,-2) C (0,0,0,1) T (1,2,-1,0) D (-1,-2,1,-1)
# X = Y = (0,0,0,1). The critic (user 1) rates against the grain, so any leak of theirs would show.
CRITIC = {A: 5.0, B: 1.0, C: 2.5, M: 3.0, X: 2.5, T: 1.0, D: 5.0, Y: 5.0, U: 4.0}


def frame() -> pd.DataFrame:
    rows = [(1, movie, rating) for movie, rating in CRITIC.items()]
    rows += [(user, movie, rating) for user, films in OTHERS.items() for movie, rating in films.items()]
    return pd.DataFrame([{"userId": u, "movieId": m, "title": TITLES[m], "year": 2000, "genres": GENRES[m],
                          "rating": float(r)} for u, m, r in rows])


def hand_split(validation_rating: float = 2.5, user_id: int | None = 1) -> Split:
    critic = dataclasses.replace(movielens_critic(1, ratings=frame()), user_id=user_id)
    films = {f.movie_id: f for f in critic.films}
    x = dataclasses.replace(films[X], rating=validation_rating, label=critic.thresholds.classify(validation_rating))
    return Split(critic, k=1, seed=7, train=tuple(films[i] for i in (A, B, C, M)), validation=(x,),
                 test=tuple(films[i] for i in (T, D, Y, U)))


def ratings(predictions) -> list[float]:
    return [p.rating for p in predictions]


def test_mean_predicts_the_critic_mean_training_rating():
    predictions = mean(hand_split())
    assert ratings(predictions) == [2.875] * 4  # (5 + 1 + 2.5 + 3) / 4
    assert {p.label for p in predictions} == {"mid"}
    assert [p.movie_id for p in predictions] == [T, D, Y, U]


def test_genre_means_average_the_film_genres_with_a_fallback():
    # Drama (5, 2.5) 3.75, Sci-Fi 5, Comedy (1, 2.5) 1.75, Horror 3; Western unseen
    predictions = genre_means(hand_split())
    assert ratings(predictions) == pytest.approx([5.0, (1.75 + 3) / 2, (3.75 + 1.75) / 2, 2.875])
    assert [p.label for p in predictions] == ["high", "low", "mid", "mid"]


def test_item_knn_with_a_fixed_number_of_neighbours():
    # T: only A is positive (6/sqrt(42)) -> 5. D: only B (8/sqrt(70)) -> 1. U: nobody else rated it -> 2.875.
    # Y: C (cos 1) and A (1/sqrt(7)); the prediction is the similarity-weighted mean of their ratings.
    s = 1 / math.sqrt(7)
    assert ratings(item_knn(hand_split(), frame(), neighbours=20)) == pytest.approx(
        [5.0, 1.0, (2.5 + s * 5.0) / (1 + s), 2.875])
    one = item_knn(hand_split(), frame(), neighbours=1)
    assert ratings(one) == pytest.approx([5.0, 1.0, 2.5, 2.875])
    assert [p.label for p in one] == ["high", "low", "low", "mid"]


def test_item_knn_chooses_its_neighbours_on_the_validation_films():
    # X is like Y: one neighbour calls it 2.5 (low), two or more about 3.19 (mid).
    assert ratings(item_knn(hand_split(validation_rating=2.5), frame()))[2] == pytest.approx(2.5)
    s = 1 / math.sqrt(7)
    assert ratings(item_knn(hand_split(validation_rating=3.5), frame()))[2] == pytest.approx((2.5 + s * 5) / (1 + s))


def test_item_knn_leaves_the_critic_out_of_the_item_vectors():
    kept_out = item_knn(hand_split(), frame(), neighbours=20)
    without_critic = frame()[lambda f: f["userId"] != 1]
    assert item_knn(hand_split(), without_critic, neighbours=20) == kept_out
    # the same frame, read as if the critic were not a MovieLens user, changes the answers
    assert item_knn(hand_split(user_id=None), frame(), neighbours=20) != kept_out


def scripted_classes(request: dict) -> Reply:
    """Classes by title: films whose title starts with A-H are high, N-Z low, the rest mid."""
    prompt = request["messages"][-1]["content"]
    to_predict = prompt.split("Films to predict:")[-1] if "Films to predict:" in prompt else prompt
    titles = re.findall(r"^(\d+)\. (\w+)", to_predict, flags=re.MULTILINE)
    label = lambda title: "high" if title[0] <= "H" else ("low" if title[0] >= "N" else "mid")  # noqa: E731
    return Reply(content=json.dumps({f"film_{n}": label(title) for n, title in titles}))


def test_llm_baselines_batch_the_films_and_keep_them_in_order(make_llm, scripted):
    scripted.respond = scripted_classes
    one = hand_split()
    for few_shot in (False, True):
        predictions = llm_ratings(make_llm(), one, few_shot=few_shot, batch_size=3)
        assert [(p.movie_id, p.label, p.rating) for p in predictions] == [
            (T, "low", None), (D, "high", None), (Y, "low", None), (U, "low", None)]
    requests = [r["messages"][-1]["content"] for r in scripted.requests]
    assert len(requests) == 4  # two batches (3 + 1) for each method
    few = [r for r in requests if "Films the critic has rated" in r]
    zero = sorted(set(requests) - set(few), key=len, reverse=True)
    assert len(few) == len(zero) == 2
    assert all("Alpha" not in r for r in zero)  # zero-shot: no training film
    assert all("- Alpha (2000): Drama, Sci-Fi: 5 (high)" in r and "- Mike (2000): Horror: 3 (mid)" in r for r in few)
    assert "1. Tango (2000): Sci-Fi" in zero[0] and "3. Yankee (2000): Drama, Comedy" in zero[0]
    assert "1. Uniform (2000): Western" in zero[1]
    first = next(r for r in scripted.requests if "Tango" in r["messages"][-1]["content"])
    assert first["response_format"]["json_schema"]["schema"]["required"] == ["film_1", "film_2", "film_3"]
    assert first["temperature"] == 0.0 and first["seed"] == 7


def test_llm_batches_run_at_bounded_concurrency(make_llm, scripted):
    scripted.respond = scripted_classes
    scripted.hold_until_together(2)
    one = split(movielens_critic(1, ratings=ratings_frame({1: 5})), k=2, seed=0, test_per_class=3,
                validation_per_class=0)  # 9 test films, 5 batches of 2 or 1
    llm = make_llm(concurrency=2)
    assert [p.movie_id for p in llm_ratings(llm, one, few_shot=False, batch_size=2)] == [f.movie_id for f in one.test]
    assert len(scripted.requests) == 5 and scripted.max_in_flight == 2


def test_a_failing_llm_method_gets_an_error_row_and_the_run_goes_on(make_llm, scripted):
    scripted.respond = lambda request: Reply(content='{"film_1": "superb"}')
    llm = make_llm()
    table = run_methods(llm, [hand_split()], ["mean", "zero_shot"], ratings=frame())
    assert list(table["method"]) == ["mean", "zero_shot"]
    failed = table.iloc[1]
    assert "did not validate as FilmClasses" in failed["error"] and math.isnan(failed["macro_f1"])
    assert failed["model"] == MODEL and scripted.url in failed["backend"]
    assert table.iloc[0]["error"] == "" and table.iloc[0]["backend"] == ""
    totals = summarise(table).set_index("method")
    assert totals.loc["zero_shot", "failed"] == 1 and totals.loc["mean", "failed"] == 0
    assert totals.loc["mean", "macro_f1_mean"] == pytest.approx(table.iloc[0]["macro_f1"])
    with pytest.raises(LLMError, match="did not validate as FilmClasses"):
        llm_ratings(llm, hand_split(), few_shot=True)


@pytest.mark.embedded
def test_the_llm_baselines_on_the_embedded_model(tmp_path):
    """The real SmolLM2 on a tiny MovieLens split: structure only, its classes mean nothing."""
    store = Store(tmp_path / "vt.duckdb")
    llm = LLM.from_settings(Settings.from_env({"VT_DB_PATH": str(tmp_path / "vt.duckdb")}), store)
    one = split(movielens_critic(choose_critics(1, 5, seed=0)[0]), k=2, seed=0, test_per_class=1,
                validation_per_class=0)
    table = run_methods(llm, [one], ["zero_shot", "few_shot"])
    assert list(table["method"]) == ["zero_shot", "few_shot"] and set(table["error"]) == {""}
    assert table["macro_f1"].between(0, 1).all() and table["accuracy"].between(0, 1).all()
    assert table["mae"].between(0, 4.5).all()
    assert set(table["backend"]) == {llm.backend.describe()} and "SmolLM2" in table["model"].iloc[0]
