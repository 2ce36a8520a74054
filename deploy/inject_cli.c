/* `skiff inject`: reads the whole input, injects, and writes the result only
 * when every document was good, so a pipeline into `kubectl apply` never
 * gets half a stream. */
#include "deploy/inject_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/inject.h"
#include "deploy/webhook.h"

#define WEBHOOK_DEFAULT_LISTEN "0.0.0.0:8443"

enum { INJECT_OK = 0, INJECT_FAIL = 1, INJECT_USAGE = 2 };

static const char usage[] =
    "usage: skiff inject [-f FILE|-] [-o FILE] [--image IMAGE]\n"
    "       skiff inject --webhook --cert FILE --key FILE [--listen ADDR:PORT]\n"
    "                    [--image IMAGE]\n"
    "\n"
    "Adds skiff to every pod template of Kubernetes YAML (Pod, Deployment,\n"
    "StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob, and\n"
    "the items of a List); other documents pass through. Each pod gets a privileged\n"
    "init container skiff-init (skiff bpf attach: capture for the pod's cgroup and\n"
    "network namespace) and the native sidecar skiff-proxy (UID 1337, no\n"
    "capabilities). Pods already injected, with skiff.io/inject: \"false\", or with\n"
    "hostNetwork: true (a warning) are left as they are. docs/deploy.md has the\n"
    "details and the annotations.\n"
    "\n"
    "  -f, --filename FILE   input, multi-document YAML (default and \"-\": stdin)\n"
    "  -o, --output FILE     output (default: stdout)\n"
    "      --image IMAGE     skiff's image (default " INJECT_DEFAULT_IMAGE ")\n"
    "  -h, --help            this help\n"
    "\n"
    "With --webhook, the same injection as a Kubernetes mutating admission\n"
    "webhook (deploy/webhook.yaml): an HTTPS server answering AdmissionReview v1\n"
    "requests for Pods with a JSON patch. POST /inject, GET /healthz, GET /metrics.\n"
    "\n"
    "      --webhook         serve the webhook until SIGTERM\n"
    "      --listen ADDR:PORT  where (default " WEBHOOK_DEFAULT_LISTEN "; [::]:8443 for IPv6)\n"
    "      --cert FILE       serving certificate, PEM, then its chain (TLS 1.2+);\n"
    "                        re-read when it changes\n"
    "      --key FILE        its private key, PEM\n"
    "\n"
    "Exit codes: 0 done, 2 bad usage or input (nothing written), 1 I/O failure\n"
    "(for --webhook: the server could not start).\n";

/* `skiff inject --webhook`: serves until a signal. */
static int webhook_main(const struct webhook_opts *w)
{
	char err[512];
	int rc;

	if (!w->cert || !w->key) {
		fprintf(stderr, "skiff inject: --webhook needs --cert and --key\n%s", usage);
		return INJECT_USAGE;
	}
	rc = webhook_serve(w, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "skiff inject --webhook: %s\n", err);
		return rc == -EINVAL ? INJECT_USAGE : INJECT_FAIL;
	}
	return INJECT_OK;
}

/* Reads all of f into a malloc'd buffer; -EFBIG past the input limit. */
static int read_all(FILE *f, char **data, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (n > INJECT_MAX_INPUT) {
			free(buf);
			return -EFBIG;
		}
		if (got == 0) {
			if (ferror(f)) {
				free(buf);
				return -EIO;
			}
			break;
		}
		if (n == cap) {
			char *more = realloc(buf, cap * 2);
			if (!more) {
				free(buf);
				return -ENOMEM;
			}
			buf = more;
			cap *= 2;
		}
	}
	*data = buf;
	*len = n;
	return 0;
}

int inject_cli_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"filename", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"image", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {"webhook", no_argument, NULL, 'w'},
	    {"listen", required_argument, NULL, 'l'},
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {NULL, 0, NULL, 0},
	};
	struct webhook_opts w = {.listen = WEBHOOK_DEFAULT_LISTEN};
	bool webhook = false, file_opts = false, server_opts = false;
	const char *in_path = "-", *out_path = NULL;
	struct inject_opts o = {.image = INJECT_DEFAULT_IMAGE, .warn = stderr};
	struct inject_counts counts;
	char err[512], *in = NULL, *out = NULL;
	size_t in_len = 0, out_len = 0;
	FILE *f;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			in_path = optarg;
			file_opts = true;
			break;
		case 'o':
			out_path = optarg;
			file_opts = true;
			break;
		case 'w':
			webhook = true;
			break;
		case 'l':
			w.listen = optarg;
			server_opts = true;
			break;
		case 'c':
			w.cert = optarg;
			server_opts = true;
			break;
		case 'k':
			w.key = optarg;
			server_opts = true;
			break;
		case 'i':
			o.image = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return INJECT_OK;
		default:
			fputs(usage, stderr);
			return INJECT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "skiff inject: unexpected argument \"%s\"\n%s", argv[optind],
			usage);
		return INJECT_USAGE;
	}
	if (!inject_image_ok(o.image)) {
		fprintf(stderr, "skiff inject: --image: bad image reference \"%s\"\n", o.image);
		return INJECT_USAGE;
	}
	if (webhook ? file_opts : server_opts) {
		fprintf(stderr, "skiff inject: %s\n%s",
			webhook ? "-f and -o are not for --webhook"
				: "--listen, --cert and --key are for --webhook",
			usage);
		return INJECT_USAGE;
	}
	if (webhook) {
		w.image = o.image;
		return webhook_main(&w);
	}

	o.source = strcmp(in_path, "-") == 0 ? "stdin" : in_path;
	f = strcmp(in_path, "-") == 0 ? stdin : fopen(in_path, "re");
	if (!f) {
		fprintf(stderr, "skiff inject: %s: %s\n", in_path, strerror(errno));
		return INJECT_USAGE;
	}
	rc = read_all(f, &in, &in_len);
	if (f != stdin)
		fclose(f);
	if (rc < 0) {
		fprintf(stderr, "skiff inject: %s: %s\n", o.source,
			rc == -EFBIG ? "input too large" : strerror(-rc));
		return rc == -EFBIG ? INJECT_USAGE : INJECT_FAIL;
	}

	rc = inject_yaml(in, in_len, &o, &out, &out_len, &counts, err, sizeof(err));
	free(in);
	if (rc < 0) {
		if (rc == -EINVAL || rc == -EFBIG)
			fprintf(stderr, "skiff inject: %s\n", err);
		else
			fprintf(stderr, "skiff inject: %s\n", strerror(-rc));
		return rc == -EINVAL || rc == -EFBIG ? INJECT_USAGE : INJECT_FAIL;
	}

	f = out_path ? fopen(out_path, "we") : stdout;
	if (!f) {
		fprintf(stderr, "skiff inject: %s: %s\n", out_path, strerror(errno));
		free(out);
		return INJECT_FAIL;
	}
	rc = fwrite(out, 1, out_len, f) == out_len ? 0 : -EIO;
	if ((f == stdout ? fflush(f) : fclose(f)) != 0)
		rc = -EIO;
	free(out);
	if (rc < 0) {
		fprintf(stderr, "skiff inject: writing %s: %s\n", out_path ? out_path : "stdout",
			strerror(EIO));
		return INJECT_FAIL;
	}
	return INJECT_OK;
}
