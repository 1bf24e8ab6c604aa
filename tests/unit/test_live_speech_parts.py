"""Pure parts of live transcription: which fragments to transcribe next, which words to keep."""

from __future__ import annotations

import pytest

from vstream.index.speech import _ends_sentence
from vstream.live import Fragment, Take
from vstream.live_speech import EPS, MAX_WINDOW, Line, keep, said_highlights, window


def take(n: int, seconds: float = 2.0) -> Take:
    return Take(1, "2026-12-02T15:00:00.000Z", [900, 0], [Fragment(seconds, 1000, 900 + 1000 * k) for k in range(n)])


def words(*spec: tuple[str, float, float]) -> list[tuple[str, float, float, float]]:
    return [(" " + w, s, e, 0.9) for w, s, e in spec]


def test_a_growing_take_waits_for_new_audio_and_gives_a_little_context_in_front():
    assert window(take(3), 0.0, 0.0, complete=False) == (0, 3)
    assert window(take(3), 0.0, 6.0, complete=False) is None  # all of it seen: wait for 4 new seconds
    assert window(take(4), 0.0, 6.0, complete=False) is None
    assert window(take(5), 6.0, 6.0, complete=False) == (1, 5)  # 3 s already kept in front: from 2 s
    assert window(take(1), 0.0, 0.0, complete=False) is None  # 2 s: not enough yet
    assert window(take(1), 0.0, 0.0, complete=True) == (0, 1)  # unless nothing more will come
    assert window(take(3), 6.0, 6.0, complete=True) is None  # complete and done


def test_a_backlog_is_taken_whisper_window_by_window():
    first = window(take(40), 0.0, 0.0, complete=False)  # 80 s behind (a restarted follower)
    assert first == (0, int(MAX_WINDOW // 2))
    assert window(take(40), 28.5, 30.0, complete=False) == (12, 40 - 13)  # from 24 s, 30 s of it


def test_settled_sentences_are_kept_whole_and_the_rest_waits():
    said = words(("Hello", 0.0, 0.4), ("there.", 0.5, 1.0), ("How", 1.5, 1.8), ("are", 1.9, 2.2), ("you?", 2.6, 3.0))
    kept, after = keep(said, after=0.0, until=2.8, end=4.3, ends_sentence=_ends_sentence)
    assert [w[0] for w in kept] == [" Hello", " there."] and after == 1.5 - EPS  # "How are" waits for "you?"
    kept, after = keep(said, after=after, until=None, end=4.3, ends_sentence=_ends_sentence)
    assert [w[0] for w in kept] == [" How", " are", " you?"] and after == 4.3  # the take is complete
    # the next window hears "there." again, 40 ms earlier: it is not kept twice
    again = words(("there.", 0.46, 0.98), ("How", 1.5, 1.8), ("are", 1.9, 2.2), ("you?", 2.6, 3.0))
    kept, _ = keep(again, after=1.0, until=4.0, end=5.5, ends_sentence=_ends_sentence)
    assert [w[0] for w in kept] == [" How", " are", " you?"]


def test_silence_and_run_on_speech_move_on():
    assert keep([], after=0.0, until=6.5, end=8.0, ends_sentence=_ends_sentence) == ([], 6.5)
    run_on = words(*((f"w{i}", i * 0.5, i * 0.5 + 0.4) for i in range(30)))  # 15 s without a full stop
    kept, after = keep(run_on, after=0.0, until=14.0, end=15.5, ends_sentence=_ends_sentence)
    assert len(kept) == 28 and after == 14.0 - EPS  # up to the first word not settled
    short = run_on[:6]  # 3 s, unsettled end: waits, unless no more audio will come (force)
    assert keep(short, after=0.0, until=2.2, end=3.7, ends_sentence=_ends_sentence)[0] == []
    kept, after = keep(short, after=0.0, until=2.2, end=3.7, ends_sentence=_ends_sentence, force=True)
    assert len(kept) == 4 and after == 2.0 - EPS


def line(at: float, to: float, text: str) -> Line:
    return Line(1, at, to, at, to, None, text, "en")


def test_spoken_highlights_are_the_lines_that_say_a_term_as_whole_words():
    lines = [line(5.0, 7.0, "Goal by player 42!"), line(9.0, 11.0, "What a GOAL."), line(40.0, 43.0, "Goalkeeper saves."),
             line(60.0, 62.5, "And another goal, by Bo Lima.")]  # fmt: skip
    found = said_highlights(lines, ["goal"], 20.0, 2 / 3)
    assert [h.peak for h in found] == [5.0, 60.0]  # 9 s is inside the first clip; "goalkeeper" is another word
    assert (found[0].start, found[0].end) == (0.0, 20.0)
    assert found[1].start == pytest.approx(60.0 - 20.0 * 2 / 3) and found[1].end == found[1].start + 20.0
    assert [h.peak for h in said_highlights(lines, ["bo  LIMA", "player 42"], 20.0, 2 / 3)] == [5.0, 60.0]
    long = said_highlights([line(30.0, 58.0, "a long goal sentence")], ["goal"], 20.0, 2 / 3)
    assert long[0].end == 58.5  # the clip reaches past the sentence's end
    assert said_highlights(lines, ["!", " "], 20.0, 2 / 3) == []  # punctuation alone says nothing


# --- searching a live transcript (vstream.search) ------------------------------------------------


def two_takes():
    """An event of two takes (3 x 2 s, then 2 x 2 s after a reconnect 10 s later), as event.json holds it."""
    from vstream.live import Event

    second = Take(2, "2026-12-02T15:00:16.000Z", [900, 0], [Fragment(2.0, 1000, 900 + 1000 * k) for k in range(2)])
    return Event("match", "udp://127.0.0.1:9", "recording", "2026-12-02T15:00:00.000Z", 6, [take(3), second])


def test_a_live_transcript_knows_its_fragments_and_wall_clock():
    from vstream.search import live_transcript
    from vstream.timecode import TICKS

    lines = [Line(1, 0.5, 1.7, 0.5, 1.7, None, "Kick off in the rain.", "en"),
             Line(2, 1.0, 3.2, 7.0, 9.2, None, "Goal by player 42!", "en")]  # fmt: skip
    t = live_transcript(two_takes(), lines)
    assert [b / TICKS for b in t.bounds] == [0, 2, 4, 6, 8] and t.recorded == 10.0
    assert t.wall(1.0) == "2026-12-02T15:00:01.000Z"
    assert t.wall(7.0) == "2026-12-02T15:00:17.000Z"  # the second take's own clock: the gap is not event time
    assert t.said(6.5, 10.0) == ("Goal by player 42!", "en")
    assert t.said(2.0, 6.0) == ("", None)


def test_live_lines_are_found_by_their_words_scored_as_the_index_scores_them():
    from vstream.search import content_words, live_keyword_hits, live_transcript

    lines = [Line(1, 0.5, 1.7, 0.5, 1.7, None, "Kick off in the rain.", "en"),
             Line(2, 1.0, 3.2, 7.0, 9.2, None, "Goal by player 42!", "en"),
             Line(2, 3.2, 3.9, 9.2, 9.9, None, "¡Gol del jugador 42!", "es")]  # fmt: skip
    t = live_transcript(two_takes(), lines)
    hits = live_keyword_hits([t], content_words("the goal by player_42"), None, 10)
    assert [(h.video_id, h.start, h.end, h.score) for h in hits] == [("match", 7.0, 9.2, 1.0), ("match", 9.2, 9.9, pytest.approx(1 / 3))]  # goal, player, 42
    assert [h.text for h in live_keyword_hits([t], content_words("player 42"), "es", 10)] == ["¡Gol del jugador 42!"]
    assert live_keyword_hits([t], content_words("the of in"), None, 10) == []  # stop-words alone find nothing


def test_fragments_showing_the_same_text_are_one_run_and_a_fragment_read_twice_counts_once():
    from vstream.live_onscreen import Shown, runs

    shown = [Shown(1, 8.0, 10.0, "w1", "MAN UTD 2 - 1 LIVERPOOL"), Shown(1, 10.0, 12.0, "w2", "MAN UTD 2 - 1 LIVERPOOL"),
             Shown(1, 10.0, 12.0, "w2", "MAN UTD 2 - 1 LIVERPOOL"),  # (a killed follower read it again)
             Shown(1, 12.0, 14.0, "w3", "MAN UTD 3 - 1 LIVERPOOL"),  # the score changed
             Shown(2, 14.0, 16.0, "w4", "MAN UTD 3 - 1 LIVERPOOL")]  # a new take: a run of its own  # fmt: skip
    assert [(r.take, r.at, r.to, r.wall, r.text[:9]) for r in runs(shown)] == [
        (1, 8.0, 12.0, "w1", "MAN UTD 2"), (1, 12.0, 14.0, "w3", "MAN UTD 3"), (2, 14.0, 16.0, "w4", "MAN UTD 3")]
    assert shown[0].to == 10.0  # (the lines read are left as they are)


def test_live_on_screen_text_is_a_scene_hit_and_spoken_words_are_speech_hits():
    from vstream.live_onscreen import Shown
    from vstream.search import content_words, live_keyword_hits, live_transcript

    t = live_transcript(two_takes(), [Line(1, 0.5, 1.7, 0.5, 1.7, None, "What a goal!", "en")],
                        [Shown(1, 2.0, 4.0, None, "GOAL 1-0")])  # fmt: skip
    hits = live_keyword_hits([t], content_words("goal"), None, 10)
    assert sorted((h.kind, h.source, h.start) for h in hits) == [("scene", "keyword-scene", 2.0),
                                                                  ("speech", "keyword-transcript", 0.5)]  # fmt: skip
    assert [h.kind for h in live_keyword_hits([t], content_words("goal"), None, 10, "scene")] == ["scene"]
    assert [h.kind for h in live_keyword_hits([t], content_words("goal"), "en", 10)] == ["speech"]  # spoken in English


def test_text_and_description_runs_are_kept_apart_per_source():
    from vstream.live_onscreen import Shown, runs

    shown = [Shown(1, 0.0, 2.0, None, "GOAL", "onscreen"), Shown(1, 0.0, 2.0, None, "tripod", "description"),
             Shown(1, 2.0, 4.0, None, "GOAL", "onscreen"), Shown(1, 2.0, 4.0, None, "tripod", "description")]  # fmt: skip
    assert [(r.at, r.to, r.text, r.source) for r in runs(shown)] == [(0.0, 4.0, "GOAL", "onscreen"),
                                                                     (0.0, 4.0, "tripod", "description")]  # fmt: skip


def test_a_torn_last_line_is_cut_before_the_next_is_appended(tmp_path):
    from vstream.live import read_records, trim_torn

    path = tmp_path / "speech.jsonl"
    path.write_text('{"n": 1}\n{"n": 2}\n{"n": 3, "te')  # a follower killed mid-line
    trim_torn(path)
    with open(path, "a") as fh:
        fh.write('{"n": 4}\n')  # the next follower's first line: whole, not glued to the torn one
    assert [r["n"] for r in read_records(path, dict)] == [1, 2, 4]
    trim_torn(path)  # whole lines are left as they are
    assert path.read_text().count("\n") == 3


def test_keyword_search_finds_a_live_line_and_a_folder_that_is_no_event_is_passed_over(tmp_path):
    import json

    from vstream.library import Library
    from vstream.search import SearchOptions, Searcher

    lib = Library.open(tmp_path / "lib", create=True)
    for name in ("match", "Show copy"):  # (a user's copy of an event folder: no valid event id)
        folder = tmp_path / "lib" / "live" / name
        folder.mkdir(parents=True)
        (folder / "event.json").write_text(json.dumps(two_takes().to_dict() | {"id": name}))
        (folder / "speech.jsonl").write_text(json.dumps(Line(2, 1.0, 3.2, 7.0, 9.2, None, "Goal by player 42!", "en").to_dict()) + "\n")
    (found,) = Searcher(lib).search("goal", SearchOptions(mode="keyword", live=True)).moments
    assert (found.video_id, found.start, found.end, found.live) == ("match", 6.0, 10.0, True)  # whole fragments
    assert found.wall == "2026-12-02T15:00:16.000Z" and found.text == "Goal by player 42!"
    with pytest.raises(Exception, match="has no videos"):
        Searcher(lib).search("goal", SearchOptions(mode="keyword"))  # (live: False, as compose searches)
