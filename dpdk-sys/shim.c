#include "shim.h"
#include <dlfcn.h>
#include <errno.h>
#include <string.h>

int shim_rte_errno(void) { return rte_errno; }
uint16_t shim_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts, uint16_t nb_pkts) {
    return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}
uint16_t shim_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts, uint16_t nb_pkts) {
    return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}
struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }
void shim_rte_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }
void shim_rte_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned int count) { rte_pktmbuf_free_bulk(mbufs, count); }
uint16_t shim_rte_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }
char *shim_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
unsigned shim_rte_lcore_id(void) { return rte_lcore_id(); }
uint64_t shim_rte_rdtsc(void) { return rte_rdtsc(); }
unsigned shim_rte_ring_sp_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned n) { return rte_ring_sp_enqueue_burst(r, objs, n, NULL); }
unsigned shim_rte_ring_sc_dequeue_burst(struct rte_ring *r, void **objs, unsigned n) { return rte_ring_sc_dequeue_burst(r, objs, n, NULL); }
void shim_mbuf_set_usr(struct rte_mbuf *m, uint32_t v) { m->hash.usr = v; }
uint32_t shim_mbuf_usr(const struct rte_mbuf *m) { return m->hash.usr; }

/* RSS hash types (composite macros bindgen cannot expand); the RSS policy
 * itself is Rust's (the dpdk crate's rss module). */
uint64_t shim_rss_ip_tcp_udp(void) { return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP; }
int shim_rte_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail) { return rte_pktmbuf_chain(head, tail); }
void shim_mbuf_set_port(struct rte_mbuf *m, uint16_t port) { m->port = port; }

/* The loaded bonding PMD's symbol `name`, or NULL. Its soname's ABI number
 * follows the DPDK release (23 for 22.11); a static build exports it. */
static void *bond_sym(const char *name) {
    static const char *const sonames[] = {"librte_net_bond.so.23", "librte_net_bond.so.24",
                                          "librte_net_bond.so.25", "librte_net_bond.so"};
    void *s = dlsym(RTLD_DEFAULT, name);
    for (unsigned i = 0; !s && i < sizeof sonames / sizeof sonames[0]; i++) {
        void *h = dlopen(sonames[i], RTLD_NOW | RTLD_NOLOAD);
        if (h) {
            s = dlsym(h, name);
            dlclose(h); /* NOLOAD took a reference; the EAL keeps its own */
        }
    }
    return s;
}
int shim_bond_mode(uint16_t port) {
    int (*f)(uint16_t) = (int (*)(uint16_t))bond_sym("rte_eth_bond_mode_get");
    return f ? f(port) : -ENOTSUP;
}
int shim_bond_members(uint16_t port, uint16_t *members, uint16_t len) {
    int (*f)(uint16_t, uint16_t *, uint16_t) =
        (int (*)(uint16_t, uint16_t *, uint16_t))bond_sym("rte_eth_bond_slaves_get");
    return f ? f(port, members, len) : -ENOTSUP;
}
int shim_bond_active_members(uint16_t port, uint16_t *members, uint16_t len) {
    int (*f)(uint16_t, uint16_t *, uint16_t) =
        (int (*)(uint16_t, uint16_t *, uint16_t))bond_sym("rte_eth_bond_active_slaves_get");
    return f ? f(port, members, len) : -ENOTSUP;
}
static void lacp_port(struct shim_lacp_port *o, const struct port_params *p, uint8_t state) {
    o->system_priority = rte_be_to_cpu_16(p->system_priority);
    memcpy(o->system, p->system.addr_bytes, 6);
    o->key = rte_be_to_cpu_16(p->key);
    o->port_priority = rte_be_to_cpu_16(p->port_priority);
    o->port_number = rte_be_to_cpu_16(p->port_number);
    o->state = state;
}
int shim_bond_8023ad_member_info(uint16_t port, uint16_t member, struct shim_lacp_member *out) {
    int (*f)(uint16_t, uint16_t, struct rte_eth_bond_8023ad_slave_info *) =
        (int (*)(uint16_t, uint16_t, struct rte_eth_bond_8023ad_slave_info *))bond_sym("rte_eth_bond_8023ad_slave_info");
    struct rte_eth_bond_8023ad_slave_info i;
    if (!f)
        return -ENOTSUP;
    int rc = f(port, member, &i);
    if (rc != 0)
        return rc;
    out->selected = i.selected == SELECTED;
    out->aggregator = i.agg_port_id;
    /* The PMD keeps the LACPDU fields in network order. */
    lacp_port(&out->actor, &i.actor, i.actor_state);
    lacp_port(&out->partner, &i.partner, i.partner_state);
    return 0;
}
