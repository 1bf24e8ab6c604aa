import pytest

from vstream.timecode import TICKS, format_hms, parse_time, snap_down, snap_nearest, snap_up, to_seconds, to_ticks

KEYS = [0, 90_000, 180_000, 450_000]


def test_ticks_round_trip_exactly_for_frame_times():
    # 1001/30000 s (29.97 fps frame) in its own time base, summed 30000 times, lands on 1001 s exactly
    from fractions import Fraction

    assert to_ticks(3003, Fraction(1, 90000)) == 3003
    assert to_ticks(1001, Fraction(1, 30000)) == 3003
    assert sum([3003] * 30000) == to_ticks(1001)
    assert to_seconds(to_ticks(12.5)) == 12.5


@pytest.mark.parametrize(
    "t, down, up, nearest",
    [(0, 0, 0, 0), (1, 0, 90_000, 0), (90_000, 90_000, 90_000, 90_000), (300_000, 180_000, 450_000, 180_000),
     (400_000, 180_000, 450_000, 450_000), (500_000, 450_000, 999_999, 450_000)],
)  # fmt: skip
def test_snapping_to_keyframes(t, down, up, nearest):
    assert snap_down(t, KEYS) == down
    assert snap_up(t, KEYS, end=999_999) == up
    assert snap_nearest(t, KEYS) == nearest


def test_snap_down_before_first_keyframe_gives_first():
    assert snap_down(5, [10, 20]) == 10


def test_format_and_parse_times():
    assert format_hms(3723.4567) == "01:02:03.457"
    assert format_hms(0) == "00:00:00.000"
    assert parse_time("65.5") == 65.5
    assert parse_time("1:05.5") == 65.5
    assert parse_time("01:01:05.500") == 3665.5
    with pytest.raises(ValueError, match="not a time"):
        parse_time("1::2")
    assert TICKS == 90_000


def test_snap_span_modes():
    from vstream.timecode import TICKS, snap_span

    keys = [0, 4 * TICKS, 8 * TICKS, 12 * TICKS, 16 * TICKS]
    end = 18 * TICKS
    span = (9 * TICKS, 14 * TICKS)  # a 5 s clip on 4 s GOPs
    assert snap_span(*span, keys, end, "outside") == (8 * TICKS, 16 * TICKS)  # all that was asked
    assert snap_span(6 * TICKS, 15 * TICKS, keys, end, "inside") == (8 * TICKS, 12 * TICKS)  # no more than asked
    assert snap_span(*span, keys, end, "inside") == (8 * TICKS, 12 * TICKS)  # no interval fits: nearest
    assert snap_span(*span, keys, end, "nearest") == (8 * TICKS, 12 * TICKS)
    assert snap_span(13 * TICKS, 18 * TICKS, keys, end, "inside") == (16 * TICKS, end)  # the video's end is a bound
    assert snap_span(17 * TICKS, 18 * TICKS, keys, end, "nearest") == (16 * TICKS, end)  # never empty
