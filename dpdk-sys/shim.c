#include "shim.h"

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
