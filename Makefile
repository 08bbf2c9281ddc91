# s1bench: `make run` and `make test` work on a fresh machine (they set up first).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: setup run test bench lint clean system-deps

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,hil]'
	touch $(STAMP)

setup: $(STAMP)

# Debian's tshark dissects captures in the tests; install it when missing.
system-deps:
	@command -v tshark >/dev/null 2>&1 || { \
	  echo "installing tshark (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq tshark >/dev/null; }

run: setup
	$(BIN)/s1bench demo --out $(OUT)

test: setup system-deps
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python -m s1bench.harness.bench

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
