//! Alias names → positions in the alias list. The table holds only the
//! positions and compares names through the list, so an index of 100,000
//! names takes one machine word per name (about 1 MB), not the 3 MB of a
//! map keyed by the names themselves; memory is most of the time of a
//! large conversion.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::Alias;

/// Where each name of an alias list is (its last definition).
pub struct NameIndex<'a> {
    aliases: &'a [Alias],
    table: HashTable<usize>,
}

fn hash(name: &str) -> u64 {
    FxBuildHasher.hash_one(name)
}

impl<'a> NameIndex<'a> {
    /// The index of `aliases`, and `(earlier, later)` for each definition
    /// that a later one of the same name replaced, in the order the later
    /// ones come.
    pub fn last_definitions(aliases: &'a [Alias]) -> (NameIndex<'a>, Vec<(usize, usize)>) {
        let mut table: HashTable<usize> = HashTable::with_capacity(aliases.len());
        let mut replaced = Vec::new();
        for (i, a) in aliases.iter().enumerate() {
            let h = hash(&a.name);
            match table.find_mut(h, |&j| aliases[j].name == a.name) {
                Some(slot) => replaced.push((std::mem::replace(slot, i), i)),
                None => {
                    table.insert_unique(h, i, |&j| hash(&aliases[j].name));
                }
            }
        }
        (NameIndex { aliases, table }, replaced)
    }

    /// The index of a list whose names are unique (the last one wins
    /// otherwise).
    pub fn new(aliases: &'a [Alias]) -> NameIndex<'a> {
        NameIndex::last_definitions(aliases).0
    }

    /// The position of the alias called `name`.
    pub fn get(&self, name: &str) -> Option<usize> {
        self.table
            .find(hash(name), |&j| self.aliases[j].name == name)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(name: &str) -> Alias {
        Alias {
            name: name.into(),
            line: 0,
            targets: Vec::new(),
            rhs: 0..0,
        }
    }

    #[test]
    fn last_definition_wins_and_each_replacement_is_named() {
        let list: Vec<Alias> = ["a", "b", "a", "c", "a", "b"]
            .into_iter()
            .map(alias)
            .collect();
        let (ix, replaced) = NameIndex::last_definitions(&list);
        assert_eq!(replaced, vec![(0, 2), (2, 4), (1, 5)]);
        assert_eq!(
            (ix.get("a"), ix.get("b"), ix.get("c"), ix.get("d")),
            (Some(4), Some(5), Some(3), None)
        );
    }
}
