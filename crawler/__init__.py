"""Veille's crawler: config, Scrapy project (settings, items, pipelines), extraction and storage."""

__version__ = "0.1.0"
