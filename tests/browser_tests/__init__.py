"""Browser tests: Debian chromium driven by Playwright (marked `browser`)."""
