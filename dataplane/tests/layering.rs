//! Layering rules the compiler cannot check.

use std::fs;
use std::path::Path;

/// No module outside `wire/` decodes a header length by hand: the IPv4 IHL
/// and the TCP data offset come from `wire::ipv4` and `wire::tcp`.
#[test]
fn header_lengths_are_decoded_only_in_wire() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    for entry in fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
            if compact.contains("&0x0f)asusize*4")
                || compact.contains("&0xf)asusize*4")
                || compact.contains(">>4)asusize*4")
            {
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
