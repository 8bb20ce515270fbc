/* Shim over DPDK's static inline functions, which bindgen cannot bind.
 * Every function here is a plain call-through; see shim.c. */
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_ring.h>
#include <rte_eth_bond.h>
#include <rte_eth_bond_8023ad.h>

int shim_rte_errno(void);
uint16_t shim_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t shim_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts, uint16_t nb_pkts);
struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp);
void shim_rte_pktmbuf_free(struct rte_mbuf *m);
void shim_rte_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned int count);
uint16_t shim_rte_pktmbuf_tailroom(const struct rte_mbuf *m);
int shim_rte_pktmbuf_chain(struct rte_mbuf *head, struct rte_mbuf *tail);
void shim_mbuf_set_port(struct rte_mbuf *m, uint16_t port);
char *shim_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
unsigned shim_rte_lcore_id(void);
uint64_t shim_rte_rdtsc(void);
unsigned shim_rte_ring_sp_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned n);
unsigned shim_rte_ring_sc_dequeue_burst(struct rte_ring *r, void **objs, unsigned n);
/* The mbuf's user tag (hash.usr, which DPDK leaves to the application). */
void shim_mbuf_set_usr(struct rte_mbuf *m, uint32_t v);
uint32_t shim_mbuf_usr(const struct rte_mbuf *m);

/* RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP (composite macros). */
uint64_t shim_rss_ip_tcp_udp(void);

/* The bonding PMD's own API (rte_eth_bond.h, rte_eth_bond_8023ad.h), looked
 * up in the plugin the EAL loaded: Debian's shared DPDK dlopens its PMDs, so
 * linking librte_net_bond as well could load a second copy of the driver.
 * Each returns -ENOTSUP when the bonding PMD is not loaded. */
int shim_bond_mode(uint16_t port);
int shim_bond_members(uint16_t port, uint16_t *members, uint16_t len);
int shim_bond_active_members(uint16_t port, uint16_t *members, uint16_t len);
/* One end of a member's LACP link, unpacked (the PMD's struct is packed,
 * which Rust cannot mirror); fields in host order. */
struct shim_lacp_port {
    uint16_t system_priority;
    uint8_t system[6];
    uint16_t key;
    uint16_t port_priority;
    uint16_t port_number;
    uint8_t state;
};
struct shim_lacp_member {
    int selected; /* the selection logic picked it */
    uint16_t aggregator;
    struct shim_lacp_port actor, partner;
};
int shim_bond_8023ad_member_info(uint16_t port, uint16_t member, struct shim_lacp_member *out);
