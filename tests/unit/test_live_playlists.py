"""The live event's playlists (pure): takes behind discontinuities, ENDLIST only at the end, clips."""

import m3u8
import pytest

from vstream.live import (Event, Fragment, NotYet, Take, clip_playlist, clip_spans, media_time, parse_take, parse_time,
                          redact, render_playlist, select)

TAKE_1 = Take(1, "2026-12-01T20:00:00.000Z", [1350, 0], [Fragment(2.0, 1000, 1350), Fragment(2.0, 900, 2350)])
TAKE_2 = Take(2, "2026-12-01T20:00:09.500Z", [1340, 0], [Fragment(2.0, 800, 1340)])

GOLDEN = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="take-001/media.m4s",BYTERANGE="1350@0"
#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:00.000Z
#EXTINF:2.000000,
#EXT-X-BYTERANGE:1000@1350
take-001/media.m4s
#EXTINF:2.000000,
#EXT-X-BYTERANGE:900@2350
take-001/media.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="take-002/media.m4s",BYTERANGE="1340@0"
#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:09.500Z
#EXTINF:2.000000,
#EXT-X-BYTERANGE:800@1340
take-002/media.m4s
"""


def test_the_event_playlist_is_exactly_this_while_live_and_ends_only_when_ended():
    event = Event("game", "udp://x", "recording", takes=[TAKE_1, TAKE_2])
    assert render_playlist(event) == GOLDEN
    parsed = m3u8.loads(GOLDEN)
    assert parsed.playlist_type == "event" and not parsed.is_endlist and len(parsed.segments) == 3
    assert parsed.segments[2].discontinuity and parsed.target_duration == 6
    event.status = "ended"
    assert render_playlist(event) == GOLDEN + "#EXT-X-ENDLIST\n"


def test_ffmpegs_take_playlist_is_read_as_completed_fragments():
    text = ('#EXTM3U\n#EXT-X-MAP:URI="media.m4s",BYTERANGE="1350@0"\n#EXTINF:2.000000,\n#EXT-X-BYTERANGE:183664@1350\n'
            "#EXT-X-PROGRAM-DATE-TIME:2026-12-01T22:53:18.244+0000\nmedia.m4s\n#EXTINF:1.5,\n#EXT-X-BYTERANGE:10@185014\n")
    init, started, fragments, ended = parse_take(text)
    assert init == [1350, 0] and started.startswith("2026-12-01T22:53:18.244")
    assert fragments == [Fragment(2.0, 183664, 1350), Fragment(1.5, 10, 185014)] and not ended


def test_a_clip_takes_the_whole_fragments_covering_it_across_takes():
    event = Event("game", "udp://x", "recording", takes=[TAKE_1, TAKE_2])
    spans = select(event, 3.0, 5.0)  # the second fragment of take 1 and the first of take 2
    assert [(s.take.n, len(s.fragments), s.start) for s in spans] == [(1, 1, 2.0), (2, 1, 4.0)]
    text = clip_playlist(event, spans, "../")
    parsed = m3u8.loads(text)
    assert parsed.is_endlist and [s.uri for s in parsed.segments] == ["../take-001/media.m4s", "../take-002/media.m4s"]
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:02.000Z" in text  # the first fragment's own wall clock


@pytest.mark.parametrize("url,shown", [
    ("rtmp://127.0.0.1:1935/live/s3cr3t", "rtmp://127.0.0.1:1935/live/…"),
    ("srt://user:pw@10.0.0.1:9000?mode=listener&passphrase=x", "srt://10.0.0.1:9000"),
    ("/srv/dvr/game.ts", "/srv/dvr/game.ts"),
])
def test_sources_are_shown_without_their_secrets(url, shown):
    assert redact(url) == shown


def test_a_clip_of_what_is_not_recorded_yet_says_not_yet_with_a_sane_wait():
    with pytest.raises(NotYet):
        clip_spans(Event("game", "udp://x", "starting"), last=30)
    event = Event("game", "udp://x", "recording", takes=[TAKE_1, TAKE_2])  # 20:00:00-20:00:04, 20:00:09.5-20:00:11.5
    assert media_time(event, parse_time("2026-12-01T20:00:10.000Z")) == pytest.approx(4.5)
    with pytest.raises(NotYet) as early:
        clip_spans(event, start="2026-12-01T20:00:10Z", end="2026-12-01T20:00:20Z")  # ends 8.5 s after the last frame
    assert 8 <= early.value.retry_after <= 9


def test_a_start_over_playlist_begins_at_the_fragment_holding_that_time_and_keeps_growing():
    event = Event("game", "udp://x", "recording", takes=[TAKE_1, TAKE_2])
    text = render_playlist(event, media_time(event, parse_time("2026-12-01T20:00:03Z")))  # inside fragment 2 of take 1
    parsed = m3u8.loads(text)
    assert [s.byterange for s in parsed.segments] == ["900@2350", "800@1340"]
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-12-01T20:00:02.000Z" in text and not parsed.is_endlist
    assert render_playlist(event, 0.0) == GOLDEN  # from the start: the event's own playlist


def test_served_live_playlists_carry_the_init_section_in_the_first_fragment_after_a_discontinuity():
    from vstream.live import with_init_segments

    text = "\n".join(["#EXTM3U", "#EXT-X-TARGETDURATION:6", '#EXT-X-MAP:URI="take-001/media.m4s",BYTERANGE="900@0"',
                      "#EXTINF:2.000000,", "#EXT-X-BYTERANGE:1000@900", "take-001/media.m4s",
                      "#EXT-X-DISCONTINUITY", '#EXT-X-MAP:URI="take-001/media.m4s",BYTERANGE="900@0"',
                      "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T20:00:10.000Z",
                      "#EXTINF:2.000000,", "#EXT-X-BYTERANGE:1000@5900", "take-001/media.m4s",
                      "#EXTINF:2.000000,", "#EXT-X-BYTERANGE:1000@6900", "take-001/media.m4s", "#EXT-X-ENDLIST"]) + "\n"  # fmt: skip
    served = with_init_segments(text).splitlines()
    # the first fragment (no discontinuity before it) and the second after the discontinuity stay byte ranges
    assert served.count("#EXT-X-BYTERANGE:1000@900") == 1 and served.count("#EXT-X-BYTERANGE:1000@6900") == 1
    at = served.index("#EXT-X-DISCONTINUITY")
    assert served[at + 3 : at + 6] == ["#EXTINF:2.000000,", "#EXT-X-BYTERANGE:1900@0", "take-001/i/5900+1000.m4s"]  # init + fragment
    assert served.count('#EXT-X-MAP:URI="take-001/media.m4s",BYTERANGE="900@0"') == 2  # maps stay for the others
    assert with_init_segments(with_init_segments(text)) == with_init_segments(text)
