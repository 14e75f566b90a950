"""Every registered backbone builds a classifier that runs forward and backward at the data's input size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.models import BACKBONES, backbones_for, build_classifier

PASSTHROUGH_MODELS = {"torchvision": "mobilenet_v3_small", "timm": "resnet10t"}


def settings(name: str, **extra) -> dict:
    base = {"name": name, "pretrained": False, "weights_path": None}
    if name in PASSTHROUGH_MODELS:
        base["model"] = PASSTHROUGH_MODELS[name]
    return {**base, **extra}


@pytest.mark.parametrize("name", backbones_for("classification"))
@pytest.mark.parametrize(("channels", "size"), [(1, 8), (3, 32)], ids=["digits-1x8x8", "rgb-3x32x32"])
def test_backbone_forward_backward(name: str, channels: int, size: int) -> None:
    torch.manual_seed(0)
    model = build_classifier(settings(name), in_channels=channels, num_classes=7, image_size=(size, size))
    images = torch.randn(2, channels, size, size)
    logits = model(images)
    assert logits.shape == (2, 7)
    logits.logsumexp(dim=1).sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_simple_cnn_is_the_seed_net() -> None:
    model = build_classifier(settings("simple_cnn"), in_channels=1, num_classes=10, image_size=(28, 28))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(c.out_channels, c.kernel_size, c.padding) for c in convs] == [(32, (3, 3), (1, 1)), (64, (3, 3), (1, 1))]
    assert [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(64 * 7 * 7, 128), (128, 10)]


def test_simple_cnn_options_change_the_net() -> None:
    model = build_classifier(
        settings("simple_cnn", filters=[8, 16, 32], pool="avg", batch_norm=True, fc_width=20, dropout=0.5),
        in_channels=3, num_classes=4, image_size=(32, 32),
    )  # fmt: skip
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 3
    assert sum(isinstance(m, nn.AvgPool2d) for m in model.modules()) == 3
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)


def test_small_inputs_are_upsampled_to_the_minimum_size() -> None:
    model = build_classifier(settings("lenet5"), in_channels=1, num_classes=10, image_size=(8, 8))
    assert model[0].size == (32, 32)


def test_unknown_backbone_lists_valid_names() -> None:
    with pytest.raises(CnnlabError, match="unknown backbone 'nope'; valid choices: alexnet, efficientnet-b0, lenet5"):
        build_classifier(settings("nope"), in_channels=1, num_classes=2, image_size=(8, 8))


def test_unknown_backbone_setting_is_named() -> None:
    with pytest.raises(CnnlabError, match=r"backbone.depth is not a setting of backbone=resnet18"):
        build_classifier(settings("resnet18", depth=3), in_channels=1, num_classes=2, image_size=(8, 8))


def test_pretrained_without_weights_is_refused() -> None:
    with pytest.raises(CnnlabError, match="has no pretrained weights"):
        build_classifier(settings("simple_cnn", pretrained=True), in_channels=1, num_classes=2, image_size=(8, 8))


def test_pretrained_offline_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from urllib.error import URLError

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline, raising=False)
    with pytest.raises(CnnlabError, match=r"could not download resnet18 weights .* backbone.weights_path=FILE"):
        build_classifier(settings("resnet18", pretrained=True), in_channels=3, num_classes=2, image_size=(32, 32))


def test_local_weights_file_is_loaded_and_adapted(tmp_path: Path) -> None:
    source = torchvision.models.resnet18()
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    model = build_classifier(
        settings("resnet18", pretrained=True, weights_path=str(tmp_path / "resnet18.pth")),
        in_channels=1, num_classes=5, image_size=(32, 32),
    )  # fmt: skip
    expected = source.conv1.weight.mean(dim=1, keepdim=True) * 3
    assert torch.allclose(model.conv1.weight, expected)
    assert torch.equal(model.layer1[0].conv1.weight, source.layer1[0].conv1.weight)
    assert model.fc.out_features == 5


def test_missing_weights_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CnnlabError, match="backbone.weights_path=.*does not exist"):
        build_classifier(
            settings("vgg11", pretrained=True, weights_path=str(tmp_path / "none.pth")),
            in_channels=3, num_classes=2, image_size=(32, 32),
        )  # fmt: skip


def test_passthrough_rejects_unknown_model() -> None:
    with pytest.raises(CnnlabError, match="backbone.model=not_a_net is not a torchvision classifier"):
        build_classifier(settings("torchvision", model="not_a_net"), in_channels=3, num_classes=2, image_size=(32, 32))
    with pytest.raises(CnnlabError, match="backbone.model=not_a_net is not a timm model"):
        build_classifier(settings("timm", model="not_a_net"), in_channels=3, num_classes=2, image_size=(32, 32))


def test_every_backbone_serves_images_or_text() -> None:
    assert backbones_for("text") == ["textcnn"]
    assert sorted(backbones_for("classification") + backbones_for("text")) == BACKBONES.names()


def test_the_mlp_baseline_has_the_parameters_its_config_says_and_learns() -> None:
    from cnnlab.models.mlp import mlp_parameters

    model = build_classifier(settings("mlp", hidden=[64, 32], dropout=0.1), in_channels=3, num_classes=10,
                             image_size=(32, 32))  # fmt: skip
    assert sum(p.numel() for p in model.parameters()) == mlp_parameters(3 * 32 * 32, [64, 32], 10)
    assert mlp_parameters(3 * 32 * 32, [64, 32], 10) == (3072 + 1) * 64 + (64 + 1) * 32 + (32 + 1) * 10
    assert not [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    images, labels = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(20):  # it can fit a batch: gradients reach every layer
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_simple_cnn_layers_have_the_primers_output_dimensions_and_receptive_fields() -> None:
    from cnnlab.models.layer_table import format_layer_table, layer_table

    model = build_classifier(settings("simple_cnn"), in_channels=3, num_classes=10, image_size=(32, 32))
    rows = layer_table(model, torch.zeros(1, 3, 32, 32))
    maps = [(r.kind, r.shape_text(), r.receptive_field) for r in rows if r.kind in ("Conv2d", "MaxPool2d")]
    assert maps == [("Conv2d", "32×32×32", 3), ("MaxPool2d", "16×16×32", 4),
                    ("Conv2d", "16×16×64", 8), ("MaxPool2d", "8×8×64", 10)]  # fmt: skip
    assert sum(r.parameters for r in rows) == sum(p.numel() for p in model.parameters())
    assert "features.0    Conv2d     32×32×32  896" in format_layer_table(rows)
    assert model.training  # traced in eval mode, handed back as it came


def test_receptive_fields_follow_the_main_path_of_a_residual_network_and_views_in_a_text_cnn() -> None:
    import torchvision

    from cnnlab.models.layer_table import layer_table
    from cnnlab.models.textcnn import TextCNN

    rows = layer_table(torchvision.models.resnet18(num_classes=3), torch.zeros(1, 3, 64, 64))
    fields = {r.name: r.receptive_field for r in rows}
    assert (fields["conv1"], fields["maxpool"], fields["layer4.1.conv2"], fields["fc"]) == (7, 11, 435, None)
    text = layer_table(TextCNN(vocab_size=50, num_classes=2, embedding_dim=8, maps=4), torch.zeros(1, 20).long())
    assert [r.receptive_field for r in text if r.kind == "Conv1d"] == [3, 4, 5]  # each window its own n-gram
