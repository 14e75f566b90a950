"""The run lifecycle against a real sqlite store: every run ends FINISHED, FAILED or KILLED, never RUNNING."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cnnlab.tracking.run import tracked_run
from cnnlab.tracking.tags import ERROR_TAG


def start(tmp_path: Path, **overrides):
    settings = {
        "tracking_uri": "sqlite:///unused.db", "experiment": "lifecycle", "run_name": "r",
        "config": {"seed": 1, "optimizer": {"lr": 0.1}}, "tags": {"cnnlab.task": "classification"},
        "artifact_root": str(tmp_path / "artifacts"),
    }  # fmt: skip
    return tracked_run(**{**settings, **overrides})


def only_run(store: str):
    client = MlflowClient(store)
    runs = client.search_runs([client.get_experiment_by_name("lifecycle").experiment_id])
    assert len(runs) == 1
    return runs[0]


def test_success_finishes_with_params_tags_and_config(store: str, tmp_path: Path) -> None:
    with start(tmp_path) as run:
        assert MlflowClient(store).get_run(run.run_id).info.status == "RUNNING"
    record = only_run(store)
    assert record.info.status == "FINISHED"
    assert record.data.params == {"seed": "1", "optimizer.lr": "0.1"}
    assert record.data.tags["cnnlab.task"] == "classification" and "cnnlab.git_commit" in record.data.tags
    assert record.info.artifact_uri.startswith((tmp_path / "artifacts" / "lifecycle").as_uri())
    assert [a.path for a in MlflowClient(store).list_artifacts(record.info.run_id)] == ["config.yaml"]


def test_exception_marks_failed_with_the_message(store: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError), start(tmp_path):
        raise ValueError("loss is nan at step 7")
    record = only_run(store)
    assert record.info.status == "FAILED"
    assert record.data.tags[ERROR_TAG] == "ValueError: loss is nan at step 7"


def test_interrupt_marks_killed(store: str, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), start(tmp_path):
        raise KeyboardInterrupt
    assert only_run(store).info.status == "KILLED"


def test_environment_uri_wins_over_config(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with start(tmp_path, tracking_uri="sqlite:///configured.db") as run:
        assert run.tracking_uri == store
    assert not (tmp_path / "configured.db").exists()


def test_configured_relative_sqlite_store_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    with start(tmp_path, tracking_uri="sqlite:///outputs/mlflow/mlflow.db") as run:
        pass
    assert (tmp_path / "outputs" / "mlflow" / "mlflow.db").is_file()
    assert MlflowClient(run.tracking_uri).get_run(run.run_id).info.status == "FINISHED"


def test_bookkeeping_settings_are_tags_and_the_uri_is_the_store_used(store: str, tmp_path: Path) -> None:
    config = {"seed": 1, "run_dir": str(tmp_path / "run"), "resume": None,
              "tracking": {"uri": "sqlite:///config-default.db", "log_model": True}}  # fmt: skip
    with start(tmp_path, config=config):
        pass
    record = only_run(store)
    assert record.data.params == {"seed": "1"}  # compare views show recipes, not where files went
    tags = record.data.tags
    assert tags["cnnlab.setting.tracking.uri"] == store and tags["cnnlab.setting.resume"] == "None"
    assert tags["cnnlab.setting.tracking.log_model"] == "True"
    logged = MlflowClient(store).download_artifacts(record.info.run_id, "config.yaml", str(tmp_path))
    assert f"uri: {store}" in Path(logged).read_text()


def test_a_taken_run_name_gets_the_next_free_suffix(store: str, tmp_path: Path) -> None:
    names = []
    for _ in range(3):
        with start(tmp_path, run_name="lenet5-digits-s42") as run:
            names.append(run.run_name)
    with start(tmp_path, run_name="lenet5-digits") as run:  # a prefix of the others is a name of its own
        names.append(run.run_name)
    assert names == ["lenet5-digits-s42", "lenet5-digits-s42-2", "lenet5-digits-s42-3", "lenet5-digits"]


def test_the_end_line_says_how_to_browse_the_store_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnlab.tracking.store import DEFAULT_URI, browse_hint, resolve_tracking_uri

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "Makefile").touch()  # a checkout of cnnlab, where `make ui` serves the default store
    assert browse_hint(resolve_tracking_uri(DEFAULT_URI)) == "browse with `make ui`"
    other = "sqlite:////data/my runs.db"
    assert browse_hint(other) == f"browse with `mlflow ui --backend-store-uri '{other}'`"
    assert browse_hint("http://127.0.0.1:5000") == "open http://127.0.0.1:5000 in a browser"
