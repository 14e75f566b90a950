"""Looking inside a trained model: class-activation maps (the grad-cam library), feature maps per stage, the first
layer's filters, and for Kim's text CNN the n-gram windows that won each filter's max-pool."""

from cnnlab.explain.explainers import EXPLAINERS, Explanation, explain_inputs

__all__ = ["EXPLAINERS", "Explanation", "explain_inputs"]
