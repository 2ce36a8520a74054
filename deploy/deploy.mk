# deploy/: `skiff inject` (sidecar injection). Included by the Makefile;
# libyaml, its one library, is already in LDLIBS.
SRCS += $(wildcard deploy/*.c)

# `make image`: the container image, with podman, buildah or docker
# (deploy/build-image.sh says so when there is none). IMAGE=name:tag.
.PHONY: image
image:
	$(Q)bash deploy/build-image.sh $(IMAGE)
