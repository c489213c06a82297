"""Config-driven spiders: one spider crawls the feed, sitemap and listing routes of each source."""
