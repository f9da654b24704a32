"""Reusable and example probes for wizardpy, written only against the public API."""
