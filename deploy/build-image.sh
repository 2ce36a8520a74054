#!/usr/bin/env bash
# Builds skiff's container image from deploy/Containerfile with the first
# container engine found: podman, buildah, docker. Says so and exits 1 when
# there is none (nothing is installed for you: an engine is a system choice).
#   deploy/build-image.sh [IMAGE]     default IMAGE: skiff:latest
set -euo pipefail
case $0 in */*) cd "${0%/*}/.." ;; *) cd .. ;; esac # no dirname: PATH may be bare
image=${1:-${IMAGE:-skiff:latest}}
version=$(git describe --always --dirty 2>/dev/null || echo unknown)
file=deploy/Containerfile
ignore=deploy/Containerfile.dockerignore

if command -v podman >/dev/null 2>&1; then
	set -x
	exec podman build -f "$file" --ignorefile "$ignore" --build-arg VERSION="$version" -t "$image" .
elif command -v buildah >/dev/null 2>&1; then
	set -x
	exec buildah bud -f "$file" --ignorefile "$ignore" --build-arg VERSION="$version" -t "$image" .
elif command -v docker >/dev/null 2>&1; then
	# BuildKit (buildx) reads deploy/Containerfile.dockerignore beside the
	# file; the legacy builder would send the whole tree, build dirs and all.
	if ! docker buildx version >/dev/null 2>&1; then
		echo "build-image: docker has no buildx (BuildKit): install it (Debian: docker-buildx)" \
			"or use podman" >&2
		exit 1
	fi
	set -x
	exec docker buildx build --load -f "$file" --build-arg VERSION="$version" -t "$image" .
fi
echo "build-image: no container engine found (looked for podman, buildah, docker)." >&2
echo "build-image: install one (e.g. apt-get install podman) and run again: $0 $image" >&2
exit 1
