# Quick start: `make demo` and `make test` each set everything up first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The demo writes here; override with `make demo OUT=somewhere`.
OUT ?= out/demo
# The neural generator's tests run a tiny MusicGen on the CPU. Pinned: an unpinned torch pulls
# gigabytes of CUDA packages (users with a GPU install `soundtrack[neural]` their own way).
TORCH ?= torch==2.13.0

.PHONY: setup tools demo test bench bench-quality clean dist

setup: tools $(STAMP)

$(STAMP): pyproject.toml | tools
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)" "transformers>=4.40"
	$(PY) -m pip install -q -e ".[test]"
	@# the reference Node.js client's dependency (@msgpack/msgpack), for its tests
	if command -v npm >/dev/null 2>&1; then cd integrations/node && npm ci --no-audit --no-fund --silent; fi
	touch $(STAMP)

tools:
	@bash scripts/ensure-tools.sh
	@bash scripts/ensure-integration-tools.sh
	@bash scripts/ensure-browser.sh

demo: setup
	$(PY) -m soundtrack demo --out $(OUT)

# the suite on every core, up to 4 (banks the tests share are built once, whichever worker is first);
# then the tests that hold audio to a real clock, alone: beside busy workers a 2-core machine can
# starve a browser's audio thread for reasons that are not the studio's (one underrun in CI once)
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

test: setup
	$(PY) -m pytest -q -n $(TEST_JOBS) -m "not realtime"
	$(PY) -m pytest -q -m realtime

bench: setup
	$(PY) benchmarks/run.py

# The listening proxy (issue 13): the procedural generator before (BEFORE_REF) and after, beside
# human-made game music; installs its own venv and the reference music (measurement only).
BEFORE_REF ?= 5ef0285
bench-quality: setup
	bash benchmarks/quality/run.sh "$(BEFORE_REF)"

clean:
	rm -rf $(VENV) out .pytest_cache

# A single-folder server a game bundles and starts as a child process (no Python needed there):
# dist/soundtrack/soundtrack serve BANK --stdio. PyInstaller from PyPI; torch is left out.
PYINSTALLER ?= pyinstaller>=6.10
dist: $(STAMP)
	$(PY) -m pip install -q "$(PYINSTALLER)"
	$(PY) -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/soundtrack.spec
	@echo "dist/soundtrack/: $$(du -sh dist/soundtrack | cut -f1); run dist/soundtrack/soundtrack serve BANK --stdio"
