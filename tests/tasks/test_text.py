"""Text classification end to end: MLflow metrics, vocabulary, tokeniser and misclassified artifacts, the model;
k-fold CV as nested runs; checkpoints that restore without the vectors file."""

from __future__ import annotations

from pathlib import Path

import mlflow
import torch
from mlflow.tracking import MlflowClient

from cnnlab.dispatch import train
from cnnlab.tasks import TextClassificationTask
from tests.conftest import FAST

TINY = ["task=text", "backbone.embedding_dim=16", "backbone.maps=4", "data.batch_size=16", *FAST]


def write_topics(path: Path) -> Path:
    """Two topics a model separates by vocabulary alone."""
    lines = [f"sport the {w} won the match {i}" for i, w in enumerate(["team", "club", "side"] * 6)]
    lines += [f"cook the {w} in the oven {i}" for i, w in enumerate(["bread", "fish", "cake"] * 6)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pydocs_run_logs_metrics_vocabulary_and_a_model_taking_any_length(make_config, store, tmp_path) -> None:
    metrics = train(make_config(*TINY, f"data.root={tmp_path / 'pydocs'}"))
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("text").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["cnnlab.backbone"] == "textcnn"
    assert {"train/loss_epoch", "val/acc", "val/f1", "test/acc", "test/f1", "test/acc_per_class/email"} <= set(
        run.data.metrics
    )
    assert 0.0 <= metrics["test/acc"] <= 1.0
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"vocabulary.txt", "tokenizer.json", "misclassified.tsv", "confusion_matrix.png"} <= artifacts
    vocabulary = Path(client.download_artifacts(run.info.run_id, "vocabulary.txt", str(tmp_path))).read_text()
    assert vocabulary.splitlines()[:2] == ["<pad>", "<unk>"]
    model = mlflow.pytorch.load_model(f"runs:/{run.info.run_id}/model")
    for length in (3, 40):
        assert model(torch.randint(0, 100, (5, length))).shape == (5, 8)


def test_cross_validation_runs_one_child_per_fold_under_a_parent(make_config, store, tmp_path) -> None:
    train_file = write_topics(tmp_path / "topics.txt")
    metrics = train(make_config(*TINY, "data=text_prefixed", f"data.train={train_file}", "data.cv_folds=3",
                                "tracking.log_model=false"))  # fmt: skip
    client = MlflowClient(store)
    found = client.search_runs([client.get_experiment_by_name("text").experiment_id])
    parents = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1 and len(children) == 3
    assert sorted(r.data.params["data.fold"] for r in children) == ["0", "1", "2"]
    accuracies = [r.data.metrics["test/acc"] for r in children]
    parent = parents[0].data.metrics
    assert abs(parent["cv/test/acc_mean"] - sum(accuracies) / 3) < 1e-6 and "cv/test/acc_std" in parent
    assert metrics["test/acc"] == parent["cv/test/acc_mean"]
    assert "folds.csv" in {a.path for a in client.list_artifacts(parents[0].info.run_id)}


def test_a_checkpoint_restores_without_hydra_or_the_vectors_file(make_config, store, tmp_path) -> None:
    train_file = write_topics(tmp_path / "topics.txt")
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("".join(f"{w} " + " ".join(["0.1"] * 16) + "\n" for w in ("the", "match", "oven")))
    cfg = make_config(*TINY, "data=text_prefixed", f"data.train={train_file}", "backbone.mode=multichannel",
                      f"backbone.vectors={vectors}", "tracking.log_model=false")  # fmt: skip
    train(cfg)
    vectors.unlink()
    restored = TextClassificationTask.load_from_checkpoint(
        Path(cfg.run_dir) / "checkpoints" / "best.ckpt", load_vectors=False
    )
    ids = torch.tensor([[restored.vocabulary.index["the"], restored.vocabulary.index["oven"], 1]])
    assert restored(ids).shape == (1, 2) and restored.vocabulary.tokens[:2] == ["<pad>", "<unk>"]
