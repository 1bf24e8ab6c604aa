"""A text model change touches only the text part of a stage's fingerprint: the stage's texts stand
and only their vectors are redone (pure string functions of vstream.models)."""

from __future__ import annotations

from vstream.models import ModelSettings, fingerprint, text_identity, with_text, without_text


def test_only_the_text_model_differs():
    minilm, e5 = ModelSettings(), ModelSettings(text="e5")
    for stage in ("scenes", "speech"):
        a, b = fingerprint(stage, minilm), fingerprint(stage, e5)
        assert a != b and without_text(a) == without_text(b)
        assert with_text(a, "e5") == b and with_text(b, None) == a
        assert text_identity("e5") in b and "text=" not in without_text(b)


def test_another_change_is_not_a_re_embedding():
    a = fingerprint("speech", ModelSettings())
    b = fingerprint("speech", ModelSettings(whisper="tiny.en", text="e5"))
    assert without_text(a) != without_text(b)
    assert without_text(fingerprint("scenes", ModelSettings(), sample_seconds=5)) != without_text(
        fingerprint("scenes", ModelSettings(text="e5")))


def test_stages_without_text_are_unchanged():
    assert without_text(fingerprint("audio", ModelSettings())) == fingerprint("audio", ModelSettings(text="e5"))


def test_english_translations_redo_speech_only_and_stick_for_the_library(tmp_path):
    import json

    import pytest

    from vstream.errors import UsageError

    on = ModelSettings(english=True)
    assert fingerprint("speech", on) != fingerprint("speech", ModelSettings())  # speech is redone
    assert without_text(fingerprint("speech", on)) != without_text(fingerprint("speech", ModelSettings()))  # not a re-embed
    assert fingerprint("scenes", on) == fingerprint("scenes", ModelSettings())
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "models.json").write_text(json.dumps({"settings": {"english": True, "text": None}}))
    assert ModelSettings.load(tmp_path).english is True  # the last index run's choice
    assert ModelSettings.load(tmp_path, english=False).english is False  # --no-english
    (tmp_path / "config.json").write_text(json.dumps({"models": {"english": "yes"}}))
    with pytest.raises(UsageError, match="config.json: \"english\" must be true or false"):
        ModelSettings.load(tmp_path)
