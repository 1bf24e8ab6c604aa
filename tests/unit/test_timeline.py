"""The composed timeline's pure parts (breaks, splicing, captions) and its playlists, against golden files."""

from __future__ import annotations

import os
from pathlib import Path

import m3u8
import pytest

from vstream.compose import captions as cap
from vstream.compose import timeline as tl
from vstream.compose.playlist import Clip, ClipSource, media_playlist, place
from vstream.errors import UsageError
from vstream.library import tag_matches
from vstream.media.hls import ByteRange, Gop
from vstream.timecode import TICKS

GOLDEN = Path(__file__).parent / "golden"
S = TICKS  # one second


def source(video_id: str, seconds: int, gop: int = 1, size: int = 1000, init: int = 800) -> ClipSource:
    """A synthetic ingested video: a keyframe every ``gop`` s, ``size`` bytes per keyframe interval."""
    starts = list(range(0, seconds, gop))
    gops = tuple(Gop(t * S, min(gop, seconds - t) * S, init + i * size, size) for i, t in enumerate(starts))
    return ClipSource(video_id, f"../../../media/{video_id}/media.m4s", "fmp4", ByteRange(init, 0), gops,
                      tuple(t * S for t in starts), seconds * S)  # fmt: skip


TALK, MATCH, AD = source("talk", 32), source("match", 24, gop=2), source("ad", 6)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("VSTREAM_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from the golden file (VSTREAM_UPDATE_GOLDEN=1 rewrites it)"


def test_clips_snap_outward_to_keyframes_and_lay_end_to_end():
    placed = place([Clip(MATCH, int(3.5 * S), int(8.5 * S)), Clip(TALK, int(0.2 * S), 4 * S)])
    assert [(p.start / S, p.end / S, p.at / S) for p in placed] == [(2.0, 10.0, 0.0), (0.0, 4.0, 8.0)]


def test_break_targets_count_programme_time_and_never_fall_on_the_end():
    assert tl.break_targets(40 * S, 16 * S, []) == [16 * S, 32 * S]
    assert tl.break_targets(32 * S, 16 * S, [0, 40 * S]) == [0, 16 * S]  # a pre-roll; 40 s is past the end
    assert tl.break_targets(32 * S, None, [10 * S, 10 * S]) == [10 * S]


def test_slots_are_clip_starts_and_scene_starts_inside_clips():
    placed = place([Clip(TALK, 0, 32 * S), Clip(MATCH, 0, 8 * S)])
    slots = tl.candidate_slots(placed, {"talk": [0, 8 * S, int(16.3 * S), 24 * S], "match": [0, 4 * S, 12 * S]})
    # talk's scene at 16.3 s snaps to the keyframe at 16 s; match's scene at 12 s lies outside its clip
    assert [(s.at / S, s.clip, None if s.split is None else s.split / S) for s in slots] == [
        (0.0, 0, None), (8.0, 0, 8.0), (16.0, 0, 16.0), (24.0, 0, 24.0), (32.0, 1, None), (36.0, 1, 4.0)
    ]  # fmt: skip


def test_an_unsafe_slot_is_passed_over_for_the_nearest_safe_one():
    slots = [tl.Slot(t * S, 0, t * S, "cat" if t in (16, 24) else "") for t in (0, 8, 16, 24, 32)]
    breaks = tl.choose_slots(slots, [16 * S, 30 * S])
    assert [b.slot.at / S for b in breaks] == [8.0, 32.0]  # 8 and 24 tie for the first: the earlier wins
    assert [s.at / S for s in breaks[0].rejected] == [16.0]
    assert tl.choose_slots([tl.Slot(0, 0, None, "x")], [0])[0].slot is None  # nothing safe: reported, skipped


def test_breaks_stay_in_order_and_never_share_a_slot():
    slots = [tl.Slot(t * S, 0, t * S) for t in (0, 10, 30)]
    breaks = tl.choose_slots(slots, [9 * S, 11 * S, 12 * S])
    assert [b.slot.at / S if b.slot else None for b in breaks] == [10.0, 30.0, None]


def test_splice_splits_a_clip_at_its_slot_and_rotates_the_ads():
    clips = [Clip(TALK, int(0.5 * S), 32 * S), Clip(MATCH, 0, 8 * S)]
    placed = place(clips)
    ads = [Clip(AD, 0, 6 * S), Clip(source("ad2", 4), 0, 4 * S)]
    breaks = [tl.Break(16 * S, tl.Slot(16 * S, 0, 16 * S)), tl.Break(32 * S, tl.Slot(32 * S, 1, None))]
    for i, b in enumerate(breaks):
        b.pod = tl.pod_for(i, ads, 1)
    spliced = tl.splice(clips, placed, breaks)
    assert [(c.source.video_id, c.start / S, c.end / S, c.pod) for c in spliced] == [
        ("talk", 0.5, 16.0, None), ("ad", 0.0, 6.0, 0), ("talk", 16.0, 32.0, None),
        ("ad2", 0.0, 4.0, 1), ("match", 0.0, 8.0, None),
    ]  # fmt: skip
    assert sum(p.duration for p in place(spliced)) == (32 + 6 + 4 + 8) * S


def test_composed_playlist_with_an_ad_break_matches_golden_and_round_trips():
    clips = [Clip(TALK, 8 * S, 12 * S), Clip(AD, 0, 6 * S, pod=0), Clip(MATCH, 4 * S, 8 * S)]
    text = media_playlist(place(clips)).render()
    check_golden("composed_ad_break.m3u8", text)
    parsed = m3u8.loads(text)
    assert [s.cue_out_start for s in parsed.segments].index(True) == 1
    assert parsed.segments[1].scte35_duration == "6.000000" and parsed.segments[1].discontinuity
    assert [s.cue_in for s in parsed.segments].index(True) == 3
    assert sum(s.duration for s in parsed.segments) == pytest.approx(14.0)
    assert parsed.target_duration == 4
    assert parsed.dumps().strip().splitlines()[-1] == "#EXT-X-ENDLIST"


def test_mixing_fmp4_and_ts_is_refused():
    ts = ClipSource("old", "media.ts", "ts", None, TALK.gops, TALK.keyframes, TALK.end)
    with pytest.raises(UsageError, match="mix fMP4 and MPEG-TS"):
        media_playlist(place([Clip(TALK, 0, S), Clip(ts, 0, S)]))


def test_captions_are_retimed_to_where_each_clip_plays():
    placed = place([Clip(TALK, 8 * S, 16 * S), Clip(TALK, 0, 8 * S)])
    rows = {"talk": [{"start": 0.5, "end": 4.0, "text": "rocket"}, {"start": 7.9, "end": 10.0, "text": "budget"}]}
    cues = cap.retime(placed, rows.__getitem__)
    # "budget" starts 0.1 s before the first clip: cut to the clip; its 0.1 s tail in the second clip is dropped
    assert cues == [(0.0, 2.0, "budget"), (8.5, 12.0, "rocket")]
    check_golden("composed_captions.vtt", cap.render(cues))


def test_a_sentence_cut_to_a_flash_at_a_clip_edge_is_dropped_a_short_one_kept_whole():
    placed = place([Clip(TALK, 8 * S, 16 * S)])
    rows = {"talk": [{"start": 4.0, "end": 8.4, "text": "a long sentence mostly before the clip"},
                     {"start": 9.0, "end": 9.5, "text": "Goal!"}, {"start": 15.2, "end": 17.0, "text": "cut to 0.8 s"},
                     {"start": 14.0, "end": 16.6, "text": "cut to 2 s"}]}  # fmt: skip
    assert cap.retime(placed, rows.__getitem__) == [(1.0, 1.5, "Goal!"), (6.0, 8.0, "cut to 2 s")]


def test_caption_files_parse_as_webvtt_or_srt_and_errors_name_the_line():
    vtt = "WEBVTT\n\nintro\n00:00:01.000 --> 00:00:02.500\nHello <b>there</b>\n\n00:03.000 --> 00:04.000\nbye\n"
    assert cap.parse(vtt, "n.vtt") == [(1.0, 2.5, "Hello there"), (3.0, 4.0, "bye")]
    srt = "1\r\n00:00:01,000 --> 00:00:02,000\r\nline one\r\nline two\r\n\r\n"
    assert cap.parse(srt, "n.srt") == [(1.0, 2.0, "line one line two")]
    with pytest.raises(UsageError, match=r"n.vtt:3: not a cue timing line"):
        cap.parse("WEBVTT\n\n00:01 -> 00:02 --> x\n", "n.vtt")
    with pytest.raises(UsageError, match="n.vtt:3: the cue ends before it starts"):
        cap.parse("WEBVTT\n\n00:00:05.000 --> 00:00:04.000\nx\n", "n.vtt")
    with pytest.raises(UsageError, match="no cues"):
        cap.parse("WEBVTT\n", "n.vtt")


@pytest.mark.parametrize("filters, ok", [
    ({"series": "lost"}, True), ({"series": "Lost"}, False), ({"episode": "<3"}, True), ({"episode": "<2"}, False),
    ({"episode": ">=2"}, True), ({"episode": "!=2"}, False), ({"season": "*"}, True), ({"missing": "*"}, False),
    ({"episode": "<10"}, True),  # numbers compare as numbers: 2 < 10 (as text "2" > "10")
    ({"series": ">alpha"}, True), ({"series": "lost", "season": "2"}, False),
])  # fmt: skip
def test_tag_filters_compare_numbers_as_numbers(filters, ok):
    assert tag_matches({"series": "lost", "season": "1", "episode": "2"}, filters) is ok


def test_unsigned_timing_moves_every_clip_by_the_longest_reordering_delay_and_addresses_the_first_too():
    """GStreamer's playlists: each rebased fragment is named with the stream's reordering allowance (the
    longest delay of its B-frame videos), the first clip too (its bytes change), and nothing else moves."""
    from dataclasses import replace

    base = "http://h/"
    rebased = dict(rebased_uri=base + "r/{delta}/{sequence}/media/x/media.m4s",
                   rebased_segment_uri=base + "r/{delta}/{sequence}/{span}/media/x/media.m4s")  # fmt: skip
    talk, plain = replace(TALK, delay=7200, **rebased), replace(source("plain", 8), **rebased)
    placed = place([Clip(talk, 0, 4 * S), Clip(plain, 0, 4 * S), Clip(talk, 8 * S, 12 * S)])
    cmaf = media_playlist(placed, rebase=True).render()
    unsigned = media_playlist(placed, rebase=True, unsigned=True).render()
    uris = [ln for ln in unsigned.splitlines() if ln.startswith("http")]
    assert uris and all("/r/" in u and u.split("/r/")[1].split("/")[0].endswith("d7200") for u in uris)
    assert "d7200" not in cmaf
    # the same segments, durations and tags: only the addresses differ
    strip = lambda text: [ln.split("/r/")[0] for ln in text.splitlines()]  # noqa: E731
    assert strip(cmaf) == strip(unsigned)
    without_b_frames = place([Clip(replace(source("plain", 8), **rebased), 0, 4 * S)])
    assert media_playlist(without_b_frames, rebase=True, unsigned=True).render() == \
        media_playlist(without_b_frames, rebase=True).render()  # fmt: skip
