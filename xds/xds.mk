# xds/: protobuf-c code generated from the .proto subsets in xds/api.
#
# protoc-c writes $(BUILD)/gen/<proto path>.pb-c.{c,h}: $(BUILD)/gen is
# already on every include path (the fuzz rule's too), and the generated
# files include each other as "envoy/.../x.pb-c.h", which resolves there.
# The generated .c files join SRCS, so the library, the sanitizer library and
# the fuzz targets build them through the ordinary rules
# ($(BUILD)/obj/$(BUILD)/gen/...o).

XDS_PROTOS := $(shell find xds/api -name '*.proto' | sort)
XDS_PB_C   := $(patsubst xds/api/%.proto,$(BUILD)/gen/%.pb-c.c,$(XDS_PROTOS))
XDS_PB_H   := $(XDS_PB_C:.c=.h)

# One protoc-c run writes them all (grouped target: GNU make 4.3).
$(XDS_PB_C) $(XDS_PB_H) &: $(XDS_PROTOS)
	@mkdir -p $(BUILD)/gen
	$(call say,PROTOC,xds/api)protoc-c --c_out=$(BUILD)/gen -Ixds/api $(XDS_PROTOS)

SRCS     += $(XDS_PB_C)
GEN_HDRS += $(XDS_PB_H)
LDLIBS   += -lprotobuf-c

# protoc-c 1.4 initializes a oneof whose first member is bytes with "{0}",
# which gcc's -Wmissing-braces (in -Wall) flags; the generated code only.
$(BUILD)/obj/$(BUILD)/gen/%.o $(BUILD)/asan/$(BUILD)/gen/%.o: CFLAGS += -Wno-missing-braces
