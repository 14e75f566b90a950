"""Object detection (and instance masks): torchvision detector -> loss dict in training, boxes in eval; COCO mAP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from torch import Tensor, nn
from torchmetrics.detection import MeanAveragePrecision

from cnnlab.models.detection import PaddedDetections, build_detector, without_background
from cnnlab.plots.boxes import detection_overlay_figure
from cnnlab.plots.pixels import viewable
from cnnlab.tasks.base import BaseTask, MonitorMode, StepOutput, class_key_table, metric_key_names

Batch = tuple[list[Tensor], list[dict[str, Any]]]


# The validation metrics the task logs every epoch: what checkpoints and early stopping can follow.
DetectionMonitor = Literal[
    "val/map", "val/map_50", "val/map_75", "val/map_small", "val/map_medium", "val/map_large", "val/mar_100",
    "val/mask_map", "val/mask_map_50", "val/mask_map_75",  # Mask R-CNN
]


class DetectionTask(BaseTask):
    task_name = "detection"
    min_classes = 1  # object classes; the background is the detector's own

    def __init__(
        self,
        *,
        backbone: Mapping[str, Any],
        num_classes: int,
        class_names: Sequence[str],
        category_ids: Sequence[int],
        normalize: Mapping[str, Sequence[float]],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any],
        arch: str = "fasterrcnn",
        min_size: int = 96,
        max_size: int = 96,
        anchor_sizes: Sequence[int] | None = None,
        score_thresh: float = 0.05,
        detections_per_img: int = 100,
        arch_options: Mapping[str, Any] | None = None,
        overlay_images: int = 4,
        monitor: DetectionMonitor = "val/map_50",
        monitor_mode: MonitorMode = "max",
    ) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler, monitor=monitor, monitor_mode=monitor_mode)
        self.save_hyperparameters()
        self.class_names = list(class_names)
        self.normalize = normalize
        self.with_masks = arch == "maskrcnn"
        self.overlay_images = overlay_images
        self.net = build_detector(
            backbone, arch=arch, num_classes=num_classes, min_size=min_size, max_size=max_size,
            anchor_sizes=anchor_sizes, score_thresh=score_thresh, detections_per_img=detections_per_img,
            **dict(arch_options or {}),
        )  # fmt: skip
        iou_type = ("bbox", "segm") if self.with_masks else "bbox"
        # Detection has no training metric (the detector gives losses, not boxes, in train mode).
        self.val_map = MeanAveragePrecision(iou_type=iou_type)
        self.test_map = MeanAveragePrecision(iou_type=iou_type, class_metrics=True)

    def forward(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        """Detections per image (eval mode): boxes x0, y0, x1, y1 in pixels, scores, labels 1..K (and masks)."""
        return without_background(self.net(images))

    def step(self, batch: Batch) -> StepOutput:
        """Train mode: the detector's losses (each logged per epoch). Eval mode: its detections, no loss."""
        images, targets = batch
        if not self.training:
            return StepOutput(None, self(images), targets, len(images))
        losses = self.net(images, [_training_target(t) for t in targets])
        self.log_dict({f"train/{name}": value for name, value in losses.items()}, on_step=False, on_epoch=True,
                      sync_dist=True, batch_size=len(images))  # fmt: skip
        return StepOutput(sum(losses.values()), batch_size=len(images))

    def on_evaluated(self, stage: str, batch: Batch, out: StepOutput, batch_idx: int) -> None:
        predictions = self.update_map(self.val_map if stage == "val" else self.test_map, out)
        if batch_idx == 0 and stage == "test":
            self.add_figure("overlays/test_best.png", self._overlay(batch, predictions))
        elif batch_idx == 0 and not self.trainer.sanity_checking and self.current_epoch + 1 == self.trainer.max_epochs:
            self.add_figure(f"overlays/val_epoch_{self.current_epoch:03d}.png", self._overlay(batch, predictions))

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._log_map("val", self.val_map.compute())
        self.val_map.reset()

    def report_test(self) -> None:
        result = self.test_map.compute()
        self._log_map("test", result)
        prefix = "segm_" if self.with_masks else ""
        per_class = result.get(f"{prefix}map_per_class", result.get("map_per_class"))
        classes = result.get("classes")
        keys = metric_key_names(self.class_names)
        if per_class is not None and classes is not None and per_class.ndim == 1:
            for label, ap in zip(classes.tolist(), per_class.tolist(), strict=True):
                if ap >= 0:  # torchmetrics reports -1 for a class without ground truth in the split
                    self.log(f"test/ap_per_class/{keys[label - 1]}", ap)
        if keys != self.class_names:
            self.add_text("classes.tsv", class_key_table(self.class_names))
        self.test_map.reset()

    def update_map(self, metric: MeanAveragePrecision, out: StepOutput) -> list[dict[str, Tensor]]:
        predictions, targets = out.predictions, out.targets
        if self.with_masks:  # torchmetrics wants boolean (N, H, W) masks
            predictions = [{**p, "masks": p["masks"][:, 0] > 0.5} for p in predictions]
            targets = [{**t, "masks": t["masks"].bool()} for t in targets]
        metric.update(predictions, [{k: v for k, v in t.items() if k != "image_id"} for t in targets])
        return predictions

    def _log_map(self, stage: str, result: dict[str, Tensor]) -> None:
        for key in ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_100"):
            if key in result:
                self.log(f"{stage}/{key}", float(result[key]), sync_dist=True)
            if f"bbox_{key}" in result:  # bbox + segm: both sets, the box one under the plain name
                self.log(f"{stage}/{key}", float(result[f"bbox_{key}"]), sync_dist=True)
                self.log(f"{stage}/mask_{key}", float(result[f"segm_{key}"]), sync_dist=True)

    def _overlay(self, batch: Batch, predictions: list[dict[str, Tensor]]):
        images, targets = batch
        count = min(self.overlay_images, len(images))
        pixels = [viewable(image.detach().float().cpu().numpy(), self.normalize) for image in images[:count]]
        as_numpy = lambda d: {k: v.detach().float().cpu().numpy() for k, v in d.items() if k in _DRAWN}  # noqa: E731
        shown = [{**as_numpy(p), "labels": p["labels"].cpu().numpy()} for p in predictions[:count]]
        shown = [{k: (v[p["scores"] >= 0.5] if k != "scores" else v[v >= 0.5]) for k, v in p.items()} for p in shown]
        truth = [{**as_numpy(t), "labels": t["labels"].cpu().numpy()} for t in targets[:count]]
        return detection_overlay_figure(pixels, truth, shown, self.class_names, "predictions with score >= 0.5")

    def serving_network(self) -> nn.Module:
        return PaddedDetections(self.net, self.hparams.detections_per_img)

    def serving_example(self, batch: Batch) -> Tensor:
        return batch[0][0][None]  # images in a batch may differ in size; one stands for all

    def predict_step(self, batch: Any, batch_idx: int) -> list[dict[str, Tensor]]:
        images = batch[0] if isinstance(batch, (tuple, list)) and isinstance(batch[0], list) else batch
        return self(images)


_DRAWN = ("boxes", "scores", "masks")


def _training_target(target: dict[str, Any]) -> dict[str, Tensor]:
    """Crowd regions are no training target."""
    keep = ~target["iscrowd"]
    return {k: v[keep] for k, v in target.items() if k in ("boxes", "labels", "masks")}
