# VoiceBot: the two commands of the README, and their helpers.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# make test: the tests on two pytest-xdist workers (a file to a worker), then the real-time speech
# tests on their own (conftest.py says why); PYTEST_WORKERS= runs the first part on one worker too.
PYTEST_WORKERS ?= -n 2 --dist loadfile

.PHONY: run test bench install install-dev migrate clean chromium speech-packages

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# channels-redis's own test suite (tests/test_core.py), from its sdist on PyPI: the
# project's tests run its cases against the project's Redis layer. Nothing of it is kept in git.
CHANNELS_REDIS_VERSION := $(shell sed -n 's/^channels-redis==//p' requirements.txt)
UPSTREAM := var/upstream
$(UPSTREAM)/channels_redis-$(CHANNELS_REDIS_VERSION)/tests/test_core.py: requirements.txt | $(VENV)/.installed
	mkdir -p $(UPSTREAM)
	$(PY) -m pip download --quiet --no-deps --no-binary :all: channels-redis==$(CHANNELS_REDIS_VERSION) -d $(UPSTREAM)
	tar -xzf $(UPSTREAM)/channels_redis-$(CHANNELS_REDIS_VERSION).tar.gz -C $(UPSTREAM) \
		channels_redis-$(CHANNELS_REDIS_VERSION)/tests/test_core.py
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian packages some tests need: Chromium (the browser tests, web/tests) and espeak-ng (the
# bots' last text-to-speech fallback). Installed when missing and this runs as root; otherwise
# one line says which tests will be skipped for want of them.
define debian_package
	@if ! command -v $(1) >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(2); \
	  else echo "note: $(1) is missing and installing it needs root (apt-get install $(2)): $(3) will be skipped"; fi; \
	fi
endef

## Debian's Chromium for the browser tests.
chromium:
	$(call debian_package,chromium,chromium,the browser tests)

## Debian's espeak-ng, the last text-to-speech fallback of the bots.
speech-packages:
	$(call debian_package,espeak-ng,espeak-ng,the espeak-ng tests)

## Run the server on the embedded default (SQLite, in-memory channel layer).
run: install
	mkdir -p var
	DEBUG=$${DEBUG-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG-1} $(PY) manage.py serve --host $(HOST) --port $(PORT)

## Run the whole test suite (DATABASE_URL / REDIS_URL switch it to Postgres / Redis).
test: install-dev chromium speech-packages $(UPSTREAM)/channels_redis-$(CHANNELS_REDIS_VERSION)/tests/test_core.py
	mkdir -p var
	@# Both parts run whatever the first gave; 5 is "no test selected" (PYTEST_ARGS may pick one part).
	status=0; \
	$(PY) -m pytest $(PYTEST_WORKERS) -m "not realtime_speech" $(PYTEST_ARGS) || [ $$? = 5 ] || status=1; \
	$(PY) -m pytest -m realtime_speech $(PYTEST_ARGS) || [ $$? = 5 ] || status=1; \
	exit $$status

# The PeerJS server, a baseline of the relay benchmark, with the machine's Node.js (bench/package-lock.json).
bench/node_modules/.installed: bench/package.json bench/package-lock.json
	cd bench && npm ci --no-audit --no-fund --loglevel=error
	touch $@

## Relay benchmark: real server processes and WebSocket clients (see BENCHMARKS.md; BENCH_ARGS adds options).
bench: install-dev bench/node_modules/.installed
	mkdir -p var
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
