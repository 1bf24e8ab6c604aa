"""Subtitle files as people have them: encodings, SRT and WebVTT quirks, unsafe markup (pure)."""

import pytest

from vstream.errors import MediaError, UsageError
from vstream.subtitles import Cue, check_language, clean, parse, render

SRT = "1\n00:00:01,000 --> 00:00:02,500\nAdiós, <i>señor</i>\n\n2\n00:00:03,000 --> 00:00:04,000\nSí\n"


@pytest.mark.parametrize("data", [
    SRT.encode("utf-8"),
    b"\xef\xbb\xbf" + SRT.encode("utf-8"),  # UTF-8 with a BOM (Windows Notepad)
    b"\xff\xfe" + SRT.encode("utf-16-le"),  # UTF-16 (Subtitle Edit, older Windows tools)
    SRT.encode("cp1252"),  # Windows-1252 / Latin-1 (most SRT files from the 2000s)
    SRT.replace("\n", "\r\n").encode("utf-8"),  # CRLF
    SRT.replace("00:00:0", "0:0").replace(",", ".", 2).encode(),  # no hours, dot decimals
], ids=["utf8", "utf8-bom", "utf16", "cp1252", "crlf", "short-times"])  # fmt: skip
def test_every_encoding_and_quirk_gives_the_same_cues(data):
    assert parse(data) == [Cue(1.0, 2.5, "Adiós, <i>señor</i>"), Cue(3.0, 4.0, "Sí")]


def test_webvtt_with_header_notes_styles_cue_ids_and_settings():
    vtt = ("WEBVTT - made by hand\n\nSTYLE\n::cue { color: yellow }\n\nNOTE a comment\n\nintro\n"
           "00:01.000 --> 00:02.000 align:start position:10%\n<c.yellow>Hello</c> <b>there</b>\n\n"
           "00:00:02.000 --> 00:00:03.500\n<v Roger>Two\nlines</v>\n")  # fmt: skip
    assert parse(vtt.encode()) == [Cue(1.0, 2.0, "Hello <b>there</b>"), Cue(2.0, 3.5, "Two\nlines")]


def test_markup_that_could_reach_a_page_is_dropped_or_escaped():
    assert clean('<font color="red">A</font> & <script>alert(1)</script> <img src=x onerror=y> <I>ok</I>') \
        == "A &amp; alert(1) <i>ok</i>"  # fmt: skip
    assert clean("5 &lt; 6") == "5 &lt; 6"  # an entity stays one escaped character, not doubly escaped


@pytest.mark.parametrize("data, needle", [
    (b"\x00\x01\x02binary\x00" * 50, "binary"),
    (b"just some text\nwith no times\n", "no cues"),
    (b"1\n00:00:05,000 --> 00:00:04,000\nbackwards\n", "ends before it starts"),
    (b"1\n00:00:01,000 --> 00:00:03,000\na\n\n2\n00:00:02,000 --> 00:00:04,000\nb\n", "overlap"),
    (b"1\n00:00:01,000 --> 00:99:00,000\nbad\n", "bad time"),
    (b"x" * (6 * 2**20), "not a subtitle file"),
])  # fmt: skip
def test_what_is_not_subtitles_is_refused_with_the_reason(data, needle):
    with pytest.raises(MediaError, match=needle):
        parse(data)


def test_language_codes_and_the_written_file():
    assert check_language("pt-BR") == "pt-BR" and check_language("es") == "es"
    # what people type is written the way players and HLS expect it
    assert [check_language(c) for c in ("EN", "pt-br", "PT_br", "es_ES", "zh-hant")] == ["en", "pt-BR", "pt-BR", "es-ES", "zh-Hant"]
    for bad in ("xx", "english", "en-", "e", ""):
        with pytest.raises(UsageError, match="unknown language code"):
            check_language(bad)
    assert render([Cue(61.5, 3723.25, "Hi")]) == "WEBVTT\n\n00:01:01.500 --> 01:02:03.250\nHi\n\n"


def test_errors_name_the_file_and_what_to_do():
    with pytest.raises(MediaError, match=r"talk.srt: bad time '01.000' in '01.000 --> 00:00:02,000'"):
        parse(b"1\n01.000 --> 00:00:02,000\nhi\n", name="talk.srt")
    utf16 = "1\n00:00:01,000 --> 00:00:02,000\nHallo Welt\n".encode("utf-16-le")
    with pytest.raises(MediaError, match="UTF-16 text without a byte-order mark") as err:
        parse(utf16, name="de.srt")
    assert err.value.hint == "add --encoding utf-16-le"
    assert parse(utf16, encoding="utf-16-le", name="de.srt")[0].text == "Hallo Welt"
    with pytest.raises(MediaError, match=r"es.srt: the file is not utf-8"):
        parse("1\n00:00:01,000 --> 00:00:02,000\nAño\n".encode("cp1252"), encoding="utf-8", name="es.srt")
