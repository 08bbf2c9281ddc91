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

# Debian's tshark dissects captures in the tests, and the MQTT medium's tests
# run a real mosquitto broker; install whichever is missing (one apt-get update).
# The mosquitto package may also start a system broker on :1883; the tests never
# use it (each starts its own on a free port).
SYSTEM_TOOLS := tshark:tshark mosquitto:mosquitto
system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || \
	  [ -x /usr/sbin/$${pair%%:*} ] || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing (Debian packages)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; fi

run: setup
	$(BIN)/s1bench demo --out $(OUT)

test: setup system-deps
	$(BIN)/pytest -q

bench: setup
	@$(BIN)/python -m s1bench.harness.bench

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
