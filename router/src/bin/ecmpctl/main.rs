//! `ecmpctl`: drives the ecmp-router API with the syntax operators know from iproute2.
//!
//! ```text
//! ecmpctl [--api ADDR] [-j] [-p] [-d] [-4|-6] route show [table T|all] [proto P] [dev D] [[exact|root|match] PREFIX]
//!         (as `ip route show`: the main table unless `table` says otherwise; -d adds the
//!         inactive routes and the router's own attributes: origin, group, hash, sticky)
//! ecmpctl route add|replace PREFIX [table T] [metric M] [proto static] [group ALGO] [hash POLICY] [sticky]
//!         nexthop via ADDR dev PORT [weight W] [nexthop via ...]
//! ecmpctl route add|replace PREFIX via ADDR dev PORT            (single path)
//! ecmpctl route add|replace PREFIX [table T] [hash POLICY] nhg GROUP  (a named group)
//! ecmpctl route del PREFIX [table T]
//! ecmpctl route get ADDR [from SRC] [iif PORT] [ipproto tcp|udp|sctp|icmp|N] [sport N] [dport N]
//! ecmpctl nexthop show | nexthop disable|enable ADDR dev PORT
//! ecmpctl nexthop add|del via ADDR dev PORT
//! ecmpctl group show
//! ecmpctl group add|replace NAME [group ALGO] nexthop via ADDR dev PORT [weight W] [nexthop ...]
//! ecmpctl group del NAME
//! ecmpctl uplink show
//! ecmpctl port show
//! ecmpctl neigh show [dev PORT] | neigh flush [dev PORT]
//! ecmpctl flow show [addr A] [port N] [proto P] [worker W] [limit N]
//! ecmpctl stats
//! ecmpctl reload
//! ```
//!
//! The API comes from `--api` (ADDR:PORT, or the path of the API's Unix socket), else
//! `ECMP_ROUTER_API`, else the socket /run/ecmp-router/api.sock when a router answers
//! there, else 127.0.0.1:9464.
//! A bearer token (for a router with `api.token`) comes from `--token-file FILE`, else
//! `ECMP_ROUTER_TOKEN`; never from the command line itself.
//! Exit status: 0 on success, 1 when the router refused the request, 2 on a usage error
//! or when the router cannot be reached.

/// `println!` that ends the program quietly when stdout is gone
/// (`ecmpctl route show | head`): a closed pipe is not an error.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}

mod call;
mod client;
mod nexthop;
mod route;
mod status;
/// The API's types: the server's own (one set for the server, the OpenAPI
/// description and this client), so a renamed field breaks this build.
#[path = "../../api/types.rs"]
#[allow(dead_code)]
mod types;

use serde::Serialize;
use serde_json::Value;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;

const DEFAULT_API: &str = "127.0.0.1:9464";
/// The socket of the shipped config and systemd unit (`api.socket`).
const DEFAULT_SOCKET: &str = "/run/ecmp-router/api.sock";

static TOKEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

#[derive(Debug)]
struct Usage(String);

fn take<'a>(args: &mut std::slice::Iter<'a, String>, what: &str) -> Result<&'a str, Usage> {
    args.next()
        .map(String::as_str)
        .ok_or_else(|| Usage(format!("{what} needs a value")))
}

fn enc(s: &str) -> String {
    s.replace('/', "%2F").replace(':', "%3A")
}

/// The options before or between the command's words, as `ip` takes them.
#[derive(Clone, Copy, Default)]
struct Opts {
    /// `-j`, `--json`: JSON out, compact.
    json: bool,
    /// `-p`, `--pretty`: JSON indented.
    pretty: bool,
    /// `-4` / `-6`.
    family: Option<u8>,
    /// `-d`, `--details`.
    details: bool,
}

impl Opts {
    fn print_json<T: Serialize + ?Sized>(&self, v: &T) {
        let s = if self.pretty {
            serde_json::to_string_pretty(v)
        } else {
            serde_json::to_string(v)
        };
        say!("{}", s.unwrap_or_default());
    }
}

/// iproute2-style objects: as a JSON array under `-j`, else a line each.
fn print_objects(opts: Opts, objs: Vec<Value>, line: fn(&Value) -> String) {
    if opts.json {
        opts.print_json(&Value::Array(objs));
    } else {
        for o in &objs {
            say!("{}", line(o));
        }
    }
}

/// `other` is no command: the whole command line, as typed.
fn unknown(other: &[&str]) -> Usage {
    Usage(format!("unknown command '{}'", other.join(" ")))
}

/// A read's answer: JSON under -j, else `pretty`.
fn show<T: Serialize + ?Sized>(opts: Opts, v: &T, pretty: &dyn Fn(&T)) {
    if opts.json {
        opts.print_json(v);
    } else {
        pretty(v);
    }
}

/// A write's answer: under -j, what the router said.
fn wrote<T: Serialize>(opts: Opts, r: Result<T, String>) -> Result<(), String> {
    r.map(|v| {
        if opts.json {
            opts.print_json(&v);
        }
    })
}

fn run(api: &str, opts: Opts, args: &[String]) -> Result<Result<(), String>, Usage> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["route", ..] => route::route_cmd(api, opts, args, &a),
        ["nexthop" | "nh", "group" | "groups", "show"]
        | ["nexthop" | "nh", "show", "groups"]
        | ["group" | "nhg", ..] => nexthop::group_cmd(api, opts, args, &a),
        ["nexthop" | "nh", ..] => nexthop::nexthop_cmd(api, opts, &a),
        ["neigh" | "neighbor", ..] => nexthop::neigh_cmd(api, opts, &a),
        _ => status::other_cmd(api, opts, &a),
    }
}

/// The command words of `ecmpctl --help`: this file's opening comment.
fn words_help() -> String {
    include_str!("main.rs")
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.trim_start_matches("//!").trim_start_matches(' '))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `ecmpctl`'s options. They come before the command words, as `ip`'s do,
/// or among them (see [`options_first`]); short ones bundle (`-dj`, `-6jp`).
#[derive(clap::Parser)]
#[command(
    name = "ecmpctl",
    version,
    about = "Drives a running ecmp-router through its API, with iproute2's words.",
    after_long_help = words_help(),
    after_help = "Commands: route, nexthop, group, neigh, uplink, port, flow, stats, reload (--help lists their words)."
)]
struct Cli {
    /// The API: ADDR:PORT, or the path of its Unix socket [default: $ECMP_ROUTER_API, else
    /// /run/ecmp-router/api.sock when a router answers there, else 127.0.0.1:9464].
    #[arg(long, value_name = "ADDR")]
    api: Option<String>,
    /// JSON out (iproute2's keys for route, nexthop and neigh), compact.
    #[arg(short = 'j', long)]
    json: bool,
    /// Indented JSON.
    #[arg(short = 'p', long)]
    pretty: bool,
    /// The router's own attributes and the inactive routes too.
    #[arg(short = 'd', long)]
    details: bool,
    /// IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    /// IPv6 only.
    #[arg(short = '6')]
    ipv6: bool,
    /// A file holding the API's bearer token [default: $ECMP_ROUTER_TOKEN].
    #[arg(long, value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
    /// Refused: a token on the command line is visible to every user (ps).
    #[arg(long, hide = true, value_name = "TOKEN")]
    token: Option<String>,
    /// Prints a completion script for SHELL and exits.
    #[arg(long, value_name = "SHELL")]
    completions: Option<clap_complete::Shell>,
    /// Prints the manual page, ecmpctl(8), in roff and exits (the package's build runs it).
    #[arg(long, hide = true)]
    man: bool,
    /// The command, in iproute2's words (route show, nexthop show, ...).
    #[arg(trailing_var_arg = true, value_name = "WORDS")]
    words: Vec<String>,
}

/// The arguments with every option that came among the command words moved
/// before them (`ecmpctl route show -j` is `ecmpctl -j route show`), so that
/// clap checks them as it checks the leading ones: an unknown option is a
/// usage error, never a word. `None`: no option among the words.
fn options_first(args: &[String], words: &[String]) -> Option<Vec<String>> {
    const VALUED: [&str; 3] = ["--api", "--token-file", "--completions"];
    let (mut opts, mut rest) = (Vec::new(), Vec::new());
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if w.len() > 1 && w.starts_with('-') {
            opts.push(w.clone());
            if VALUED.contains(&w.as_str()) {
                opts.extend(it.next().cloned());
            }
        } else {
            rest.push(w.clone());
        }
    }
    if opts.is_empty() {
        return None;
    }
    let lead = &args[..args.len() - words.len()];
    Some(
        lead.iter()
            .cloned()
            .chain(opts)
            .chain(["--".to_owned()])
            .chain(rest)
            .collect(),
    )
}

fn main() -> ExitCode {
    use clap::{CommandFactory, Parser};
    let mut cli = Cli::parse();
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Some(a) = options_first(&args, &cli.words) {
        cli = Cli::parse_from(a);
    }
    if let Some(shell) = cli.completions {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "ecmpctl",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    if cli.man {
        let page = clap_mangen::Man::new(Cli::command()).section("8");
        return match page.render(&mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: writing the manual page: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if cli.token.is_some() {
        eprintln!("Error: --token is gone: a token on the command line is visible to every user (ps); use ECMP_ROUTER_TOKEN or --token-file FILE");
        return ExitCode::from(2);
    }
    // The socket first (file permissions are its access control), then TCP.
    let api = cli
        .api
        .or_else(|| std::env::var("ECMP_ROUTER_API").ok())
        .unwrap_or_else(|| {
            if UnixStream::connect(DEFAULT_SOCKET).is_ok() {
                DEFAULT_SOCKET.to_owned()
            } else {
                DEFAULT_API.to_owned()
            }
        });
    let token = match &cli.token_file {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) => Some(t.trim().to_owned()),
            Err(e) => {
                eprintln!("Error: --token-file {}: {e}", f.display());
                return ExitCode::from(2);
            }
        },
        None => std::env::var("ECMP_ROUTER_TOKEN").ok(),
    };
    let opts = Opts {
        json: cli.json,
        pretty: cli.pretty,
        family: match (cli.ipv4, cli.ipv6) {
            (true, _) => Some(4),
            (_, true) => Some(6),
            _ => None,
        },
        details: cli.details,
    };
    if cli.words.is_empty() {
        let _ = Cli::command().print_help();
        return ExitCode::from(2);
    }
    let _ = TOKEN.set(token);
    match run(&api, opts, &cli.words) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("Error: {e}");
            ExitCode::from(if e.starts_with("cannot reach") { 2 } else { 1 })
        }
        Err(Usage(u)) => {
            eprintln!("Usage error: {u}. See ecmpctl --help.");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::nexthop::group_body;
    use super::options_first;
    use super::route::route_body;

    fn v(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    /// The router's lab config: what the request bodies are checked against.
    fn config() -> control::config::Config {
        control::config::parse(
            "ports:\n  - { name: lan, device: net_null0, addresses: [10.0.0.1/24, fd00::1/64] }\n  - { name: srv1, device: net_null1, addresses: [10.1.0.1/24, fd01::1/64] }\n  - { name: srv2, device: net_null2, addresses: [10.2.0.1/24, fd02::1/64] }\nnexthop-groups:\n  - { name: web, nexthops: [{ via: 10.1.0.2, port: srv1 }] }\n",
            "t",
        )
        .expect("the config")
    }

    /// A body as the API takes it: JSON, with the config's kebab-case keys
    /// (the router's `kebab_keys` accepts either spelling).
    fn wire(body: &impl serde::Serialize) -> String {
        serde_json::to_string(body)
            .unwrap()
            .replace("nexthop_group", "nexthop-group")
            .replace("idle_timer", "idle-timer")
            .replace("unbalanced_timer", "unbalanced-timer")
    }

    /// What `route add` sends is a route the config's own parser takes, and
    /// the route it means: the request types and the parser agree.
    #[test]
    fn route_add_bodies_are_routes_the_config_parser_takes() {
        let c = config();
        for (words, prefix, hops) in [
            ("198.51.100.0/24 nexthop via 10.1.0.2 dev srv1 weight 2 nexthop via 10.2.0.2 dev srv2", "198.51.100.0/24", 2),
            ("203.0.113.0/24 via 10.1.0.2 dev srv1 table 100 metric 20 hash l3 sticky group resilient", "203.0.113.0/24", 1),
            ("default via fd01::2 dev srv1", "::/0", 1),
            ("blackhole 192.0.2.0/24", "192.0.2.0/24", 0),
            ("198.18.0.0/24 nhg web", "198.18.0.0/24", 0),
        ] {
            let body = route_body(&v(words)).unwrap_or_else(|e| panic!("{words}: {}", e.0));
            let spec = control::config::parse_route(&wire(&body), &c)
                .unwrap_or_else(|e| panic!("{words}: {e}"));
            assert_eq!(spec.prefix.to_string(), prefix, "{words}");
            let n = match &spec.group {
                control::config::RouteGroup::Inline(g) => g.nexthops.len(),
                _ => 0,
            };
            assert_eq!(n, hops, "{words}");
        }
        let body = route_body(&v(
            "203.0.113.0/24 via 10.1.0.2 dev srv1 table 100 metric 20",
        ))
        .unwrap();
        let spec = control::config::parse_route(&wire(&body), &c).unwrap();
        assert_eq!((spec.table, spec.metric), (100, 20));
    }

    /// What `group add` sends is a group the config's parser takes; a
    /// route's word is refused before anything is sent.
    #[test]
    fn group_add_bodies_are_groups_the_config_parser_takes() {
        let c = config();
        let words = v("0.0.0.0/0 group resilient nexthop via 10.1.0.2 dev srv1 nexthop via 10.2.0.2 dev srv2 weight 3");
        let body = group_body("api1", &words).unwrap_or_else(|e| panic!("{}", e.0));
        let g =
            control::config::parse_named_group(&wire(&body), &c).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((g.name.as_deref(), g.nexthops.len()), (Some("api1"), 2));
        let e = group_body("x", &v("0.0.0.0/0 table 100 via 10.1.0.2 dev srv1"))
            .err()
            .unwrap();
        assert!(e.0.contains("table is a route's"), "{}", e.0);
    }

    #[test]
    fn options_after_the_object_move_before_the_words() {
        let args = v("ecmpctl route show --json");
        assert_eq!(
            options_first(&args, &args[1..]),
            Some(v("ecmpctl --json -- route show"))
        );
        let args = v("ecmpctl -6 neigh show dev lan -j");
        assert_eq!(
            options_first(&args, &args[2..]),
            Some(v("ecmpctl -6 -j -- neigh show dev lan"))
        );
    }

    #[test]
    fn a_valued_option_keeps_its_value() {
        let args = v("ecmpctl route show --api 127.0.0.1:1 -dj");
        assert_eq!(
            options_first(&args, &args[1..]),
            Some(v("ecmpctl --api 127.0.0.1:1 -dj -- route show"))
        );
    }

    #[test]
    fn words_without_options_are_left_alone() {
        let args = v("ecmpctl -j route show table all");
        assert_eq!(options_first(&args, &args[2..]), None);
    }
}
