"""Shared test helpers (see :mod:`tests.support.hlsplayer` and :mod:`tests.support.fixtures`)."""
