"""`vstream search` on the indexed sample library: what users type, what scripts parse."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import sample_path, vstream, vstream_json
from tests.media_checks import played_duration

# (query, video, a time inside the intended moment): natural ways to ask for each sample moment
SPOKEN = [
    ("when is the rocket launch", "talk", 3.0),
    ("the budget discussion", "talk", 11.0),
    ("adopting a cat from the animal shelter", "talk", 19.0),
    ("astronaut training in a swimming pool", "talk", 27.0),
    ("goal by player 42", "match", 13.0),
    ("fizzy cola", "ad", 3.0),
]
SHOWN = [("a rocket", "talk", 4.0), ("a cup of coffee", "talk", 12.0), ("a cat", "talk", 20.0),
         ("a cameraman with a tripod", "match", 20.0)]  # fmt: skip
KEYWORDS = [("rocket launch", "talk", 3.0), ("budget", "talk", 11.0), ("LIVERPOOL", "match", 12.0),
            ("adoption", "talk", 19.0), ("swimming pool", "talk", 27.0)]  # fmt: skip


def search(lib: Path, query: str, *args: str) -> dict:
    return vstream_json("search", query, "-L", str(lib), *args)


def rank_of(result: dict, video: str, t: float) -> int | None:
    for i, m in enumerate(result["moments"], 1):
        if m["video_id"] == video and m["start"] <= t < m["end"]:
            return i
    return None


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
@pytest.mark.parametrize("query, video, t", SPOKEN + SHOWN)
def test_natural_queries_find_their_moment_in_the_top_3(indexed_library, mode, query, video, t):
    result = search(indexed_library, query, "--mode", mode)
    rank = rank_of(result, video, t)
    assert rank is not None and rank <= 3, (query, result["moments"][:3])


@pytest.mark.parametrize("query, video, t", KEYWORDS)
def test_keyword_search_finds_spoken_and_onscreen_words(indexed_library, query, video, t):
    result = search(indexed_library, query, "--mode", "keyword")
    assert rank_of(result, video, t) == 1, result["moments"][:3]


@pytest.mark.parametrize("query, video, t", [
    ("LIVERPOOL scoreboard", "match", 12.0),  # written on screen, not said
    ("rocket launch on Friday", "talk", 3.0),  # said, and shown
    ("the budget discussion for next year", "talk", 11.0),
])  # fmt: skip
def test_hybrid_ranks_the_intended_moment_first(indexed_library, query, video, t):
    assert rank_of(search(indexed_library, query), video, t) == 1


def test_json_is_exactly_the_documented_shape(indexed_library):
    result = search(indexed_library, "rocket")
    assert set(result) == {"query", "mode", "took_ms", "moments"}
    assert result["query"] == "rocket" and result["mode"] == "hybrid" and isinstance(result["took_ms"], float)
    assert result["moments"]
    scores = [m["score"] for m in result["moments"]]
    assert scores == sorted(scores, reverse=True)
    for m in result["moments"]:
        assert set(m) == {"video_id", "start", "end", "score", "kinds", "text", "thumbnail", "people", "language",
                          "live", "wall"}
        assert m["live"] is False and m["wall"] is None  # (no live event: see test_live for live moments)
        assert isinstance(m["people"], list) and all(isinstance(p, str) for p in m["people"])
        assert m["language"] in ("en", None) and ("speech" not in m["kinds"] or m["language"] == "en")  # English
        assert isinstance(m["start"], float) and isinstance(m["end"], float) and isinstance(m["score"], float)
        assert set(m["kinds"]) <= {"scene", "speech"} and Path(m["thumbnail"]).is_file()


def test_moments_start_on_keyframes_and_end_inside_the_video(indexed_library, samples):
    for query in ("rocket", "the budget", "goal", "cola", "a cat", "LIVERPOOL"):
        for m in search(indexed_library, query, "--padding", "5", "--limit", "20")["moments"]:
            info = vstream_json("info", m["video_id"], "-L", str(indexed_library))
            assert any(abs(m["start"] - k) < 1e-6 for k in info["keyframes"]), m
            assert 0 <= m["start"] < m["end"] <= info["duration"] + 1e-6, m


def test_filters(indexed_library, tmp_path):
    only_match = search(indexed_library, "player", "--video", "match")
    assert only_match["moments"] and {m["video_id"] for m in only_match["moments"]} == {"match"}
    speech_only = search(indexed_library, "rocket", "--kind", "speech")
    assert speech_only["moments"] and all(m["kinds"] == ["speech"] for m in speech_only["moments"])
    scene_only = search(indexed_library, "rocket", "--kind", "scene")
    assert scene_only["moments"] and all(m["kinds"] == ["scene"] for m in scene_only["moments"])
    assert len(search(indexed_library, "a", "--limit", "2", "--mode", "semantic")["moments"]) <= 2
    strict = search(indexed_library, "rocket", "--min-score", "0.6")
    assert all(m["score"] >= 0.6 for m in strict["moments"])
    per_video = search(indexed_library, "rocket cola player", "--mode", "keyword", "--max-per-video", "1", "--limit", "20")
    ids = [m["video_id"] for m in per_video["moments"]]
    assert len(ids) == len(set(ids)) >= 2
    plain = search(indexed_library, "the budget discussion")["moments"][0]
    padded = search(indexed_library, "the budget discussion", "--padding", "3")["moments"][0]
    assert padded["start"] <= plain["start"] - 2 and padded["end"] >= plain["end"] + 2
    lib = tmp_path / "lib"
    shutil.copytree(indexed_library, lib)
    vstream("tag", "ad", "brand=fizzy", "-L", str(lib), check=True)
    tagged = search(lib, "summer", "--tag", "brand=fizzy")
    assert tagged["moments"] and {m["video_id"] for m in tagged["moments"]} == {"ad"}


def test_empty_result_is_exit_0_with_a_message(indexed_library):
    proc = vstream("search", "quantum chromodynamics", "-L", str(indexed_library), "--mode", "semantic")
    assert proc.returncode == 0 and "no moments found" in proc.stderr


def test_table_output(indexed_library):
    proc = vstream("search", "rocket launch", "-L", str(indexed_library), check=True)
    assert "talk" in proc.stdout and "00:00:00.000" in proc.stdout


@pytest.mark.parametrize("args, code, needle", [
    (["x", "--mode", "fuzzy"], 2, "unknown mode"),
    (["x", "--kind", "audio"], 2, "unknown kind"),
    (["预算讨论"], 2, "understands English"),
    (["x", "--video", "tlak"], 3, "did you mean talk"),
])  # fmt: skip
def test_bad_queries_are_one_line_with_exit_codes(indexed_library, args, code, needle):
    proc = vstream("search", *args, "-L", str(indexed_library))
    assert proc.returncode == code and needle in proc.stderr and "Traceback" not in proc.stderr


def test_empty_library_and_no_index_say_what_to_do(samples, tmp_path):
    lib = tmp_path / "lib"
    vstream("init", "-L", str(lib), check=True)
    proc = vstream("search", "rocket", "-L", str(lib))
    assert proc.returncode == 3 and "has no videos" in proc.stderr
    vstream("ingest", "-L", str(lib), str(sample_path(samples, "ad")), check=True)
    proc = vstream("search", "rocket", "-L", str(lib))
    assert proc.returncode == 3 and "vstream index" in proc.stderr


def test_index_built_with_another_model_names_both_and_the_fix(indexed_library, tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(indexed_library, lib)
    models = json.loads((lib / "index" / "models.json").read_text())
    models["loaded"]["text"]["fingerprint"] = "other-model:0123456789ab+0123456789ab"
    (lib / "index" / "models.json").write_text(json.dumps(models))
    proc = vstream("search", "rocket", "-L", str(lib), "--mode", "semantic")
    assert proc.returncode == 5
    assert "other-model" in proc.stderr and "all-MiniLM" in proc.stderr and "vstream index --force" in proc.stderr
    assert vstream("search", "rocket", "-L", str(lib), "--mode", "keyword").returncode == 0  # keywords need no model


def test_loudness_peaks_mode(indexed_library, samples):
    result = search(indexed_library, "", "--mode", "peaks", "--video", "match", "--limit", "3")
    peaks = samples["videos"]["match"]["loud_peaks"]
    assert len(result["moments"]) == 3
    for m in result["moments"]:
        assert any(m["start"] <= p["end"] and m["end"] >= p["start"] for p in peaks), m


def test_playlist_of_the_results_plays_in_ffmpeg_from_an_mpeg_ts_library(ts_library, tmp_path):
    out = tmp_path / "reels" / "budget.m3u8"
    result = search(ts_library, "budget cola", "--limit", "2", "--max-per-video", "1", "--playlist", str(out))
    assert len({m["video_id"] for m in result["moments"]}) == 2  # a mix of videos: the hard case for ffmpeg
    expected = sum(m["end"] - m["start"] for m in result["moments"])
    assert out.read_text().count("#EXT-X-DISCONTINUITY") == len(result["moments"]) - 1
    # every frame of both clips decodes (the sum of frame durations: the timestamps jump between videos)
    assert played_duration(out) == pytest.approx(expected, abs=0.05 * len(result["moments"]))


def test_a_playlist_mixing_fmp4_videos_says_which_players_decode_it(indexed_library, tmp_path):
    out = tmp_path / "reels" / "budget.m3u8"
    proc = vstream("search", "budget cola", "--limit", "2", "--max-per-video", "1", "--playlist", str(out),
                   "-L", str(indexed_library))
    assert proc.returncode == 0 and out.exists()
    assert "ffplay and mpv cannot decode" in proc.stderr and "vstream render --copy" in proc.stderr
    copied = vstream_json("render", str(out), "--copy", "--out", str(tmp_path / "export"), "-L", str(indexed_library))
    clips = re.findall(r"#EXTINF:([\d.]+)", out.read_text())
    assert played_duration(Path(copied["output"])) == pytest.approx(sum(map(float, clips)), abs=0.05 * len(clips))


@pytest.mark.browser
def test_playlist_of_the_results_plays_in_hlsjs(indexed_library, hls_player, hls_serve):
    out = indexed_library.parent / "reels" / "cat.m3u8"
    result = search(indexed_library, "a cat", "--limit", "2", "--playlist", str(out))
    base = hls_serve(indexed_library.parent)
    played = hls_player.play(f"{base}/reels/cat.m3u8", timeout=60, rate=8.0)
    played.assert_played(expected_duration=sum(m["end"] - m["start"] for m in result["moments"]), tolerance=0.15)


def test_scores_mean_the_same_for_every_query(indexed_library):
    """Nonsense and stop-words find nothing; an unrelated video is far below the answer."""
    for nonsense in ("xqzv blorp", "the", "of the and"):
        assert search(indexed_library, nonsense)["moments"] == [], nonsense
    answer = search(indexed_library, "the budget")["moments"]
    assert answer[0]["video_id"] == "talk" and answer[0]["start"] <= 11.0 < answer[0]["end"]
    assert answer[0]["score"] >= 0.8
    assert all(m["score"] < 0.3 for m in answer[1:]), answer  # an advert does not come close any more
    for query in ("rocket launch", "LIVERPOOL", "a cat"):  # the right answer scores high whatever the words
        assert search(indexed_library, query)["moments"][0]["score"] >= 0.8, query
    assert search(indexed_library, "budget rocket", "--mode", "keyword")["moments"][0]["score"] == 0.5  # half the words


def test_a_scene_hit_shows_what_it_was_found_by(indexed_library):
    moment = search(indexed_library, "LIVERPOOL", "--kind", "scene")["moments"][0]
    assert "LIVERPOOL" in moment["text"]  # the on-screen words, not the commentary nearby


def test_peaks_are_loudness_scores_without_overlaps(indexed_library):
    moments = search(indexed_library, "", "--mode", "peaks", "--video", "match", "--limit", "10")["moments"]
    assert moments and all(0 < m["score"] <= 1 for m in moments)
    spans = sorted((m["start"], m["end"]) for m in moments)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
    for args in (["goals", "--mode", "peaks"], ["", "--mode", "peaks", "--kind", "speech"]):
        proc = vstream("search", *args, "-L", str(indexed_library))
        assert proc.returncode == 2 and "ranks moments by loudness" in proc.stderr


def test_a_speech_hit_shows_every_sentence_said_inside_it(indexed_library):
    moments = search(indexed_library, "budget", "--kind", "speech", "--mode", "keyword")["moments"]
    sentences = vstream_json("transcript", "talk", "-L", str(indexed_library), "--json")["sentences"]
    m = moments[0]
    inside = [s["text"].strip() for s in sentences if s["end"] > m["start"] and s["start"] < m["end"]]
    assert "budget" in m["text"].lower() and m["text"] == " ".join(inside)
