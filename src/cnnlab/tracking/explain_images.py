"""What every classification run learned, as pictures logged after its last epoch (tracking.explain_images=N):
the first convolution's filters, the class-activation maps of N fixed validation images (the first N of the
split), and the feature maps of every stage for the first of them."""

from __future__ import annotations

import logging

import matplotlib.pyplot as plt
import pytorch_lightning as pl

from cnnlab.explain.explainers import ExplainOptions, explain_class_input, picture_of
from cnnlab.explain.feature_maps import filter_figure
from cnnlab.tracking.run import TrackedRun

log = logging.getLogger(__name__)


class ExplainImages(pl.Callback):
    def __init__(self, run: TrackedRun, count: int) -> None:
        self.run = run
        self.count = count

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or self.count == 0 or getattr(pl_module, "task_name", "") != "classification":
            return
        try:
            self._log(trainer, pl_module)
        except Exception as err:  # noqa: BLE001 - pictures are a view of the run, never a reason to fail it
            log.warning("explain images not logged: %s: %s", type(err).__name__, err)

    def _log(self, trainer: pl.Trainer, task) -> None:
        network = task.serving_network()
        filters = filter_figure(network)
        if filters is not None:
            self.run.log_figure(filters, "explain/filters.png")
            plt.close(filters)
        validation = trainer.datamodule.splits.val
        count = min(self.count, len(validation))
        explained = [explain_class_input(task, validation[i][0], ExplainOptions(), feature_maps=i == 0)
                     for i in range(count)]  # fmt: skip
        truths = [task.class_names[int(validation[i][1])] for i in range(count)]
        figure, axes = plt.subplots(2, count, figsize=(2.2 * count, 4.6), squeeze=False)
        for column, (explanation, truth) in enumerate(zip(explained, truths, strict=True)):
            result = explanation.result
            axes[0][column].imshow(picture_of(task, validation[column][0]))
            axes[0][column].set_title(f"true {truth}", fontsize=8)
            axes[1][column].imshow(explanation.images["cam"])
            axes[1][column].set_title(f"{result['method']} for {result['class']} ({result['score']:.2f})", fontsize=8)
            for axis in (axes[0][column], axes[1][column]):
                axis.axis("off")
        figure.suptitle(f"class-activation maps at layer {explained[0].result['layer']}", fontsize=9)
        figure.tight_layout()
        self.run.log_figure(figure, "explain/cams.png")
        self.run.log_figure(explained[0].images["features"], "explain/feature_maps.png")
        for item in [figure, explained[0].images["features"]]:
            plt.close(item)
