/*
 * What crosses between tcpload and echo_backend, beyond plain bytes.
 *
 * A connection whose first bytes are BENCH_SINK_MAGIC is a one-way stream:
 * the backend discards everything on it. Any other connection is an echo.
 * Request payloads are filled with BENCH_FILL, which differs from the
 * magic's first byte, so an echo is recognised on its first byte.
 */
#ifndef SKIFF_TEST_BENCH_PROTO_H
#define SKIFF_TEST_BENCH_PROTO_H

#define BENCH_SINK_MAGIC     "SKIFF-BENCH-SINK"
#define BENCH_SINK_MAGIC_LEN (sizeof(BENCH_SINK_MAGIC) - 1)
#define BENCH_FILL           'x'

#endif
