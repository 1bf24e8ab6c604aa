"""Benchmark: speech in six languages, per Whisper setting: word error rate, language found, speed.

Each language's sentences (the same four topics in each) are spoken by espeak-ng's voice for it,
one after the other with a 1 s pause, into one recording per language, plus one that switches
from English to Spanish midway. Every recording is transcribed by each setting the way
`vstream index` runs it (vstream.index.speech):

* ``auto`` (the default): Whisper base identifies each stretch's language, tiny.en transcribes
  English, base every other language;
* ``base``: Whisper base identifies and transcribes everything;
* ``base+hint``: Whisper base told the language (what a user's setting could say);
* ``tiny.en``: English only (every recording is read as English).

For ``auto``, the English translations ``vstream index --english`` stores are also made and
scored against the same topic's English sentence (WER; a loose translation scores badly even
when it is right), with their cost against transcription alone.

Printed per language and setting: WER (tests/support/wer.py: accents and case ignored),
the share of sentences stored in the right language, and × realtime (audio seconds per second
of transcription on this machine, model load excluded). espeak-ng's voices are synthetic: WER
here says how well each model reads *these* voices, which is far worse than natural speech for
French, German and Portuguese.

    python bench/languages.py [--record]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402
from tests.support.wer import wer  # noqa: E402

SENTENCES = {
    "en": ("en-us", ["The rocket launch is scheduled for Friday morning.",
                     "The budget meeting for next year starts after coffee.",
                     "The cat is looking for a family this Saturday.",
                     "The football match starts at eight in the evening."]),
    "es": ("es", ["El lanzamiento del cohete está previsto para el viernes por la mañana.",
                  "La reunión sobre el presupuesto del próximo año empieza después del café.",
                  "El gato busca una familia este sábado.",
                  "El partido de fútbol empieza a las ocho de la tarde."]),
    "it": ("it", ["Il lancio del razzo è previsto per venerdì mattina.",
                  "La riunione sul bilancio del prossimo anno comincia dopo il caffè.",
                  "Il gatto cerca una famiglia questo sabato.",
                  "La partita di calcio comincia alle otto di sera."]),
    "fr": ("fr", ["Le lancement de la fusée est prévu pour vendredi matin.",
                  "La réunion sur le budget de l'année prochaine commence après le café.",
                  "Le chat cherche une famille ce samedi.",
                  "Le match de football commence à huit heures du soir."]),
    "de": ("de", ["Der Raketenstart ist für Freitagmorgen geplant.",
                  "Die Besprechung über das Budget für nächstes Jahr beginnt nach dem Kaffee.",
                  "Die Katze sucht an diesem Samstag eine Familie.",
                  "Das Fußballspiel beginnt um acht Uhr abends."]),
    "pt": ("pt-br", ["O lançamento do foguete está previsto para sexta-feira de manhã.",
                     "A reunião sobre o orçamento do próximo ano começa depois do café.",
                     "O gato procura uma família neste sábado.",
                     "O jogo de futebol começa às oito da noite."]),
}
SETTINGS = ("auto", "base", "base+hint", "tiny.en")


def speak(parts: list[tuple[str, str]], out: Path) -> tuple[Path, list[tuple[float, float, str, str]]]:
    """One 16 kHz recording of (voice, text) parts with 1 s pauses; returns it and (start, end, lang, text)."""
    import numpy as np

    from vstream.index.speech import SAMPLE_RATE, decode_audio

    audio, spans, at = [np.zeros(SAMPLE_RATE, dtype=np.float32)], [], 1.0
    for voice, text, lang in parts:
        wav = out / "part.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-g", "10", "-w", str(wav), text], check=True)
        samples = decode_audio(str(wav))
        audio += [samples, np.zeros(SAMPLE_RATE, dtype=np.float32)]
        spans.append((at, at + len(samples) / SAMPLE_RATE, lang, text))
        at += len(samples) / SAMPLE_RATE + 1.0
    return np.concatenate(audio), spans


def transcribe(setting: str, samples, lang: str):
    from vstream.index.speech import load_transcriber

    if setting == "base+hint":
        return load_transcriber("base").transcribe(samples, language=lang)
    return load_transcriber(None if setting == "auto" else setting).transcribe(samples)


def translation(samples, spans, found, name: str, transcribing: float) -> str:
    """``vstream index --english``: Whisper's English translation of each non-English sentence,
    scored against the same topic's English sentence; its time against transcription's."""
    from vstream.index.speech import load_transcriber

    started = time.perf_counter()
    english = load_transcriber(None).to_english(samples, found)
    took = time.perf_counter() - started
    errors, stored = [], 0
    for topic, (start, end, lang, _) in enumerate(spans):
        if lang == "en":
            continue
        inside = [e for s, e in zip(found, english) if s.end > start - 0.5 and s.start < end + 0.5]
        stored += bool(inside) and all(inside)
        errors.append(wer(SENTENCES["en"][1][topic], " ".join(e or "" for e in inside)))
    line = (f"{name:<7} {'--english':<10} {sum(errors) / len(errors):>6.2f} {stored}/{len(errors):>7} "
            f"{(transcribing + took) / transcribing:>9.1f}× transcription")  # fmt: skip
    print(line, flush=True)
    return (f"translation {name} -> en (index --english, auto): WER {sum(errors) / len(errors):.2f} against the English "
            f"sentence, stored for {stored}/{len(errors)} sentences, transcribing + translating takes "
            f"{(transcribing + took) / transcribing:.1f}× transcription alone")  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = ap.parse_args(argv)
    out = ROOT / "bench" / "out" / "languages"
    out.mkdir(parents=True, exist_ok=True)
    from vstream.index.speech import SAMPLE_RATE, load_transcriber

    for setting in ("tiny.en", "base", None):
        load_transcriber(setting)  # loads (and assembles base) before any timing
    cases = {lang: [(voice, text, lang) for text in texts] for lang, (voice, texts) in SENTENCES.items()}
    cases["en→es"] = cases["en"][:2] + cases["es"][2:]
    lines = []
    print(f"{'speech':<7} {'setting':<10} {'WER':>6} {'language':>9} {'×realtime':>10}")
    for name, parts in cases.items():
        samples, spans = speak(parts, out)
        seconds = len(samples) / SAMPLE_RATE
        for setting in SETTINGS:
            if setting == "base+hint" and name == "en→es":
                continue
            started = time.perf_counter()
            found = transcribe(setting, samples, spans[0][2])
            took = time.perf_counter() - started
            errors, right = [], 0
            for start, end, lang, text in spans:
                inside = [s for s in found if s.end > start - 0.5 and s.start < end + 0.5]
                errors.append(wer(text, " ".join(s.text for s in inside)))
                right += bool(inside) and all(s.language == lang for s in inside)
            line = (f"{name:<7} {setting:<10} {sum(errors) / len(errors):>6.2f} {right}/{len(spans):>7} "
                    f"{seconds / took:>9.1f}×")  # fmt: skip
            print(line, flush=True)
            lines.append(f"speech {name}, {setting}: WER {sum(errors) / len(errors):.2f}, language right "
                         f"{right}/{len(spans)} sentences, {seconds / took:.1f}× realtime ({seconds:.0f} s of audio)")
            if setting == "auto" and name != "en":
                lines.append(translation(samples, spans, found, name, took))
    if args.record:
        record(lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
