use super::*;

fn hash(n: u8) -> ContentHash {
    ContentHash([n; 32])
}

fn pkg(path: &str, n: u8) -> LayoutRow {
    LayoutRow {
        path: path.into(),
        kind: LayoutRowKind::Package {
            content_hash: hash(n),
            label: format!("p{n}"),
        },
    }
}

#[test]
fn missing_ancestors_become_directories_and_children_are_sorted() {
    let (table, _) = LayoutTable::build(
        vec![pkg("b", 1), pkg("@s/a", 2), pkg("b/node_modules/c", 3)],
        None,
    );
    let scope = table.lookup("@s").expect("@s");
    assert_eq!(
        table.slot(scope).map(|s| s.kind.clone()),
        Some(LayoutRowKind::Dir)
    );
    let names: Vec<&str> = table.children(0).iter().map(|(n, _)| &**n).collect();
    assert_eq!(names, ["@s", "b"]);
    let b = table.child(0, "b").expect("b");
    let nm = table.child(b, "node_modules").expect("b/node_modules");
    assert_eq!(table.child(nm, "c"), table.lookup("b/node_modules/c"));
}

#[test]
fn reload_keeps_unchanged_slots_and_reports_what_changed() {
    let (old, _) = LayoutTable::build(vec![pkg("a", 1), pkg("b", 2), pkg("c", 3)], None);
    let (new, changes) =
        LayoutTable::build(vec![pkg("a", 1), pkg("b", 9), pkg("d", 4)], Some(&old));
    assert_eq!(
        new.lookup("a"),
        old.lookup("a"),
        "unchanged package keeps its slot"
    );
    assert_ne!(new.lookup("b"), old.lookup("b"), "new version, new slot");
    let old_b = old.lookup("b").expect("old b");
    assert!(
        new.slot(old_b).is_some(),
        "retired slots stay resolvable for open files"
    );
    let names: Vec<&str> = changes.entries.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["b", "c", "d"]);
    assert_eq!(changes.listings, [0]);
}

#[test]
fn directories_inside_packages_know_the_package_above_them() {
    let rows = vec![
        pkg("b", 1),
        pkg("b/node_modules/@s/x", 2),
        pkg("b/node_modules/c", 3),
        pkg("b/node_modules/c/node_modules/d", 4),
        pkg("@t/e", 5),
        LayoutRow {
            path: ".bin/e".into(),
            kind: LayoutRowKind::Symlink("../@t/e/cli.js".into()),
        },
    ];
    let (table, _) = LayoutTable::build(rows.clone(), None);
    let owner = |path: &str| {
        let slot = table.lookup(path).expect(path);
        table
            .slot(slot)
            .unwrap()
            .owner
            .map(|o| &*table.slot(o).unwrap().path)
    };
    assert_eq!(owner("b/node_modules"), Some("b"));
    assert_eq!(owner("b/node_modules/@s"), Some("b"));
    assert_eq!(
        owner("b/node_modules/c/node_modules"),
        Some("b/node_modules/c")
    );
    assert_eq!(owner("@t"), None, "outside every package");
    assert_eq!(owner(".bin"), None);
    assert_eq!(owner("b"), None, "packages and links have none");
    assert_eq!(owner("b/node_modules/c"), None);
    assert_eq!(owner(".bin/e"), None);
    // A reload keeps the slots, and with them their owners.
    let (again, _) = LayoutTable::build(rows, Some(&table));
    assert_eq!(
        again.lookup("b/node_modules/@s"),
        table.lookup("b/node_modules/@s")
    );
}
