//! Layering rules the compiler cannot check.

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, in every subfolder, except those under
/// `skip` (a folder name).
fn sources(dir: &Path, skip: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().and_then(|n| n.to_str()) != Some(skip) {
                    todo.push(path);
                }
            } else if path.extension().and_then(|e| e.to_str()) == Some("rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// True when a line of code decodes a header length by hand: an IHL or a
/// data offset nibble times four.
fn decodes_a_length(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or("");
    let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains("&0x0f)asusize*4")
        || compact.contains("&0xf)asusize*4")
        || compact.contains(">>4)asusize*4")
}

/// No module outside `wire/` decodes a header length by hand: the IPv4 IHL
/// and the TCP data offset come from `wire::ipv4` and `wire::tcp`. Every
/// folder is scanned (`forward/` too).
#[test]
fn header_lengths_are_decoded_only_in_wire() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = sources(&src, "wire");
    assert!(
        files.iter().any(|p| p.ends_with("forward/burst.rs")),
        "the scan reaches subfolders"
    );
    assert!(!files.iter().any(|p| p.ends_with("wire/ipv4.rs")));
    let mut offenders = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            if decodes_a_length(line) {
                offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "headers decoded by hand outside wire/:\n{}",
        offenders.join("\n")
    );
}

/// The check sees what it looks for.
#[test]
fn the_pattern_matches_a_hand_decoded_length() {
    assert!(decodes_a_length("let ihl = (b[0] & 0x0f) as usize * 4;"));
    assert!(decodes_a_length(
        "let off = (b[12] >> 4) as usize * 4; // x"
    ));
    assert!(!decodes_a_length("// (b[0] & 0x0f) as usize * 4"));
    assert!(!decodes_a_length("let ihl = ip.header_len();"));
}
