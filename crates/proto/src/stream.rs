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
}

impl ShardIterator {
    /// `v1.<hex stream id>.<hex position>[.<hex end>]`: every character a client
    /// might mangle in transit is outside the alphabet.
    pub fn encode(&self) -> String {
        let hex: String = self.stream_id.bytes().map(|b| format!("{b:02x}")).collect();
        match self.end {
            None => format!("v1.{hex}.{:x}", self.position),
            Some(end) => format!("v1.{hex}.{:x}.{end:x}", self.position),
        }
    }

    /// Parses an iterator made by [`encode`](Self::encode); `None` for anything else.
    pub fn decode(text: &str) -> Option<ShardIterator> {
        let mut parts = text.split('.');
        let (Some("v1"), Some(hex), Some(position)) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let end = parts.next().map(parse_hex_u64);
        if parts.next().is_some() || hex.len() % 2 != 0 || !hex.is_ascii() {
            return None;
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        let stream_id = String::from_utf8(bytes).ok()?;
        let position = parse_hex_u64(position)?;
        let end = match end {
            None => None,
            Some(parsed) => Some(parsed?),
        };
        Some(ShardIterator { stream_id, position, end })
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
        let open = ShardIterator { stream_id: "orders_1700000000000000".into(), position: 0x1234, end: None };
        assert_eq!(ShardIterator::decode(&open.encode()).unwrap(), open);
        let bounded = ShardIterator { end: Some(0x2000), ..open };
        assert_eq!(ShardIterator::decode(&bounded.encode()).unwrap(), bounded);
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
