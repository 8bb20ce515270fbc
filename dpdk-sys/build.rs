//! Finds the system DPDK with pkg-config, compiles the C shim for DPDK's
//! `static inline` functions, and runs bindgen over the headers we use.
//!
//! The full `pkg-config --cflags libdpdk` (which carries `-include rte_config.h`
//! and `-march=...`) goes to both `cc` and bindgen, so both see the same ABI.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");

    let lib = pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
        .expect(
            "libdpdk >= 22.11 not found by pkg-config: apt-get install -y libdpdk-dev pkg-config",
        );

    // pkg-config's parsed include paths lose `-include rte_config.h` and `-march`,
    // so take the raw flag list.
    let cflags = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("pkg-config --cflags libdpdk");
    let cflags = String::from_utf8(cflags.stdout).expect("pkg-config output is UTF-8");
    let flags: Vec<String> = cflags.split_whitespace().map(str::to_owned).collect();

    let mut build = cc::Build::new();
    build.file("shim.c").opt_level(3).warnings(false);
    for f in &flags {
        build.flag(f);
    }
    build.compile("dpdk_shim");

    let mut bindings = bindgen::Builder::default()
        .header("shim.h")
        .clang_args(&flags)
        .allowlist_function("shim_.*")
        .allowlist_function("rte_eal_(init|cleanup|mp_wait_lcore|remote_launch|wait_lcore|process_type|get_runtime_dir)")
        .allowlist_function("rte_eth_(dev_configure|dev_start|dev_stop|dev_close|dev_info_get|dev_count_avail|dev_get_port_by_name|dev_socket_id|rx_queue_setup|tx_queue_setup|macaddr_get|stats_get|stats_reset|promiscuous_enable|allmulticast_enable|link_get_nowait|dev_set_mtu|find_next_owned_by|dev_get_name_by_port)")
        .allowlist_function("rte_dev_probe")
        .allowlist_function("rte_pktmbuf_pool_create")
        .allowlist_function("rte_ring_(create|free)")
        .allowlist_function("rte_mempool_(free|avail_count|in_use_count)")
        .allowlist_function("rte_(lcore_count|get_next_lcore|get_main_lcore|get_tsc_hz|socket_id|strerror)")
        .allowlist_type("shim_lacp_port|shim_lacp_member|rte_eth_stats|rte_eth_conf|rte_eth_dev_info|rte_ether_addr|rte_eth_link")
        .allowlist_var("RTE_MAX_ETHPORTS|BONDING_MODE_8023AD|RTE_DEV_NAME_MAX_LEN|RTE_MAX_LCORE|RTE_ETH_DEV_NO_OWNER|RTE_MBUF_DEFAULT_BUF_SIZE|RTE_PKTMBUF_HEADROOM|RING_F_SP_ENQ|RING_F_SC_DEQ")
        .opaque_type("rte_arp_ipv4|rte_arp_hdr|rte_gtp_psc_generic_hdr|rte_l2tpv2_combined_msg_hdr")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    if let Ok(target) = env::var("TARGET") {
        bindings = bindings.clang_arg(format!("--target={target}"));
    }
    let bindings = bindings
        .generate()
        .expect("bindgen over DPDK headers failed");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("bindings.rs");
    bindings.write_to_file(out).expect("write bindings.rs");

    for l in &lib.libs {
        let _ = l; // pkg-config already emitted cargo:rustc-link-lib lines
    }
}
