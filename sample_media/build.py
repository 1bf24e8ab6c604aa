#!/usr/bin/env python3
"""Deterministic generator of the vstream sample video set.

    python sample_media/build.py [--force] [OUT_DIR]   # default: sample_media/out
    python -c "from sample_media.build import build; build('out')"

Produces a handful of short videos whose content is known exactly (which photo
is on screen when, what is said when, which text is burned in, where the audio
is loud), plus a few deliberately broken inputs, and a ``manifest.json`` that
records all of it so tests and demos of a search/index tool have ground truth.

Inputs are only:
  * photos shipped inside the scikit-image wheel (read straight from
    ``skimage/data/*.png|jpg`` with Pillow; nothing is ever downloaded),
  * speech from ``espeak-ng`` (fixed voice, speed and word gap; the ``languages`` set
    speaks Spanish and Italian, and switches from English to Spanish midway),
  * seeded numpy noise,
  * ``ffmpeg`` (``$VSTREAM_FFMPEG`` or ``ffmpeg`` on PATH) with libx264.

The build is skipped when OUT_DIR already holds a manifest of the same
``VERSION`` and every file it lists exists.  Output is built in a temporary
directory next to OUT_DIR and renamed into place, so OUT_DIR is never half
written.  Progress goes to stderr only.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Bump whenever the output changes (content, encoding settings, manifest schema).
VERSION = 2  # 2: spoken languages (manifest "languages")

FPS = 25
AUDIO_RATE = 48000          # rate of every audio track in the outputs
MASTER_RATE = 22050         # espeak-ng's native rate; tracks are mixed at this rate
ESPEAK_VOICE = "en-us"
ESPEAK_SPEED = 150          # words per minute
ESPEAK_WORD_GAP = 10        # extra pause between words, in units of 10 ms
ENV_HOP_SAMPLES = 220       # envelope hop for speech/word timing: 220/22050 s ~ 10 ms
ENV_HOP = ENV_HOP_SAMPLES / MASTER_RATE
SILENCE_DB = -40.0          # "voiced" = frame RMS within 40 dB of the clip's loudest frame

DEFAULT_OUT = Path(__file__).resolve().parent / "out"

_X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-pix_fmt", "yuv420p",
         "-g", str(FPS), "-keyint_min", str(FPS), "-sc_threshold", "0", "-threads", "1"]
_AAC = ["-c:a", "aac", "-b:a", "64k", "-ar", str(AUDIO_RATE), "-ac", "1"]
_BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
             "-map_metadata", "-1", "-map_chapters", "-1"]


class SampleMediaError(RuntimeError):
    """Raised when the sample set cannot be built (missing tool, ffmpeg failure...)."""


# --------------------------------------------------------------------------------------
# Content specification.  Times are in seconds; scenes cut on whole seconds, which are
# also keyframes (fixed 1 s GOP), so every scene starts on a keyframe.
# --------------------------------------------------------------------------------------

# skimage photo name -> file inside the installed wheel (skimage/data/)
PHOTOS = {
    "rocket": "rocket.jpg",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "astronaut": "astronaut.png",
    "grass": "grass.png",
    "camera": "camera.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "coins": "coins.png",
    "motorcycle_left": "motorcycle_left.png",
}

SCOREBOARD = "MAN UTD 2 - 1 LIVERPOOL"
AD_TEXT = "BUY FIZZY COLA"

# Each scene: (start, end, photo or None, caption, card) - card describes a synthetic
# frame (flat colour / text) when there is no photo, or a treatment of the photo.
VIDEOS = {
    "talk": {
        "file": "talk.mp4", "size": (640, 360), "duration": 32.0,
        "tags": {"kind": "talk", "lang": "en", "topics": ["rocket launch", "budget", "cat adoption",
                                                          "astronaut training"]},
        "scenes": [
            (0.0, 8.0, "rocket", "a rocket on a launch pad", None),
            (8.0, 16.0, "coffee", "a cup of coffee", None),
            (16.0, 24.0, "chelsea", "a cat", None),
            (24.0, 32.0, "astronaut", "an astronaut in a spacesuit", None),
        ],
        "speech": [
            (0.5, "The rocket launch is scheduled for Friday morning at the space center."),
            (8.5, "The budget discussion for next year starts after coffee."),
            (16.5, "The cat adoption day at the animal shelter is this Saturday."),
            (24.5, "Astronaut training includes many hours in a swimming pool."),
        ],
    },
    "match": {
        "file": "match.mp4", "size": (1280, 720), "duration": 24.0,
        "tags": {"kind": "sport", "sport": "football", "teams": ["MAN UTD", "LIVERPOOL"]},
        "scenes": [
            (0.0, 8.0, "grass", "green grass of a football pitch", "tint_green"),
            (8.0, 16.0, None, "a scoreboard showing " + SCOREBOARD, "scoreboard"),
            (16.0, 24.0, "camera", "a cameraman filming with a camera on a tripod", None),
        ],
        "speech": [(12.3, "goal by player forty two")],
        "onscreen_text": [(8.0, 16.0, SCOREBOARD)],
        # crowd noise gets +20 dB for these windows (100 ms ramps outside them)
        "loud_peaks": [(3.0, 5.0), (10.0, 12.0), (19.0, 21.0)],
    },
    "silent": {
        "file": "silent.mp4", "size": (480, 270), "duration": 12.0, "audio": False,
        "tags": {"kind": "slideshow"},
        "scenes": [
            (0.0, 6.0, "hubble_deep_field", "galaxies in deep space", None),
            (6.0, 12.0, "coins", "old coins on a table", None),
        ],
        "speech": [],
    },
    "ad": {
        "file": "ad.mp4", "size": (640, 360), "duration": 6.0,
        "tags": {"kind": "ad", "brand": "Fizzy Cola"},
        "scenes": [(0.0, 6.0, None, "a red card with the words " + AD_TEXT, "ad")],
        "speech": [(0.5, "Fizzy cola, the taste of summer")],
        "onscreen_text": [(0.0, 6.0, AD_TEXT)],
    },
    "legacy": {
        "file": "legacy.avi", "size": (320, 240), "duration": 8.0, "legacy": True,
        "tags": {"kind": "home-video"},
        "scenes": [(0.0, 8.0, "motorcycle_left", "a red motorcycle in a garage", None)],
        "speech": [(0.5, "This old home video shows a red motorcycle.")],
    },
}

# Speech in other languages, kept apart from VIDEOS (manifest "languages"): espeak-ng's Spanish
# and Italian voices are understood by Whisper base; its French, German and Portuguese voices are
# not (bench/languages.py measures every one). Each sentence has its own scene and a pause around
# it, as people pause between sentences; a third item in a speech entry is its espeak-ng voice.
LANGUAGE_VIDEOS = {
    "charla": {
        "file": "charla.mp4", "size": (640, 360), "duration": 24.0, "voice": "es",
        "tags": {"kind": "talk", "lang": "es"},
        "scenes": [
            (0.0, 8.0, "rocket", "a rocket on a launch pad", None),
            (8.0, 16.0, "coffee", "a cup of coffee", None),
            (16.0, 24.0, "chelsea", "a cat", None),
        ],
        "speech": [
            (0.5, "El lanzamiento del cohete está previsto para el viernes por la mañana."),
            (8.5, "La reunión sobre el presupuesto del próximo año empieza después del café."),
            (16.5, "El gato busca una familia que lo adopte este sábado."),
        ],
    },
    "lezione": {
        "file": "lezione.mp4", "size": (640, 360), "duration": 16.0, "voice": "it",
        "tags": {"kind": "talk", "lang": "it"},
        "scenes": [
            (0.0, 8.0, "rocket", "a rocket on a launch pad", None),
            (8.0, 16.0, "coins", "old coins on a table", None),
        ],
        "speech": [
            (0.5, "Il lancio del razzo è previsto per venerdì mattina."),
            (8.5, "Il bilancio del prossimo anno è di due milioni di euro."),
        ],
    },
    "mixed": {
        "file": "mixed.mp4", "size": (640, 360), "duration": 16.0,
        "tags": {"kind": "talk", "lang": ["en", "es"]},
        "scenes": [
            (0.0, 8.0, "rocket", "a rocket on a launch pad", None),
            (8.0, 16.0, "chelsea", "a cat", None),
        ],
        "speech": [
            (0.5, "The rocket launch is scheduled for Friday morning at the space center.", "en-us"),
            (8.5, "El gato busca una familia que lo adopte este sábado.", "es"),
        ],
    },
}
LANGUAGE_OF_VOICE = {"en-us": "en", "es": "es", "it": "it"}

AUDIO_ONLY_TEXT = "This recording has sound but no picture."

# Loudness (RMS, dBFS).  Match speech sits 10 dB above the crowd bed (clear enough for
# speech recognition) and well below the +20 dB crowd bursts, so the bursts stay the
# loudest moments of that file even with 100-400 ms loudness windows.
SPEECH_RMS_DB = -20.0
MATCH_SPEECH_RMS_DB = -26.0
CROWD_RMS_DB = -36.0
CROWD_BURST_DB = 20.0


# --------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------

def _log(msg: str) -> None:
    print(f"[sample-media] {msg}", file=sys.stderr, flush=True)


def _tools() -> dict:
    ffmpeg = os.environ.get("VSTREAM_FFMPEG") or "ffmpeg"
    ffmpeg_path = shutil.which(ffmpeg)
    if not ffmpeg_path:
        src = "$VSTREAM_FFMPEG" if os.environ.get("VSTREAM_FFMPEG") else "PATH"
        raise SampleMediaError(
            f"ffmpeg not found ({ffmpeg!r} from {src}). Install ffmpeg (e.g. `apt-get install "
            "ffmpeg`) or point VSTREAM_FFMPEG at an ffmpeg binary built with libx264.")
    espeak = shutil.which("espeak-ng")
    if not espeak:
        raise SampleMediaError(
            "espeak-ng not found on PATH; it synthesizes the speech in the sample videos. "
            "Install it (e.g. `apt-get install espeak-ng`).")
    enc = subprocess.run([ffmpeg_path, "-hide_banner", "-encoders"], capture_output=True, text=True)
    for needed in ("libx264", " aac ", " mpeg4 "):
        if needed not in enc.stdout:
            raise SampleMediaError(f"{ffmpeg_path} has no {needed.strip()} encoder; "
                                   "a full ffmpeg build (with libx264) is required.")
    avi_audio = (["-c:a", "libmp3lame", "-b:a", "64k"] if " libmp3lame " in enc.stdout
                 else ["-c:a", "pcm_s16le"])
    return {"ffmpeg": ffmpeg_path, "espeak": espeak, "avi_audio": avi_audio}


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if r.returncode != 0:
        raise SampleMediaError(f"command failed ({r.returncode}): {' '.join(cmd)}\n"
                               f"{r.stderr.strip()[-2000:]}")


# --------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------

def _photo_path(name: str) -> Path:
    # Only files present in the installed wheel are used; skimage.data's fetchers are
    # bypassed entirely so pooch can never try to download anything.
    import importlib.util
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise SampleMediaError("scikit-image is not installed (pip install scikit-image); "
                               "its bundled photos are the sample pictures.")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / PHOTOS[name]
    if not path.is_file():
        raise SampleMediaError(f"photo {name!r} not found at {path} (scikit-image wheel incomplete?)")
    return path


def _font(size: int) -> ImageFont.FreeTypeFont:
    try:
        font = ImageFont.load_default(size=size)   # Pillow >= 10.1: bundled scalable font
        if isinstance(font, ImageFont.FreeTypeFont):
            return font
    except TypeError:
        pass
    for cand in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                 "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        if os.path.exists(cand):
            return ImageFont.truetype(cand, size)
    raise SampleMediaError("need Pillow >= 10.1 with FreeType (or DejaVu fonts) to draw text")


def _fit(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale to fit inside `size`, aspect preserved, letterboxed on black."""
    w, h = size
    scale = min(w / img.width, h / img.height)
    nw, nh = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    frame = Image.new("RGB", size, (0, 0, 0))
    frame.paste(img.resize((nw, nh), Image.LANCZOS), ((w - nw) // 2, (h - nh) // 2))
    return frame


def _text_card(size, text, bg, fg=(255, 255, 255), rel_height=0.11, base=None):
    w, h = size
    img = base.copy() if base is not None else Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    fsize = max(10, int(h * rel_height))
    font = _font(fsize)
    while fsize > 10 and draw.textlength(text, font=font) > 0.86 * w:
        fsize -= 2
        font = _font(fsize)
    if base is not None:   # solid panel behind the text, so it reads as white-on-dark
        l, t, r, b = draw.textbbox((w / 2, h / 2), text, font=font, anchor="mm")
        pad = int(fsize * 0.6)
        draw.rectangle((l - pad, t - pad, r + pad, b + pad), fill=bg)
    stroke = max(1, fsize // 40)
    draw.text((w / 2, h / 2), text, font=font, fill=fg, anchor="mm",
              stroke_width=stroke, stroke_fill=fg)
    return img


def _scene_image(scene, size) -> Image.Image:
    _, _, photo, _, card = scene
    if card == "scoreboard":
        grass = _tint(Image.open(_photo_path("grass")).convert("L"), (40, 110, 40), (10, 30, 10))
        return _text_card(size, SCOREBOARD, bg=(12, 18, 32), base=_fit(grass, size).point(lambda v: v // 2),
                          rel_height=0.11)
    if card == "ad":
        return _text_card(size, AD_TEXT, bg=(196, 18, 48), rel_height=0.16)
    img = Image.open(_photo_path(photo))
    if card == "tint_green":
        img = _tint(img.convert("L"), (150, 220, 110), (15, 45, 10))
    return _fit(img.convert("RGB"), size)


def _tint(gray: Image.Image, light, dark) -> Image.Image:
    from PIL import ImageOps
    return ImageOps.colorize(gray, black=dark, white=light)


# --------------------------------------------------------------------------------------
# Sound
# --------------------------------------------------------------------------------------

def _espeak(espeak: str, text: str, voice: str = ESPEAK_VOICE) -> np.ndarray:
    out = subprocess.run([espeak, "-v", voice, "-s", str(ESPEAK_SPEED), "-g", str(ESPEAK_WORD_GAP),
                          "--stdout", text], capture_output=True, stdin=subprocess.DEVNULL)
    if out.returncode != 0 or not out.stdout:
        raise SampleMediaError(f"espeak-ng failed on {text!r}: {out.stderr.decode(errors='replace')}")
    with wave.open(io.BytesIO(out.stdout)) as w:
        if w.getframerate() != MASTER_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SampleMediaError("unexpected espeak-ng output format "
                                   f"({w.getframerate()} Hz, {w.getnchannels()} ch)")
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0


def _envelope_voiced(a: np.ndarray) -> np.ndarray:
    hop = ENV_HOP_SAMPLES
    n = len(a) // hop
    rms = np.sqrt((a[: n * hop].reshape(n, hop) ** 2).mean(axis=1))
    db = 20 * np.log10(rms + 1e-12)
    return db > db.max() + SILENCE_DB


def _analyse_speech(espeak: str, text: str, voice: str = ESPEAK_VOICE):
    """Synthesize `text`; return (trimmed clip, [(word, start, end)] relative to the clip).

    Word timing method: espeak-ng is run with a word gap (-g 10, i.e. +100 ms of silence
    after every word), so word boundaries are the longest silent runs in the audio.  The
    clip's 10 ms RMS envelope is thresholded at -40 dB below its loudest frame; leading
    and trailing silence is trimmed; then the (n_words - 1) longest internal silent runs
    are taken as word gaps (in espeak-ng 1.51 they are >= 120 ms while silences inside a
    word, e.g. stop closures, are <= 50 ms).  Each word spans the voiced frames between
    two gaps, so its start/end are accurate to the 10 ms envelope hop.  Should the audio
    have fewer gaps than needed, words are spread over the voiced span by letter count.
    """
    a = _espeak(espeak, text, voice)
    voiced = _envelope_voiced(a)
    idx = np.flatnonzero(voiced)
    if idx.size == 0:
        raise SampleMediaError(f"espeak-ng produced silence for {text!r}")
    hop = ENV_HOP_SAMPLES
    f0, f1 = int(idx[0]), int(idx[-1]) + 1
    clip = a[f0 * hop: f1 * hop].copy()
    fade = int(0.005 * MASTER_RATE)
    ramp = np.linspace(0.0, 1.0, fade)
    clip[:fade] *= ramp
    clip[-fade:] *= ramp[::-1]
    v = voiced[f0:f1]

    words = text.split()
    # silent runs inside the clip: (length, start_frame, end_frame)
    gaps, i = [], 0
    while i < len(v):
        if not v[i]:
            j = i
            while j < len(v) and not v[j]:
                j += 1
            gaps.append((j - i, i, j))
            i = j
        else:
            i += 1
    spans = []
    if len(gaps) >= len(words) - 1:
        chosen = sorted(sorted(gaps, key=lambda g: (-g[0], g[1]))[: len(words) - 1], key=lambda g: g[1])
        start = 0
        for _, gs, ge in chosen:
            spans.append((start, gs))
            start = ge
        spans.append((start, len(v)))
    else:  # fallback, not expected with espeak-ng's word gap
        weights = np.array([len(w) for w in words], dtype=float)
        edges = np.round(np.concatenate([[0], np.cumsum(weights)]) / weights.sum() * len(v)).astype(int)
        spans = list(zip(edges[:-1], edges[1:]))
    timed = [(w.strip(".,!?;:"), s * ENV_HOP, e * ENV_HOP) for w, (s, e) in zip(words, spans)]
    return clip, timed


def _scale_rms(x: np.ndarray, rms_db: float) -> np.ndarray:
    rms = np.sqrt(np.mean(x ** 2))
    return x * (10 ** (rms_db / 20) / max(rms, 1e-12))


def _crowd(duration: float, peaks) -> np.ndarray:
    """Seeded crowd-like noise: band-limited noise, slow swell, +20 dB bursts at `peaks`."""
    n = int(round(duration * MASTER_RATE))
    rng = np.random.default_rng(20240601)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / MASTER_RATE)
    # smooth band-pass ~150 Hz .. 2.5 kHz
    band = 1 / (1 + (150 / np.maximum(f, 1)) ** 4) / (1 + (f / 2500) ** 4)
    noise = np.fft.irfft(spec * band, n)
    t = np.arange(n) / MASTER_RATE
    noise *= 1 + 0.25 * np.sin(2 * np.pi * 0.37 * t) * np.sin(2 * np.pi * 0.11 * t + 1)
    noise = _scale_rms(noise, CROWD_RMS_DB)
    gain_db = np.zeros(n)
    ramp = 0.1
    for s, e in peaks:
        up = np.clip((t - (s - ramp)) / ramp, 0, 1)
        down = np.clip(((e + ramp) - t) / ramp, 0, 1)
        w = np.minimum(up, down)
        gain_db = np.maximum(gain_db, CROWD_BURST_DB * 0.5 * (1 - np.cos(np.pi * w)))
    return noise * 10 ** (gain_db / 20)


def _write_wav(path: Path, a: np.ndarray) -> None:
    pcm = np.round(np.clip(a, -1, 1 - 1 / 32768) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(MASTER_RATE)
        w.writeframes(pcm.tobytes())


def _r(x: float) -> float:
    return round(float(x), 3)


# --------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------

def _prepare(name: str, spec: dict, tools: dict, work: Path):
    """Render scene PNGs and the audio track; return (ffmpeg args, manifest entry)."""
    size, dur = spec["size"], spec["duration"]
    has_audio = spec.get("audio", True)
    legacy = spec.get("legacy", False)
    inputs, scenes = [], []
    for k, sc in enumerate(spec["scenes"]):
        s, e, photo, caption, _ = sc
        png = work / f"{name}_{k}.png"
        _scene_image(sc, size).save(png, optimize=False)
        inputs += ["-loop", "1", "-framerate", str(FPS), "-t", f"{e - s:.3f}", "-i", str(png)]
        scenes.append({"start": _r(s), "end": _r(e), "photo": photo, "caption": caption})
    assert scenes[0]["start"] == 0 and scenes[-1]["end"] == dur

    speech = []
    if has_audio:
        n = int(round(dur * MASTER_RATE))
        track = np.zeros(n)
        if spec.get("loud_peaks"):
            track += _crowd(dur, spec["loud_peaks"])
        rms_db = MATCH_SPEECH_RMS_DB if spec.get("loud_peaks") else SPEECH_RMS_DB
        for at, text, *how in spec["speech"]:
            voice = how[0] if how else spec.get("voice", ESPEAK_VOICE)
            clip, words = _analyse_speech(tools["espeak"], text, voice)
            clip = _scale_rms(clip, rms_db)
            off = int(round(at * MASTER_RATE))
            start, end = off / MASTER_RATE, (off + len(clip)) / MASTER_RATE
            scene = next(x for x in scenes if x["start"] <= at < x["end"])
            if end > scene["end"] - 0.2:
                raise SampleMediaError(f"{name}: speech {text!r} ({start:.2f}-{end:.2f}s) "
                                       f"overruns its scene ending at {scene['end']}s")
            track[off: off + len(clip)] += clip
            speech.append({"start": _r(start), "end": _r(end), "text": text, "language": LANGUAGE_OF_VOICE[voice],
                           "words": [{"word": w, "start": _r(start + ws), "end": _r(start + we)}
                                     for w, ws, we in words]})
        peak = np.abs(track).max()
        if peak > 0.99:
            track *= 0.99 / peak
        wav = work / f"{name}.wav"
        _write_wav(wav, track)
        inputs += ["-i", str(wav)]

    nsc = len(scenes)
    graph = "".join(f"[{k}:v]" for k in range(nsc)) + f"concat=n={nsc}:v=1:a=0,format=yuv420p[v]"
    args = inputs + ["-filter_complex", graph, "-map", "[v]"]
    if has_audio:
        args += ["-map", f"{nsc}:a"]
    if legacy:
        args += ["-c:v", "mpeg4", "-q:v", "4", "-g", str(FPS), "-bf", "0", "-vtag", "XVID",
                 "-threads", "1"]
        args += (tools["avi_audio"] + ["-ar", str(AUDIO_RATE), "-ac", "1"]) if has_audio else []
        # the mp3 encoder's priming delay would otherwise make ffmpeg shift the video by
        # one frame and leave a hole at 0.04 s in the AVI (AVI has no negative timestamps)
        args += ["-avoid_negative_ts", "disabled"]
    else:
        args += _X264 + (_AAC if has_audio else []) + ["-movflags", "+faststart"]
    # -t alone ends every stream at dur: -frames:v would close the file when the video is done
    # and drop the audio still queued for muxing (it came out ~0.5 s short)
    args += ["-r", str(FPS), "-t", f"{dur:.3f}"] + _BITEXACT

    entry = {
        "file": spec["file"],
        "duration": _r(dur),
        "width": size[0], "height": size[1], "fps": FPS,
        "has_audio": has_audio,
        "needs_transcode": legacy,
        "video_codec": "mpeg4" if legacy else "h264",
        "audio_codec": (("mp3" if "libmp3lame" in tools["avi_audio"] else "pcm_s16le") if legacy else "aac")
        if has_audio else None,
        "keyframe_interval": 1.0,
        "tags": spec["tags"],
        "scenes": scenes,
        "speech": speech,
        "onscreen_text": [{"start": _r(s), "end": _r(e), "text": t} for s, e, t in spec.get("onscreen_text", [])],
        "loud_peaks": [{"start": _r(s), "end": _r(e)} for s, e in spec.get("loud_peaks", [])],
    }
    return args, entry


def _encode(tools: dict, args: list[str], dest: Path, label: str) -> None:
    t0 = time.monotonic()
    _run([tools["ffmpeg"], "-hide_banner", "-nostdin", "-loglevel", "error", "-y"] + args + [str(dest)])
    _log(f"{label}: {dest.stat().st_size / 1e6:.2f} MB in {time.monotonic() - t0:.1f}s")


def _top_level_boxes(path: Path):
    """(type, offset, size) of an MP4's top-level boxes."""
    boxes, off, total = [], 0, path.stat().st_size
    with open(path, "rb") as f:
        while off + 8 <= total:
            f.seek(off)
            hdr = f.read(16)
            size, typ = int.from_bytes(hdr[:4], "big"), hdr[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(hdr[8:16], "big")
            elif size == 0:
                size = total - off
            boxes.append((typ, off, size))
            off += size
    return boxes


def _make_bad(tools: dict, out: Path, work: Path) -> dict:
    bad = out / "bad"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "notavideo.mp4").write_text(
        "This is not a video. It is a plain text file with an .mp4 extension,\n"
        "used to test how vstream reports unreadable inputs.\n")

    # Truncated: talk.mp4 remuxed WITHOUT +faststart (moov after mdat), cut at 30 %,
    # so the moov box (the index) is missing and the file cannot be opened.
    slow = work / "talk_moov_at_end.mp4"
    _run([tools["ffmpeg"], "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
          "-i", str(out / "talk.mp4"), "-map", "0", "-c", "copy"] + _BITEXACT + [str(slow)])
    data = slow.read_bytes()
    cut = int(len(data) * 0.3)
    moov = [b for b in _top_level_boxes(slow) if b[0] == "moov"]
    if not moov or moov[0][1] < cut:
        raise SampleMediaError("expected moov at the end of the non-faststart remux")
    (bad / "truncated.mp4").write_bytes(data[:cut])

    clip, _ = _analyse_speech(tools["espeak"], AUDIO_ONLY_TEXT)
    pad = np.zeros(int(0.3 * MASTER_RATE))
    wav = work / "audio_only.wav"
    _write_wav(wav, np.concatenate([pad, _scale_rms(clip, SPEECH_RMS_DB), pad]))
    _run([tools["ffmpeg"], "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav)]
         + _AAC + ["-vn", "-movflags", "+faststart"] + _BITEXACT + [str(bad / "audio_only.m4a")])
    return {"empty": "bad/empty.mp4", "notavideo": "bad/notavideo.mp4",
            "truncated": "bad/truncated.mp4", "audio_only": "bad/audio_only.m4a"}


def _listed_files(manifest: dict) -> list[str]:
    return ([v["file"] for v in manifest.get("videos", {}).values()]
            + [v["file"] for v in manifest.get("languages", {}).values()]
            + list(manifest.get("bad", {}).values()))


def load_manifest(out_dir) -> dict | None:
    """Return the manifest in `out_dir` if it is current (same VERSION, all files present)."""
    out = Path(out_dir)
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("version") != VERSION:
        return None
    files = _listed_files(manifest)
    if not files or not all((out / f).is_file() for f in files):
        return None
    return manifest


def build(out_dir=DEFAULT_OUT, force: bool = False) -> dict:
    """Build the sample set into `out_dir` (skipped if already current); return the manifest."""
    out = Path(out_dir).resolve()
    if not force:
        current = load_manifest(out)
        if current is not None:
            _log(f"{out} is up to date (version {VERSION}); nothing to do")
            return current

    t_start = time.monotonic()
    tools = _tools()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)   # mkdtemp makes it 0700
    try:
        with tempfile.TemporaryDirectory(prefix="vstream-sample-") as tmp:
            work = Path(tmp)
            _log(f"building sample media into {out}")
            jobs = []
            for name, spec in VIDEOS.items():
                args, entry = _prepare(name, spec, tools, work)
                jobs.append((name, args, entry))
            for name, spec in LANGUAGE_VIDEOS.items():
                args, entry = _prepare(name, spec, tools, work)
                jobs.append(("languages/" + name, args, entry))
            _log("rendered pictures and audio; encoding")
            # each ffmpeg runs single-threaded (reproducible); run them side by side
            with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
                futs = [pool.submit(_encode, tools, args, staging / entry["file"], entry["file"])
                        for name, args, entry in sorted(jobs, key=lambda j: -j[2]["duration"] * j[2]["width"])]
                for f in futs:
                    f.result()
            videos = {name: entry for name, _, entry in jobs if "/" not in name}
            languages = {name.split("/", 1)[1]: entry for name, _, entry in jobs if "/" in name}
            bad = _make_bad(tools, staging, work)

        manifest = {
            "version": VERSION,
            "generator": "sample_media/build.py",
            "word_timing": "espeak-ng -g 10 word gaps located on a 10 ms energy envelope (+-10..50 ms)",
            "videos": videos,
            "languages": languages,
            "bad": bad,
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

        # swap into place
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "out")
        try:
            os.rename(staging, out)
        except OSError:
            if load_manifest(out) is None:   # not a concurrent builder's finished result
                raise
            shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    _log(f"done in {time.monotonic() - t_start:.1f}s, {total / 1e6:.2f} MB total")
    return manifest


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip().splitlines()[0] + "\n\nusage: build.py [--force] [OUT_DIR]", file=sys.stderr)
        return 0
    force = "--force" in argv
    rest = [a for a in argv if a != "--force"]
    if len(rest) > 1:
        print("usage: build.py [--force] [OUT_DIR]", file=sys.stderr)
        return 2
    try:
        build(rest[0] if rest else DEFAULT_OUT, force=force)
    except SampleMediaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
