# mamba.h - build, test, run.  `make` builds the programs into build/,
# `make test` runs every test, `make run` generates a story.

CC      ?= cc
CXX     ?= c++
PYTHON  ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
CFLAGS  ?= -O2 -march=native
WARN     = -std=c99 -Wall -Wextra -pedantic
LDLIBS   = -lm
OMPFLAGS = $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
BUILD    = build
MODEL   ?= models/tinystories.mamba

EXAMPLES = $(patsubst examples/%.c,$(BUILD)/%,$(wildcard examples/*.c))
BENCHES  = $(patsubst bench/%.c,$(BUILD)/%,$(wildcard bench/*.c))
CTESTS   = $(patsubst tests/%.c,$(BUILD)/%,$(wildcard tests/test_*.c))
SHTESTS  = $(wildcard tests/t_*.sh)

.PHONY: all test run clean check-c check-sh fuzz embedded
all: $(EXAMPLES) $(BENCHES)

$(BUILD):
	mkdir -p $(BUILD)

$(BUILD)/%: examples/%.c mamba.h examples/cli.h examples/svg.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) $(OMPFLAGS) -I. $< -o $@ $(LDLIBS)

# bench/NAME.c -> build/NAME, like the examples
$(BUILD)/%: bench/%.c mamba.h examples/svg.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) $(OMPFLAGS) -I. $< -o $@ $(LDLIBS)

# the speed table beside the machine's limits: random models with the shapes of mamba-130m, mamba-790m,
# mamba2-130m and mamba2-780m in each dtype (generated into build/, not committed), 1 and 2 threads,
# llama.cpp beside them when LLAMA_BENCH names a llama-bench binary (and GGUF_DIR holds the GGUFs of
# the same weights: README, Speed), and MODEL if it exists (bench/run.sh)
.PHONY: bench
bench: $(BUILD)/bench $(BUILD)/busy
	PYTHON="$(PYTHON)" BUILD="$(BUILD)" MODEL="$(MODEL)" LLAMA_BENCH="$(LLAMA_BENCH)" GGUF_DIR="$(GGUF_DIR)" \
	    sh bench/run.sh

# batched decoding: N = 1..32 sequences at once on the 130m- and 790m-shaped models in every dtype,
# beside the limits measured in the same run and llama.cpp's parallel decoding when
# LLAMA_BATCHED_BENCH names a llama-batched-bench binary (bench/batch.sh)
.PHONY: bench-batch
bench-batch: $(BUILD)/bench
	PYTHON="$(PYTHON)" BUILD="$(BUILD)" LLAMA_BATCHED_BENCH="$(LLAMA_BATCHED_BENCH)" sh bench/batch.sh

# constant cost per token: step MODEL 100,000 tokens, time and memory at 1, 1k, 10k, 100k
.PHONY: constant
constant: $(BUILD)/constant
	./$(BUILD)/constant $(MODEL)

# the pictures README.md and docs/recurrent-view.md show (committed, so a code host
# displays them): trace and views take a second, constant steps MODEL 100,000 real
# tokens on one thread (about 30 s on the shipped model)
PICTURES = docs/pictures
TRACE_PROMPT = Once upon a time, there was a little girl named Lily. She loved to play outside in the sun.
.PHONY: pictures
pictures: $(BUILD)/trace $(BUILD)/views $(BUILD)/constant
	mkdir -p $(PICTURES)
	./$(BUILD)/trace $(MODEL) -p "$(TRACE_PROMPT)" --svg $(PICTURES)/trace.svg | tail -n 1
	./$(BUILD)/views --svg $(PICTURES)/views.svg | tail -n 1
	OMP_NUM_THREADS=1 ./$(BUILD)/constant $(MODEL) --svg $(PICTURES)/constant.svg | tail -n 1

$(BUILD)/test_%: tests/test_%.c mamba.h tests/harness.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -I. $< -o $@ $(LDLIBS)

# Every shell test sources tests/lib.sh. A check that cannot run (a tool is
# missing) prints SKIP and is listed at the end; with CI=true it is a failure.
SKIPLOG = $(abspath $(BUILD))/skipped.txt
test: all $(CTESTS)
	@set -e; fail=0; : > "$(SKIPLOG)"; \
	for t in $(CTESTS); do echo "== $$t"; ./$$t || fail=1; done; \
	for t in $(SHTESTS); do echo "== $$t"; MAMBA_SKIP_LOG="$(SKIPLOG)" PYTHON="$(PYTHON)" BUILD="$(BUILD)" \
	    CC="$(CC)" CXX="$(CXX)" sh $$t || fail=1; done; \
	sort -u "$(SKIPLOG)" -o "$(SKIPLOG)"; n=$$(wc -l < "$(SKIPLOG)"); \
	if [ $$n -gt 0 ]; then echo "$$n check(s) skipped (a tool is missing: install it, see README) or known to fail (XFAIL):"; \
	    sed 's/^/  SKIPPED /' "$(SKIPLOG)"; fi; \
	if [ $$fail = 0 ]; then echo "ALL TESTS PASSED$$( [ $$n = 0 ] || echo " ($$n skipped)")"; \
	else echo "SOME TESTS FAILED"; exit 1; fi

# the main job: a story from the shipped model, with fixed defaults
PROMPT ?= Once upon a time
run: all
	./$(BUILD)/generate $(MODEL) -p "$(PROMPT)" -n 200 --temp 0.8 --top-p 0.9 --seed 42

# libFuzzer harnesses fuzz/fuzz_*.c (clang): FUZZ_SECONDS each; FUZZ_MERGE=1 keeps new coverage in fuzz/corpus
FUZZ_SECONDS ?= 180
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) BUILD=$(BUILD) sh fuzz/fuzz.sh

# examples/embedded.c cross-compiled for a Cortex-M and run under qemu (embedded/README.md)
embedded:
	BUILD=$(BUILD) PYTHON=$(PYTHON) sh embedded/run.sh

clean:
	rm -rf $(BUILD)
