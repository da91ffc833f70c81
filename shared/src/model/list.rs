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
    Ok(items.into_iter().map(|item| (item.key(), item)).collect())
}
