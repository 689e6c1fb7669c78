# atlas: `make demo` builds the bundled-default atlas; `make test` runs the whole test suite.
# Both create the virtual environment (.venv) on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Two stamps: the demo needs atlas alone; the tests add their extras (timm, open_clip,
# transformers, pytest, Playwright, ruff) on top, so a newcomer's `make demo` installs less.
CORE := $(VENV)/.installed-core
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast bench bench-scale lint clean browser

$(CORE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $(CORE)

$(STAMP): $(CORE)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(CORE)
	$(VENV)/bin/atlas build bundled

test: $(STAMP) browser lint
	$(PY) -m pytest -q

# The quick loop while working: lint, the import layers and every test but the browser and slow ones.
test-fast: $(STAMP) lint
	$(PY) -m pytest -q -m "not slow and not browser"

# The browser tests need Chromium: Debian's package when root, else Playwright's own download.
browser: $(STAMP)
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else $(PY) -m playwright install chromium; fi

# Measurements, not tests (benchmarks/): figures for docs/benchmarks.md.
bench: $(STAMP)
	$(PY) -m benchmarks.quality --sheet test-output
	$(PY) -m benchmarks.mine
	$(PY) -m benchmarks.accent
	$(PY) -m benchmarks.site

# ResNet-50 layer4 (2,048 units) over 10,000 photos made from the bundled ones: ~40 min on 2 cores
bench-scale: $(STAMP) browser
	$(PY) -m benchmarks.scale --work /tmp/atlas-scale

lint: $(STAMP)
	$(PY) -m ruff check atlas tests benchmarks
	$(VENV)/bin/lint-imports

clean:
	rm -rf runs site/* test-output .pytest_cache
