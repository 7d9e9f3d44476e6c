//! TableSafe shard iterators: the strings GetShardIterator and GetStreamRecord hand
//! out, naming a stream, a position in it and, optionally, a position to stop at.
//!
//! To SDKs an iterator is opaque. TableSafe's own tools read it: a backup records
//! the position an iterator names, and asks for the changes between two positions
//! with a bounded iterator (one with an `end`), which reads as a closed shard once
//! every record before `end` has been returned. Iterators of other services do
//! not parse, and tools fall back to what they can do without positions.

/// A position in a stream, as handed to clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardIterator {
    /// The stream.
    pub stream_id: String,
    /// The next record to read is the first at or after this position.
    pub position: u64,
    /// Records at or after this position are not read; reaching it closes the shard.
    pub end: Option<u64>,
    /// The server's clock (µs since the epoch) when GetShardIterator was asked
    /// for this iterator: every change the server stamped before it lies below
    /// `position`. A backup through the API takes its position's time from here,
    /// never from its own clock, which may be off.
    pub issued_at_us: Option<i64>,
}

impl ShardIterator {
    /// `v1.<hex stream id>.<hex position>[.<hex end>][.t<hex issued at>]`: every
    /// character a client might mangle in transit is outside the alphabet, and
    /// iterators without the time (older servers) still parse.
    pub fn encode(&self) -> String {
        let mut text = format!("v1.{}.{:x}", hex::encode(&self.stream_id), self.position);
        if let Some(end) = self.end {
            text.push_str(&format!(".{end:x}"));
        }
        if let Some(at) = self.issued_at_us.filter(|at| *at >= 0) {
            text.push_str(&format!(".t{at:x}"));
        }
        text
    }

    /// Parses an iterator made by [`encode`](Self::encode); `None` for anything else.
    pub fn decode(text: &str) -> Option<ShardIterator> {
        let mut parts = text.split('.');
        let (Some("v1"), Some(encoded_id), Some(position)) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let mut rest: Vec<&str> = parts.collect();
        let issued_at_us = match rest.last().and_then(|last| last.strip_prefix('t')) {
            Some(at) => {
                let at = i64::try_from(parse_hex_u64(at)?).ok()?;
                rest.pop();
                Some(at)
            }
            None => None,
        };
        let end = match rest.as_slice() {
            [] => None,
            [end] => Some(parse_hex_u64(end)),
            _ => return None,
        };
        let stream_id = String::from_utf8(hex::decode(encoded_id).ok()?).ok()?;
        let position = parse_hex_u64(position)?;
        let end = match end {
            None => None,
            Some(parsed) => Some(parsed?),
        };
        Some(ShardIterator { stream_id, position, end, issued_at_us })
    }
}

fn parse_hex_u64(text: &str) -> Option<u64> {
    // from_str_radix accepts a leading '+', which encode never writes.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap.
mod tests {
    use super::*;

    #[test]
    fn shard_iterators_round_trip_and_reject_garbage() {
        let open =
            ShardIterator { stream_id: "orders_1700000000000000".into(), position: 0x1234, end: None, issued_at_us: None };
        assert_eq!(ShardIterator::decode(&open.encode()).unwrap(), open);
        let bounded = ShardIterator { end: Some(0x2000), ..open.clone() };
        assert_eq!(ShardIterator::decode(&bounded.encode()).unwrap(), bounded);
        let dated = ShardIterator { issued_at_us: Some(1_764_000_000_000_000), ..open.clone() };
        assert_eq!(ShardIterator::decode(&dated.encode()).unwrap(), dated);
        let both = ShardIterator { issued_at_us: Some(7), ..bounded.clone() };
        assert_eq!(ShardIterator::decode(&both.encode()).unwrap(), both);
        assert!(both.encode().ends_with(".2000.t7"), "{}", both.encode());
        // What servers before the time wrote still reads.
        assert_eq!(ShardIterator::decode(&open.encode()).unwrap().issued_at_us, None);
        assert_eq!(ShardIterator::decode(&format!("{}.tz", open.encode())), None);
        for bad in [
            "",
            "v1",
            "v1..",
            "v2.61.1",
            "v1.6.1",
            "v1.zz.1",
            "v1.61.-1",
            "v1.61.+1",
            "v1.61.1.1.1",
            "v1.ff.1",
            "v1.61.1.",
        ] {
            assert!(ShardIterator::decode(bad).is_none(), "{bad:?} accepted");
        }
    }
}
