"""Run ids given as a unique start, as git takes commits, against a real sqlite store; and the ids compare shows."""

from __future__ import annotations

import types

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.tracking import sqlalchemy_store
from mlflow.tracking import MlflowClient

from cnnlab.errors import CnnlabError
from cnnlab.tracking.compare import compare_runs
from cnnlab.tracking.run_ids import StoreRunIds, find_run
from cnnlab.tracking.source import _get_run
from tests.conftest import cli, migrated_store

# MLflow picks run ids at random; these are chosen (see `store`) so that starts are shared.
TWIN_1 = "abcdef0123" + "1" * 22
TWIN_2 = "abcdef0123" + "2" * 22  # shares 10 characters with TWIN_1: both are shown with 11
COUSIN = "abcd9" + "3" * 27  # shares "abcd" with the twins
LONER = "5678" + "4" * 28
GONE = "dead" + "5" * 28  # a deleted run


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MlflowClient:
    """Runs with the ids above, in two experiments; MLflow's store makes them as always, with the id it draws
    (`uuid.uuid4().hex` in its sqlalchemy store) replaced by ours."""
    client = MlflowClient(migrated_store(tmp_path_factory.mktemp("run-ids") / "mlflow.db"))
    first, second = client.create_experiment("first"), client.create_experiment("second")
    runs = [(first, "twin1", TWIN_1), (second, "twin2", TWIN_2), (first, "cousin", COUSIN), (second, "loner", LONER),
            (first, "gone", GONE)]  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        for experiment_id, name, run_id in runs:
            chosen = types.SimpleNamespace(uuid4=lambda run_id=run_id: types.SimpleNamespace(hex=run_id))
            patch.setattr(sqlalchemy_store, "uuid", chosen)
            assert client.create_run(experiment_id, run_name=name).info.run_id == run_id
            client.set_terminated(run_id)
    client.delete_run(GONE)
    return client


def test_a_full_id_or_a_unique_start_names_its_run_and_no_match_is_told_as_before(store: MlflowClient) -> None:
    for ref in [LONER, LONER[:4], LONER[:9], TWIN_1[:11], COUSIN[:5]]:
        assert _get_run(store, ref).info.run_id.startswith(ref)
    for ref in ["0123abcd", GONE[:8], "lr0.1", "0" * 32]:  # a deleted run is not found by a start of its id
        with pytest.raises(CnnlabError, match=f"^no run {ref} in sqlite:///"):
            _get_run(store, ref)


@pytest.mark.parametrize(
    ("ref", "candidates"),
    [("abcd", ["abcdef01231 (twin1)", "abcdef01232 (twin2)", "abcd9333 (cousin)"]),
     ("abcdef0123", ["abcdef01231 (twin1)", "abcdef01232 (twin2)"])],
)  # fmt: skip
def test_a_shared_start_names_the_candidates(store: MlflowClient, ref: str, candidates: list[str]) -> None:
    with pytest.raises(CnnlabError, match=f"^run {ref}: {len(candidates)} runs have ids starting {ref}: ") as raised:
        _get_run(store, ref)
    message = str(raised.value)
    assert all(candidate in message for candidate in candidates) and message.endswith("; give more characters")


def test_too_short_a_start_asks_for_more(store: MlflowClient) -> None:
    with pytest.raises(CnnlabError, match="^run 567: too short to name a run; give at least 4 characters of its id"):
        _get_run(store, "567")


def test_predict_takes_a_start_and_refuses_a_shared_one_in_one_line(store: MlflowClient, capfd, tmp_path) -> None:
    out = str(tmp_path / "predictions")
    found = cli(capfd, "predict", LONER[:6], "x.png", "--out-dir", out, store=store.tracking_uri)
    # The run was found (by its full id): it is no cnnlab training run, so it has nothing to predict with.
    assert found.returncode == 1 and f"run {LONER} has no config.yaml artifact" in found.stderr
    shared = cli(capfd, "predict", "abcd", "x.png", "--out-dir", out, store=store.tracking_uri)
    assert shared.returncode == 1 and shared.stderr.count("\n") == 1
    assert shared.stderr.startswith("cnnlab: error: run abcd: 3 runs have ids starting abcd: ")


def test_the_start_shown_is_the_shortest_no_other_run_shares(store: MlflowClient) -> None:
    ids = StoreRunIds(store)
    shown = {run_id: ids.shortest_unique(run_id) for run_id in (TWIN_1, TWIN_2, COUSIN, LONER)}
    assert shown == {TWIN_1: TWIN_1[:11], TWIN_2: TWIN_2[:11], COUSIN: COUSIN[:8], LONER: LONER[:8]}
    assert all(find_run(store, start, label="run").info.run_id == run_id for run_id, start in shown.items())


def test_a_store_that_cannot_search_ids_is_listed_once_and_matched_here(store: MlflowClient, monkeypatch) -> None:
    searches: list[str] = []
    search_runs = store.search_runs

    def without_like(experiment_ids, filter_string="", **kwargs):
        searches.append(filter_string)
        if "LIKE" in filter_string:
            raise MlflowException("Invalid comparator 'LIKE'", error_code=INVALID_PARAMETER_VALUE)
        return search_runs(experiment_ids, filter_string=filter_string, **kwargs)

    monkeypatch.setattr(store, "search_runs", without_like)
    ids = StoreRunIds(store)
    assert {run.info.run_name for run in ids.starting_with("abcd")} == {"twin1", "twin2", "cousin"}
    assert ids.shortest_unique(TWIN_2) == TWIN_2[:11] and ids.shortest_unique(LONER) == LONER[:8]
    assert searches == ["attributes.run_id LIKE 'abcd%'", ""]  # then no more searches: the listing is kept


def test_ids_a_comparison_shows_are_accepted_back(store: MlflowClient) -> None:
    store.log_metric(TWIN_1, "val/acc", 0.9)
    store.log_metric(TWIN_2, "val/acc", 0.8)
    table = compare_runs(store, experiment="first")
    run_column = [row[1] for row in table.rows]
    assert run_column == [TWIN_1[:11], COUSIN[:8]]
    assert [_get_run(store, shown).info.run_id for shown in run_column] == [TWIN_1, COUSIN]
