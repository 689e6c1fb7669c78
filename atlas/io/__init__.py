"""Generic file work under every other part: atomic files, hashes, locks, folder swaps, SVG."""
