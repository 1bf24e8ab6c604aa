"""Thin typer adapters over the library API: parse options, call the core, print."""
