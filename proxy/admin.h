/* The admin server (Envoy's, on 127.0.0.1:15000) and the two narrow
 * endpoints Istio users scrape and probe: Prometheus on :15090 and health on
 * :15021. Plain HTTP/1.1, one request per connection, on the main thread. */
#ifndef SKIFF_PROXY_ADMIN_H
#define SKIFF_PROXY_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/config.h"
#include "proxy/loop.h"

enum admin_role {
	ADMIN_FULL,       /* every endpoint */
	ADMIN_PROMETHEUS, /* /stats/prometheus only */
	ADMIN_HEALTH,     /* /healthz/ready only */
};

/* What the admin endpoints ask of the process. */
struct admin_hooks {
	const struct snapshot *(*snapshot)(void); /* configuration to dump */
	bool (*draining)(void);
	void (*quit)(void);                       /* POST /quitquitquit */
	/* Metrics that are not counters of stats.h (certificate expiry), in
	 * text or Prometheus form: a malloc'd string, or NULL. */
	char *(*extra_metrics)(bool prometheus, size_t *len);
	/* /config_dump of snap with the dynamic resources behind it (their
	 * versions and times): a malloc'd JSON text, or NULL. NULL hook:
	 * config_dump_json(snap). */
	char *(*config_dump)(const struct snapshot *snap, size_t *len);
};

/* Listens on addr for role; connections are served on loop. Returns 0 or
 * -errno with err naming what failed. */
int admin_listen(struct loop *loop, const struct sock_addr *addr, enum admin_role role,
		 const struct admin_hooks *hooks, char *err, size_t errlen);

/* Closes every admin listener and connection. */
void admin_close_all(struct loop *loop);

#endif
