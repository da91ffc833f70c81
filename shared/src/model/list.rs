//! Maps that travel as JSON arrays.
//!
//! The model keeps its parts in maps (found by key in O(log n) when an event names
//! them), but scripts and the SPA want lists of objects: `channels` is `[{"channel":
//! ...}, ...]`. Each element knows its own key ([`Keyed`]), so the map is rebuilt from
//! the list on the way in.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that carries the key it is stored under.
pub trait Keyed {
    fn key(&self) -> String;
}

pub fn serialize<S, T>(map: &BTreeMap<String, T>, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: Serialize,
{
    serializer.collect_seq(map.values())
}

pub fn deserialize<'de, D, T>(deserializer: D) -> Result<BTreeMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Keyed,
{
    let items = Vec::<T>::deserialize(deserializer)?;
    // One `insert` each rather than `collect`: `BTreeMap`'s `FromIterator` sorts first,
    // and that sort, compiled once per element type, cost the SPA 40 KB of WASM. The
    // relay sends every list in key order, so the inserts cost no more; a repeated key
    // keeps its last item either way.
    let mut map = BTreeMap::new();
    for item in items {
        map.insert(item.key(), item);
    }
    Ok(map)
}
