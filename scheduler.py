"""The Veille daemon: per-source crawl jobs, alert dispatch, reload and signals.

Not built yet (issue 5). Until then, run `veille crawl` from cron for one cycle at a time.
"""
