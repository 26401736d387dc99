//! Lockfiles are untrusted input: whatever the bytes, importing returns a result, never panics.

use dx_migrate::{Format, ImportOptions, import};
use proptest::prelude::*;

fn try_all(text: &str) {
    let root =
        serde_json::json!({ "dependencies": { "a": "^1" }, "devDependencies": { "@s/b": "2" } });
    let options = ImportOptions {
        root_manifest: &root,
        tarball_url: &|n, v| format!("http://r/{n}-{v}.tgz"),
        members: &[],
    };
    for format in Format::ALL {
        let _ = import("lockfile", format, text, &options);
    }
}

const SEEDS: [&str; 3] = [
    r#"{"lockfileVersion":3,"packages":{"":{"dependencies":{"a":"^1"}},"node_modules/a":{"version":"1.0.0","dependencies":{"b":"1"}},"node_modules/a/node_modules/b":{"version":"1.0.0"}}}"#,
    r#"{"lockfileVersion":1,"workspaces":{"":{"dependencies":{"a":"^1",},},},"packages":{"a":["a@1.0.0","",{"dependencies":{"@s/b":"2"}},"sha512-pKvURIxJVi2CgRXROh/M6pJ/UrTVRZKX+LQ+QtqJI4vBNibkPcs43bCCSIkn7JBPtCBXRDmD6IWFF51QVRr+Yg=="],"a/@s/b":["@s/b@2.0.0","http://r/",{},"sha512-EhtHdKdZkkopKcSkEvtuMbmqp0ZGaEDvzEp21pqUFJ4jZOOYPWRv6vqhtRF4XlyekK7cMNpqa+rVUg7MmcZiag=="],},}"#,
    "\"a@^1\", a@^1.1:\n  version \"1.2.0\"\n  resolved \"http://r/a.tgz#2fd4e1c67a2d28fced849ee1bb76e7391b93eb12\"\n  dependencies:\n    \"@s/b\" \"2\"\n",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        try_all(&text);
    }

    #[test]
    fn mutated_seeds_never_panic(seed in 0..SEEDS.len(), cut in any::<prop::sample::Index>(), insert in "[\\[\\]{}\",:@/ \n#a-z0-9]{0,8}") {
        let text = SEEDS[seed];
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        try_all(&format!("{}{}{}", &text[..at], insert, &text[at..]));
        try_all(&text[..at]);
    }
}

#[test]
fn seeds_import() {
    let root = serde_json::json!({ "dependencies": { "a": "^1" } });
    let options = ImportOptions {
        root_manifest: &root,
        tarball_url: &|n, v| format!("http://r/{n}-{v}.tgz"),
        members: &[],
    };
    assert_eq!(
        import("package-lock.json", Format::PackageLock, SEEDS[0], &options)
            .unwrap()
            .versions
            .len(),
        2
    );
    assert_eq!(
        import("bun.lock", Format::BunLock, SEEDS[1], &options)
            .unwrap()
            .versions
            .len(),
        2
    );
    assert_eq!(
        import("yarn.lock", Format::YarnLock, SEEDS[2], &options)
            .unwrap()
            .versions
            .len(),
        1
    );
}
