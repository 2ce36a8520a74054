/* `skiff certs`: see cli.h. */
#include "certs/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "certs/dev_ca.h"
#include "certs/spiffe.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Default validity starts this far in the past, so a peer whose clock runs a
 * little behind still accepts a certificate issued a moment ago. */
#define BACKDATE_SECONDS (5 * 60)
/* Far enough for any test, small enough that time_t arithmetic never
 * overflows: 1000 years. */
#define DURATION_MAX_SECONDS (1000LL * 366 * 86400)

static const char usage_top[] = "usage: skiff certs <command> [options]\n"
				"\n"
				"A development CA for SPIFFE workload certificates (ECDSA P-256).\n"
				"\n"
				"commands:\n"
				"  ca      create a root CA\n"
				"  issue   issue a workload certificate from a CA\n"
				"\n"
				"Run 'skiff certs <command> --help' for the options of one.\n";

static const char usage_ca[] =
    "usage: skiff certs ca --out DIR [--trust-domain TD] [--ttl DURATION]\n"
    "                      [--not-before WHEN] [--not-after WHEN]\n"
    "\n"
    "Creates DIR/ca.pem and DIR/ca-key.pem (mode 0600), a self-signed root\n"
    "for trust domain TD (default cluster.local).\n"
    "\n"
    "  --out DIR            directory to write (created 0700 if missing)\n"
    "  --trust-domain TD    SPIFFE trust domain, e.g. example.org\n"
    "  --ttl DURATION       validity from now (default 8760h)\n"
    "  --not-before WHEN    start of validity (default -5m)\n"
    "  --not-after WHEN     end of validity (instead of --ttl)\n"
    "\n"
    "DURATION: 90s, 30m, 1h30m, 7d. WHEN: now, a signed DURATION from now\n"
    "(-2h, +1h) or a UTC time 2030-01-02T03:04:05Z.\n";

static const char usage_issue[] =
    "usage: skiff certs issue --ca DIR --spiffe ID --out DIR [--ttl DURATION]\n"
    "                         [--not-before WHEN] [--not-after WHEN]\n"
    "\n"
    "Issues an X.509-SVID for ID (spiffe://<trust-domain>/<path>) from the CA\n"
    "in DIR: writes OUT/cert.pem, OUT/key.pem (mode 0600) and OUT/ca.pem (the\n"
    "trust bundle).\n"
    "\n"
    "  --ca DIR             CA directory made by 'skiff certs ca'\n"
    "  --spiffe ID          the workload's SPIFFE id\n"
    "  --out DIR            directory to write (created 0700 if missing)\n"
    "  --ttl DURATION       validity from now (default 1h)\n"
    "  --not-before WHEN    start of validity (default -5m)\n"
    "  --not-after WHEN     end of validity (instead of --ttl)\n"
    "\n"
    "DURATION: 90s, 30m, 1h30m, 7d. WHEN: now, a signed DURATION from now\n"
    "(-2h, +1h) or a UTC time 2030-01-02T03:04:05Z.\n"
    "An expired certificate: --not-before -2h --not-after -1h.\n"
    "A not-yet-valid one:    --not-before +1h --ttl 2h.\n";

/* Parses "[+-]<n><unit>[<n><unit>...]" with units s, m, h, d. Returns 0 and
 * the signed number of seconds, or -1. */
static int parse_duration(const char *s, long long *out)
{
	long long sign = 1, total = 0;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if (*s == '\0')
		return -1;
	while (*s) {
		long long n = 0, unit;

		if (*s < '0' || *s > '9')
			return -1;
		for (; *s >= '0' && *s <= '9'; s++) {
			n = n * 10 + (*s - '0');
			if (n > DURATION_MAX_SECONDS)
				return -1;
		}
		switch (*s++) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		default:
			return -1;
		}
		total += n * unit;
		if (total > DURATION_MAX_SECONDS)
			return -1;
	}
	*out = sign * total;
	return 0;
}

/* WHEN: "now", a signed duration from `now`, or "YYYY-MM-DDTHH:MM:SSZ". */
static int parse_when(const char *s, time_t now, time_t *out)
{
	long long d;

	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	if (parse_duration(s, &d) == 0) {
		*out = now + (time_t)d;
		return 0;
	}

	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);

	if (!end || *end != '\0')
		return -1;
	*out = timegm(&tm);
	return 0;
}

struct cli_opts {
	const char *out, *ca, *spiffe, *trust_domain;
	const char *ttl, *not_before, *not_after;
	bool help;
};

enum { OPT_OUT = 1, OPT_CA, OPT_SPIFFE, OPT_TD, OPT_TTL, OPT_NB, OPT_NA, OPT_HELP };

/* Reads the options of `argv` (argv[0] being the command) into `o`; only
 * those listed in `allowed` (a string of OPT_* values) are accepted. */
static int parse_opts(int argc, char **argv, const char *allowed, struct cli_opts *o)
{
	static const struct option longopts[] = {
	    {"out", required_argument, NULL, OPT_OUT},
	    {"ca", required_argument, NULL, OPT_CA},
	    {"spiffe", required_argument, NULL, OPT_SPIFFE},
	    {"trust-domain", required_argument, NULL, OPT_TD},
	    {"ttl", required_argument, NULL, OPT_TTL},
	    {"not-before", required_argument, NULL, OPT_NB},
	    {"not-after", required_argument, NULL, OPT_NA},
	    {"help", no_argument, NULL, OPT_HELP},
	    {NULL, 0, NULL, 0},
	};
	const char **slot[] = {
	    [OPT_OUT] = &o->out,         [OPT_CA] = &o->ca,   [OPT_SPIFFE] = &o->spiffe,
	    [OPT_TD] = &o->trust_domain, [OPT_TTL] = &o->ttl, [OPT_NB] = &o->not_before,
	    [OPT_NA] = &o->not_after,
	};
	int c, idx;

	/* optind = 0 makes glibc's getopt start afresh: certs_cli_main() may
	 * run more than once in a process (the unit tests do). The leading
	 * '+' stops at the first non-option; '-' never reorders argv. */
	optind = 0;
	while ((c = getopt_long(argc, argv, "+", longopts, &idx)) != -1) {
		if (c == OPT_HELP) {
			o->help = true;
			return 0;
		}
		if (c == '?')
			return -1; /* getopt has said why */
		if (!strchr(allowed, c)) {
			fprintf(stderr, "skiff certs %s: --%s does not apply here\n", argv[0],
				longopts[idx].name);
			return -1;
		}
		*slot[c] = optarg;
	}
	if (optind < argc) {
		fprintf(stderr, "skiff certs %s: unexpected argument \"%s\"\n", argv[0],
			argv[optind]);
		return -1;
	}
	return 0;
}

static int usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fputs("skiff certs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n%s", usage);
	return EXIT_USAGE;
}

/* Turns --ttl/--not-before/--not-after into a validity window. */
static int parse_validity(const struct cli_opts *o, const char *default_ttl, const char *usage,
			  time_t *nb, time_t *na)
{
	time_t now = time(NULL);
	long long ttl;

	*nb = now - BACKDATE_SECONDS;
	if (o->not_before && parse_when(o->not_before, now, nb) < 0)
		return usage_error(usage, "bad --not-before \"%s\"", o->not_before);
	if (o->not_after && o->ttl)
		return usage_error(usage, "--ttl and --not-after exclude each other");
	if (o->not_after) {
		if (parse_when(o->not_after, now, na) < 0)
			return usage_error(usage, "bad --not-after \"%s\"", o->not_after);
	} else {
		const char *t = o->ttl ? o->ttl : default_ttl;

		if (parse_duration(t, &ttl) < 0 || ttl <= 0)
			return usage_error(usage, "bad --ttl \"%s\" (a positive duration: 1h, 30m)",
					   t);
		*na = now + (time_t)ttl;
	}
	if (*na <= *nb)
		return usage_error(usage, "the validity ends before it starts");
	return EXIT_OK;
}

static int cmd_ca(int argc, char **argv)
{
	static const char allowed[] = {OPT_OUT, OPT_TD, OPT_TTL, OPT_NB, OPT_NA, 0};
	struct cli_opts o = {.trust_domain = "cluster.local"};
	char err[512];
	time_t nb, na;
	int rc;

	if (parse_opts(argc, argv, allowed, &o) < 0)
		return usage_error(usage_ca, "bad arguments to 'ca'");
	if (o.help) {
		fputs(usage_ca, stdout);
		return EXIT_OK;
	}
	if (!o.out)
		return usage_error(usage_ca, "--out is required");

	enum spiffe_err serr = spiffe_trust_domain_check(o.trust_domain, strlen(o.trust_domain));

	if (serr != SPIFFE_OK)
		return usage_error(usage_ca, "bad --trust-domain \"%s\": %s", o.trust_domain,
				   spiffe_strerror(serr));
	rc = parse_validity(&o, "8760h", usage_ca, &nb, &na);
	if (rc != EXIT_OK)
		return rc;
	if (dev_ca_create(o.out, o.trust_domain, nb, na, err, sizeof(err)) < 0) {
		fprintf(stderr, "skiff certs ca: %s\n", err);
		return EXIT_FAIL;
	}
	printf("created CA for trust domain %s in %s\n", o.trust_domain, o.out);
	return EXIT_OK;
}

static int cmd_issue(int argc, char **argv)
{
	static const char allowed[] = {OPT_OUT, OPT_CA, OPT_SPIFFE, OPT_TTL, OPT_NB, OPT_NA, 0};
	struct cli_opts o = {0};
	char err[512];
	time_t nb, na;
	int rc;

	if (parse_opts(argc, argv, allowed, &o) < 0)
		return usage_error(usage_issue, "bad arguments to 'issue'");
	if (o.help) {
		fputs(usage_issue, stdout);
		return EXIT_OK;
	}
	if (!o.ca || !o.spiffe || !o.out)
		return usage_error(usage_issue, "--ca, --spiffe and --out are required");

	struct spiffe_id id;
	enum spiffe_err serr = spiffe_workload_id_parse(o.spiffe, strlen(o.spiffe), &id);

	if (serr != SPIFFE_OK)
		return usage_error(usage_issue, "bad --spiffe \"%s\": %s", o.spiffe,
				   spiffe_strerror(serr));
	rc = parse_validity(&o, "1h", usage_issue, &nb, &na);
	if (rc != EXIT_OK)
		return rc;
	if (dev_ca_issue(o.ca, o.spiffe, nb, na, o.out, err, sizeof(err)) < 0) {
		fprintf(stderr, "skiff certs issue: %s\n", err);
		return EXIT_FAIL;
	}
	printf("issued %s in %s\n", o.spiffe, o.out);
	return EXIT_OK;
}

int certs_cli_main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_top, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_top, stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "ca") == 0)
		return cmd_ca(argc - 1, argv + 1);
	if (strcmp(argv[1], "issue") == 0)
		return cmd_issue(argc - 1, argv + 1);
	fprintf(stderr, "skiff certs: unknown command \"%s\"\n\n%s", argv[1], usage_top);
	return EXIT_USAGE;
}
