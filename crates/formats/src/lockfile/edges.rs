//! [`Edges`]: a package's or importer's edges by name, as a sorted vector.
//!
//! A lock holds one edge map per package (thousands), most with two or three entries. A
//! `BTreeMap` allocates a whole node (eleven slots, ~900 bytes here) for the first entry; a
//! vector sorted by name holds exactly its entries and keeps `BTreeMap`'s iteration order
//! (names in byte order), so readers and writers see the same thing.

use super::LockedEdge;

/// Edges keyed by the name they are installed under, iterated in byte order of the name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edges(Vec<(String, LockedEdge)>);

/// Borrowing iterator over [`Edges`]: `(name, edge)` pairs in name order.
pub type Iter<'a> = std::iter::Map<std::slice::Iter<'a, (String, LockedEdge)>, PairRef<'a>>;

/// The function [`Iter`] maps each stored pair with.
pub type PairRef<'a> = fn(&'a (String, LockedEdge)) -> (&'a String, &'a LockedEdge);

fn pair_ref(pair: &(String, LockedEdge)) -> (&String, &LockedEdge) {
    (&pair.0, &pair.1)
}

impl Edges {
    /// No edges.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    /// How many edges there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The edge named `name`.
    pub fn get(&self, name: &str) -> Option<&LockedEdge> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    /// The edge named `name`, to change it.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut LockedEdge> {
        self.find(name).ok().map(|i| &mut self.0[i].1)
    }

    /// Whether an edge is named `name`.
    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets the edge named `name`, returning the one it replaces.
    pub fn insert(&mut self, name: String, edge: LockedEdge) -> Option<LockedEdge> {
        match self.find(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, edge)),
            Err(i) => {
                self.0.insert(i, (name, edge));
                None
            }
        }
    }

    /// Adds the edge named `name` unless one is there already (which is kept); whether it
    /// was added. One search, where `contains_key` and then `insert` would take two.
    pub fn insert_if_absent(&mut self, name: String, edge: LockedEdge) -> bool {
        match self.find(&name) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, (name, edge));
                true
            }
        }
    }

    /// Removes the edge named `name`.
    pub fn remove(&mut self, name: &str) -> Option<LockedEdge> {
        self.find(name).ok().map(|i| self.0.remove(i).1)
    }

    /// `(name, edge)` pairs in name order.
    pub fn iter(&self) -> Iter<'_> {
        self.0.iter().map(pair_ref as PairRef<'_>)
    }

    /// `(name, edge)` pairs in name order, edges changeable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut LockedEdge)> {
        self.0.iter_mut().map(|(n, e)| (&*n, e))
    }

    /// The names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(n, _)| n)
    }

    /// The edges, in name order.
    pub fn values(&self) -> impl Iterator<Item = &LockedEdge> {
        self.0.iter().map(|(_, e)| e)
    }

    /// The edges, in name order, changeable.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut LockedEdge> {
        self.0.iter_mut().map(|(_, e)| e)
    }
}

/// As a `BTreeMap` collects: sorted by name, the last of equal names kept.
impl FromIterator<(String, LockedEdge)> for Edges {
    fn from_iter<I: IntoIterator<Item = (String, LockedEdge)>>(iter: I) -> Self {
        let mut pairs: Vec<(String, LockedEdge)> = iter.into_iter().collect();
        if !pairs.is_sorted_by(|a, b| a.0 < b.0) {
            // Stable, so among equal names the last one collected stays last.
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let mut deduped: Vec<(String, LockedEdge)> = Vec::with_capacity(pairs.len());
            for pair in pairs {
                match deduped.last_mut() {
                    Some(last) if last.0 == pair.0 => *last = pair,
                    _ => deduped.push(pair),
                }
            }
            pairs = deduped;
        }
        Self(pairs)
    }
}

/// Already sorted and unique: taken as it is.
impl From<std::collections::BTreeMap<String, LockedEdge>> for Edges {
    fn from(map: std::collections::BTreeMap<String, LockedEdge>) -> Self {
        Self(map.into_iter().collect())
    }
}

/// As a `BTreeMap` indexes: the edge named `name`, which must exist.
impl std::ops::Index<&str> for Edges {
    type Output = LockedEdge;
    fn index(&self, name: &str) -> &LockedEdge {
        match self.get(name) {
            Some(edge) => edge,
            None => panic!("no edge named {name:?}"),
        }
    }
}

impl Extend<(String, LockedEdge)> for Edges {
    fn extend<I: IntoIterator<Item = (String, LockedEdge)>>(&mut self, iter: I) {
        for (name, edge) in iter {
            self.insert(name, edge);
        }
    }
}

impl<'a> IntoIterator for &'a Edges {
    type Item = (&'a String, &'a LockedEdge);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Edges {
    type Item = (&'a String, &'a mut LockedEdge);
    type IntoIter = std::iter::Map<
        std::slice::IterMut<'a, (String, LockedEdge)>,
        fn(&'a mut (String, LockedEdge)) -> (&'a String, &'a mut LockedEdge),
    >;
    fn into_iter(self) -> Self::IntoIter {
        fn pair_mut(pair: &mut (String, LockedEdge)) -> (&String, &mut LockedEdge) {
            (&pair.0, &mut pair.1)
        }
        self.0
            .iter_mut()
            .map(pair_mut as fn(&'a mut (String, LockedEdge)) -> _)
    }
}

impl IntoIterator for Edges {
    type Item = (String, LockedEdge);
    type IntoIter = std::vec::IntoIter<(String, LockedEdge)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::lockfile::EdgeKind;

    fn edge(spec: &str) -> LockedEdge {
        LockedEdge {
            specifier: spec.to_owned(),
            kind: EdgeKind::Normal,
            target: None,
        }
    }

    proptest! {
        /// Every operation agrees with a `BTreeMap` doing the same.
        #[test]
        fn behaves_as_a_btree_map(
            collected in proptest::collection::vec(("[a-d@/._-]{0,3}", "[0-9]{1,2}"), 0..12),
            ops in proptest::collection::vec((0u8..4, "[a-d@/._-]{0,3}", "[0-9]{1,2}"), 0..12),
        ) {
            let mut edges: Edges = collected.iter().map(|(n, s)| (n.clone(), edge(s))).collect();
            let mut map: BTreeMap<String, LockedEdge> =
                collected.iter().map(|(n, s)| (n.clone(), edge(s))).collect();
            for (op, name, spec) in ops {
                match op {
                    0 => prop_assert_eq!(edges.insert(name.clone(), edge(&spec)), map.insert(name, edge(&spec))),
                    1 => prop_assert_eq!(edges.remove(&name), map.remove(&name)),
                    2 => {
                        let absent = !map.contains_key(&name);
                        map.entry(name.clone()).or_insert_with(|| edge(&spec));
                        prop_assert_eq!(edges.insert_if_absent(name, edge(&spec)), absent);
                    }
                    _ => prop_assert_eq!(edges.get(&name), map.get(&name)),
                }
            }
            prop_assert_eq!(edges.len(), map.len());
            let listed: Vec<(&String, &LockedEdge)> = edges.iter().collect();
            prop_assert_eq!(listed, map.iter().collect::<Vec<_>>());
        }
    }
}
