"""Which language each stretch of speech is transcribed in (pure: speech.language_runs)."""

from vstream.index.speech import Stretch, language_runs


def runs(stretches, duration=30.0):
    return [(r.start, r.end, r.language) for r in language_runs([Stretch(*s) for s in stretches], duration)]


def test_one_language_is_one_run_over_the_whole_audio():
    assert runs([(1.0, 4.0, "es", 0.9), (5.0, 9.0, "es", 0.8)]) == [(0.0, 30.0, "es")]


def test_a_switch_cuts_midway_through_the_pause_between_the_two_languages():
    assert runs([(0.5, 6.3, "en", 0.6), (8.5, 13.0, "es", 0.62), (14.0, 18.0, "es", 0.9)], 20.0) == [
        (0.0, 7.4, "en"), (7.4, 20.0, "es")]


def test_a_cough_or_a_short_word_takes_its_neighbours_language():
    # 0.4 s identified as Latin between two English sentences: one English run, not three
    assert runs([(0.0, 5.0, "en", 0.9), (5.5, 5.9, "la", 0.7), (6.5, 11.0, "en", 0.85)]) == [(0.0, 30.0, "en")]


def test_an_unsure_stretch_takes_the_nearest_sure_language_the_earlier_on_a_tie():
    found = runs([(0.0, 4.0, "it", 0.9), (5.0, 9.0, "pt", 0.3), (10.0, 14.0, "es", 0.9)])
    assert found == [(0.0, 9.5, "it"), (9.5, 30.0, "es")]


def test_nothing_identified_surely_gives_the_longest_stretches_language_throughout():
    assert runs([(0.0, 0.8, "de", 0.9), (1.0, 6.0, "nl", 0.4), (7.0, 8.0, "de", 0.2)], 9.0) == [(0.0, 9.0, "nl")]


def test_no_speech_no_runs():
    assert language_runs([], 12.0) == []


def test_a_translation_that_repeats_the_original_words_is_an_echo():
    from vstream.index.speech import echoes

    original = "La reunión sobre el presupuesto del próximo año empieza después del café."
    assert echoes("La rellón sobre el presupuesto del próximo año empieza después del café", original)
    assert not echoes("The meeting about next year's budget starts after the coffee.", original)
    assert not echoes("The cafe.", "Café.")  # a word or two in common is still a translation
