"""Keyword topics, matching and alert delivery (issues 3 and 4; not built yet)."""
