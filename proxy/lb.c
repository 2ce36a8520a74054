/* Load balancing and per-worker host state; see lb.h.
 *
 * Every policy picks among the hosts that are available (not ejected, not
 * failing health checks). When all are, the pickers take fast paths over all
 * n hosts; when some are not, they count the available ones once per pick
 * (O(n)) and choose the k-th of them, so a host that is out does not hand its
 * share to its neighbour. When none is available they pick among all
 * (Envoy's panic mode, here at 0% healthy rather than Envoy's 50%). */
#include "proxy/lb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <xxhash.h>

#include "proxy/sock_addr.h"

/* Envoy's defaults and limits (ring_hash_lb_config, maglev_lb_config). */
#define RING_DEFAULT_MIN_SIZE 1024u
#define RING_MAX_SIZE (8u * 1024 * 1024) /* maximum_ring_size's default */
#define MAGLEV_DEFAULT_SIZE 65537u
#define MAGLEV_MAX_SIZE 5000011u         /* Envoy refuses larger tables */

struct ring_entry {
	uint64_t hash;
	uint32_t host;
};

/* Built once per snapshot, then only read (by every worker). */
struct lb_table {
	size_t n;                 /* ring entries, or Maglev slots */
	struct ring_entry *ring;  /* LB_RING_HASH: sorted by hash */
	uint32_t *slots;          /* LB_MAGLEV: endpoint index per slot */
};

uint64_t lb_hash(const void *data, size_t len)
{
	return XXH64(data, len, 0);
}

/* Envoy requires load_balancing_weight >= 1; a 0 that got through counts as 1
 * so that no table or sum ends up empty. */
static uint32_t ep_weight(const struct cluster *c, size_t i)
{
	return c->endpoints[i].weight ? c->endpoints[i].weight : 1;
}

/* ---- consistent-hash tables (lb_prepare) ---- */

static bool is_prime(uint32_t n)
{
	if (n < 2)
		return false;
	for (uint32_t d = 2; (uint64_t)d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

static uint64_t ceil_u64(double x)
{
	uint64_t r = (uint64_t)x;
	return (double)r < x ? r + 1 : r;
}

static int ring_cmp(const void *a, const void *b)
{
	const struct ring_entry *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return (x->host > y->host) - (x->host < y->host);
}

/* Envoy's RingHashLoadBalancer: the host with the smallest normalized weight
 * gets ceil(min_size x its share) points, the others proportionally more;
 * point k of a host hashes "<address>_<k>" (the same keys as Envoy, so a
 * skiff and an Envoy in front of the same endpoints agree). */
static int ring_build(struct lb_table *t, const struct cluster *c, char *err, size_t errlen)
{
	uint32_t min_size = c->ring_hash_min_size ? c->ring_hash_min_size : RING_DEFAULT_MIN_SIZE;
	if (min_size > RING_MAX_SIZE) {
		snprintf(err, errlen, "cluster %s: ring_hash_lb_config.minimum_ring_size %u is above %u",
			 c->name, min_size, RING_MAX_SIZE);
		return -EINVAL;
	}
	uint64_t total = 0, min_w = UINT32_MAX;
	for (size_t i = 0; i < c->n_endpoints; i++) {
		total += ep_weight(c, i);
		if (ep_weight(c, i) < min_w)
			min_w = ep_weight(c, i);
	}
	double min_share = (double)min_w / (double)total;
	double scale = (double)ceil_u64(min_share * min_size) / min_share;
	if (scale > RING_MAX_SIZE)
		scale = RING_MAX_SIZE;
	/* Rounding may add one point past ceil(scale): room for it, and the
	 * loop stops at the allocation whatever the doubles say. */
	size_t cap = (size_t)ceil_u64(scale) + 1;
	t->ring = malloc(cap * sizeof(*t->ring));
	if (!t->ring)
		return -ENOMEM;
	double target = 0, done = 0;
	for (size_t i = 0; i < c->n_endpoints; i++) {
		char key[SOCK_ADDR_STRLEN + 24];
		sock_addr_format(&c->endpoints[i].addr, key, sizeof(key));
		size_t base = strlen(key);
		target += scale * (double)ep_weight(c, i) / (double)total;
		for (uint64_t k = 0; done < target && t->n < cap; k++, done++) {
			int len = snprintf(key + base, sizeof(key) - base, "_%llu",
					   (unsigned long long)k);
			t->ring[t->n].hash = lb_hash(key, base + (size_t)len);
			t->ring[t->n++].host = (uint32_t)i;
		}
	}
	qsort(t->ring, t->n, sizeof(*t->ring), ring_cmp);
	return 0;
}

struct maglev_build {
	uint64_t offset, skip, next;
	uint64_t weight, target;
};

/* Maglev (Eisenbud et al., NSDI 2016, section 3.4) with Envoy's weighting:
 * each host walks its own permutation (offset + next x skip) mod size and
 * takes the first free slot; a host of weight w takes a turn in w of every
 * max_w rounds. The permutation of a prime size visits every slot, so each
 * walk ends. */
static int maglev_build(struct lb_table *t, const struct cluster *c, char *err, size_t errlen)
{
	uint32_t size = c->maglev_table_size ? c->maglev_table_size : MAGLEV_DEFAULT_SIZE;
	if (!is_prime(size) || size > MAGLEV_MAX_SIZE) {
		snprintf(err, errlen,
			 "cluster %s: maglev_lb_config.table_size %u must be a prime no larger than %u",
			 c->name, size, MAGLEV_MAX_SIZE);
		return -EINVAL;
	}
	struct maglev_build *b = calloc(c->n_endpoints, sizeof(*b));
	t->slots = malloc((size_t)size * sizeof(*t->slots));
	if (!b || !t->slots) {
		free(b);
		return -ENOMEM;
	}
	memset(t->slots, 0xff, (size_t)size * sizeof(*t->slots));
	t->n = size;
	uint64_t max_w = 0;
	for (size_t i = 0; i < c->n_endpoints; i++) {
		char key[SOCK_ADDR_STRLEN];
		sock_addr_format(&c->endpoints[i].addr, key, sizeof(key));
		b[i].offset = XXH64(key, strlen(key), 0) % size;
		b[i].skip = XXH64(key, strlen(key), 1) % (size - 1) + 1;
		b[i].weight = ep_weight(c, i);
		if (b[i].weight > max_w)
			max_w = b[i].weight;
	}
	size_t filled = 0;
	for (uint64_t round = 1; filled < size; round++) {
		for (size_t i = 0; i < c->n_endpoints && filled < size; i++) {
			if (round * b[i].weight < b[i].target)
				continue;
			b[i].target += max_w;
			uint64_t slot;
			do
				slot = (b[i].offset + b[i].skip * b[i].next++) % size;
			while (t->slots[slot] != UINT32_MAX);
			t->slots[slot] = (uint32_t)i;
			filled++;
		}
	}
	free(b);
	return 0;
}

static void table_free(struct lb_table *t)
{
	if (!t)
		return;
	free(t->ring);
	free(t->slots);
	free(t);
}

int lb_prepare(struct cluster *c, char *err, size_t errlen)
{
	if (host_health_prepare(c) < 0)
		return -ENOMEM;
	if ((c->lb_policy != LB_RING_HASH && c->lb_policy != LB_MAGLEV) || c->n_endpoints == 0)
		return 0;
	struct lb_table *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	int rc = c->lb_policy == LB_RING_HASH ? ring_build(t, c, err, errlen)
					      : maglev_build(t, c, err, errlen);
	if (rc) {
		table_free(t);
		return rc;
	}
	table_free(c->lb);
	c->lb = t;
	return 0;
}

void lb_release(struct cluster *c)
{
	table_free(c->lb);
	c->lb = NULL;
	host_health_release(c);
}

/* ---- per-worker state ---- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* xorshift64* (Vigna): a few cycles, good enough to spread load. */
static uint64_t rng_next(struct cluster_rt *rt)
{
	uint64_t x = rt->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rt->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint64_t lb_random(struct cluster_rt *rt)
{
	return rng_next(rt);
}

/* Uniform in [0, n), n > 0: Lemire's multiply-shift below 2^32 (bias under
 * 2^-32 of n), a plain modulo above (a sum of many large weights). */
static uint64_t rng_below(struct cluster_rt *rt, uint64_t n)
{
	if (n > UINT32_MAX)
		return rng_next(rt) % n;
	return ((rng_next(rt) >> 32) * n) >> 32;
}

static void rt_free(struct cluster_rt *rt)
{
	if (!rt)
		return;
	free(rt->hosts);
	free(rt->hc_due_ms);
	free(rt->addrs);
	free(rt->avail);
	free(rt);
}

/* Where the host at addr was in the old arrays: most snapshots keep the
 * order, so the same index is tried first. -1 if it is new. */
static ssize_t old_index(const struct cluster_rt *rt, size_t hint, const struct sock_addr *addr)
{
	if (hint < rt->n_hosts && sock_addr_equal(&rt->addrs[hint], addr))
		return (ssize_t)hint;
	for (size_t j = 0; j < rt->n_hosts; j++)
		if (sock_addr_equal(&rt->addrs[j], addr))
			return (ssize_t)j;
	return -1;
}

/* Moves rt to cluster c, keeping the state of every host whose address is
 * still there. O(old x new) when the order changed. Leaves rt untouched
 * and returns -ENOMEM when out of memory. */
static int rt_rebind(struct cluster_rt *rt, const struct cluster *c)
{
	size_t n = c->n_endpoints;
	struct host_state *hosts = calloc(n ? n : 1, sizeof(*hosts));
	uint64_t *due = calloc(n ? n : 1, sizeof(*due));
	struct sock_addr *addrs = calloc(n ? n : 1, sizeof(*addrs));
	bool *avail = calloc(n ? n : 1, sizeof(*avail));
	if (!hosts || !due || !addrs || !avail) {
		free(hosts);
		free(due);
		free(addrs);
		free(avail);
		return -ENOMEM;
	}
	bool weighted = false;
	for (size_t i = 0; i < n; i++) {
		addrs[i] = c->endpoints[i].addr;
		ssize_t j = old_index(rt, i, &addrs[i]);
		if (j >= 0) {
			hosts[i] = rt->hosts[j];
			due[i] = rt->hc_due_ms[j];
		}
		weighted |= ep_weight(c, i) != ep_weight(c, 0);
	}
	free(rt->hosts);
	free(rt->hc_due_ms);
	free(rt->addrs);
	free(rt->avail);
	rt->hosts = hosts;
	rt->hc_due_ms = due;
	rt->addrs = addrs;
	rt->avail = avail;
	rt->n_hosts = n;
	rt->c = c;
	rt->weighted = weighted;
	return 0;
}

static int table_grow(struct cluster_rt_table *t, uint32_t id)
{
	size_t cap = t->cap ? t->cap : 16;
	while (cap <= id)
		cap *= 2;
	struct cluster_rt **grown = realloc(t->by_id, cap * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	memset(grown + t->cap, 0, (cap - t->cap) * sizeof(*grown));
	t->by_id = grown;
	t->cap = cap;
	return 0;
}

struct cluster_rt *cluster_rt_get(struct cluster_rt_table *t, const struct cluster *c)
{
	uint32_t id = c->stats_id;
	if (id >= t->cap && table_grow(t, id) < 0)
		return NULL;
	struct cluster_rt *rt = t->by_id[id];
	/* A freed cluster's address may come back for the next snapshot's
	 * cluster: the count check keeps every index in bounds even then. */
	if (rt && rt->c == c && rt->n_hosts == c->n_endpoints)
		return rt;
	bool fresh = !rt;
	if (fresh) {
		rt = calloc(1, sizeof(*rt));
		if (!rt)
			return NULL;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		rt->rng = splitmix64((uint64_t)(uintptr_t)rt ^ (uint64_t)ts.tv_nsec ^
				     ((uint64_t)ts.tv_sec << 32));
		if (!rt->rng)
			rt->rng = 1;
	}
	if (rt_rebind(rt, c) < 0) {
		if (fresh)
			rt_free(rt);
		return NULL;
	}
	t->by_id[id] = rt;
	return rt;
}

void cluster_rt_table_free(struct cluster_rt_table *t)
{
	for (size_t i = 0; i < t->cap; i++)
		rt_free(t->by_id[i]);
	free(t->by_id);
	t->by_id = NULL;
	t->cap = 0;
}

bool lb_host_available(struct cluster_rt *rt, size_t i, uint64_t now_ms)
{
	return i < rt->n_hosts && host_health_available(rt->c, i, now_ms);
}

/* ---- picking ---- */

/* The hosts one pick chooses among: all of them, or the n available. */
struct pick_set {
	struct cluster_rt *rt;
	bool all;
	size_t n;
};

/* Availability as pick_set_init read it: other workers may eject or return
 * a host meanwhile, and one pick must count and walk the same set. */
static bool in_set(const struct pick_set *s, size_t i)
{
	return s->all || s->rt->avail[i];
}

static void pick_set_init(struct pick_set *s, struct cluster_rt *rt, uint64_t now_ms)
{
	s->rt = rt;
	s->all = true;
	s->n = rt->n_hosts;
	if (!host_health_any_out(rt->c))
		return;
	size_t k = 0;
	for (size_t i = 0; i < rt->n_hosts; i++)
		k += rt->avail[i] = lb_host_available(rt, i, now_ms);
	if (k > 0 && k < rt->n_hosts) { /* k == 0: panic, all of them */
		s->all = false;
		s->n = k;
	}
}

/* The k-th host of the set (k < s->n). */
static size_t nth(const struct pick_set *s, size_t k)
{
	if (s->all)
		return k;
	for (size_t i = 0;; i++)
		if (in_set(s, i) && k-- == 0)
			return i;
}

/* Smooth weighted round robin (nginx): every pick adds each host's weight
 * to its current value and takes the largest, which then gives back the
 * total. Over sum(weights) picks each host is chosen exactly its weight
 * times, spread out rather than in bursts. O(n) per pick. */
static size_t pick_wrr(const struct pick_set *s)
{
	struct cluster_rt *rt = s->rt;
	int64_t total = 0;
	size_t best = SIZE_MAX;
	for (size_t i = 0; i < rt->n_hosts; i++) {
		if (!in_set(s, i))
			continue;
		int64_t w = ep_weight(rt->c, i);
		rt->hosts[i].wrr_current += w;
		total += w;
		if (best == SIZE_MAX || rt->hosts[i].wrr_current > rt->hosts[best].wrr_current)
			best = i;
	}
	rt->hosts[best].wrr_current -= total;
	return best;
}

static size_t pick_rr(const struct pick_set *s)
{
	if (s->rt->weighted)
		return pick_wrr(s);
	return nth(s, s->rt->rr++ % s->n);
}

static size_t pick_random(const struct pick_set *s)
{
	struct cluster_rt *rt = s->rt;
	if (!rt->weighted)
		return nth(s, rng_below(rt, s->n));
	uint64_t total = 0;
	for (size_t i = 0; i < rt->n_hosts; i++)
		if (in_set(s, i))
			total += ep_weight(rt->c, i);
	uint64_t r = rng_below(rt, total);
	for (size_t i = 0;; i++) {
		if (!in_set(s, i))
			continue;
		if (r < ep_weight(rt->c, i))
			return i;
		r -= ep_weight(rt->c, i);
	}
}

/* Envoy's least request. Equal weights: power of two choices (its
 * choice_count 2), the less loaded of two random hosts, ties keeping the
 * first. Weights that differ: Envoy schedules by the effective weight
 * weight / (active + 1) (active_request_bias 1); we draw in proportion to
 * it, so idle hosts share by weight and a busy one's share shrinks with its
 * load. (Drawing two by weight and comparing load per weight would count
 * the weight twice: idle hosts weighted 1 and 4 would split 1:24.) */
static size_t pick_least_request(const struct pick_set *s)
{
	struct cluster_rt *rt = s->rt;
	if (!rt->weighted) {
		size_t a = pick_random(s), b = pick_random(s);
		return rt->hosts[b].active_requests < rt->hosts[a].active_requests ? b : a;
	}
	/* Fixed point: weights are at most 2^32 - 1, so 2^20 x weight fits. */
	uint64_t total = 0;
	for (size_t i = 0; i < rt->n_hosts; i++)
		if (in_set(s, i))
			total += ((uint64_t)ep_weight(rt->c, i) << 20) /
				 ((uint64_t)rt->hosts[i].active_requests + 1);
	uint64_t r = rng_below(rt, total ? total : 1);
	size_t last = SIZE_MAX;
	for (size_t i = 0; i < rt->n_hosts; i++) {
		if (!in_set(s, i))
			continue;
		uint64_t eff = ((uint64_t)ep_weight(rt->c, i) << 20) /
			       ((uint64_t)rt->hosts[i].active_requests + 1);
		if (r < eff)
			return i;
		r -= eff;
		last = i;
	}
	return last; /* total was 0: every effective weight rounded to 0 */
}

/* The first ring point at or after hash (wrapping), then on along the ring
 * to the first host in the set. */
/* `attempt` > 0: a pick again for a retry host predicate. As Envoy's ring
 * hash, the ring is walked on by that many entries (which may still be the
 * same host's); Maglev mutates the hash. */
static size_t pick_ring(const struct pick_set *s, const struct lb_table *t, uint64_t hash,
			uint32_t attempt)
{
	size_t lo = 0, hi = t->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->ring[mid].hash < hash)
			lo = mid + 1;
		else
			hi = mid;
	}
	lo = (lo + attempt) % t->n;
	for (size_t step = 0; step < t->n; step++) {
		size_t h = t->ring[(lo + step) % t->n].host;
		if (in_set(s, h))
			return h;
	}
	return t->ring[lo % t->n].host; /* unreachable: the set is never empty */
}

static size_t pick_maglev(const struct pick_set *s, const struct lb_table *t, uint64_t hash,
			  uint32_t attempt)
{
	if (attempt > 0) /* Envoy's: most bits set, for a large change of the hash */
		hash ^= ~0ULL - attempt + 1;
	size_t slot = hash % t->n;
	for (size_t step = 0; step < t->n; step++) {
		size_t h = t->slots[(slot + step) % t->n];
		if (in_set(s, h))
			return h;
	}
	return t->slots[slot];
}

int lb_pick(struct cluster_rt *rt, uint64_t now_ms, bool has_hash, uint64_t hash)
{
	return lb_pick_again(rt, now_ms, has_hash, hash, 0);
}

int lb_pick_again(struct cluster_rt *rt, uint64_t now_ms, bool has_hash, uint64_t hash,
		  uint32_t attempt)
{
	if (rt->n_hosts == 0)
		return -1;
	struct pick_set s;
	pick_set_init(&s, rt, now_ms);
	const struct lb_table *t = rt->c->lb;
	switch (rt->c->lb_policy) {
	case LB_LEAST_REQUEST:
		return (int)pick_least_request(&s);
	case LB_RANDOM:
		return (int)pick_random(&s);
	case LB_RING_HASH:
		if (has_hash && t && t->ring)
			return (int)pick_ring(&s, t, hash, attempt);
		return (int)pick_random(&s);
	case LB_MAGLEV:
		if (has_hash && t && t->slots)
			return (int)pick_maglev(&s, t, hash, attempt);
		return (int)pick_random(&s);
	case LB_ROUND_ROBIN:
	case LB_CLUSTER_PROVIDED:
	default:
		return (int)pick_rr(&s);
	}
}
