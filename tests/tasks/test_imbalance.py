"""Imbalanced classes: class weights, the balancing sampler and the focal loss each lift balanced accuracy on a
generated 95/5 folder, where plain cross-entropy predicts the common class for everything."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient
from PIL import Image

from cnnlab.data.epochs import EpochWeighted, balancing_weights
from cnnlab.dispatch import train
from cnnlab.errors import CnnlabError
from cnnlab.tasks.imbalance import class_weight_tensor


def write_split(root: Path, counts: dict[str, int], seed: int) -> None:
    """8x8 noisy images whose mean brightness tells the class (110 or 145, noise 40 per pixel)."""
    rng = np.random.default_rng(seed)
    for name, count in counts.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(count):
            pixels = rng.normal({"common": 110, "rare": 145}[name], 40, (8, 8, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{i}.png")


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/ 95 % common, 5 % rare; val/ and test/ balanced, so that balanced accuracy is the honest score."""
    root = tmp_path_factory.mktemp("imbalanced")
    write_split(root / "train", {"common": 285, "rare": 15}, seed=0)
    write_split(root / "val", {"common": 40, "rare": 40}, seed=1)
    write_split(root / "test", {"common": 40, "rare": 40}, seed=2)
    return root


def test_each_remedy_lifts_balanced_accuracy(imbalanced: Path, make_config, store: str) -> None:
    base = [f"data.root={imbalanced}", "data=imagefolder", "data.image_size=8", "data.batch_size=16",
            "trainer.max_epochs=4", "trainer.enable_progress_bar=false", "tracking.log_model=false"]  # fmt: skip
    scores = {}
    for remedy in ("", "task.class_weights=auto", "data.sampler=weighted", "task.loss=focal"):
        scores[remedy] = train(make_config(*base, *([remedy] if remedy else [])))["test/balanced_acc"]
    assert scores[""] <= 0.6, scores  # plain cross-entropy: (nearly) all common
    assert all(score >= 0.8 for remedy, score in scores.items() if remedy), scores
    client = MlflowClient(store)
    run = client.search_runs([client.get_experiment_by_name("classification").experiment_id])[0]
    for name in ("common", "rare"):
        assert 0 <= run.data.metrics[f"test/recall_per_class/{name}"] <= 1
        assert 0 <= run.data.metrics[f"test/precision_per_class/{name}"] <= 1


def test_auto_weights_are_balanced_inverse_frequencies() -> None:
    weights = class_weight_tensor("auto", [90, 10, 0], ["a", "b", "never"])
    # scikit-learn's "balanced": n / (classes present x count); a class the split lacks is never a target
    assert weights.tolist() == pytest.approx([100 / (2 * 90), 100 / (2 * 10), 0.0])
    assert class_weight_tensor([1, 3], None, ["a", "b"]).tolist() == [1.0, 3.0]
    assert class_weight_tensor(None, [1, 2], ["a", "b"]) is None
    with pytest.raises(CnnlabError, match=r"task.class_weights has 3 weight\(s\) but the data has 2 classes"):
        class_weight_tensor([1, 2, 3], None, ["a", "b"])


def test_the_weighted_sampler_balances_and_repeats_per_epoch() -> None:
    labels = [0] * 95 + [1] * 5
    epoch = 0
    sampler = EpochWeighted(balancing_weights(labels), seed=3, current_epoch=lambda: epoch)
    first = list(sampler)
    assert first == list(sampler)  # the same epoch draws the same: resumed runs repeat
    epoch = 1
    assert list(sampler) != first
    drawn = Counter(labels[index] for _, index in first)
    assert len(first) == 100 and 30 <= drawn[1] <= 70  # about half rare, from 5 % of the samples


def test_focal_loss_down_weights_easy_examples() -> None:
    from cnnlab.tasks.imbalance import focal_loss

    logits = torch.tensor([[4.0, -4.0], [0.2, 0.0]])  # one confident and right, one unsure
    labels = torch.tensor([0, 0])
    plain = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    focal = torch.stack([focal_loss(logits[i : i + 1], labels[i : i + 1], gamma=2.0, weights=None) for i in range(2)])
    assert (focal < plain).all() and focal[0] / plain[0] < focal[1] / plain[1]
    assert focal_loss(logits, labels, gamma=0.0, weights=None) == pytest.approx(plain.mean().item(), rel=1e-5)


def test_text_classification_takes_the_same_remedies(make_config, store: str) -> None:
    from tests.conftest import FAST

    remedies = ["task.class_weights=auto", "task.loss=focal", "data.sampler=weighted", "task.monitor=val/balanced_acc"]
    metrics = train(make_config("task=text", *FAST, "tracking.log_model=false", *remedies))
    assert 0 <= metrics["test/balanced_acc"] <= 1 and "val/balanced_acc" in metrics
