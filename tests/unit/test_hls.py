"""Pure playlist functions against checked-in golden files, round-tripped through m3u8."""

from pathlib import Path

import m3u8
import pytest

from vstream.media.hls import (
    ByteRange,
    ByteRangeIndex,
    Gop,
    InitSection,
    MediaPlaylist,
    Segment,
    gops_from_index,
    group_gops,
    parse_byterange_playlist,
    segments_for,
)
from vstream.timecode import TICKS

GOLDEN = Path(__file__).parent / "golden"

FFMPEG_SINGLE_FILE = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="media.m4s",BYTERANGE="1372@0"
#EXTINF:2.000000,
#EXT-X-BYTERANGE:1000@1372
media.m4s
#EXTINF:2.000000,
#EXT-X-BYTERANGE:1100@2372
media.m4s
#EXTINF:1.500000,
#EXT-X-BYTERANGE:900
media.m4s
#EXTINF:2.000000,
#EXT-X-BYTERANGE:1200@4372
media.m4s
#EXTINF:0.520000,
#EXT-X-BYTERANGE:300@5572
media.m4s
#EXT-X-ENDLIST
"""


def _library_playlist() -> MediaPlaylist:
    index = parse_byterange_playlist(FFMPEG_SINGLE_FILE)
    keyframes = [0, 2 * TICKS, 4 * TICKS, int(5.5 * TICKS), int(7.5 * TICKS)]
    gops = gops_from_index(keyframes, int(8.02 * TICKS), index)
    init = InitSection("media.m4s", index.init)
    return MediaPlaylist([segments_for(g, "media.m4s", init) for g in group_gops(gops, 4 * TICKS)])


def test_parse_ffmpeg_single_file_playlist_including_implicit_offset():
    index = parse_byterange_playlist(FFMPEG_SINGLE_FILE)
    assert index.init == ByteRange(1372, 0)
    assert [r for _, r in index.ranges] == [
        ByteRange(1000, 1372), ByteRange(1100, 2372), ByteRange(900, 3472), ByteRange(1200, 4372), ByteRange(300, 5572)
    ]  # fmt: skip


def test_library_playlist_matches_golden_file():
    text = _library_playlist().render()
    assert text == (GOLDEN / "library_fmp4.m3u8").read_text()


def test_rendered_playlist_round_trips_through_m3u8_parser():
    playlist = _library_playlist()
    parsed = m3u8.loads(playlist.render())
    assert parsed.is_endlist and parsed.playlist_type == "vod"
    assert parsed.target_duration == playlist.target_duration
    assert [s.duration for s in parsed.segments] == pytest.approx([s.duration / TICKS for s in playlist.segments])
    assert [s.byterange for s in parsed.segments] == [s.byterange.render() for s in playlist.segments]
    assert parsed.segment_map[0].byterange == "1372@0"


def test_segments_are_contiguous_ranges_grouped_near_target():
    segs = _library_playlist().segments
    assert [s.duration / TICKS for s in segs] == pytest.approx([4.0, 4.02])
    for a, b in zip(segs, segs[1:]):
        assert a.byterange.offset + a.byterange.length == b.byterange.offset


def test_target_duration_follows_rfc8216_rounding():
    def pl(*secs):
        return MediaPlaylist([Segment("s.ts", round(s * TICKS)) for s in secs])

    assert pl(4.0, 4.49).target_duration == 4
    assert pl(4.5).target_duration == 5
    assert pl(0.2).target_duration == 1


def test_discontinuity_and_map_changes_are_written_once_per_change():
    a, b = InitSection("a.m4s", ByteRange(10, 0)), InitSection("b.m4s", ByteRange(20, 0))
    playlist = MediaPlaylist(
        [
            Segment("a.m4s", TICKS, ByteRange(5, 10), a),
            Segment("a.m4s", TICKS, ByteRange(5, 15), a),
            Segment("b.m4s", TICKS, ByteRange(5, 20), b, discontinuity=True),
        ]
    )
    text = playlist.render()
    assert text.count("#EXT-X-MAP") == 2
    assert text.index("#EXT-X-DISCONTINUITY") < text.index('#EXT-X-MAP:URI="b.m4s"')
    assert m3u8.loads(text).segments[2].discontinuity


def test_group_gops_keeps_single_long_gops_whole():
    gops = [Gop(i * 10 * TICKS, 10 * TICKS, i, 1) for i in range(3)]
    assert [len(g) for g in group_gops(gops, 4 * TICKS)] == [1, 1, 1]


def test_gops_pair_keyframes_with_ranges_and_refuse_to_guess():
    index = ByteRangeIndex(None, [(0.0, ByteRange(10, 0)), (0.0, ByteRange(10, 10))])
    assert [g.start for g in gops_from_index([0, TICKS], 3 * TICKS, index)] == [0, TICKS]
    # one range more: frames before the first keyframe belong to the first range
    assert [g.start for g in gops_from_index([TICKS // 2], 3 * TICKS, index)] == [0, TICKS // 2]
    with pytest.raises(ValueError, match="2 byte ranges for 3 keyframes"):
        gops_from_index([0, TICKS, 2 * TICKS], 3 * TICKS, index)
