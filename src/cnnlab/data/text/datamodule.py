"""TextClassificationData: labelled sentences -> tokenised, vocabulary-indexed splits; subclasses read files.

The vocabulary is built from the training split only (data.extra_train included). Splits come from the files given,
from a seeded stratified split of the training file, or from k-fold cross-validation over all of it (data.cv_folds,
data.fold).
"""

from __future__ import annotations

from abc import abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from torch.utils.data import Dataset

from cnnlab.data.base import SplitDataModule, Splits
from cnnlab.data.splits import split_indices
from cnnlab.data.text.extra_train import extra_training_files, join_extra
from cnnlab.data.text.readers import Sentence
from cnnlab.data.text.tokenizer import Tokenizer
from cnnlab.data.text.vocabulary import Vocabulary, pad_batch
from cnnlab.errors import CnnlabError
from cnnlab.setting_types import Fraction, NonNegativeInt, PositiveInt


class SentenceDataset(Dataset):
    """(token ids, label index) pairs; `sentences` keeps the originals for reports."""

    def __init__(self, sentences: Sequence[Sentence], ids: Sequence[torch.Tensor], labels: Sequence[int]) -> None:
        self.sentences = list(sentences)
        self.ids = list(ids)
        self.labels = torch.tensor(labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ids[index], self.labels[index]


def collate_sentences(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    ids, labels = zip(*batch, strict=True)
    return pad_batch(ids), torch.stack(labels)


class TextClassificationData(SplitDataModule):
    task = "text"
    collate_fn = staticmethod(collate_sentences)

    def __init__(
        self,
        *,
        encoding: str = "utf-8",
        tokenizer: Mapping[str, Any] | None = None,
        min_freq: PositiveInt = 1,
        max_vocab: PositiveInt | None = None,
        max_length: PositiveInt | None = None,
        classes: Sequence[str] | None = None,
        val_fraction: Fraction = 0.1,
        test_fraction: Fraction = 0.1,
        split_seed: NonNegativeInt = 0,
        cv_folds: NonNegativeInt = 0,
        fold: NonNegativeInt | None = None,
        extra_train: Sequence[Any] | None = None,
        **loader: Any,  # batch_size and the DataLoader options of SplitDataModule
    ) -> None:
        super().__init__(**loader)
        self.encoding = encoding
        self.tokenizer = Tokenizer(**(tokenizer or {}))
        self.min_freq = min_freq
        self.max_vocab = max_vocab
        self.max_length = max_length
        self.classes = list(classes) if classes else None
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.cv_folds = cv_folds
        self.fold = fold
        self.extra_train = extra_training_files(extra_train)
        self.vocabulary: Vocabulary | None = None
        if cv_folds > 1 and fold is not None and not 0 <= fold < cv_folds:
            raise CnnlabError(f"data.fold={fold} must be in 0..{cv_folds - 1} for data.cv_folds={cv_folds}")
        if classes and len(set(classes)) < len(classes):
            twice = next(name for name in classes if list(classes).count(name) > 1)
            raise CnnlabError(f"data.classes lists '{twice}' twice; name each class once")

    @abstractmethod
    def read(self) -> dict[str, list[Sentence] | None]:
        """{"train": sentences, "val": sentences or None, "test": sentences or None}; None: split from train."""

    def load_splits(self) -> Splits:
        train, val, test = self._arrange(self.read())
        class_names = self.classes or sorted({s.label for s in train})  # an extra file's new label is an error
        if self.extra_train:
            extra = [s for file in self.extra_train for s in file.read(self.encoding, self.bad_samples.record)]
            train = join_extra(train, val + test, extra)
        label_index = {name: i for i, name in enumerate(class_names)}
        tokens = [[self.tokenizer(s.text) for s in part] for part in (train, val, test)]
        if self.vocabulary is None:
            self.vocabulary = Vocabulary.build(tokens[0], min_freq=self.min_freq, max_size=self.max_vocab)
        datasets = [
            SentenceDataset(
                part,
                [self.vocabulary.encode(sentence, self.max_length) for sentence in part_tokens],
                [_label_index(s, label_index) for s in part],
            )
            for part, part_tokens in zip((train, val, test), tokens, strict=True)
        ]
        return Splits(*datasets, class_names=class_names)

    def _arrange(self, parts: dict[str, list[Sentence] | None]) -> tuple[list[Sentence], ...]:
        """train, val, test sentences from the files read and the split settings."""
        train = parts["train"]
        if not train:
            raise CnnlabError(f"data={self.describe()}: no training sentences were read; check the data files")
        if self.cv_folds > 1:
            pooled = train + (parts.get("val") or []) + (parts.get("test") or [])
            train, test = self._fold(pooled)
            return (*self._hold_out(train, self.val_fraction, "val"), test)
        test, val = parts.get("test"), parts.get("val")
        if test is None and val is None and self.val_fraction + self.test_fraction >= 1:
            raise CnnlabError(
                f"data.val_fraction={self.val_fraction} + data.test_fraction={self.test_fraction} leaves no "
                "sentences to train on; lower one of them (together below 1)"
            )
        if test is None:
            train, test = self._hold_out(train, self.test_fraction, "test")
        if val is None:
            # val_fraction is of all labelled sentences, as for images.
            fraction = self.val_fraction / (1 - self.test_fraction) if parts.get("test") is None else self.val_fraction
            train, val = self._hold_out(train, fraction, "val")
        return train, val, test

    def _hold_out(
        self, sentences: list[Sentence], fraction: float, split: str
    ) -> tuple[list[Sentence], list[Sentence]]:
        """(kept, held-out) sentences, stratified by label when the counts allow; too few is a one-line error."""
        try:
            kept, held = split_indices([s.label for s in sentences], fraction, self.split_seed)
        except ValueError as err:  # scikit-learn: a side of the split would be empty or miss a class
            setting = f"data.{split}_fraction={getattr(self, f'{split}_fraction')}"
            raise CnnlabError(
                f"data={self.describe()}: cannot hold out {setting} of {len(sentences)} sentence(s) "
                f"({' '.join(str(err).split())}); add sentences, lower {setting.split('=')[0]} or give a {split} file"
            ) from err
        return [sentences[i] for i in kept], [sentences[i] for i in held]

    def _fold(self, sentences: list[Sentence]) -> tuple[list[Sentence], list[Sentence]]:
        if self.fold is None:
            raise CnnlabError(f"data.cv_folds={self.cv_folds} needs data.fold (0..{self.cv_folds - 1})")
        check_folds(sentences, self.cv_folds)
        folds = StratifiedKFold(n_splits=self.cv_folds, shuffle=True, random_state=self.split_seed)
        labels = np.array([s.label for s in sentences])
        train, test = list(folds.split(np.zeros(len(labels)), labels))[self.fold]
        return [sentences[i] for i in train], [sentences[i] for i in test]

    def use_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Encode with a trained model's vocabulary instead of building one (evaluating a model on new data)."""
        self.vocabulary = vocabulary

    def facts(self) -> dict[str, Any]:
        """What the model needs: classes and the vocabulary (saved with the model, so inputs encode identically),
        and how many training sentences each class has (for task.class_weights=auto)."""
        self.setup()
        return {
            "num_classes": len(self.splits.class_names),
            "class_names": list(self.splits.class_names),
            "vocabulary": list(self.vocabulary.tokens),
            "tokenizer": self.tokenizer.settings(),
            "max_length": self.max_length,
            "class_counts": np.bincount(self.labels_of_train(), minlength=len(self.splits.class_names)).tolist(),
        }


def check_folds(sentences: list[Sentence], folds: int) -> None:
    """Stratified k-fold puts sentences of every class in every fold: each class needs at least k of them."""
    counts = Counter(s.label for s in sentences)
    label, fewest = min(counts.items(), key=lambda item: (item[1], item[0]))
    if fewest < folds:
        raise CnnlabError(
            f"data.cv_folds={folds} needs at least {folds} sentences of each class, but class '{label}' has "
            f"{fewest} ({len(sentences)} sentences in all); lower data.cv_folds or add sentences"
        )


def _label_index(sentence: Sentence, label_index: Mapping[str, int]) -> int:
    if sentence.label not in label_index:
        raise CnnlabError(
            f"{sentence.where}: label '{sentence.label}' is not one of the classes {sorted(label_index)}; "
            "fix the line or list every class in data.classes"
        )
    return label_index[sentence.label]
