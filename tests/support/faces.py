"""Videos of real faces for the people tests, built from real photos.

The photos: ``face_recognition`` 1.3.0's test images (its source distribution, MIT; official
portraits of Barack Obama and Joe Biden), fetched by ``make`` (``make face-photos``) into the
cache, and scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain). Each scene of a
video is one still composition (photos scaled, moved, mirrored, darkened) held for a few
seconds; cuts fall on keyframes (2 s GOPs), as an editor's would.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

PHOTOS_ENV = "VSTREAM_FACE_PHOTOS"
DEFAULT_PHOTOS = Path.home() / ".cache" / "vstream" / "face-photos" / "face_recognition-1.3.0" / "tests" / "test_images"
# who is in each photo (the truth the clustering is measured against)
WHO = {"obama": "obama", "obama2": "obama", "obama3": "obama", "obama_partial_face": "obama",
       "obama_partial_face2": "obama", "biden": "biden", "astronaut": "collins"}  # fmt: skip
SIZE = (1280, 720)


def photos_dir() -> Path:
    folder = Path(os.environ.get(PHOTOS_ENV) or DEFAULT_PHOTOS)
    if not (folder / "obama.jpg").exists():
        if os.environ.get("CI"):
            pytest.fail(f"face photos missing in {folder}: make test fetches them (make face-photos)")
        pytest.skip(f"face photos missing in {folder}: run make face-photos")
    return folder


def photo(name: str):
    """A photo as a PIL image (RGB)."""
    from PIL import Image

    if name == "astronaut":
        import skimage.data

        return Image.fromarray(skimage.data.astronaut())
    return Image.open(photos_dir() / f"{name}.jpg").convert("RGB")


@dataclass
class Place:
    name: str  # a key of WHO
    x: float  # centre, 0..1 of the frame width
    height: float  # of the frame height
    light: float = 1.0  # brightness factor
    mirror: bool = False
    y: float = 0.5


def compose(places: list[Place], size: tuple[int, int] = SIZE, background=(70, 80, 90)):
    from PIL import Image, ImageEnhance, ImageOps

    canvas = Image.new("RGB", size, background)
    for p in places:
        img = photo(p.name)
        h = round(size[1] * p.height)
        img = img.resize((round(img.width * h / img.height), h))
        if p.mirror:
            img = ImageOps.mirror(img)
        if p.light != 1.0:
            img = ImageEnhance.Brightness(img).enhance(p.light)
        canvas.paste(img, (round(p.x * size[0] - img.width / 2), round(p.y * size[1] - h / 2)))
    return canvas


BACKGROUNDS = [(70, 80, 90), (150, 120, 60), (30, 110, 60), (120, 40, 50), (200, 200, 210), (20, 30, 90)]


def build_video(out: Path, scenes: list[list[Place]], *, seconds: float = 4.0, fps: int = 25) -> Path:
    """An H.264 + AAC MP4: one scene per still composition, ``seconds`` each, 2 s GOPs."""
    work = out.with_suffix(".frames")
    work.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, places in enumerate(scenes):
        path = work / f"{i:03d}.png"
        compose(places, background=BACKGROUNDS[i % len(BACKGROUNDS)]).save(path)  # a cut between scenes
        lines += [f"file '{path.name}'", f"duration {seconds}"]
    lines.append(f"file '{work / f'{len(scenes) - 1:03d}.png'}'")  # the concat demuxer's last-duration rule
    (work / "list.txt").write_text("\n".join(lines) + "\n")
    total = seconds * len(scenes)
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(work / "list.txt"),
           "-f", "lavfi", "-i", f"sine=frequency=330:duration={total}", "-t", str(total),
           "-vf", f"fps={fps},format=yuv420p", "-c:v", "libx264", "-preset", "veryfast", "-g", str(2 * fps),
           "-keyint_min", str(2 * fps), "-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k", "-shortest", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True)
    return out


def truth(scenes: list[list[Place]], *, seconds: float = 4.0) -> list[tuple[float, float, str, float]]:
    """(start, end, person, x) of every face placed, for assertions."""
    return [(i * seconds, (i + 1) * seconds, WHO[p.name], p.x) for i, places in enumerate(scenes) for p in places]


def build_pan(out: Path, *, seconds: float = 12.0, fps: int = 25, gop_seconds: float = 2.0) -> tuple[Path, float, float]:
    """A person walking across a 16:9 frame: a head-and-shoulders photo panned left to right at a
    constant speed. Returns the file and the face's centre x (0..1) at the start and the end."""
    head = photo("obama").crop((300, 80, 700, 500)).resize((343, 360))  # face centred in the crop
    still = out.with_suffix(".head.png")
    head.save(still)
    w, h = SIZE
    x0, x1 = 40, w - head.width - 40
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=0x465a5a:s={w}x{h}:d={seconds}:r={fps}",
           "-loop", "1", "-i", str(still), "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
           "-filter_complex", f"[0][1]overlay=x='{x0}+t*{(x1 - x0) / seconds:.4f}':y={(h - head.height) // 2}:shortest=1,"
           "format=yuv420p[v]", "-map", "[v]", "-map", "2:a", "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast",
           "-g", str(round(gop_seconds * fps)), "-keyint_min", str(round(gop_seconds * fps)), "-sc_threshold", "0",
           "-c:a", "aac", "-b:a", "64k", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True)
    return out, (x0 + head.width / 2) / w, (x1 + head.width / 2) / w
