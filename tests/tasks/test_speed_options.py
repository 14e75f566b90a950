"""trainer.channels_last and trainer.compile: what they change in the network and its inputs, and what not."""

from __future__ import annotations

import torch

from cnnlab.tasks import build_task

FACTS = {"num_classes": 3, "class_names": ["a", "b", "c"], "in_channels": 3, "image_size": (16, 16),
         "normalize": {"mean": [0.5] * 3, "std": [0.5] * 3}}  # fmt: skip


def make_task():
    return build_task(
        {"name": "classification"}, backbone={"name": "simple_cnn", "filters": [4, 8], "fc_width": 8},
        optimizer={"name": "adam", "lr": 1e-3}, scheduler={"name": "none"}, data_facts=FACTS,
    )  # fmt: skip


def test_channels_last_converts_conv_weights_and_image_batches_only() -> None:
    task = make_task()
    task.use_speed_options(channels_last=True)
    conv = next(m for m in task.net.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    seen = []
    first = next(m for m in task.net.modules() if isinstance(m, torch.nn.Conv2d))
    first.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    task(torch.randn(2, 3, 16, 16))
    assert seen[0].is_contiguous(memory_format=torch.channels_last)
    plain = make_task()
    plain_conv = next(m for m in plain.net.modules() if isinstance(m, torch.nn.Conv2d))
    plain_conv.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    plain(torch.randn(2, 3, 16, 16))
    assert seen[1].is_contiguous() and not seen[1].is_contiguous(memory_format=torch.channels_last)


def test_compile_keeps_the_checkpoint_keys_and_the_outputs() -> None:
    torch.manual_seed(0)
    eager = make_task().eval()
    compiled = make_task().eval()
    compiled.load_state_dict(eager.state_dict())
    compiled.use_speed_options(compile_mode="default")
    assert list(compiled.state_dict()) == list(eager.state_dict())  # no _orig_mod. prefixes in checkpoints
    images = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(compiled(images), eager(images), atol=1e-5)
