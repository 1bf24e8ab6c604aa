"""People: the library's face tracks clustered into persons, which the user names.

The ``faces`` index stage stores each video's face tracks (embedding, boxes, times, a face
crop) in LanceDB. This module keeps *who they are* in the library catalog (SQLite, beside
the videos and tags), so names survive re-indexing, new models and new videos:

* ``people``       id, name (unique, case-insensitive), hidden
* ``face_tracks``  video_id, track, person_id, start, end, centre, face size, thumbnail, pinned
* ``faces_forgotten``  where a forgotten person was (video, time, position): no face data at all

(No foreign keys to ``videos``: a re-ingest replaces a video's row, and its people, corrections
and forgotten places must survive that; :meth:`Library.remove` and ``rename`` keep them in step.)

Clustering is incremental (immich's way): when a video's faces are (re)indexed, each new track
first **inherits** the person of the previous track of the same video at the same time and
place (a re-index, or a new face model whose vectors cannot be compared with the old ones,
keeps every name and every correction), else joins the person of its **nearest** face in the
library when closer than :data:`MATCH_DISTANCE`, else starts a new person. Re-clustering never
renames anyone: names belong to persons, and only the user merges, splits or names them.
Tracks moved by the user are *pinned*: later runs keep them where the user put them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from vstream.errors import NotFound, UsageError

MATCH_DISTANCE = 0.5  # dlib's embedding: one person's faces are < 0.6 apart (LFW); 0.5 keeps look-alikes apart
INHERIT_OVERLAP = 0.5  # share of the shorter track's time two tracks must share to be "the same sighting"
INHERIT_CENTRE = 0.2  # and how far apart (fraction of the frame) their median centres may be
NAME_MAX = 80

SCHEMA = """
CREATE TABLE IF NOT EXISTS people (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT UNIQUE COLLATE NOCASE,
    hidden     INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS face_tracks (
    video_id   TEXT NOT NULL,
    track      INTEGER NOT NULL,
    person_id  INTEGER NOT NULL REFERENCES people(id),
    start      REAL NOT NULL,
    end        REAL NOT NULL,
    cx         REAL NOT NULL,
    cy         REAL NOT NULL,
    size       REAL NOT NULL,
    thumbnail  TEXT NOT NULL,
    pinned     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (video_id, track)
);
CREATE INDEX IF NOT EXISTS face_tracks_person ON face_tracks(person_id);
CREATE TABLE IF NOT EXISTS faces_forgotten (
    video_id   TEXT NOT NULL,
    start      REAL NOT NULL,
    end        REAL NOT NULL,
    cx         REAL NOT NULL,
    cy         REAL NOT NULL
);
"""


@dataclass
class Person:
    id: int
    name: str | None
    hidden: bool
    videos: int
    appearances: int
    seconds: float
    thumbnail: str  # library-relative path of the person's largest face crop

    @property
    def label(self) -> str:
        return self.name or f"p{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"label": self.label}


@dataclass
class TrackInfo:
    """What clustering needs of one face track (pure data)."""

    track: int
    start: float
    end: float
    cx: float
    cy: float
    vector: Any = None  # numpy (128,), same model as the others compared with it
    person_id: int | None = None
    pinned: bool = False


def ensure_schema(db) -> None:
    db.executescript(SCHEMA)


def _has_schema(db) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='face_tracks'").fetchone() is not None


# --- the pure part -----------------------------------------------------------------------------


def same_sighting(a: TrackInfo, b: TrackInfo) -> float:
    """How much two tracks of one video are the same face at the same time and place (0: not)."""
    shared = min(a.end, b.end) - max(a.start, b.start)
    shorter = max(0.1, min(a.end - a.start, b.end - b.start))
    overlap = shared / shorter if shared > 0 or a.start == b.start else 0.0
    far = ((a.cx - b.cx) ** 2 + (a.cy - b.cy) ** 2) ** 0.5
    if overlap < INHERIT_OVERLAP or far > INHERIT_CENTRE:
        return 0.0
    return overlap - far


def cluster(new: list[TrackInfo], previous: list[TrackInfo], known: list[tuple[int, Any]], *,
            match: float = MATCH_DISTANCE) -> list[tuple[int | None, bool, int | None]]:  # fmt: skip
    """For each new track of one video: ``(person_id, pinned, group)``.

    ``previous`` are the video's tracks before this run (their persons and pins), ``known`` the
    ``(person_id, vector)`` of every other face in the library made by the same model. A track
    that matches nobody gets ``person_id None`` and a ``group`` number: tracks of one group are
    one new person.
    """
    import numpy as np

    out: list[tuple[int | None, bool, int | None]] = [(None, False, None)] * len(new)
    taken: set[int] = set()
    for i, track in enumerate(new):  # 1. the same sighting as before: same person, same pin
        best, score = None, 0.0
        for j, old in enumerate(previous):
            s = same_sighting(track, old)
            if j not in taken and s > score:
                best, score = j, s
        if best is not None:
            taken.add(best)
            out[i] = (previous[best].person_id, previous[best].pinned, None)
    members = [(pid, vec) for pid, vec in known]
    members += [(out[i][0], t.vector) for i, t in enumerate(new) if out[i][0] is not None and t.vector is not None]
    group_vectors: list[tuple[int, Any]] = []  # (group, vector) of new people made in this run
    groups = 0
    for i, track in enumerate(new):  # 2. nearest face in the library, 3. a new person
        if out[i][0] is not None or track.vector is None:
            if track.vector is None and out[i][0] is None:
                out[i] = (None, False, groups)
                groups += 1
            continue
        candidates = [(float(np.linalg.norm(track.vector - vec)), pid, None) for pid, vec in members]
        candidates += [(float(np.linalg.norm(track.vector - vec)), None, g) for g, vec in group_vectors]
        nearest = min(candidates, default=None, key=lambda c: c[0])
        if nearest is not None and nearest[0] < match:
            out[i] = (nearest[1], False, nearest[2])
            if nearest[1] is not None:
                members.append((nearest[1], track.vector))
            else:
                group_vectors.append((nearest[2], track.vector))
        else:
            out[i] = (None, False, groups)
            group_vectors.append((groups, track.vector))
            groups += 1
    return out


# --- the catalog ------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def assign_video(lib, video_id: str, tracks: list[TrackInfo], thumbs: dict[int, tuple[str, float]],
                 known: list[tuple[int, Any]]) -> dict[int, int]:  # fmt: skip
    """Record a video's new face tracks and who they are (call under the writer lock).

    ``thumbs`` maps track -> (thumbnail path, face size); ``known`` is the library's other faces
    ``(person_id, vector)`` made by the same model. Returns track -> person id.
    """
    db = lib.db
    ensure_schema(db)
    previous = [
        TrackInfo(r["track"], r["start"], r["end"], r["cx"], r["cy"], None, r["person_id"], bool(r["pinned"]))
        for r in db.execute("SELECT * FROM face_tracks WHERE video_id=?", (video_id,))
    ]  # fmt: skip
    decided = cluster(tracks, previous, known)
    assigned: dict[int, int] = {}
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM face_tracks WHERE video_id=?", (video_id,))
        new_people: dict[int, int] = {}
        for track, (person, pinned, group) in zip(tracks, decided):
            if person is None:
                if group not in new_people:
                    new_people[group] = db.execute("INSERT INTO people (created_at) VALUES (?)", (_now(),)).lastrowid
                person = new_people[group]
            thumb, size = thumbs.get(track.track, ("", 0.0))
            db.execute("INSERT INTO face_tracks VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (video_id, track.track, person, track.start, track.end, track.cx, track.cy, size, thumb,
                        int(pinned)))  # fmt: skip
            assigned[track.track] = person
        _drop_empty(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return assigned


def drop_video(db, video_id: str) -> None:
    """In the caller's transaction: a removed video's faces and forgotten places go with it."""
    if _has_schema(db):
        db.execute("DELETE FROM face_tracks WHERE video_id=?", (video_id,))
        db.execute("DELETE FROM faces_forgotten WHERE video_id=?", (video_id,))
        _drop_empty(db)


def rename_video(db, old: str, new: str) -> None:
    """In the caller's transaction: a renamed video's faces keep their people under the new id."""
    if _has_schema(db):
        db.execute("UPDATE face_tracks SET video_id=? WHERE video_id=?", (new, old))
        db.execute("UPDATE faces_forgotten SET video_id=? WHERE video_id=?", (new, old))


def forgotten(lib, video_id: str) -> list[TrackInfo]:
    """Places (time, position) in a video where a forgotten person was: the faces stage drops them."""
    if not _has_schema(lib.db):
        return []
    return [TrackInfo(-1, r["start"], r["end"], r["cx"], r["cy"])
            for r in lib.db.execute("SELECT * FROM faces_forgotten WHERE video_id=?", (video_id,))]  # fmt: skip


def _drop_empty(db) -> None:
    """Unnamed people without faces go (named ones stay: their name is the user's work)."""
    db.execute("DELETE FROM people WHERE name IS NULL AND id NOT IN (SELECT DISTINCT person_id FROM face_tracks)")


def people(lib, *, include_hidden: bool = False, min_appearances: int = 1) -> list[Person]:
    """Everyone in the library, the most seen first (named people always, even with no faces left)."""
    if not _has_schema(lib.db):
        return []
    rows = lib.db.execute(
        """SELECT p.id, p.name, p.hidden, COUNT(DISTINCT t.video_id) AS videos, COUNT(t.track) AS appearances,
                  COALESCE(SUM(t.end - t.start), 0) AS seconds,
                  (SELECT thumbnail FROM face_tracks WHERE person_id = p.id ORDER BY size DESC LIMIT 1) AS thumbnail
           FROM people p LEFT JOIN face_tracks t ON t.person_id = p.id
           GROUP BY p.id ORDER BY appearances DESC, seconds DESC, p.id"""
    ).fetchall()
    out = []
    for r in rows:
        if (r["hidden"] and not include_hidden) or (r["appearances"] < min_appearances and r["name"] is None):
            continue
        out.append(Person(r["id"], r["name"], bool(r["hidden"]), r["videos"], r["appearances"],
                          round(r["seconds"], 3), r["thumbnail"] or ""))  # fmt: skip
    return out


def resolve(lib, ref: str) -> Person:
    """A person by name (any case) or id (``12`` or ``p12``)."""
    text = str(ref).strip()
    everyone = {p.id: p for p in people(lib, include_hidden=True, min_appearances=0)}
    digits = text[1:] if text[:1] in "pP" and text[1:].isdigit() else text
    if digits.isdigit() and int(digits) in everyone:
        return everyone[int(digits)]
    for p in everyone.values():
        if p.name and p.name.casefold() == text.casefold():
            return p
    import difflib

    names = [p.name for p in everyone.values() if p.name]
    close = [n for n in names if text.casefold() in n.casefold()][:3] or difflib.get_close_matches(text, names, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "list them with: vstream people"
    raise NotFound(f"no person {text!r} in this library", hint=hint)


def check_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name or len(name) > NAME_MAX or any(ord(c) < 32 for c in name):
        raise UsageError(f"a person's name is 1 to {NAME_MAX} printable characters", hint='e.g. vstream people name p3 "Alice"')
    if name[:1] in "pP" and name[1:].isdigit() or name.isdigit():
        raise UsageError(f"{name!r} looks like a person id", hint="choose a name that is not a number or p<number>")
    return name


def name(lib, ref: str, new_name: str) -> Person:
    """Name (or rename) a person; a name already used by someone else is refused (merge them instead)."""
    person = resolve(lib, ref)
    new_name = check_name(new_name)
    other = lib.db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE AND id != ?", (new_name, person.id)).fetchone()
    if other:
        raise UsageError(f"{new_name!r} is already p{other[0]}",
                         hint=f"if they are the same person: vstream people merge {new_name!r} p{person.id}")  # fmt: skip
    lib.db.execute("UPDATE people SET name=? WHERE id=?", (new_name, person.id))
    return resolve(lib, str(person.id))


def unname(lib, ref: str) -> Person:
    person = resolve(lib, ref)
    lib.db.execute("UPDATE people SET name=NULL WHERE id=?", (person.id,))
    return resolve(lib, str(person.id))


def merge(lib, target_ref: str, others: Iterable[str]) -> Person:
    """Move every face of ``others`` to ``target`` (pinned: clustering keeps them there)."""
    target = resolve(lib, target_ref)
    sources = [resolve(lib, r) for r in others]
    if any(s.id == target.id for s in sources):
        raise UsageError("a person cannot be merged into themself")
    db = lib.db
    db.execute("BEGIN IMMEDIATE")
    try:
        for source in sources:
            db.execute("UPDATE face_tracks SET person_id=?, pinned=1 WHERE person_id=?", (target.id, source.id))
            db.execute("DELETE FROM people WHERE id=?", (source.id,))
            if source.name and not target.name:
                db.execute("UPDATE people SET name=? WHERE id=?", (source.name, target.id))
                target.name = source.name
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return resolve(lib, str(target.id))


def faces_of(lib, ref: str) -> list[dict[str, Any]]:
    """A person's face tracks: ``{face, video_id, track, start, end, thumbnail, pinned}`` in library order."""
    person = resolve(lib, ref)
    rows = lib.db.execute("SELECT * FROM face_tracks WHERE person_id=? ORDER BY video_id, start", (person.id,))
    return [{"face": f"{r['video_id']}:{r['track']}", "video_id": r["video_id"], "track": r["track"],
             "start": r["start"], "end": r["end"], "thumbnail": r["thumbnail"], "pinned": bool(r["pinned"])}
            for r in rows]  # fmt: skip


def _face_keys(lib, faces: Iterable[str]) -> list[tuple[str, int]]:
    keys = []
    for face in faces:
        video_id, _, track = str(face).rpartition(":")
        if not video_id or not track.isdigit():
            raise UsageError(f"{face!r} is not a face", hint="faces are VIDEO:TRACK, listed by: vstream people faces PERSON")
        row = lib.db.execute("SELECT 1 FROM face_tracks WHERE video_id=? AND track=?", (video_id, int(track))).fetchone()
        if row is None:
            raise NotFound(f"no face {face!r} in this library", hint="list a person's faces: vstream people faces PERSON")
        keys.append((video_id, int(track)))
    return keys


def split(lib, faces: Iterable[str], *, to: str | None = None) -> Person:
    """Move faces (``VIDEO:TRACK``) to a new person, or to the person ``to``; pinned there."""
    keys = _face_keys(lib, faces)
    if not keys:
        raise UsageError("name at least one face to move", hint="vstream people split VIDEO:TRACK ...")
    target = resolve(lib, to) if to else None
    db = lib.db
    db.execute("BEGIN IMMEDIATE")
    try:
        person_id = target.id if target else db.execute("INSERT INTO people (created_at) VALUES (?)", (_now(),)).lastrowid
        for video_id, track in keys:
            db.execute("UPDATE face_tracks SET person_id=?, pinned=1 WHERE video_id=? AND track=?", (person_id, video_id, track))
        _drop_empty(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return resolve(lib, str(person_id))


def hide(lib, ref: str, hidden: bool = True) -> Person:
    person = resolve(lib, ref)
    lib.db.execute("UPDATE people SET hidden=? WHERE id=?", (int(hidden), person.id))
    return resolve(lib, str(person.id))


def forget(lib, ref: str) -> tuple[Person, int]:
    """Delete a person: name, face tracks, their embeddings (LanceDB) and face crops. Only where
    they were (video, time, position: no face data) is kept, so a re-index does not bring them
    back. Returns the person and how many face tracks went."""
    person = resolve(lib, ref)
    db = lib.db
    rows = db.execute("SELECT * FROM face_tracks WHERE person_id=?", (person.id,)).fetchall()
    db.execute("BEGIN IMMEDIATE")
    try:
        for r in rows:
            db.execute("INSERT INTO faces_forgotten VALUES (?,?,?,?,?)", (r["video_id"], r["start"], r["end"], r["cx"], r["cy"]))
        db.execute("DELETE FROM face_tracks WHERE person_id=?", (person.id,))
        db.execute("DELETE FROM people WHERE id=?", (person.id,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    from vstream.index.store import Store

    store = Store(lib)
    table = store.table("faces", create=False) if store.exists() else None
    if table is not None and rows:
        ids = ", ".join("'" + f"{r['video_id']}:{r['track']}".replace("'", "''") + "'" for r in rows)
        table.delete(f"row_id IN ({ids})")
        purge(table)
    for r in rows:
        if r["thumbnail"]:
            (lib.root / r["thumbnail"]).unlink(missing_ok=True)
            lib.dead_files.append(r["thumbnail"])  # on object storage: deleted there by this command's push
    return person, len(rows)


def appearances(lib, refs: Iterable[str]) -> dict[int, dict[str, list[tuple[float, float]]]]:
    """``{person_id: {video_id: [(start, end), ...]}}`` of the named people (names or ids)."""
    out: dict[int, dict[str, list[tuple[float, float]]]] = {}
    for ref in refs:
        person = resolve(lib, ref)
        spans: dict[str, list[tuple[float, float]]] = {}
        for r in lib.db.execute("SELECT video_id, start, end FROM face_tracks WHERE person_id=? ORDER BY video_id, start",
                                (person.id,)):  # fmt: skip
            spans.setdefault(r["video_id"], []).append((r["start"], r["end"]))
        out[person.id] = spans
    return out


def track_ids(lib, video_id: str, refs) -> set[int]:
    """The face tracks of ``video_id`` that belong to these people (names or ids; unknown ones: none)."""
    try:
        ids = sorted({resolve(lib, ref).id for ref in refs})
    except NotFound:
        return set()
    if not ids or not _has_schema(lib.db):
        return set()
    rows = lib.db.execute(f"SELECT track FROM face_tracks WHERE video_id=? AND person_id IN ({','.join('?' * len(ids))})",
                          (video_id, *ids))  # fmt: skip
    return {r[0] for r in rows}


def all_tracks(lib) -> dict[str, list[tuple[float, float, int, str | None, bool]]]:
    """Every video's face tracks ``(start, end, person_id, name, hidden)`` (what search labels moments with)."""
    if not _has_schema(lib.db):
        return {}
    out: dict[str, list] = {}
    for r in lib.db.execute("SELECT t.video_id, t.start, t.end, p.id, p.name, p.hidden FROM face_tracks t "
                            "JOIN people p ON p.id = t.person_id ORDER BY t.video_id, t.start"):  # fmt: skip
        out.setdefault(r[0], []).append((r[1], r[2], r[3], r[4], bool(r[5])))
    return out


def merge_spans(spans: list[tuple[float, float]], gap: float = 0.0) -> list[tuple[float, float]]:
    """Overlapping (or ``gap``-close) spans joined, in time order (pure)."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1] + gap:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def together(per_person: list[dict[str, list[tuple[float, float]]]]) -> dict[str, list[tuple[float, float]]]:
    """Where all of these people are on screen at once: per video, the intersection of their spans (pure)."""
    if not per_person:
        return {}
    result = {v: merge_spans(s) for v, s in per_person[0].items()}
    for other in per_person[1:]:
        nxt: dict[str, list[tuple[float, float]]] = {}
        for video_id, spans in result.items():
            theirs = merge_spans(other.get(video_id, []))
            both = [(max(a0, b0), min(a1, b1)) for a0, a1 in spans for b0, b1 in theirs if min(a1, b1) > max(a0, b0)]
            if both:
                nxt[video_id] = merge_spans(both)
        result = nxt
    return result


def purge(table) -> None:
    """Make deleted face rows really gone: rewrite the data files that held them and drop the
    table's older versions (Lance keeps both for time travel until told otherwise)."""
    from datetime import timedelta

    dataset = table.to_lance()
    dataset.optimize.compact_files(materialize_deletions=True, materialize_deletions_threshold=0.0)
    # (not delete_unverified: that could take the files of an index commit still in flight)
    dataset.cleanup_old_versions(older_than=timedelta(0))
