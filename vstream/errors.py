"""One exception hierarchy, one table of exit codes.

The CLI maps every :class:`VstreamError` to its ``exit_code`` and prints its
message as one line; ``VSTREAM_DEBUG=1`` re-raises with the traceback instead.
"""

from __future__ import annotations

# Exit codes, documented in the README ("Exit codes") and kept stable for scripts.
OK = 0
PARTIAL = 1  # a batch finished but at least one item failed
USAGE = 2  # bad arguments, bad recipe, bad value
NOT_FOUND = 3  # no such video / file / library
BAD_MEDIA = 4  # the input cannot be used (not a video, not stream-copyable, ...)
BUSY = 5  # the library is locked by another writer, or its layout is not usable
MISSING_DEPENDENCY = 6  # ffmpeg, a model or an extra is not installed
IO_ERROR = 7  # the operating system refused: permission denied, disk full, read-only
INTERRUPTED = 130  # Ctrl-C
INTERNAL = 70  # a bug in vstream: please report it with VSTREAM_DEBUG=1 output

EXIT_CODES = {
    OK: "ok",
    PARTIAL: "partial failure: some items of a batch failed (see the summary)",
    USAGE: "usage error: bad arguments, option values, recipe or query",
    NOT_FOUND: "not found: no such video, file or library",
    BAD_MEDIA: "bad media: the input cannot be read or used as it is",
    BUSY: "library busy, locked, or its layout needs a migration/upgrade",
    MISSING_DEPENDENCY: "a required program, package or model is missing",
    IO_ERROR: "I/O error: permission denied, disk full or read-only file system",
    INTERNAL: "internal error (a bug): rerun with VSTREAM_DEBUG=1 and report the traceback",
    INTERRUPTED: "interrupted (Ctrl-C)",
}


class VstreamError(Exception):
    """Base class. ``str(err)`` is the one line shown to the user."""

    exit_code = USAGE

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # message plus what to do, on one line
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(VstreamError):
    exit_code = USAGE


class NotFound(VstreamError):
    exit_code = NOT_FOUND


class MediaError(VstreamError):
    """The input media cannot be read or used; carries ffmpeg's useful line when there is one."""

    exit_code = BAD_MEDIA


class LibraryBusy(VstreamError):
    exit_code = BUSY


class LayoutError(VstreamError):
    exit_code = BUSY


class MissingDependency(VstreamError):
    exit_code = MISSING_DEPENDENCY


class IOFailure(VstreamError):
    """The operating system refused a write or read: disk full, read-only, a port in use."""

    exit_code = IO_ERROR
