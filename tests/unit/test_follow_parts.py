"""Live recipes, the pure part: archive clips then a live event's highlights, one EVENT playlist that only grows."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from vstream.compose.follow import archive_body, live_entry, master, render
from vstream.compose.recipe import RecipeError, loads
from vstream.live import Event, Fragment, Take
from vstream.live_highlights import Highlight, ready

ARCHIVE = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="../../../media/a/media.m4s",BYTERANGE="900@0"
#EXTINF:4.000000,
#EXT-X-BYTERANGE:1000@900
../../../media/a/media.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="../../../media/b/media.m4s",BYTERANGE="800@0"
#EXT-X-CUE-OUT:DURATION=3.000000
#EXTINF:3.000000,
#EXT-X-BYTERANGE:1000@800
../../../media/b/media.m4s
#EXT-X-ENDLIST
"""
BEGAN = datetime(2026, 12, 1, 20, 0, 0, tzinfo=timezone.utc)


def event(fragments: int, *, ended: bool = False) -> Event:
    take = Take(1, "2026-12-01T20:00:00.000Z", [700, 0], [Fragment(2.0, 1000, 700 + 1000 * i) for i in range(fragments)])
    return Event("final", "udp://x", "ended" if ended else "recording", "2026-12-01T20:00:00.000Z", 6, [take])


HIGHLIGHTS = [Highlight(12.0, -10, 20, 0.0, 20.0), Highlight(40.0, -10, 20, 26.0, 46.0)]


def playlist(fragments: int, *, ended: bool = False, archive: bool = True, served: bool = False) -> str | None:
    ev = event(fragments, ended=ended)
    body = archive_body(ARCHIVE, BEGAN) if archive else None
    chosen = [spans for _, spans in ready(ev, HIGHLIGHTS, ended=ended)]
    rebased = ("/", "final", [(700_090, 7), (2_500_270, -3)]) if served else None
    return render(body, chosen, event_target=ev.target, prefix="../../../live/final/", ended=ended, rebased=rebased)


def test_the_archive_is_dated_as_a_pre_show_and_keeps_its_blocks_and_ad_markers():
    body, seconds, target = archive_body(ARCHIVE, BEGAN)
    assert seconds == 7.0 and target == 4
    assert "#EXT-X-ENDLIST" not in body and not any(line.startswith("#EXT-X-PLAYLIST-TYPE") for line in body)
    dates = [line.split(":", 1)[1] for line in body if line.startswith("#EXT-X-PROGRAM-DATE-TIME:")]
    assert dates == ["2026-12-01T20:00:00.000Z", "2026-12-01T20:00:04.000Z"]  # one per block, from the start given
    assert body.index("#EXT-X-CUE-OUT:DURATION=3.000000") < body.index(f"#EXT-X-PROGRAM-DATE-TIME:{dates[1]}")


def test_a_live_stream_is_published_at_three_target_durations_and_only_grows_until_the_end():
    assert playlist(9, archive=False) is None  # the first highlight's clip (0-20 s) is not recorded yet
    assert playlist(9) is None  # the archive alone: 7 s, under three target durations (18 s)
    early = playlist(10)  # 7 s of archive, the first highlight (0-20 s) recorded: 27 s >= 18 s
    assert early is not None and "#EXT-X-ENDLIST" not in early
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in early and "#EXT-X-START:TIME-OFFSET=0" in early
    assert "#EXT-X-TARGETDURATION:6" in early  # the event's target, larger than the archive's 4
    later = playlist(23)
    assert later.startswith(early) and later.count("#EXT-X-DISCONTINUITY") == early.count("#EXT-X-DISCONTINUITY") + 1
    final = playlist(23, ended=True)
    assert final == later + "#EXT-X-ENDLIST\n"
    assert final.count("#EXT-X-PROGRAM-DATE-TIME") == final.count("#EXT-X-DISCONTINUITY") + 1  # a date per block
    assert final.index("media/b/media.m4s") < final.index("live/final/take-001/media.m4s")


def test_a_highlight_plays_the_fragments_its_clip_covers_and_no_fragment_twice():
    final = playlist(23, ended=True, archive=False)
    ranges = [line for line in final.splitlines() if line.startswith("#EXT-X-BYTERANGE:")]
    assert len(ranges) == len(set(ranges)) == 10 + 10  # 0-20 s, then 26-46 s
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:26.000Z" in final


def test_served_each_live_fragment_is_moved_onto_the_streams_timeline_with_its_parameter_sets():
    served = playlist(23, ended=True, served=True)
    lines = served.splitlines()
    live = [line for line in lines if "/live/final/" in line and not line.startswith("#")]
    assert len(live) == 20 and live[0] == "/r/700090/7/700+1000pi/live/final/take-001/media.m4s"  # init in front: VLC
    assert live[1] == "/r/700090/7/1700+1000p/live/final/take-001/media.m4s"
    assert live[10] == "/r/2500270/-3/13700+1000pi/live/final/take-001/media.m4s"  # the second highlight's shift
    assert sum("i/live/" in line for line in live) == 2  # only after a discontinuity
    assert served.count('#EXT-X-MAP:URI="/r/init/live/final/take-001/media.m4s"') == 2  # no byte range (GStreamer)
    assert "#EXT-X-BYTERANGE:1000@700" not in served and "media/b/media.m4s" in served  # the archive as composed
    assert playlist(23, ended=True).replace("\n", "") != served.replace("\n", "")


def test_a_highlight_that_starts_where_the_last_one_ends_plays_on_the_same_timeline():
    ev = event(23, ended=True)
    touching = [Highlight(12.0, -10, 20, 0.0, 20.0), Highlight(30.0, -10, 20, 20.0, 40.0)]
    chosen = [spans for _, spans in ready(ev, touching, ended=True)]
    plain = render(None, chosen, event_target=6, prefix="", ended=True)
    assert "#EXT-X-DISCONTINUITY" not in plain and plain.count("#EXT-X-MAP:") == 1
    assert plain.count("#EXT-X-PROGRAM-DATE-TIME") == 2  # each highlight dated
    served = render(None, chosen, event_target=6, prefix="", ended=True, rebased=("/", "final", [(90, 1), (90, 1)]))
    live = [line for line in served.splitlines() if line.startswith("/r/")]
    assert len(live) == 20 and all(line.startswith("/r/90/1/") for line in live)  # one shift: one timeline
    assert sum("pi/" in line for line in live) == 0 and "#EXT-X-DISCONTINUITY" not in served


def test_in_unsigned_timing_every_live_fragment_carries_the_archives_allowance_and_nothing_else_changes():
    ev = event(23, ended=True)
    chosen = [spans for _, spans in ready(ev, HIGHLIGHTS, ended=True)]
    shifts = ("/", "final", [(700_090, 7), (2_500_270, -3)])
    cmaf = render(None, chosen, event_target=6, prefix="", ended=True, rebased=shifts)
    unsigned = render(None, chosen, event_target=6, prefix="", ended=True, rebased=shifts, allowance=7200)
    live = [line for line in unsigned.splitlines() if line.startswith("/r/") and not line.startswith("/r/init/")]
    assert live and all(line.startswith(("/r/700090d7200/7/", "/r/2500270d7200/-3/")) for line in live)
    assert unsigned.replace("d7200/", "/") == cmaf  # the same fragments, tags and shifts


def test_the_master_adds_the_events_codecs_to_the_archives():
    archive = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=9,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720\nvideo.m3u8\n'
    merged = master(archive, ["avc1.640028", "mp4a.40.2"], 5)
    assert 'CODECS="avc1.640028,mp4a.40.2"' in merged and "RESOLUTION=1280x720" in merged  # the highest profile/level
    alone = master(None, ["avc1.64001f", "mp4a.40.2"], 4_000_000)
    assert "BANDWIDTH=4000000" in alone and alone.rstrip().endswith("video.m3u8")
    logo = '#EXT-X-SESSION-DATA:DATA-ID="dev.vstream.overlays",URI="data:application/json;base64,W10="'
    for made in (master(archive, ["avc1.640028"], 5, [logo]), master(None, ["avc1.640028"], 5, [logo])):
        lines = made.splitlines()  # once, before the variant (the player reads it from the master)
        assert lines.count(logo) == 1 and lines.index(logo) < next(i for i, ln in enumerate(lines) if "STREAM-INF" in ln)


def recipe(text: str):
    return loads(text, Path("/tmp/fan.yaml"))


@pytest.mark.parametrize("text, says", [
    ("clips:\n  - live: final\n  - video: a\n", "as its last clip"),
    ("clips:\n  - live: final\n  - live: other\n", "as its last clip"),
    ("clips:\n  - video: a\n  - live: final\n    start: 3\n", "not with live:"),
    ("clips:\n  - live: final\n    limit: 0\n", "at least 1"),
    ("clips:\n  - live: final\ncaptions:\n  source: auto\n", "captions: not available with a live: clip"),
    ("clips:\n  - live: final\nbreaks:\n  every: 60\n  ads:\n    tags: {kind: ad}\n", "breaks: not available with a live: clip"),
    ("clips:\n  - live: final\n    select: person\n", "select: highlights"),
    ("clips:\n  - live: final\n    said: ''\n", "said: a word or phrase"),
    ("clips:\n  - live: final\n    said: []\n", "said: a word or phrase"),
    ("clips:\n  - live: final\n    said: goal\n    search: the goal\n", "said: or search:, one of them"),
    ("clips:\n  - live: final\n    search: '  '\n", "search: a query of 1-500 characters"),
    ("clips:\n  - live: final\n    search: [a, b]\n", "clips[0].search: ['a', 'b'] is not of type 'string'"),
    ("clips:\n  - live: final\n    min_score: 0.4\n", "min_score: goes with search:"),
    ("clips:\n  - live: final\n    search: goal\n    min_score: 2\n", "min_score: a number in 0-1"),
])  # fmt: skip
def test_a_live_clip_that_cannot_work_is_refused_with_the_line(text, says):
    with pytest.raises(RecipeError) as exc:
        live_entry(recipe("version: 1\nname: fan\n" + text))
    assert says in exc.value.message and "fan.yaml:" in exc.value.message


def test_the_event_may_be_a_var():
    r = recipe("version: 1\nname: fan\nvars:\n  event: final\nclips:\n  - live: '{{event}}'\n    limit: 2\n")
    entry = live_entry(r, r.render({"event": "semi"}))
    assert (entry.event, entry.limit) == ("semi", 2)
    with pytest.raises(RecipeError, match="not an event id"):
        live_entry(r, r.render({"event": "../x"}))


def test_a_live_search_takes_a_query_with_vars_and_a_threshold():
    r = recipe("version: 1\nname: fan\nvars:\n  topic: budget\nclips:\n  - live: final\n    search: 'the  {{topic}} talk'\n")
    entry = live_entry(r, r.render({"topic": "money"}))
    assert (entry.search, entry.min_score, entry.said, entry.heard) == ("the money talk", 0.5, (), True)
    r = recipe("version: 1\nname: fan\nclips:\n  - live: final\n    search: goal\n    min_score: 0.8\n")
    assert live_entry(r).min_score == 0.8 and "matches the search 'goal'" in live_entry(r).never()
    assert not live_entry(recipe("version: 1\nname: fan\nclips:\n  - live: final\n")).heard


def test_said_takes_a_word_a_phrase_or_a_list_and_vars():
    r = recipe("version: 1\nname: fan\nvars:\n  player: Ana Lima\nclips:\n  - live: final\n    said: [goal, '{{player}}', 42]\n")
    assert live_entry(r, r.render({"player": "Bo"})).said == ("goal", "Bo", "42")
    assert live_entry(recipe("version: 1\nname: fan\nclips:\n  - live: final\n    said: penalty\n")).said == ("penalty",)
    assert live_entry(recipe("version: 1\nname: fan\nclips:\n  - live: final\n")).said == ()


def test_mixed_audio_rates_name_the_videos_to_resample_and_a_live_event_at_another_rate_is_warned():
    from vstream.compose.api import mixed_audio_rates
    from vstream.compose.follow import live_rate_note

    note = mixed_audio_rates([("talk", 48000), ("phone", 44100), ("silent", 48000), ("old", None)])
    assert note and "44100 Hz and 48000 Hz" in note and "first one's 48000 Hz" in note
    assert "re-ingest phone with --force --resample-audio" in note  # only the odd one
    assert mixed_audio_rates([("talk", 48000), ("match", 48000), ("old", None)]) is None
    # a live event after archive clips of one rate: the fix depends on which side is 48 kHz
    (late,) = live_rate_note("cup", 44100, [("talk", 48000), ("match", 48000)])
    assert "cup's audio is 44100 Hz after archive clips at 48000 Hz" in late and "encoder send 48 kHz" in late
    (early,) = live_rate_note("cup", 48000, [("phone", 44100)])
    assert "re-ingest phone with --force --resample-audio" in early
    assert live_rate_note("cup", 48000, [("talk", 48000)]) == []
    assert live_rate_note("cup", 48000, [("talk", 48000), ("phone", 44100)]) == []  # the archive's own warning says it
