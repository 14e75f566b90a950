"""Text classification data: readers for three file layouts, the tokeniser, the vocabulary, the embedded corpus."""

from cnnlab.data.text.datamodule import SentenceDataset, TextClassificationData, collate_sentences
from cnnlab.data.text.formats import TextLinesData, TextPrefixedData, TextTableData
from cnnlab.data.text.pydocs import PyDocsData
from cnnlab.data.text.tokenizer import Tokenizer
from cnnlab.data.text.vocabulary import PAD, UNK, Vocabulary

__all__ = [
    "PAD",
    "UNK",
    "PyDocsData",
    "SentenceDataset",
    "TextClassificationData",
    "TextLinesData",
    "TextPrefixedData",
    "TextTableData",
    "Tokenizer",
    "Vocabulary",
    "collate_sentences",
]
