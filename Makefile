# qhil: two commands on a fresh Debian machine.
#   make demo   install what is missing, then run the main job
#   make test   install what is missing, then run the test suite
SHELL := /bin/bash
export PLATFORMIO_CORE_DIR := $(CURDIR)/.pio-core
export PLATFORMIO_DISABLE_UPGRADE_CHECK := true
export PLATFORMIO_SETTING_ENABLE_TELEMETRY := No
export PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL := 3650
VENV := $(CURDIR)/.venv
QHIL := $(VENV)/bin/qhil
PYTEST_ARGS ?=
FUZZ_SECONDS ?= 600

.PHONY: setup demo test check lint fuzz clean help

help:
	@echo "make setup   install Debian packages, .venv and PlatformIO's offline core (if missing)"
	@echo "make demo    run the main job (see README)"
	@echo "make test    run the test suite (the whole of it: CI runs this)"
	@echo "make check   the fast lane while working: lint and the tests not marked slow (< 3 min)"
	@echo "make lint    ruff and mypy"
	@echo "make fuzz    libFuzzer campaigns on the firmware (FUZZ_SECONDS=$(FUZZ_SECONDS) per target)"

setup:
	@tools/setup.sh

demo: setup
	@tools/demo.sh

test: setup
	$(VENV)/bin/ruff check host tests benchmarks tools
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

check: setup
	$(VENV)/bin/ruff check host tests benchmarks tools
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -m "not slow" -q $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check host tests benchmarks tools
	$(VENV)/bin/mypy

fuzz: setup
	$(VENV)/bin/python tools/fuzz.py run --seconds $(FUZZ_SECONDS) --json build/fuzz/last.json

clean:
	rm -rf firmware/.pio .pytest_cache .hypothesis build
