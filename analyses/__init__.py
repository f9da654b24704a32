"""Built-in analyses (monitors) of wizardpy, written only against the public API."""
