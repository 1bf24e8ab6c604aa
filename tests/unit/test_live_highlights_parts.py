"""Live highlights, the pure part: judging loudness as it arrives, and the playlist that only grows."""

from __future__ import annotations

import copy

from vstream.live import Event, Fragment, Take
from vstream.live_highlights import STEP, Highlight, Settings, State, detect, ready, render, timeline, wall_clock


def crowd(seconds: float, roars: dict[float, float], level: float = -30.0) -> list[float]:
    """A crowd at ``level`` LUFS with roars {start second: seconds long} at -10 LUFS, a value per STEP."""
    values = [level] * int(seconds / STEP)
    for start, length in roars.items():
        for i in range(int(start / STEP), int((start + length) / STEP)):
            values[i] = -10.0
    return values


def judged_as_it_arrives(values: list[float], per_fragment: int = 4, settings: Settings | None = None) -> list[Highlight]:
    """What a recorder finds, fragment by fragment (2 s each), and at the end."""
    state = State(settings or Settings())
    for n in range(per_fragment, len(values) + 1, per_fragment):
        state.highlights += detect(values[:n], state)
    state.highlights += detect(values, state, final=True)
    return state.highlights


def test_roars_are_found_where_they_happened_and_judging_as_it_arrives_finds_the_same():
    values = crowd(90, {20.0: 1.5, 45.0: 2.0})
    live = judged_as_it_arrives(values)
    at_once = State()
    at_once.highlights = detect(values, at_once, final=True)
    assert [h.peak for h in live] == [20.0, 45.0]
    assert [h.to_dict() for h in live] == [h.to_dict() for h in at_once.highlights]
    first = live[0]
    assert first.rise == 20.0 and first.loudness == -10.0
    assert abs(first.start - (20.0 - 20.0 * 2 / 3)) < 1e-6 and abs(first.end - (20.0 + 20.0 / 3)) < 1e-6


def test_a_roar_is_judged_only_once_the_seconds_after_it_are_recorded():
    values = crowd(40, {20.0: 1.0})
    state = State()
    assert detect(values[: int(21.5 / STEP)], state) == []  # 1.5 s after it: a louder moment may still come
    assert [h.peak for h in detect(values[: int(23.5 / STEP)], state)] == [20.0]


def test_no_highlight_without_a_rise_in_the_first_seconds_or_in_silence_then_noise():
    assert judged_as_it_arrives(crowd(60, {})) == []
    assert judged_as_it_arrives(crowd(60, {1.0: 1.0})) == []  # no minute before it to compare with
    quiet_hiss = [-70.0] * 40 + [-55.0] * 80  # silence, then a hiss: not a highlight
    assert judged_as_it_arrives(quiet_hiss) == []
    assert judged_as_it_arrives(crowd(60, {20.0: 1.0}), settings=Settings(rise=25.0)) == []


def test_roars_closer_than_a_clip_are_one_highlight_at_the_loudest_and_clips_never_repeat():
    values = crowd(120, {20.0: 1.0, 26.0: 1.0, 50.0: 1.0})
    values[int(26.0 / STEP)] = -5.0  # the second roar, 6 s later, is louder: within the lookahead? no: one clip
    found = judged_as_it_arrives(values)
    assert [h.peak for h in found] == [20.0, 50.0]
    values = crowd(120, {20.0: 1.0, 22.0: 1.0})
    values[int(22.0 / STEP)] = -5.0  # louder 2 s later (inside the lookahead): that one is the peak
    assert [h.peak for h in judged_as_it_arrives(values)] == [22.0]
    close = judged_as_it_arrives(crowd(120, {20.0: 1.0, 41.0: 1.0}), settings=Settings(length=20.0))
    assert [h.peak for h in close] == [20.0, 41.0]
    assert close[1].start >= close[0].end  # the second clip starts where the first ended


def event(seconds: float, *, fragment: float = 2.0, status: str = "recording", takes: int = 1) -> Event:
    ev = Event("derby", "udp://127.0.0.1:1", status=status, started_at="2026-12-02T20:00:00.000Z", target=6)
    per_take = int(seconds / fragment / takes)
    for n in range(1, takes + 1):
        frags = [Fragment(fragment, 1000, 900 + k * 1000) for k in range(per_take)]
        start = f"2026-12-02T20:{(n - 1) * 10:02d}:00.000Z"
        ev.takes.append(Take(n, start, [900, 0], frags))
    return ev


def grow(ev: Event, seconds: float) -> Event:
    out = copy.deepcopy(ev)
    take = out.takes[-1]
    while out.duration < seconds - 1e-6:
        take.fragments.append(Fragment(2.0, 1000, 900 + len(take.fragments) * 1000))
    return out


def test_the_playlist_only_grows_keeps_its_target_and_ends_once():
    highlights = judged_as_it_arrives(crowd(120, {20.0: 1.0, 60.0: 1.0, 100.0: 1.0}))
    texts = []
    for seconds in range(2, 122, 2):
        text = render(grow(event(0), seconds), highlights, ended=False)
        if text is not None:
            texts.append(text)
    final = render(grow(event(0), 120).__class__.from_dict(grow(event(0), 120).to_dict() | {"status": "ended"}),
                   highlights, ended=True)
    assert texts and final is not None
    for before, after in zip(texts, texts[1:] + [final]):
        assert after.startswith(before)  # reloads only ever see more
        assert "#EXT-X-TARGETDURATION:6\n" in after
    assert all("#EXT-X-ENDLIST" not in t for t in texts) and final.endswith("#EXT-X-ENDLIST\n")
    assert final.count("#EXT-X-DISCONTINUITY") == 2 and final.count("#EXT-X-PROGRAM-DATE-TIME") == 3
    assert "#EXT-X-START:TIME-OFFSET=0" in final
    ranges = [line for line in final.splitlines() if line.startswith("#EXT-X-BYTERANGE")]
    assert len(ranges) == len(set(ranges)) == 3 * 11  # 20 s from mid-fragment: 11 fragments of 2 s each, none twice
    # the first highlight (clip 6.7-26.7 s) is published once its last fragment is recorded: 28 s
    first = min(s for s in range(2, 122, 2) if render(grow(event(0), s), highlights, ended=False))
    assert first == 28


def test_nothing_is_published_under_three_target_durations_until_the_event_ends():
    short = judged_as_it_arrives(crowd(60, {20.0: 1.0}), settings=Settings(length=8.0))
    ev = grow(event(0), 60)
    assert render(ev, short, ended=False) is None  # 8 s < 3 x 6 s: players would stall
    ended = render(ev, short, ended=True)
    assert ended is not None and ended.count("#EXTINF") == 5  # 14.7-22.7 s on the 2 s grid: 14-24 s
    assert render(ev, [], ended=True) is None


def test_a_clip_across_two_takes_plays_both_behind_a_discontinuity_and_wall_clock_follows_the_take():
    ev = event(80, takes=2, status="ended")  # two takes of 40 s, the second starting 10 min later
    h = Highlight(peak=45.0, loudness=-10, rise=20, start=35.0, end=55.0)
    (got, spans), = ready(ev, [h], ended=True)
    assert [s.take.n for s in spans] == [1, 2]
    text = render(ev, [h], ended=True)
    assert text.count("#EXT-X-DISCONTINUITY") == 1 and "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T20:10:00.000Z" in text
    assert wall_clock(ev, 45.0) == "2026-12-02T20:10:05.000Z"


def test_highlights_that_follow_on_in_the_recording_play_on_without_a_discontinuity():
    ev = event(80, status="ended")
    touching = [Highlight(peak=20.0, loudness=-10, rise=20, start=6.7, end=26.7),
                Highlight(peak=41.0, loudness=-10, rise=20, start=27.0, end=47.0)]  # fmt: skip
    text = render(ev, touching, ended=True)
    ranges = [line for line in text.splitlines() if line.startswith("#EXT-X-BYTERANGE")]
    assert ranges == [f"#EXT-X-BYTERANGE:1000@{900 + k * 1000}" for k in range(3, 24)]  # 6-48 s, each once, in order
    # one timeline (a player resets nothing between them), each highlight still dated
    assert "#EXT-X-DISCONTINUITY" not in text and text.count("#EXT-X-MAP:") == 1
    assert text.count("#EXT-X-PROGRAM-DATE-TIME") == 2 and "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T20:00:28.000Z" in text
    apart = render(ev, [touching[0], Highlight(peak=60.0, loudness=-10, rise=20, start=46.7, end=66.7)], ended=True)
    assert apart.count("#EXT-X-DISCONTINUITY") == 1 and apart.count("#EXT-X-MAP:") == 2  # fragments skipped: a jump


def test_the_timeline_places_every_fragment_at_its_event_time_and_stops_at_the_first_not_measured():
    ev = event(0)
    ev.takes[0].fragments = [Fragment(2.002, 1, k) for k in range(4)]
    measured = {(1, k): [-30.0, -30.0, -30.0, -30.0, -30.0] for k in range(4)}
    measured[(1, 2)] = [-10.0] + [-30.0] * 4
    values = timeline(ev, measured)
    assert values[int(2 * 2.002 / STEP)] == -10.0 and len(values) == int(4 * 2.002 / STEP) + 1
    del measured[(1, 1)]
    assert len(timeline(ev, measured)) == 5


def test_a_roar_measured_a_hair_louder_half_a_second_later_is_the_same_highlight_at_its_start():
    values = crowd(60, {30.0: 1.0})
    values[int(30.5 / STEP)] += 0.01  # measured in another run: ~0.01 LU of noise
    assert [h.peak for h in judged_as_it_arrives(values)] == [30.0]  # not 30.5: the same as without the noise
