"""Every smp architecture builds on two encoders from the backbone group and gives per-pixel logits."""

from __future__ import annotations

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.models.segmentation import build_segmenter, segmentation_architectures

# DPT takes only timm ViT encoders; PAN's pyramid pooling needs 128 px; everything else runs on 64 px.
ENCODERS = {
    "DPT": [{"name": "timm", "model": "vit_tiny_patch16_224"}, {"name": "timm", "model": "deit_tiny_patch16_224"}]
}
SIZES = {"DPT": 224, "PAN": 128}
CASES = [
    (arch, encoder)
    for arch in segmentation_architectures()
    for encoder in ENCODERS.get(arch, [{"name": "resnet18"}, {"name": "mobilenet_v2"}])
]


@pytest.mark.parametrize(("arch", "backbone"), CASES, ids=[f"{a}-{b.get('model', b['name'])}" for a, b in CASES])
def test_architecture_gives_pixel_logits(arch: str, backbone: dict) -> None:
    torch.manual_seed(0)
    size = SIZES.get(arch, 64)
    model = build_segmenter({**backbone, "pretrained": False}, arch=arch, in_channels=3, num_classes=4).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, size, size))
    assert logits.shape == (2, 4, size, size) and torch.isfinite(logits).all()


def test_grayscale_input_and_binary_output() -> None:
    model = build_segmenter({"name": "resnet18"}, arch="FPN", in_channels=1, num_classes=1).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 1, 64, 64)


def test_unknown_architecture_lists_valid_ones() -> None:
    with pytest.raises(
        CnnlabError, match="task.arch=Unet3000 is not an smp architecture; valid: .*DeepLabV3Plus.*Unet"
    ):
        build_segmenter({"name": "resnet18"}, arch="Unet3000", in_channels=3, num_classes=2)


def test_backbone_without_encoder_is_refused() -> None:
    with pytest.raises(CnnlabError, match="backbone=simple_cnn cannot serve task=segmentation; valid backbones"):
        build_segmenter({"name": "simple_cnn"}, arch="Unet", in_channels=3, num_classes=2)


def test_architecture_encoder_mismatch_is_one_line() -> None:
    with pytest.raises(CnnlabError, match="task.arch=DPT with backbone=resnet18: Only Timm encoders"):
        build_segmenter({"name": "resnet18"}, arch="DPT", in_channels=3, num_classes=2)


def test_pretrained_encoder_offline_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import huggingface_hub.constants

    # smp fetches encoder weights from the Hugging Face hub: offline mode and an empty cache, whatever the network.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CnnlabError, match="backbone.pretrained=true could not fetch ImageNet weights .* resnet18"):
        build_segmenter({"name": "resnet18", "pretrained": True}, arch="Unet", in_channels=3, num_classes=2)
