"""vstream's page draws a stream's text on screen (as text, never markup) and offers its subtitle languages."""

from __future__ import annotations

import shutil
import urllib.parse

import pytest

from tests.conftest import vstream_json
from tests.e2e.test_serve import Server, open_page

pytestmark = pytest.mark.browser

RECIPE = """version: 1
name: board
vars:
  home: HOME
  away: AWAY
  score: "0 - 0"
clips:
  - video: talk
    start: 8
    duration: 4
text:
  - text: "{{home}} {{score}} {{away}}"
    position: top-left
    style: {size: 0.08, background: "#000000cc"}
  - text: "<script>window.pwned = 1</script><b>not bold</b>"
    position: bottom
    start: 1
    end: 3
    style: {font: serif, color: "#ffcc00"}
  - text: "corner"
    x: 0.5
    y: 0.5
captions:
  source: auto
  languages: [es, de, pt-BR]
  default: es
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, library):
    root = tmp_path_factory.mktemp("page-text")
    lib = root / "lib"
    shutil.copytree(library, lib)
    for lang, words in (("es", "El presupuesto"), ("de", "Der Haushalt"), ("pt-BR", "O orçamento")):
        srt = root / f"talk.{lang}.srt"
        srt.write_text(f"1\n00:00:08,500 --> 00:00:11,500\n{words}\n")
        vstream_json("subtitles", "add", "talk", str(srt), "--lang", lang, "-L", str(lib))
    recipes = root / "recipes"
    recipes.mkdir()
    (recipes / "board.yaml").write_text(RECIPE, encoding="utf-8")
    served = Server(lib, recipes)
    yield served
    served.stop()


@pytest.fixture
def browser(hls_player):
    return hls_player.browser


def start(browser, server):
    page = open_page(browser, server)
    query = urllib.parse.urlencode({"user": "fan", "home": "Ángel", "away": "Zoë", "score": "2 - 1"})
    page.evaluate("url => play(url)", f"/streams/board/master.m3u8?{query}")
    page.wait_for_function("() => window.vstream.state === 'playing'", timeout=30_000)
    page.evaluate("() => document.getElementById('video').pause()")
    return page


def seek(page, t: float) -> None:
    page.evaluate(f"() => {{ document.getElementById('video').currentTime = {t}; }}")
    page.wait_for_function(f"() => Math.abs(document.getElementById('video').currentTime - {t}) < 0.05 && "
                           "!document.getElementById('video').seeking")  # fmt: skip
    page.wait_for_timeout(200)


def test_the_page_draws_the_streams_text_as_text_where_and_when_the_manifest_says(server, browser):
    page = start(browser, server)
    assert [t["text"] for t in page.evaluate("window.vstream.texts")] == [
        "Ángel 2 - 1 Zoë", "<script>window.pwned = 1</script><b>not bold</b>", "corner"]  # fmt: skip
    boxes = page.query_selector_all("#texts .text")
    assert len(boxes) == 3
    seek(page, 0.5)  # the title starts at 1 s
    assert [b.is_visible() for b in boxes] == [True, False, True]
    seek(page, 2.0)
    assert [b.is_visible() for b in boxes] == [True, True, True]
    assert [b.text_content() for b in boxes] == page.evaluate("window.vstream.texts.map(t => t.text)")
    # markup in a text is shown, never run or parsed
    assert page.evaluate("document.querySelectorAll('#texts script, #texts b').length") == 0
    assert page.evaluate("window.pwned") is None
    stage = page.query_selector("#stage").bounding_box()
    score, title, corner = (b.bounding_box() for b in boxes)
    margin = stage["width"] * 0.02
    assert score["x"] == pytest.approx(stage["x"] + margin, abs=1.5)  # top-left, inside the player's margin
    assert score["y"] == pytest.approx(stage["y"] + margin, abs=1.5)
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#texts .text')).fontSize)")
    assert size == pytest.approx(stage["height"] * 0.08, abs=0.5)  # a fraction of the frame's height
    assert title["x"] + title["width"] / 2 == pytest.approx(stage["x"] + stage["width"] / 2, abs=1.5)  # bottom centre
    assert title["y"] + title["height"] == pytest.approx(stage["y"] + stage["height"] - margin, abs=1.5)
    assert corner["x"] == pytest.approx(stage["x"] + stage["width"] / 2, abs=1.5)  # x/y: the box's corner
    assert corner["y"] == pytest.approx(stage["y"] + stage["height"] / 2, abs=1.5)
    assert page.evaluate("getComputedStyle(document.querySelectorAll('#texts .text')[1]).color") == "rgb(255, 204, 0)"
    page.close()


def test_the_subtitle_menu_lists_the_renditions_in_their_languages_and_switches_the_cues(server, browser):
    page = start(browser, server)
    page.wait_for_function("() => window.vstream.subtitles !== null")
    options = page.evaluate("[...document.querySelectorAll('#subtitle-lang option')].map(o => [o.value, o.textContent])")
    assert options == [["-1", "Off"], ["0", "Español"], ["1", "Deutsch"], ["2", "Português (Brasil)"]]
    assert page.is_visible("#subtitle-lang") and page.input_value("#subtitle-lang") == "0"  # the DEFAULT rendition
    showing = """() => { const t = [...document.getElementById('video').textTracks].filter(t => t.mode === 'showing');
                         return t.length === 1 && t[0].activeCues && t[0].activeCues.length ? t[0].language + ':' +
                         t[0].activeCues[0].text : (t.length ? t.length + ' showing' : 'none'); }"""  # fmt: skip
    seek(page, 2.0)  # 8.5-11.5 s of talk, played from 8 s: cues at 0.5-3.5 s
    page.wait_for_function(f"() => ({showing})() === 'es:El presupuesto'", timeout=15_000)
    page.select_option("#subtitle-lang", "1")
    page.wait_for_function(f"() => ({showing})() === 'de:Der Haushalt'", timeout=15_000)
    assert page.evaluate("window.vstream.subtitles.selected") == 1
    page.select_option("#subtitle-lang", "2")  # a third rendition, its cue at the same time
    page.wait_for_function(f"() => ({showing})() === 'pt-BR:O orçamento'", timeout=15_000)
    page.select_option("#subtitle-lang", "-1")
    page.wait_for_function(f"() => ({showing})() === 'none'", timeout=15_000)
    page.select_option("#subtitle-lang", "0")
    page.wait_for_function(f"() => ({showing})() === 'es:El presupuesto'", timeout=15_000)
    page.close()
