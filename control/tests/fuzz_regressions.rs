//! Replays every saved fuzz input through the fuzz targets' functions
//! (`control::testkit::fuzz`), on stable Rust, in every `cargo test`: the seeds in
//! `fuzz/seeds/TARGET/`, the kept corpus in `fuzz/corpus/TARGET/` (minimized
//! with libFuzzer's `-merge=1`), and every input that once crashed, kept in
//! `fuzz/regressions/TARGET/`. A target that panics on one fails the test,
//! with the file named.

use std::path::Path;

fn replay(target: &str, f: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for dir in ["seeds", "corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for p in files {
            let data = std::fs::read(&p).unwrap();
            if std::panic::catch_unwind(|| f(&data)).is_err() {
                panic!("fuzz target {target} panics on {}", p.display());
            }
            n += 1;
        }
    }
    n
}

#[test]
fn saved_fuzz_inputs_do_not_crash() {
    let mut total = 0;
    for (t, f) in [
        ("packet", control::testkit::fuzz::packet as fn(&[u8])),
        ("wire", control::testkit::fuzz::wire),
        ("fpm", control::testkit::fuzz::fpm),
        ("config", control::testkit::fuzz::config),
        ("api", control::testkit::fuzz::api),
        ("punt", control::testkit::fuzz::punt),
    ] {
        let n = replay(t, f);
        assert!(n > 0, "no saved inputs for {t}");
        total += n;
    }
    eprintln!("{total} saved fuzz inputs replayed");
}
