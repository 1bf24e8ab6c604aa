"""Pure parts of search: fusion, moments, keyframe snapping, ranking, the language check."""

import pytest

from vstream.errors import UsageError
from vstream.search import Hit, Moment, check_language, merge_moments, rank_moments, rrf, snap_moment
from vstream.timecode import TICKS


def hit(video, start, end, kind="speech", source="transcript", score=1.0):
    return Hit(video, start, end, kind, source, score)


def test_rrf_rewards_agreement_and_normalises_to_one():
    a, b, c = hit("v", 0, 5), hit("v", 10, 15), hit("w", 0, 5)
    fused = rrf([[a, b], [a, c]])
    assert fused[0][0] is a and fused[0][1] == pytest.approx(1.0)
    assert {h.start for h, _ in fused[1:]} == {10, 0}
    assert all(0 < s <= 1 for _, s in fused)
    assert rrf([[], []]) == []


def test_overlapping_hits_merge_touching_shots_do_not():
    scored = [
        (hit("v", 0, 8, "scene", "description"), 0.9),
        (hit("v", 0.5, 6.3, "speech"), 0.8),  # the sentence inside the scene
        (hit("v", 8, 16, "scene", "description"), 0.3),  # the next shot, touching
        (hit("w", 0, 8, "scene"), 0.5),
    ]
    moments = merge_moments(scored)
    assert [(m.video_id, m.start, m.end) for m in moments] == [("v", 0, 8), ("w", 0, 8), ("v", 8, 16)]
    assert moments[0].kinds == ["scene", "speech"] and moments[0].score == 0.9


def test_snap_widens_to_keyframes_and_stays_inside_the_video():
    keys = [0, 2 * TICKS, 4 * TICKS, 6 * TICKS]
    m = snap_moment(Moment("v", 2.5, 4.5, 1, [], "", ""), keys, end_ticks=7 * TICKS, padding=0)
    assert (m.start, m.end) == (2.0, 6.0)
    m = snap_moment(Moment("v", 0.2, 6.9, 1, [], "", ""), keys, end_ticks=7 * TICKS, padding=1.0)
    assert (m.start, m.end) == (0.0, 7.0)  # padding never runs past either end


def test_rank_limits_per_video_and_score():
    moments = [Moment("v", i, i + 1, 1 - i / 10, [], "", "") for i in range(5)] + [Moment("w", 0, 1, 0.55, [], "", "")]
    ranked = rank_moments(moments, limit=3, max_per_video=2, min_score=None)
    assert [(m.video_id, m.start) for m in ranked] == [("v", 0), ("v", 1), ("w", 0)]
    assert all(m.score >= 0.8 for m in rank_moments(moments, limit=10, max_per_video=None, min_score=0.8))


@pytest.mark.parametrize("query", ["the budget discussion", "Übergröße café", "goal 42 by player_42"])
def test_english_and_latin_queries_pass(query):
    check_language(query, "all-MiniLM-L6-v2")


@pytest.mark.parametrize("query, script", [("预算讨论", "Cjk"), ("обсуждение бюджета", "Cyrillic"), ("مناقشة الميزانية", "Arabic")])
def test_other_scripts_get_a_clear_message(query, script):
    with pytest.raises(UsageError, match=f"mostly {script} script") as exc:
        check_language(query, "all-MiniLM-L6-v2")
    assert "--mode keyword" in str(exc.value)


def test_lexical_evidence_is_the_share_of_content_words():
    from vstream.search import content_words, coverage

    assert content_words("the Budget, the budget and THE plan") == ["budget", "plan"]
    assert content_words("the of and") == []  # stop-words alone carry nothing
    assert coverage(["budget", "plan"], "The budget discussion for next year.") == 0.5
    assert coverage(["launch"], "Two launches are scheduled") == 1.0  # a longer word it begins
    assert coverage(["cat"], "a catalogue") == 1.0 and coverage(["ca"], "a catalogue") == 0.0  # short terms match whole
    assert coverage([], "anything") == 0.0


def test_hybrid_evidence_combines_independently_and_never_exceeds_one():
    from vstream.search import calibrate, combine

    assert calibrate(0.25, (0.25, 0.65)) == 0.0 and calibrate(0.65, (0.25, 0.65)) == 1.0
    assert calibrate(0.45, (0.25, 0.65)) == pytest.approx(0.5) and calibrate(0.9, (0.25, 0.65)) == 1.0
    both = hit("talk", 0, 4, source="keyword-transcript")
    both.evidence = 0.5
    same = hit("talk", 0, 4, source="transcript")
    same.evidence = 0.5
    other = hit("ad", 0, 4, source="transcript")
    other.evidence = 0.2
    scored = dict((h.video_id, s) for h, s in combine([[both], [same, other]], frozenset({"keyword-transcript"})))
    assert scored["talk"] == pytest.approx(0.75, abs=1e-4) and scored["ad"] == pytest.approx(0.2, abs=1e-4)
