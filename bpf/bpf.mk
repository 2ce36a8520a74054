# bpf/: the eBPF datapath. Included by the top-level Makefile.
#
# Each bpf/<hook>.bpf.c compiles on its own against vmlinux/vmlinux.h; the
# objects are statically linked (`bpftool gen object`) into one
# $(BUILD)/bpf/skiff.bpf.o, so the maps defined once in
# bpf/skiff_maps.bpf.h are shared by every program, and one skeleton
# ($(BUILD)/gen/bpf/skiff.skel.h, struct skiff_bpf) is owned by bpf/loader.c.

BPF_CLANG  ?= clang
BPFTOOL    ?= bpftool
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_x86 -mcpu=v3 -Wall -Wextra -Werror -Wshadow \
              -Ivmlinux -I. -MMD -MP

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_LINKED := $(BUILD)/bpf/skiff.bpf.o
BPF_SKEL   := $(BUILD)/gen/bpf/skiff.skel.h

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c vmlinux/vmlinux.h
	@mkdir -p $(@D)
	$(call say,BPF,$<)$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@

# The linked object is named apart from the per-hook objects (no
# bpf/skiff.bpf.c exists) so the pattern rule above never builds it.
$(BPF_LINKED): $(BPF_OBJS)
	$(call say,BPF-LD,$@)$(BPFTOOL) gen object $@ $^

$(BPF_SKEL): $(BPF_LINKED)
	@mkdir -p $(@D)
	$(call say,SKEL,$@)$(BPFTOOL) gen skeleton $< name skiff_bpf > $@

GEN_HDRS += $(BPF_SKEL)
SRCS     += $(filter-out %.bpf.c,$(wildcard bpf/*.c))
LDLIBS   += -lbpf -lelf -lz

.PHONY: bpf
bpf: $(BPF_SKEL)
