"""`python -m vt_core critic` as a user runs it: a subprocess against a scripted endpoint over real HTTP."""

import pandas as pd

from tests.scripted_server import MODEL, Reply, ScriptedServer
from tests.scripted_worlds import TasteWorld
from tests.test_cli import cli
from tests.test_critic_baselines import scripted_classes
from vt_core.critic.run import COLUMNS

METHODS = ["mean", "genre_means", "item_knn", "zero_shot", "few_shot", "tuning"]


def baseline_prompt(request: dict) -> bool:
    return request["messages"][0]["content"].startswith("You predict how")


def every_part(request: dict) -> Reply:
    """The LLM baselines' prompts answered by title, taste tuning's by the scripted taste world."""
    return scripted_classes(request) if baseline_prompt(request) else TasteWorld()(request)


def test_the_critic_command_runs_every_method_and_writes_results_and_a_summary(tmp_path):
    out = tmp_path / "critic"
    with ScriptedServer(respond=every_part) as server:
        result = cli(["critic", "--users", "2", "--k", "5", "--seed", "0", "1", "--test-per-class", "3",
                      "--validation-per-class", "2", "--batch-size", "5", "--out", str(out)],
                     {"OPENAI_BASE_URL": server.url}, tmp_path)
        baseline_requests = sum(map(baseline_prompt, server.requests))
    assert result.returncode == 0, result.stderr
    results = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert tuple(results.columns) == COLUMNS
    assert len(results) == 2 * 2 * len(METHODS)  # critics x seeds x methods
    assert results["critic"].nunique() == 2 and set(results["seed"]) == {0, 1}
    assert set(results["n_test"]) == {9} and set(results["k"]) == {5} and set(results["error"]) == {""}
    assert baseline_requests == 2 * 2 * 2 * 2  # critics x seeds x LLM baselines x batches (5 + 4 films)
    llm_rows = results[results["method"].isin(["zero_shot", "few_shot", "tuning"])]
    assert set(llm_rows["model"]) == {MODEL} and all(server.url in b for b in llm_rows["backend"])
    assert set(results[results["method"] == "mean"]["model"]) == {""}
    assert results["macro_f1"].astype(float).between(0, 1).all()

    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["method"]) == METHODS and set(summary["runs"]) == {4} and set(summary["failed"]) == {0}
    mean_f1 = results[results["method"] == "item_knn"]["macro_f1"].astype(float)
    assert summary.set_index("method").loc["item_knn", "macro_f1_mean"] == mean_f1.mean()
    markdown = (out / "summary.md").read_text()
    assert "2 MovieLens critics, K=5 per class, seeds 0, 1, 3 test films per class" in markdown
    assert f"Backend of the LLM methods: endpoint {server.url}" in markdown
    assert "| few_shot | 4 | 0 |" in markdown and "| tuning | 4 | 0 |" in markdown
    assert markdown in result.stdout


def test_the_critic_command_refuses_bad_requests_clearly(tmp_path):
    result = cli(["critic", "--users", "1", "--out", str(tmp_path / "o"), "--methods", "mean", "oracle"],
                 {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}, tmp_path)
    assert result.returncode == 1
    assert "critic: FAILED: unknown method oracle; choose from mean, genre_means, item_knn" in result.stderr
    result = cli(["critic", "--users", "5000", "--out", str(tmp_path / "o")], {}, tmp_path)
    assert result.returncode == 1
    assert "critic: FAILED: only" in result.stderr and "asked for 5000" in result.stderr
    assert not (tmp_path / "o").exists()
