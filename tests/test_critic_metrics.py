"""Metrics against cases worked by hand (the arithmetic is in the comments)."""

import math

import pytest

from vt_core.critic.data import Critic, Film, Split, Thresholds
from vt_core.critic.metrics import Prediction, class_means, confusion, fill_ratings, score, score_predictions


def test_a_mixed_case():
    s = score(["low", "mid", "high", "high"], ["low", "high", "high", "mid"], [1, 3, 4, 5], [1, 4, 4, 3])
    assert s.accuracy == 0.5 and s.n == 4
    assert s.recall == {"low": 1.0, "mid": 0.0, "high": 0.5}
    # F1 = 2TP/(2TP+FP+FN): low 2/2 = 1, mid 0/(0+1+1) = 0, high 2/(2+1+1) = 0.5
    assert s.macro_f1 == pytest.approx(0.5)
    assert s.mae == pytest.approx((0 + 1 + 0 + 2) / 4)
    assert s.recall_spread == 1.0


def test_a_class_predicted_but_absent_from_the_truth_counts_with_f1_zero():
    s = score(["low", "low", "high"], ["low", "mid", "high"])
    assert s.recall["low"] == 0.5 and s.recall["high"] == 1.0 and math.isnan(s.recall["mid"])
    # low 2/(2+0+1) = 2/3, mid 0/(0+1+0) = 0, high 1
    assert s.macro_f1 == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert s.recall_spread == 0.5  # over low and high only
    assert s.mae is None


def test_a_class_absent_from_truth_and_predictions_is_left_out():
    s = score(["low", "high", "high"], ["low", "high", "low"])
    # low 2/(2+1+0) = 2/3, high 2/(2+0+1) = 2/3; mid is in neither and does not count
    assert s.macro_f1 == pytest.approx(2 / 3)
    assert s.recall_spread == 0.5 and s.accuracy == pytest.approx(2 / 3)


def test_one_class_in_the_truth_has_no_spread():
    s = score(["mid", "mid"], ["mid", "low"])
    assert s.recall["mid"] == 0.5 and s.recall_spread == 0.0
    assert s.macro_f1 == pytest.approx((2 / 3 + 0) / 2)  # mid 2/(2+0+1), low 0/(0+1+0)


def test_perfect_predictions():
    s = score(["low", "mid", "high"], ["low", "mid", "high"], [1, 3, 5], [1, 3, 5])
    assert (s.accuracy, s.macro_f1, s.mae, s.recall_spread) == (1.0, 1.0, 0.0, 0.0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="2 true labels but 1 predicted"):
        score(["low", "mid"], ["low"])
    with pytest.raises(ValueError, match="predicted labels must be one of low, mid, high; got great"):
        score(["low"], ["great"])
    with pytest.raises(ValueError, match="no films"):
        score([], [])
    with pytest.raises(ValueError, match="a predicted rating is missing"):
        score(["low"], ["low"], [1.0], [None])


def film(movie_id: int, rating: float) -> Film:
    return Film(movie_id, f"film {movie_id}", 2000, (), rating, Thresholds().classify(rating))


def hand_split() -> Split:
    train = (film(1, 1.0), film(2, 2.0), film(3, 3.0), film(4, 5.0), film(5, 4.0))
    test = (film(10, 2.0), film(11, 3.5), film(12, 4.5))
    critic = Critic("hand", train + test, Thresholds(), (0.5, 5.0), "test")
    return Split(critic, k=1, seed=0, train=train, validation=(), test=test)


def test_class_means_stand_in_for_label_only_predictions():
    one = hand_split()
    assert class_means(one.train) == {"low": 1.5, "mid": 3.0, "high": 4.5}
    filled = fill_ratings([Prediction(10, "high", None), Prediction(11, "mid", 3.2)], one.train)
    assert filled == [Prediction(10, "high", 4.5), Prediction(11, "mid", 3.2)]


def test_score_predictions_matches_films_by_id_in_any_order():
    one = hand_split()
    predictions = [Prediction(12, "high", None), Prediction(10, "low", 2.5), Prediction(11, "low", None)]
    s = score_predictions(one, predictions)
    assert s.recall == {"low": 1.0, "mid": 0.0, "high": 1.0}
    assert s.mae == pytest.approx((0.5 + abs(3.5 - 1.5) + 0) / 3)  # low stands for 1.5, high for 4.5
    with pytest.raises(ValueError, match="must cover the 3 test films once each; missing: film 11"):
        score_predictions(one, predictions[:2])
    with pytest.raises(ValueError, match="got 4"):
        score_predictions(one, [*predictions, Prediction(99, "low", 1.0)])
    with pytest.raises(ValueError, match="got 4"):
        score_predictions(one, [*predictions, Prediction(10, "mid", 3.0)])


def test_confusion_has_every_class():
    table = confusion(["low", "low", "high"], ["low", "mid", "mid"])
    assert list(table.index) == ["low", "mid", "high"] and list(table.columns) == ["low", "mid", "high"]
    assert table.values.tolist() == [[1, 1, 0], [0, 0, 0], [0, 1, 0]]
    assert (table.index.name, table.columns.name) == ("truth", "predicted")
