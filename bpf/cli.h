/* The `skiff bpf` and `skiff flows` subcommands, and (through datapath.h)
 * the calls `skiff run` uses to attach the datapath at start-up and detach
 * it at exit. proxy/main.c dispatches here; these functions print their own
 * messages and return the process exit code. */
#ifndef SKIFF_BPF_CLI_H
#define SKIFF_BPF_CLI_H

#include "bpf/datapath.h"

/* Exit codes of both commands. */
enum { BPF_CLI_OK = 0, BPF_CLI_FAIL = 1, BPF_CLI_USAGE = 2 };

/* `skiff bpf attach|detach|status [options]`; argv[0] is "bpf".
 * `skiff bpf --help` and `skiff bpf <cmd> --help` describe the options. */
int bpf_cli_main(int argc, char **argv);

/* `skiff flows [--instance NAME] [--sort bytes|msgs|start|last|rtt|retrans]
 * [--port N] [--addr IP] [--open] [--json]`; argv[0] is "flows". */
int flows_cli_main(int argc, char **argv);

#endif
