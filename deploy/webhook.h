/* `skiff inject --webhook`: sidecar injection as a Kubernetes mutating
 * admission webhook. webhook_review() answers one AdmissionReview (v1, JSON)
 * with a JSON patch made by inject_pod_node(); webhook_serve() is the HTTPS
 * server the API server calls. docs/deploy.md and README "Deploy" say how it
 * is deployed (deploy/webhook.yaml). */
#ifndef SKIFF_DEPLOY_WEBHOOK_H
#define SKIFF_DEPLOY_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "deploy/inject.h"

/* A request body larger than this is refused (413): the API server sends
 * the Pod and, on updates, its old version; pods are kilobytes, and etcd's
 * own limit on an object is 1.5 MiB. */
#define WEBHOOK_MAX_BODY (1u << 20)

/* Deeper JSON is refused (400): a Pod nests a dozen levels. */
#define WEBHOOK_MAX_DEPTH 64

/* What became of one review, for counters and logs. Append only: the names
 * (webhook_outcome_str) are metric labels. */
enum webhook_outcome {
	WEBHOOK_INJECTED,     /* allowed, with a patch adding skiff */
	WEBHOOK_UNCHANGED,    /* allowed, no patch: already injected, skiff.io/inject
			       * "false", hostNetwork */
	WEBHOOK_IGNORED,      /* allowed, no patch: not a Pod CREATE */
	WEBHOOK_NOT_INJECTED, /* allowed, no patch, with a warning: a pod skiff cannot
			       * inject (a bad skiff.io/ annotation, ...) */
	WEBHOOK_BAD_REQUEST,  /* 400: not an AdmissionReview v1 */
	WEBHOOK_TOO_LARGE,    /* 413 */
	WEBHOOK_OUTCOME__COUNT
};

/* "injected", "unchanged", ...: the label of a counter. */
const char *webhook_outcome_str(enum webhook_outcome o);

/* The answer to one review. */
struct webhook_answer {
	enum webhook_outcome outcome;
	char *json; /* the AdmissionReview with its response (malloc'd; the
		     * caller frees), or NULL for a 400/413 */
	size_t json_len;
	char uid[128];     /* request.uid for logs: "" when unknown, control
			    * characters replaced, cut to fit */
	char what[520];    /* "namespace/name" or "namespace/generateName*" of the
			    * pod, for logs; "" when not a pod */
	char message[512]; /* one line: why 400/413, or the warning of
			    * UNCHANGED/NOT_INJECTED ("" when none) */
};

/* Reads the AdmissionReview v1 `body` (`len` bytes of JSON), adds skiff to
 * the Pod of a CREATE (inject_pod_node with `o`; o->warn is not used, the
 * warnings go into the response), and writes the AdmissionReview answering
 * it into a->json: response.uid = request.uid, allowed true, and, when skiff
 * was added, patchType JSONPatch and patch = base64 of an RFC 6902 patch
 * that turns request.object into the injected pod.
 *
 * Returns 0 (a->json set), -EINVAL for a body that is not an AdmissionReview
 * v1 (a->message says why; outcome BAD_REQUEST), -EFBIG past
 * WEBHOOK_MAX_BODY (outcome TOO_LARGE), or -ENOMEM. */
int webhook_review(const char *body, size_t len, const struct inject_opts *o,
		   struct webhook_answer *a);

struct webhook_opts {
	const char *listen; /* "ADDR:PORT" or "[ADDR]:PORT" */
	const char *cert;   /* PEM: the serving certificate, then its chain */
	const char *key;    /* PEM private key */
	const char *image;  /* skiff's image in the pods; NULL: the default */
	unsigned max_conns; /* connections served at once; 0: the default (64) */
};

/* Serves the webhook until SIGTERM or SIGINT: POST /inject (an
 * AdmissionReview, Content-Type application/json), GET /healthz, GET
 * /metrics (counters in Prometheus text). TLS 1.2 or 1.3 with the key pair
 * of `o`, re-read when the files change (a renewed Secret). Logs one line per
 * review on stderr. Returns 0 after a signal, or -errno when it cannot start
 * (a message is in err). */
int webhook_serve(const struct webhook_opts *o, char *err, size_t errlen);

#endif
