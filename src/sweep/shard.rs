//! Shards: a deterministic slice of a design's points, so one sweep can be spread over
//! machines (or cluster jobs) and merged afterwards.

use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::SweepError;

/// Shard `index` of `count` (0-based): the contiguous block of point ids
/// `[index n / count, (index + 1) n / count)`. Contiguous blocks keep neighbouring
/// points (a Saltelli block, a Morris trajectory) on one machine and make every shard
/// size differ by at most one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// A checked shard.
    pub fn new(index: usize, count: usize) -> Result<Shard, SweepError> {
        if count == 0 || index >= count {
            return Err(SweepError::ShardOutOfRange { index, count });
        }
        Ok(Shard { index, count })
    }

    /// Positions (equal to point ids) of this shard's points among `n` points.
    pub fn range(&self, n: usize) -> Range<usize> {
        let at = |k: usize| ((k as u128 * n as u128) / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }
}

impl FromStr for Shard {
    type Err = SweepError;

    /// Parse `i/N`, e.g. `0/4` for the first of four shards.
    fn from_str(text: &str) -> Result<Shard, SweepError> {
        let syntax = || SweepError::ShardSyntax { text: text.into() };
        let (i, n) = text.split_once('/').ok_or_else(syntax)?;
        let i = i.trim().parse().map_err(|_| syntax())?;
        let n = n.trim().parse().map_err(|_| syntax())?;
        Shard::new(i, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_tile_the_points() {
        let n = 17;
        let mut all = Vec::new();
        for i in 0..5 {
            all.extend(Shard::new(i, 5).unwrap().range(n));
        }
        assert_eq!(all, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn parse_and_range_errors() {
        assert_eq!(
            "1/3".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 3 }
        );
        assert!(matches!(
            "3/3".parse::<Shard>(),
            Err(SweepError::ShardOutOfRange { .. })
        ));
        assert!(matches!(
            "0/0".parse::<Shard>(),
            Err(SweepError::ShardOutOfRange { .. })
        ));
        assert!(matches!(
            "x".parse::<Shard>(),
            Err(SweepError::ShardSyntax { .. })
        ));
    }
}
