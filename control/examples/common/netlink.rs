//! Netlink encoding shared by the examples that build FPM frames.

/// Appends one netlink attribute (`rtattr`/`nlattr`), padded to 4 bytes.
pub fn attr(out: &mut Vec<u8>, kind: u16, p: &[u8]) {
    out.extend_from_slice(&((4 + p.len()) as u16).to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(p);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}
