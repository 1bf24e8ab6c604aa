"""The index's LanceDB tables, inside the library directory.

Tables (one row per scene, sentence, CLIP frame or video):

* ``scenes``   video_id, row_id, start, end, frame_times, thumbnail, labels, objects,
               description, ocr_text, text (full-text: description + on-screen words), vector, model.
               A shot longer than 30 s is stored in parts on keyframes (searchable moments of a
               bounded length); row_id ``VIDEO:N`` starts a shot, ``VIDEO:N+`` continues one.
* ``onscreen`` video_id, row_id, scene, start, end, text, thumbnail, vector: only scenes with
               on-screen text (a separate table: most scenes have none, and a column of zero
               vectors could neither be indexed nor scanned cheaply)
* ``speech``   video_id, row_id, start, end, text, words, language, vector, model
* ``clip``     video_id, row_id, scene, t, vector (CLIP image space; dimension per model)
* ``loudness`` video_id, step, lufs (one list per video)
* ``faces``    video_id, row_id, track, scene, start, end, times, boxes (x0 y0 x1 y1 per time, 0..1),
               vector (dlib's 128-D face embedding), size, thumbnail, model: one row per face track;
               who each track is lives in the catalog (:mod:`vstream.people`)

Re-indexing a video replaces its rows in each table with one ``merge_insert``
commit (readers see the old rows or the new ones, never a mix); LanceDB's
versioned commits keep the tables readable if a writer is killed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vstream.library import Library, atomic_write

TEXT_DIM = 384
FACE_DIM = 128


def _schemas(clip_dim: int | None = None, text_dim: int | None = None) -> dict[str, Any]:
    import pyarrow as pa

    vec = pa.list_(pa.float32(), text_dim or TEXT_DIM)  # the text model's dimension (384: MiniLM, e5)
    word = pa.struct([("word", pa.string()), ("start", pa.float64()), ("end", pa.float64()), ("probability", pa.float32())])
    schemas = {
        "scenes": pa.schema([
            ("video_id", pa.string()), ("row_id", pa.string()), ("start", pa.float64()), ("end", pa.float64()),
            ("frame_times", pa.list_(pa.float64())), ("thumbnail", pa.string()), ("labels", pa.string()),
            ("objects", pa.string()), ("description", pa.string()), ("ocr_text", pa.string()), ("text", pa.string()),
            ("vector", vec), ("model", pa.string()),
        ]),
        "onscreen": pa.schema([
            ("video_id", pa.string()), ("row_id", pa.string()), ("scene", pa.string()), ("start", pa.float64()),
            ("end", pa.float64()), ("text", pa.string()), ("thumbnail", pa.string()), ("vector", vec),
            ("model", pa.string()),
        ]),
        "speech": pa.schema([
            ("video_id", pa.string()), ("row_id", pa.string()), ("start", pa.float64()), ("end", pa.float64()),
            ("text", pa.string()), ("words", pa.list_(word)), ("language", pa.string()), ("vector", vec),
            ("model", pa.string()),
        ]),
        "loudness": pa.schema([("video_id", pa.string()), ("row_id", pa.string()), ("step", pa.float64()),
                               ("lufs", pa.list_(pa.float32()))]),
        "faces": pa.schema([
            ("video_id", pa.string()), ("row_id", pa.string()), ("track", pa.int32()), ("scene", pa.string()),
            ("start", pa.float64()), ("end", pa.float64()), ("times", pa.list_(pa.float64())),
            ("boxes", pa.list_(pa.float32())), ("vector", pa.list_(pa.float32(), FACE_DIM)), ("size", pa.float32()),
            ("thumbnail", pa.string()), ("model", pa.string()),
        ]),
    }  # fmt: skip
    if clip_dim:
        schemas["clip"] = pa.schema([
            ("video_id", pa.string()), ("row_id", pa.string()), ("scene", pa.string()), ("t", pa.float64()),
            ("vector", pa.list_(pa.float32(), clip_dim)), ("model", pa.string()),
        ])  # fmt: skip
    return schemas


FTS_COLUMNS = {"scenes": ["text"], "speech": ["text"]}
TEXT_TABLES = ("scenes", "onscreen", "speech")  # vectors of the text model
VECTOR_COLUMNS = {"scenes": ["vector"], "speech": ["vector"], "clip": ["vector"], "onscreen": ["vector"]}
# Below this many rows an exact scan is fast (a few ms) and exactly right; above it, an ANN index.
VECTOR_INDEX_MIN_ROWS = 20_000
COMPACT_ROWS = 1_000_000  # rows per fragment after compaction (Lance's default target)


class Store:
    """Opens lazily: importing lancedb costs seconds, so only indexing and search pay for it."""

    def __init__(self, lib: Library):
        self.lib = lib
        self.path = lib.root / "index" / "lancedb"
        # a library on object storage keeps its tables there, natively (LanceDB's S3 support)
        self.uri = lib.remote.uri("index/lancedb") if lib.remote is not None else str(self.path)
        self.options = lib.remote.storage_options() if lib.remote is not None else None
        self._db = None

    @property
    def db(self):
        if self._db is None:
            import lancedb

            if self.lib.remote is None:
                self.path.mkdir(parents=True, exist_ok=True)
            self._db = lancedb.connect(self.uri, storage_options=self.options)
        return self._db

    def exists(self) -> bool:
        if self.lib.remote is not None:
            return self.lib.remote.any("index/lancedb/")
        return self.path.is_dir()

    def table(self, name: str, *, clip_dim: int | None = None, create: bool = True, text_dim: int | None = None):
        names = set(self.db.list_tables().tables) if hasattr(self.db.list_tables(), "tables") else set(self.db.list_tables())
        if name in names:
            return self.db.open_table(name)
        if not create:
            return None
        schema = _schemas(clip_dim, text_dim)[name]
        return self.db.create_table(name, schema=schema, exist_ok=True)

    def replace(self, name: str, video_id: str, rows: list[dict], *, clip_dim: int | None = None) -> int:
        """Replace all of ``video_id``'s rows in table ``name`` with ``rows`` in one commit."""
        import pyarrow as pa

        text_dim = len(rows[0]["vector"]) if name in TEXT_TABLES and rows else None
        table = self.table(name, clip_dim=clip_dim, text_dim=text_dim)
        data = pa.Table.from_pylist(rows, schema=table.schema)
        quoted = video_id.replace("'", "''")
        (
            table.merge_insert("row_id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(f"video_id = '{quoted}'")
            .execute(data)
        )
        return len(rows)

    def text_dim(self, name: str) -> int | None:
        """The dimension of a text table's vectors (None: no such table)."""
        table = self.table(name, create=False) if self.exists() else None
        return table.schema.field("vector").type.list_size if table is not None else None

    def video_rows(self, name: str, video_id: str) -> list[dict]:
        """Every column of one video's rows in table ``name`` ([] when there is no such table)."""
        table = self.table(name, create=False) if self.exists() else None
        if table is None:
            return []
        quoted = video_id.replace("'", "''")
        return table.to_lance().to_table(filter=f"video_id = '{quoted}'").to_pylist()

    def all_rows(self, name: str) -> list[dict]:
        table = self.table(name, create=False) if self.exists() else None
        return table.to_lance().to_table().to_pylist() if table is not None else []

    def rewrite(self, name: str, rows: list[dict], *, text_dim: int) -> int:
        """Replace table ``name`` with ``rows`` whose vectors have another dimension, in one commit
        (a vector column has one dimension: a model of another size rewrites the whole table)."""
        import pyarrow as pa

        schema = _schemas(None, text_dim)[name]
        self.db.create_table(name, pa.Table.from_pylist(rows, schema=schema), schema=schema, mode="overwrite")
        return len(rows)

    def delete_video(self, video_id: str) -> None:
        if not self.exists():
            return
        quoted = video_id.replace("'", "''")
        for name in self._names():
            self.db.open_table(name).delete(f"video_id = '{quoted}'")

    def delete_unknown(self, known: set[str]) -> int:
        """Remove rows of videos no longer in the catalog (left by a remove that was killed midway)."""
        removed = 0
        if not self.exists():
            return 0
        for name in self._names():
            table = self.db.open_table(name)
            ids = set(table.to_arrow().column("video_id").to_pylist()) if table.count_rows() else set()
            for video_id in ids - known:
                table.delete("video_id = '{}'".format(video_id.replace("'", "''")))
                removed += 1
        return removed

    def _names(self) -> list[str]:
        listed = self.db.list_tables()
        return list(getattr(listed, "tables", listed))

    def compact(self) -> None:
        """Merge each table's small fragments (one per indexed video and run) into large ones.

        A search reads its hits' columns row by row, one fragment file each: with a fragment per
        video, fetching 30 hits from a 200-video library cost twice what it costs compacted
        (bench/search.py). Readers keep the version they opened; old files go after a week.
        """
        for name in self._names():
            dataset = self.db.open_table(name).to_lance()  # local or on S3: the Lance dataset under the table
            if len(dataset.get_fragments()) > 1:
                dataset.optimize.compact_files(target_rows_per_fragment=COMPACT_ROWS)

    def build_indexes(self, *, vector_min_rows: int = VECTOR_INDEX_MIN_ROWS) -> None:
        """Compact the tables, then (re)build the full-text indexes, and vector indexes on tables large
        enough to need them."""
        from lancedb.index import FTS

        self.compact()
        names = set(self._names())
        for name, columns in FTS_COLUMNS.items():
            if name not in names:
                continue
            table = self.db.open_table(name)
            if not table.count_rows():
                continue
            for column in columns:
                table.create_index(column, config=FTS(with_position=True), replace=True)
        for name, columns in VECTOR_COLUMNS.items():
            if name not in names:
                continue
            table = self.db.open_table(name)
            if table.count_rows() < vector_min_rows:
                continue
            from lancedb.index import BTree

            table.create_index("video_id", config=BTree(), replace=True)  # per-video filters and lookups
            for column in columns:
                # HNSW graphs over IVF partitions with scalar-quantised vectors (bench/search.py measures
                # latency and recall@10 against exact search)
                table.create_index(metric="cosine", vector_column_name=column, index_type="IVF_HNSW_SQ", replace=True)

    def counts(self) -> dict[str, int]:
        if not self.exists():
            return {}
        return {name: self.db.open_table(name).count_rows() for name in self._names()}

    def write_models(self, models: dict[str, Any]) -> None:
        """Record which models (names, file hashes, licences) built the index."""
        path = self.lib.root / "index" / "models.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(models, indent=2, sort_keys=True) + "\n")

    def read_models(self) -> dict[str, Any]:
        path = self.lib.root / "index" / "models.json"
        return json.loads(path.read_text()) if path.exists() else {}


def thumbnails_dir(lib: Library, video_id: str) -> Path:
    return lib.root / "index" / "thumbs" / video_id


def faces_dir(lib: Library, video_id: str) -> Path:
    """A video's face crops (one per track), apart from its scene thumbnails."""
    return lib.root / "index" / "faces" / video_id
