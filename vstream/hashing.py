"""File digests: xxh3 over the bytes (several GB/s; identity, not security)."""

from __future__ import annotations

from pathlib import Path

_CACHE: dict[tuple[str, int, int], str] = {}


def xxh3_file(path: Path, *, bits: int = 128) -> str:
    """Hex xxh3 digest of a file's bytes, read in 4 MiB chunks."""
    import xxhash

    digest = xxhash.xxh3_128() if bits == 128 else xxhash.xxh3_64()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """A model file's xxh3-64 digest, computed once per (path, size, mtime) in a process."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _CACHE:
        _CACHE[key] = xxh3_file(path, bits=64)
    return _CACHE[key]
