# proxy/: build steps of its own. Which nghttp2 flood limits the library
# has is found by link tests (proxy/h2_probe.sh) into a generated header.
H2_FEATURES := $(BUILD)/gen/h2_features.h
GEN_HDRS += $(H2_FEATURES)

$(H2_FEATURES): proxy/h2_probe.sh
	@mkdir -p $(@D)
	$(call say,PROBE,nghttp2)sh proxy/h2_probe.sh $(CC) > $@
