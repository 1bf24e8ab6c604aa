"""Text on screen, the pure parts: what the manifest carries, its bounds, and the drawtext filter render builds."""

from __future__ import annotations

import pytest

from vstream.compose.api import MAX_TEXT_CHARS, TextAsset, TextStyle, text_spec
from vstream.compose.render import drawtext, filter_value
from vstream.errors import UsageError


def test_a_text_becomes_its_manifest_entry_with_colours_normalised():
    spec = text_spec(TextAsset("Ángel 2 - 1 Zoë", position="top-left",
                               style=TextStyle(size=0.06, color="#fff", background="#000000AA")), 0.0, 12, 30)  # fmt: skip
    assert spec == {"text": "Ángel 2 - 1 Zoë", "position": "top-left", "size": 0.06, "color": "#ffffffff",
                    "background": "#000000aa", "font": "sans", "end": 12}  # fmt: skip
    # x/y instead of a position; start kept, an end at or past the stream's end dropped; no box
    spec = text_spec(TextAsset("x", x=0.1, y=0.8, style=TextStyle(background="none")), 2.5, 40, 30)
    assert spec == {"text": "x", "x": 0.1, "y": 0.8, "size": 0.05, "color": "#ffffffff", "background": None,
                    "font": "sans", "start": 2.5}  # fmt: skip


@pytest.mark.parametrize("asset, needle", [
    (TextAsset("x" * (MAX_TEXT_CHARS + 1)), f"201 characters long: at most {MAX_TEXT_CHARS}"),
    (TextAsset("   "), "a text is empty"),
    (TextAsset("a\x1bb"), "control character"),
    (TextAsset("a", position="middle"), "position 'middle'"),
    (TextAsset("a", x=1.5, y=0.1), "fractions of the frame"),
    (TextAsset("a", style=TextStyle(color="red")), "style.color 'red'"),
    (TextAsset("a", style=TextStyle(size=2)), "style.size 2"),
    (TextAsset("a", style=TextStyle(font="comic")), "style.font 'comic'"),
])  # fmt: skip
def test_bad_texts_are_one_line_usage_errors(asset, needle):
    with pytest.raises(UsageError) as info:
        text_spec(asset, 0.0, None, 10, "t.yaml")
    assert needle in info.value.message and "\n" not in info.value.message
    assert info.value.message.startswith("t.yaml: ")


def test_filter_values_are_escaped_for_the_option_and_the_graph_parsers():
    assert filter_value("plain text") == "plain text"
    assert filter_value("a:b") == "a\\\\:b"  # \: for the option parser, its \ escaped again for the graph
    assert filter_value("it's") == "it\\\\\\'s"  # \' for the option parser, then \ and ' each escaped
    assert filter_value("a\\b") == "a\\\\\\\\b"
    assert filter_value("[x],y;z") == "\\[x\\]\\,y\\;z"
    assert filter_value("100% é") == "100% é"  # % is literal with expansion=none; UTF-8 passes as it is


def test_drawtext_places_the_box_where_the_player_does():
    base = {"text": "A:B", "size": 0.05, "color": "#ffffffff", "background": "#000000aa", "font": "sans",
            "fontfile": "/f/DejaVuSans.ttf"}  # fmt: skip
    top_left = drawtext(base | {"position": "top-left"}, 640, 360)
    # 18 px text (5 % of 360), a 5 px box border (0.3 of it), 13 px margin (2 % of 640): the box's corner at 13, 13
    assert top_left == ("drawtext=fontfile=/f/DejaVuSans.ttf:text=A\\\\:B:expansion=none:fontsize=18:"
                        "fontcolor=0xffffffff:x=18:y=18:box=1:boxcolor=0x000000aa:boxborderw=5")  # fmt: skip
    assert ":x=w-tw-18:y=h-th-18:" in drawtext(base | {"position": "bottom-right"}, 640, 360)
    assert ":x=(w-tw)/2:y=(h-th)/2:" in drawtext(base | {"position": "center"}, 640, 360)
    assert ":x=(w-tw)/2:y=18:" in drawtext(base | {"position": "top"}, 640, 360)
    assert ":x=69:y=293:" in drawtext(base | {"x": 0.1, "y": 0.8}, 640, 360)  # the box's corner at 64, 288
    assert "box=" not in drawtext(base | {"position": "top", "background": None}, 640, 360)
