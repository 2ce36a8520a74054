/* `skiff certs`: the development CA's command line (dev_ca.h does the work).
 *
 *   skiff certs ca    --out DIR [--trust-domain TD] [--ttl 8760h]
 *                     [--not-before WHEN] [--not-after WHEN]
 *   skiff certs issue --ca DIR --spiffe ID --out DIR [--ttl 1h]
 *                     [--not-before WHEN] [--not-after WHEN]
 *
 * WHEN is "now", a duration relative to now ("-2h", "+30m", "90s"), or a UTC
 * time "2030-01-02T03:04:05Z". Durations combine s, m, h and d ("1h30m"). */
#ifndef SKIFF_CERTS_CLI_H
#define SKIFF_CERTS_CLI_H

/* Runs `skiff certs`; argv[0] is "certs", argv[1] the command. Prints errors
 * on stderr and returns the process exit code: 0 done, 1 failed (I/O,
 * OpenSSL, a CA that does not fit the request), 2 bad usage. */
int certs_cli_main(int argc, char **argv);

#endif
