# s1bench: `make run` and `make test` work on a fresh machine (they set up first).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: setup run test bench lint clean system-deps fuzz-codec fuzz fuzz-files

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

# The frame codec, fuzzed two ways, both failing on any exception but the codec error:
# - coverage-guided (atheris, libFuzzer's engine; tests/fuzz/codec_atheris.py) for
#   CODEC_RUNS inputs from a seed corpus of every captured frame, mutated through the
#   whole-frame decoder and each layer's; a crash leaves its input in $(OUT)/fuzz/crash-*;
# - the codec's properties (tests/emulator/test_codec_props.py) at CODEC_EXAMPLES each,
#   hypothesis printing per property how many inputs it tried.
# It prints the inputs tried and the crashes found.
CODEC_RUNS ?= 1000000
CODEC_EXAMPLES ?= 5000
fuzz-codec: setup
	@$(BIN)/pip install --quiet 'atheris>=2.3'
	@mkdir -p $(OUT)/fuzz/codec-corpus && rm -f $(OUT)/fuzz/crash-*
	@echo "fuzzing the codec: $(CODEC_RUNS) inputs (log: $(OUT)/fuzz/codec.log)"
	@$(BIN)/python tests/fuzz/codec_atheris.py -runs=$(CODEC_RUNS) -print_final_stats=1 \
	  -artifact_prefix=$(OUT)/fuzz/ $(OUT)/fuzz/codec-corpus > $(OUT)/fuzz/codec.log 2>&1; \
	status=$$?; runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(OUT)/fuzz/codec.log); \
	crashes=$$(ls $(OUT)/fuzz/crash-* 2>/dev/null | wc -l); \
	echo "codec inputs tried: $${runs:-0} (coverage-guided); crashes found: $$crashes"; \
	[ $$status -eq 0 ] || tail -30 $(OUT)/fuzz/codec.log; exit $$status
	S1BENCH_CODEC_EXAMPLES=$(CODEC_EXAMPLES) $(BIN)/pytest -q -p no:cacheprovider \
	  --hypothesis-show-statistics tests/emulator/test_codec_props.py

# Every file s1bench reads, fuzzed (tests/fuzz: DUIS requests, packs, the catalogue, site
# and bench files, and `s1bench serve`'s HTTP front door) with the same properties `make
# test` runs, at FUZZ_EXAMPLES inputs each. Hypothesis prints per property how many inputs
# it tried and what they gave; every input goes, one clipped line each, to
# $(OUT)/fuzz/inputs.log; a crash fails the run with its shrunk input, and is tried first
# next time (out/hypothesis). `make fuzz` runs this and fuzz-codec, and fails if either did.
FUZZ_EXAMPLES ?= 10000
fuzz-files: setup
	@mkdir -p $(OUT)/fuzz && rm -f $(OUT)/fuzz/inputs.log
	S1BENCH_HYPOTHESIS_PROFILE=fuzz S1BENCH_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	  S1BENCH_FUZZ_INPUT_LOG=$(abspath $(OUT))/fuzz/inputs.log \
	  $(BIN)/pytest -q --hypothesis-show-statistics tests/fuzz; \
	status=$$?; echo "inputs tried: $$(wc -l < $(OUT)/fuzz/inputs.log) (one a line in \
	$(OUT)/fuzz/inputs.log)"; exit $$status

fuzz:
	@status=0; $(MAKE) --no-print-directory fuzz-files || status=1; \
	$(MAKE) --no-print-directory fuzz-codec || status=1; exit $$status

bench: setup
	@$(BIN)/python -m s1bench.harness.bench

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
