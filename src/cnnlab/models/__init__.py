"""Networks: the backbone registry and the builders that turn a backbone name into a model for a task."""

from cnnlab.models import catalog  # noqa: F401  (fills BACKBONES)
from cnnlab.models.backbones import (
    BACKBONES,
    backbones_for,
    build_classifier,
    build_text_classifier,
    check_backbone,
    require_backbone,
)

__all__ = [
    "BACKBONES",
    "backbones_for",
    "build_classifier",
    "build_text_classifier",
    "check_backbone",
    "require_backbone",
]
