"""How Kim's CNN read a sentence: for every filter, the n-gram window that won its max-pool over time, and what
that window added to the target class's logit (the pooled activation times the output layer's weight). Summed per
token, the same numbers say which words carried the decision."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnnlab.errors import CnnlabError  # noqa: E402

SHOWN = 12


@dataclass(frozen=True)
class Window:
    ngram: str
    window: int  # the filter's width in tokens
    filter: int  # the filter's index among all pooled features
    start: int  # the first token's position in the sentence (negative: in the left padding)
    activation: float
    contribution: float  # to the target class's logit


@dataclass(frozen=True)
class ExplainedSentence:
    tokens: list[str]
    windows: list[Window]  # every filter's winner, strongest contribution first
    predicted: str
    score: float
    target: str

    def token_weights(self) -> np.ndarray:
        weights = np.zeros(len(self.tokens))
        for window in self.windows:
            for position in range(max(window.start, 0), min(window.start + window.window, len(self.tokens))):
                weights[position] += window.contribution / window.window
        return weights

    def result(self) -> dict:
        top = [{"ngram": w.ngram, "window": w.window, "filter": w.filter, "activation": round(w.activation, 5),
                "contribution": round(w.contribution, 5)} for w in self.windows[:SHOWN]]  # fmt: skip
        return {"class": self.predicted, "score": self.score, "target": self.target, "method": "max-pool windows",
                "layer": "convs", "windows": top}  # fmt: skip


def winning_windows(task, sentence: str, target: str | None) -> ExplainedSentence:
    from cnnlab.data.text import Tokenizer
    from cnnlab.models.textcnn import TextCNN

    net = task.net
    if not isinstance(net, TextCNN):
        raise CnnlabError(f"backbone {type(net).__name__}: windows are read from Kim's text CNN (backbone=textcnn)")
    tokens = Tokenizer(**task.hparams.tokenizer)(sentence)[: task.hparams.max_length or None]
    if not tokens:
        raise CnnlabError(f"'{sentence}' has no tokens after the run's tokenizer; give words")
    ids = task.vocabulary.encode(tokens, task.hparams.max_length)[None]
    with torch.no_grad():
        probabilities = task.predict_step(ids, 0)[0]
        predicted = int(probabilities.argmax())
        names = list(task.class_names)
        if target is not None and target not in names:
            raise CnnlabError(f"--target {target} is not a class of this run; classes: {', '.join(names)}")
        chosen = names.index(target) if target is not None else predicted
        windows = _windows(net, ids, tokens, chosen)
    return ExplainedSentence(tokens, windows, names[predicted], float(probabilities[predicted]), names[chosen])


def _windows(net, ids: torch.Tensor, tokens: list[str], chosen: int) -> list[Window]:
    margin = max(net.windows) - 1
    padded = F.pad(ids, (margin, margin), value=net.pad_index)
    embedded = net.embedding(padded)
    if net.static_embedding is not None:
        embedded = torch.cat([net.static_embedding(padded), embedded], dim=-1)
    embedded = embedded.transpose(1, 2)
    weights = net.fc.weight[chosen]
    found, offset = [], 0
    for conv, width in zip(net.convs, net.windows, strict=True):
        activations = F.relu(conv(embedded))[0]  # (maps, positions); one sentence: every position is its own
        values, positions = activations.max(dim=1)
        for index, (value, position) in enumerate(zip(values.tolist(), positions.tolist(), strict=True)):
            start = position - margin
            words = [tokens[p] if 0 <= p < len(tokens) else "<pad>" for p in range(start, start + width)]
            found.append(Window(" ".join(words), width, offset + index, start, value,
                                value * float(weights[offset + index])))  # fmt: skip
        offset += len(values)
    return sorted(found, key=lambda w: -abs(w.contribution))


def windows_figure(explained: ExplainedSentence) -> Figure:
    """Left: the n-grams whose filters added most to the target class (summed over filters choosing the same
    window). Right: each token's share of those contributions."""
    totals: dict[str, float] = {}
    for window in explained.windows:
        totals[window.ngram] = totals.get(window.ngram, 0.0) + window.contribution
    top = sorted(totals.items(), key=lambda item: -abs(item[1]))[:SHOWN][::-1]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 0.35 * max(len(top), len(explained.tokens)) + 1.5))
    left.barh([n for n, _ in top], [v for _, v in top], color=["tab:red" if v < 0 else "tab:blue" for _, v in top])
    left.set_xlabel(f"contribution to the '{explained.target}' logit")
    left.set_title("winning n-gram windows", fontsize=9)
    weights = explained.token_weights()
    right.barh(range(len(weights))[::-1], weights, color=["tab:red" if w < 0 else "tab:blue" for w in weights])
    right.set_yticks(range(len(weights))[::-1], explained.tokens)
    right.set_title(f"per token (predicted '{explained.predicted}', {explained.score:.2f})", fontsize=9)
    figure.tight_layout()
    return figure
