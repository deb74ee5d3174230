"""Composition root: settings, CLI and wiring of every part onto one event loop."""
