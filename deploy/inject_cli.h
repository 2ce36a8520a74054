/* `skiff inject`: the command line of sidecar injection (inject.h does the
 * work). proxy/main.c dispatches here.
 *
 *   skiff inject [-f FILE|-] [-o FILE] [--image IMAGE]
 *   skiff inject --webhook --cert FILE --key FILE [--listen ADDR:PORT] [--image IMAGE]
 *
 * --webhook serves the same injection as a mutating admission webhook
 * (webhook.h) until SIGTERM. */
#ifndef SKIFF_DEPLOY_INJECT_CLI_H
#define SKIFF_DEPLOY_INJECT_CLI_H

/* Runs `skiff inject`; argv[0] is "inject". Prints errors and warnings on
 * stderr and returns the process exit code: 0 done, 1 I/O failure, 2 bad
 * usage or input that cannot be injected (nothing is written then). */
int inject_cli_main(int argc, char **argv);

#endif
