# Entry points for a newcomer. `make demo` and `make test` are the two README commands.
PYTHON_BASE ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-stamp

.PHONY: venv system-deps demo test test-fast lint corpus corpus-small real-speech independent-check contact-sheet clean

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $(STAMP)

venv: $(STAMP)

system-deps:
	@bash tools/install_system_deps.sh

demo: venv system-deps
	$(PY) -m diffusiontalker_addon demo --out output

test: venv system-deps
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-fast: venv
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not slow"

lint: venv
	$(PY) -m ruff check core diffusiontalker_addon tests build.py
	$(PY) -m ruff format --check core diffusiontalker_addon tests build.py

corpus-small: venv system-deps
	$(PY) -m core data generate --preset small --out data/corpus-small

corpus: venv system-deps
	$(PY) -m core data generate --preset full --out data/corpus --jobs 2
	$(PY) -m core data generate --preset encoder-voices --out data/encoder_voices --jobs 2

# Real human speech (Debian packages, downloaded with apt-get): encoder training audio + a scored dev set.
real-speech: venv
	$(PY) -m core data real-speech --out data/real_speech

independent-check: venv
	$(PY) -m core data independent-check --out data/independent_check

contact-sheet: venv
	$(PY) -m diffusiontalker_addon contact-sheet --head procedural --out docs/contact_sheet.png
	$(PY) -m diffusiontalker_addon contact-sheet --head human --out docs/contact_sheet_human.png

clean:
	rm -rf output dist .pytest_cache
