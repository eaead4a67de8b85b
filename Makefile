# The two commands of the README: `make demo` (set up + run the main job on bundled media) and
# `make test` (set up + run the test suite). Set-up is shared and only reruns when dependencies change.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
INTEROP := tools/c2pa-interop
INTEROP_STAMP := $(INTEROP)/node_modules/.installed-stamp
DEMO_DIR ?= out/demo

.PHONY: setup demo test lint

setup: $(STAMP) $(INTEROP_STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# The independent C2PA validator (c2pa-ts, pure TypeScript) used by the interoperability tests.
$(INTEROP_STAMP): $(INTEROP)/package.json $(INTEROP)/package-lock.json
	cd $(INTEROP) && npm install --no-audit --no-fund --loglevel=error
	touch $(INTEROP_STAMP)

CANDOR_HOME ?= $(HOME)/.candor

# The main job: the bundled portrait speaks espeak-ng speech; the MP4 is watermarked and signed, then verified.
demo: $(STAMP)
	$(BIN)/candor data demo-inputs $(DEMO_DIR)
	$(BIN)/candor generate --image $(DEMO_DIR)/portrait.png --audio $(DEMO_DIR)/speech.wav --out $(DEMO_DIR)/talking.mp4
	$(BIN)/candor verify $(DEMO_DIR)/talking.mp4 --trust-anchors $(CANDOR_HOME)/keys/ca.pem

test: $(STAMP) $(INTEROP_STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
