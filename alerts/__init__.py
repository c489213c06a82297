"""Matching articles against keyword topics (pure), and delivering alerts and admin notices."""
