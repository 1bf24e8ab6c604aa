"""vstream: personalized streaming from a local media library, without re-encoding."""

__version__ = "0.1.0"
