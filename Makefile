# skiff: one GNU Makefile. `make` builds build/skiff; `make help` lists targets.
.DELETE_ON_ERROR:
.DEFAULT_GOAL := build/skiff
.SUFFIXES:

V ?= 0
Q := $(if $(filter 1,$(V)),,@)
say = $(if $(filter 1,$(V)),,@printf '  %-8s %s\n' $(1) $(2);)

BUILD   := build
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

CC      := gcc
WARN    := -Wall -Wextra -Werror -Wshadow
CFLAGS  := -std=gnu11 -O2 -g $(WARN) -D_GNU_SOURCE -I. -I$(BUILD)/gen -MMD -MP \
           -DSKIFF_VERSION='"$(VERSION)"'
LDLIBS  := -lyaml -lpthread -lnghttp2 -lpcre2-8 -lxxhash
ASAN    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Every module folder contributes its .c files; a module with build steps of
# its own (BPF objects and skeletons) adds them in its own .mk file.
MODULES := proxy certs xds node
SRCS    := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
GEN_HDRS :=
-include proxy/proxy.mk
-include bpf/bpf.mk
-include certs/certs.mk
-include xds/xds.mk
-include deploy/deploy.mk

MAIN_SRC := proxy/main.c
LIB_SRCS := $(filter-out $(MAIN_SRC),$(SRCS))
OBJS     := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
ASAN_OBJS:= $(patsubst %.c,$(BUILD)/asan/%.o,$(LIB_SRCS))

$(BUILD)/obj/%.o: %.c $(GEN_HDRS)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/asan/%.o: %.c $(GEN_HDRS)
	@mkdir -p $(@D)
	$(call say,CC-ASAN,$<)$(CC) $(CFLAGS) -O1 $(ASAN) -c $< -o $@

$(BUILD)/libskiff.a: $(OBJS)
	$(call say,AR,$@)$(AR) rcs $@ $^

$(BUILD)/libskiff-asan.a: $(ASAN_OBJS)
	$(call say,AR,$@)$(AR) rcs $@ $^

$(BUILD)/skiff: $(BUILD)/obj/$(MAIN_SRC:.c=.o) $(BUILD)/libskiff.a
	$(call say,LD,$@)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# Unit tests mirror the source folders: test/unit/proxy/test_buf.c tests
# proxy/buf.c. They link the sanitizer build of the library.
UNIT_SRCS := $(wildcard test/unit/*/test_*.c)
UNIT_BINS := $(patsubst test/unit/%.c,$(BUILD)/test/unit/%,$(UNIT_SRCS))

$(BUILD)/test/unit/%: test/unit/%.c $(BUILD)/libskiff-asan.a
	@mkdir -p $(@D)
	$(call say,CC-TEST,$<)$(CC) $(CFLAGS) -O1 $(ASAN) $< -o $@ $(BUILD)/libskiff-asan.a $(LDLIBS) -lcmocka

# Fuzz targets (libFuzzer): test/fuzz/fuzz_<name>.c with corpus/<name>/. The
# library is built once with clang's fuzzer instrumentation, then each target
# links it.
FUZZ_SRCS := $(wildcard test/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst test/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -I$(BUILD)/gen -Wall -Wextra -Werror \
	       -Wno-unused-command-line-argument -Wno-missing-braces
FUZZ_OBJS := $(patsubst %.c,$(BUILD)/fuzzobj/%.o,$(LIB_SRCS))

$(BUILD)/fuzzobj/%.o: %.c $(GEN_HDRS)
	@mkdir -p $(@D)
	$(call say,CC-FUZZ,$<)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(BUILD)/libskiff-fuzz.a: $(FUZZ_OBJS)
	$(call say,AR,$@)$(AR) rcs $@ $^

$(BUILD)/fuzz/%: test/fuzz/%.c $(BUILD)/libskiff-fuzz.a
	@mkdir -p $(@D)
	$(call say,FUZZ,$<)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined $< \
		$(BUILD)/libskiff-fuzz.a -o $@ $(LDLIBS)

.PHONY: deps test unit integration fuzz bench bench-http demo clean help format
deps:
	$(Q)bash scripts/deps.sh

unit: $(UNIT_BINS)
fuzz-build: $(FUZZ_BINS)

test: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/skiff $(UNIT_BINS) $(FUZZ_BINS)
	$(Q)bash test/controlplane/setup.sh
	$(Q)bash test/integration/deploy/setup.sh
	$(Q)bash test/interop/grpc/setup.sh
	$(Q)BUILD=$(BUILD) bash test/run.sh

fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)
	$(Q)BUILD=$(BUILD) FUZZ_SECONDS=$${FUZZ_SECONDS:-60} bash test/fuzz/run.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/skiff
	$(Q)bash test/bench/run.sh
	$(Q)bash test/bench/tls/run.sh
	$(Q)BENCH_SKIFF=$(BUILD)/skiff bash test/bench/http/run.sh
	$(Q)BUILD=$(BUILD) bash test/bench/bpf_bench.sh

# The L7 benchmark alone (HTTP/1.1, HTTP/2 and the mesh pair vs the peers).
bench-http: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/skiff
	$(Q)BENCH_SKIFF=$(BUILD)/skiff bash test/bench/http/run.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/skiff
	$(Q)bash test/controlplane/setup.sh
	$(Q)bash scripts/demo.sh

format:
	$(Q)clang-format -i $(filter-out $(BUILD)/%,$(SRCS)) $(UNIT_SRCS) $(FUZZ_SRCS)

clean:
	rm -rf $(BUILD)

help:
	@echo 'make          build build/skiff'
	@echo 'make test     install what is missing, build, run unit, integration and fuzz tests'
	@echo 'make demo     install what is missing, build, run the two-pod demo'
	@echo 'make bench    benchmarks side by side with HAProxy, nginx and nghttpx'
	@echo 'make fuzz     run every fuzz target longer (FUZZ_SECONDS, default 60)'
	@echo 'V=1           show the commands'

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
