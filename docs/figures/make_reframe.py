"""Regenerate the README's reframe figures: a person walking across a 16:9 frame, the window a
608x1080 reframe follows (green) against a centre crop (red), and what the portrait render shows.

    python docs/figures/make_reframe.py     (needs the face photos: make face-photos)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.faces import build_pan  # noqa: E402

RECIPE = "version: 1\nname: walk\noutput: {resolution: 608x1080}\nclips:\n  - video: walk\n"
TIMES = (1.0, 6.0, 11.0)


def vstream(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "vstream", *args], check=True, capture_output=True, text=True).stdout


def frame(mp4: Path, t: float):
    import av

    with av.open(str(mp4)) as c:
        s = c.streams.video[0]
        for f in c.decode(s):
            if float(f.pts * s.time_base) >= t - 0.02:
                return f.to_image()
    raise SystemExit(f"no frame at {t}s in {mp4}")


def main() -> None:
    from PIL import Image, ImageDraw

    from vstream.compose.reframe import at, crop_fraction
    from vstream.compose.render import session_data

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        walk, _, _ = build_pan(root / "walk.mp4")
        lib = str(root / "lib")
        vstream("ingest", "-L", lib, str(walk))
        vstream("index", "-L", lib, "--only", "scenes", "--only", "faces")
        (root / "walk.yaml").write_text(RECIPE)
        result = json.loads(vstream("compose", "-L", lib, str(root / "walk.yaml"), "--json"))
        path = session_data(Path(result["master"]).read_text())["dev.vstream.reframe"]["path"]
        vstream("render", result["master"], "--out", str(root / "portrait.mp4"))
        crop = crop_fraction((1280, 720), (608, 1080))
        before, after = [], []
        for t in TIMES:
            img = frame(walk, t).convert("RGB")
            draw = ImageDraw.Draw(img)
            for x, colour, width in ((0.5, (220, 50, 50), 4), (at([tuple(p) for p in path], t), (40, 200, 90), 8)):
                left = (x - crop / 2) * img.width
                draw.rectangle([left, 0, left + crop * img.width, img.height - 1], outline=colour, width=width)
            before.append(img.resize((480, 270)))
            after.append(frame(root / "portrait.mp4", t).convert("RGB").resize((152, 270)))
        sheet = Image.new("RGB", (3 * 480 + 3 * 152 + 5 * 8, 270), (255, 255, 255))
        x = 0
        for b in before:
            sheet.paste(b, (x, 0))
            x += 488
        for a in after:
            sheet.paste(a, (x, 0))
            x += 160
        sheet.save(HERE / "reframe-follow.jpg", quality=80)
        print(HERE / "reframe-follow.jpg")


if __name__ == "__main__":
    main()
