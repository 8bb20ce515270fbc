//! Measures nexthop selection and writes the figures of docs/ecmp.md:
//! weighted shares over 100,000 random flows (table and SVG plot) and the
//! disruption when a member is removed or added, for every algorithm.
//!
//! Run: `cargo run --release -p dataplane --example ecmp_report -- docs/ecmp-shares.svg`

use dataplane::hash::fmix;
use dataplane::neighbor::{DownFlag, Neighbors};
use dataplane::nhg::{Group, ResilientTable, DEFAULT_BUCKETS};
use dataplane::types::{MacAddr, NexthopId};
use std::fmt::Write;

const FLOWS: u32 = 100_000;

fn ids(ws: &[u32]) -> Vec<(NexthopId, u32)> {
    ws.iter()
        .enumerate()
        .map(|(i, &w)| (NexthopId(i as u32), w))
        .collect()
}

/// Random flow hashes (xorshift through MurmurHash3's finaliser).
fn hashes(n: u32) -> Vec<u32> {
    let mut x = 0x1234_5678_9abc_def0u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            fmix(x as u32 ^ (x >> 32) as u32)
        })
        .collect()
}

fn resilient(m: &[(NexthopId, u32)]) -> (Group, ResilientTable) {
    let mut t = ResilientTable::new(DEFAULT_BUCKETS, 0, 0).unwrap();
    t.update(m, 0);
    (Group::resilient(m, &t.buckets(m), t.activity()).unwrap(), t)
}

fn shares(g: &Group, n: usize, hs: &[u32]) -> Vec<f64> {
    let mut c = vec![0u32; n];
    for &h in hs {
        c[g.select(h).index()] += 1;
    }
    c.iter().map(|&x| x as f64 / hs.len() as f64).collect()
}

fn moved(
    before: &Group,
    after: &dyn Fn(u32) -> NexthopId,
    survivors: &[NexthopId],
    hs: &[u32],
) -> (f64, f64) {
    let (mut m, mut s, mut sm) = (0u32, 0u32, 0u32);
    for &h in hs {
        let (a, b) = (before.select(h), after(h));
        let surv = survivors.contains(&a);
        m += (a != b) as u32;
        s += surv as u32;
        sm += (surv && a != b) as u32;
    }
    (m as f64 / hs.len() as f64, sm as f64 / s.max(1) as f64)
}

fn main() {
    let svg_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ecmp-shares.svg".into());
    let hs = hashes(FLOWS);
    let mut md = String::new();

    // ---- Weighted shares ----
    let cases: [(&str, Vec<u32>); 3] = [
        ("1:2", vec![1, 2]),
        ("11:45", vec![11, 45]),
        ("5 x 1", vec![1; 5]),
    ];
    writeln!(
        md,
        "| weights | algorithm | member shares (measured / wanted) | worst relative error |"
    )
    .unwrap();
    writeln!(md, "|---|---|---|---|").unwrap();
    let mut bars: Vec<(String, f64, f64)> = Vec::new();
    for (name, ws) in &cases {
        let m = ids(ws);
        let total: u32 = ws.iter().sum();
        for (alg, g) in [
            ("hash-threshold", Group::new(&m).unwrap()),
            ("resilient", resilient(&m).0),
            ("modulo", Group::modulo(&m).unwrap()),
        ] {
            let s = shares(&g, ws.len(), &hs);
            let want: Vec<f64> = ws.iter().map(|&w| w as f64 / total as f64).collect();
            let worst = s
                .iter()
                .zip(&want)
                .map(|(a, b)| (a / b - 1.0).abs())
                .fold(0.0, f64::max);
            let cells: Vec<String> = s
                .iter()
                .zip(&want)
                .map(|(a, b)| format!("{:.4}/{:.4}", a, b))
                .collect();
            writeln!(
                md,
                "| {name} | {alg} | {} | {:.2}% |",
                cells.join(" "),
                worst * 100.0
            )
            .unwrap();
            if alg != "modulo" {
                for (i, (a, b)) in s.iter().zip(&want).enumerate() {
                    bars.push((
                        format!(
                            "{name} {} m{}",
                            if alg == "resilient" { "res" } else { "h-t" },
                            i + 1
                        ),
                        *a,
                        *b,
                    ));
                }
            }
        }
    }

    // ---- Disruption ----
    writeln!(md).unwrap();
    writeln!(
        md,
        "| N | change | algorithm | flows moved (all) | surviving flows moved | theory (all) |"
    )
    .unwrap();
    writeln!(md, "|---|---|---|---|---|---|").unwrap();
    for n in [2usize, 4, 8] {
        let all = ids(&vec![1; n]);
        let fewer = &all[..n - 1];
        let surv: Vec<NexthopId> = fewer.iter().map(|m| m.0).collect();
        let nf = n as f64;
        // Removal by rebuilding the group (a config change).
        let row = |md: &mut String, alg: &str, change: &str, (a, s): (f64, f64), theory: String| {
            writeln!(
                md,
                "| {n} | {change} | {alg} | {:.3} | {:.3} | {theory} |",
                a, s
            )
            .unwrap();
        };
        let (ht_a, ht_b) = (Group::new(&all).unwrap(), Group::new(fewer).unwrap());
        row(
            &mut md,
            "hash-threshold",
            "remove last member (rebuild)",
            moved(&ht_a, &|h| ht_b.select(h), &surv, &hs),
            "0.500 (edge region)".into(),
        );
        let (mo_a, mo_b) = (Group::modulo(&all).unwrap(), Group::modulo(fewer).unwrap());
        row(
            &mut md,
            "modulo",
            "remove last member (rebuild)",
            moved(&mo_a, &|h| mo_b.select(h), &surv, &hs),
            format!("{:.3}", (nf - 1.0) / nf),
        );
        let (ra, mut t) = resilient(&all);
        t.update(fewer, 1);
        let rb = Group::resilient(fewer, &t.buckets(fewer), t.activity()).unwrap();
        row(
            &mut md,
            "resilient",
            "remove last member",
            moved(&ra, &|h| rb.select(h), &surv, &hs),
            format!("{:.3} (its share)", 1.0 / nf),
        );
        // Removal by liveness (the member goes down; no rebuild).
        let nb = Neighbors::new(n);
        for i in 0..n {
            nb.set(NexthopId(i as u32), MacAddr([2, 0, 0, 0, 0, i as u8]));
        }
        nb.set_down(NexthopId(n as u32 - 1), DownFlag::Unreachable, true);
        for (alg, g) in [
            ("hash-threshold", &ht_a),
            ("modulo", &mo_a),
            ("resilient", &ra),
        ] {
            row(
                &mut md,
                alg,
                "last member goes down (liveness)",
                moved(g, &|h| g.select_live(h, &nb).unwrap().0, &surv, &hs),
                format!("{:.3} (its share)", 1.0 / nf),
            );
        }
        // Addition.
        let fewer_ht = Group::new(fewer).unwrap();
        row(
            &mut md,
            "hash-threshold",
            "add a member (rebuild)",
            moved(&fewer_ht, &|h| ht_a.select(h), &surv, &hs),
            "0.500 (edge region)".into(),
        );
        let fewer_mo = Group::modulo(fewer).unwrap();
        row(
            &mut md,
            "modulo",
            "add a member (rebuild)",
            moved(&fewer_mo, &|h| mo_a.select(h), &surv, &hs),
            format!("{:.3}", (nf - 1.0) / nf),
        );
        t.update(&all, 2);
        let rc = Group::resilient(&all, &t.buckets(&all), t.activity()).unwrap();
        row(
            &mut md,
            "resilient",
            "add a member (idle buckets)",
            moved(&rb, &|h| rc.select(h), &surv, &hs),
            format!("{:.3} (its share)", 1.0 / nf),
        );
    }
    print!("{md}");

    // ---- SVG: measured vs wanted share per member ----
    let (w, bar_h, gap, left) = (760.0, 16.0, 8.0, 150.0);
    let h = 40.0 + bars.len() as f64 * (bar_h + gap);
    let scale = (w - left - 40.0) / 0.9;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <text x=\"10\" y=\"18\" font-size=\"13\">Weighted shares over {FLOWS} random flows: measured (bar) vs weight share (line)</text>\n"
    );
    for (i, (label, got, want)) in bars.iter().enumerate() {
        let y = 30.0 + i as f64 * (bar_h + gap);
        writeln!(svg, "<text x=\"10\" y=\"{}\">{label}</text>", y + 12.0).unwrap();
        writeln!(
            svg,
            "<rect x=\"{left}\" y=\"{y}\" width=\"{:.1}\" height=\"{bar_h}\" fill=\"#4a90d9\"/>",
            got * scale
        )
        .unwrap();
        writeln!(svg, "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#d0021b\" stroke-width=\"2\"/>", left + want * scale, left + want * scale, y - 2.0, y + bar_h + 2.0).unwrap();
        writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\">{:.4} (want {:.4})</text>",
            left + got.max(*want) * scale + 6.0,
            y + 12.0,
            got,
            want
        )
        .unwrap();
    }
    svg.push_str("</svg>\n");
    std::fs::write(&svg_path, svg).expect("write the SVG");
    eprintln!("wrote {svg_path}");
}
