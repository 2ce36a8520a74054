/* Sidecar injection: adds skiff to every pod template of a Kubernetes YAML
 * stream (the work behind `skiff inject`; inject_cli.c is its command line).
 * What is added and why is in docs/deploy.md. */
#ifndef SKIFF_DEPLOY_INJECT_H
#define SKIFF_DEPLOY_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <yaml.h>

/* Input larger than this is refused: manifests are kilobytes, and the whole
 * stream is held in memory so that nothing is written unless all of it is
 * good. */
#define INJECT_MAX_INPUT (32u << 20)

/* Deeper nesting is refused: libyaml's emitter recurses once per level. */
#define INJECT_MAX_DEPTH 256

struct inject_opts {
	const char *image;  /* skiff's image; NULL: INJECT_DEFAULT_IMAGE */
	const char *source; /* name of the input in messages ("stdin", a path) */
	FILE *warn;         /* warnings (a pod left alone and why); NULL: none */
};

#define INJECT_DEFAULT_IMAGE "skiff:latest"

/* What a run did, for the command line's summary. */
struct inject_counts {
	unsigned documents;
	unsigned injected;         /* pod templates given skiff now */
	unsigned already_injected; /* left as they were: skiff.io/status: injected */
	unsigned skipped;          /* left alone: skiff.io/inject "false", hostNetwork */
};

/* Returns true if `image` is a plausible image reference: 1..255 characters
 * of [A-Za-z0-9._:/@-], so it can be written into YAML unquoted. */
bool inject_image_ok(const char *image);

/* Reads the multi-document YAML `in` (`len` bytes), adds skiff to the pod
 * template of every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
 * ReplicationController, Job and CronJob (and of each item of a List),
 * passes other documents through, and writes the result, every document,
 * into *out (malloc'd, NUL-terminated, the caller frees; *out_len without the
 * NUL). Pod templates already injected are left as they are, so a second run
 * gives the same bytes. `counts` may be NULL.
 *
 * Returns 0, -EINVAL for input that is not YAML or not a workload skiff can
 * inject (with "SOURCE: document N (Kind name): field.path: reason" or
 * "SOURCE:LINE:COL: reason" in err, one line), -EFBIG beyond
 * INJECT_MAX_INPUT, or -ENOMEM. On error *out is NULL. */
int inject_yaml(const char *in, size_t len, const struct inject_opts *o, char **out,
		size_t *out_len, struct inject_counts *counts, char *err, size_t errlen);

/* Adds skiff to one bare Pod: the mapping node `pod` of a document the
 * caller has loaded (the object of an admission request), changed in place
 * by adding nodes to `doc`, as inject_yaml() would change a Pod document,
 * warnings included. The caller bounds the document's depth. `counts` may be
 * NULL; o->source names the input in messages.
 *
 * Returns 1 when skiff was added, 0 when the pod is left as it was (counts
 * say why: already_injected, or skipped for skiff.io/inject "false" or
 * hostNetwork), -EINVAL for a pod skiff cannot inject (with
 * "SOURCE: document 1 (Pod name): field.path: reason" in err; the document
 * may then hold some of skiff's additions, so drop it), or -ENOMEM. */
int inject_pod_node(yaml_document_t *doc, int pod, const struct inject_opts *o,
		    struct inject_counts *counts, char *err, size_t errlen);

#endif
