"""Kim's tokeniser, the vocabulary (special tokens, frequency cut-offs, unknown words) and batch padding."""

from __future__ import annotations

import pytest
import torch

from cnnlab.data.text import PAD, UNK, Tokenizer, Vocabulary
from cnnlab.data.text.vocabulary import pad_batch
from cnnlab.errors import CnnlabError


def test_kim_rule_splits_clitics_and_punctuation_and_drops_other_symbols() -> None:
    tokens = Tokenizer()("Don't stop, it's (really) GREAT!  #1 @home")
    assert tokens == ["do", "n't", "stop", ",", "it", "'s", "(", "really", ")", "great", "!", "1", "home"]


def test_case_is_kept_when_asked_and_whitespace_rule_only_splits() -> None:
    assert Tokenizer(lowercase=False)("What is NASA ?") == ["What", "is", "NASA", "?"]
    assert Tokenizer(rule="whitespace")("a-b c,d") == ["a-b", "c,d"]
    with pytest.raises(CnnlabError, match="data.tokenizer.rule=spacy is not valid; use one of: kim, whitespace"):
        Tokenizer(rule="spacy")


def test_vocabulary_orders_by_frequency_and_honours_min_freq_and_max_size() -> None:
    sentences = [["b", "a", "b"], ["c", "b", "a"], ["d"]]
    assert Vocabulary.build(sentences).tokens == [PAD, UNK, "b", "a", "c", "d"]
    assert Vocabulary.build(sentences, min_freq=2).tokens == [PAD, UNK, "b", "a"]
    assert Vocabulary.build(sentences, max_size=1).tokens == [PAD, UNK, "b"]


def test_unknown_words_become_unk_and_long_sentences_are_truncated() -> None:
    vocabulary = Vocabulary.build([["the", "cat", "sat"]])
    ids = vocabulary.encode(["the", "dog", "sat", "down"])
    assert ids.tolist() == [vocabulary.index["the"], vocabulary.unk_index, vocabulary.index["sat"], 1]
    truncated = vocabulary.encode(["the", "cat", "sat"], max_length=2)
    assert truncated.tolist() == [vocabulary.index["the"], vocabulary.index["cat"]]
    assert vocabulary.decode(ids.tolist()) == ["the", UNK, "sat", UNK]


def test_padding_fills_with_pad_index_to_the_longest_sentence() -> None:
    batch = pad_batch([torch.tensor([5, 6, 7]), torch.tensor([8])])
    assert batch.tolist() == [[5, 6, 7], [8, 0, 0]]


def test_vocabulary_round_trips_through_a_file(tmp_path) -> None:
    vocabulary = Vocabulary.build([["é", "naïve", "x"]])
    vocabulary.save(tmp_path / "vocabulary.txt")
    assert Vocabulary.load(tmp_path / "vocabulary.txt").tokens == vocabulary.tokens
