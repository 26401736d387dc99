use std::fs;

use super::*;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn member(root: &Path, rel: &str, name: &str) {
    write(
        root,
        &format!("{rel}/package.json"),
        &format!(r#"{{"name": "{name}", "version": "1.0.0"}}"#),
    );
}

fn paths(set: &WorkspaceSet) -> Vec<&str> {
    set.members.iter().map(|m| m.path.as_str()).collect()
}

#[test]
fn no_config_is_none() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "package.json", r#"{"name": "solo"}"#);
    assert!(WorkspaceSet::discover(dir.path()).unwrap().is_none());
    assert!(find_workspace_root(dir.path()).unwrap().is_none());
}

#[test]
fn array_form_sorted_with_direct_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "package.json",
        r#"{"name": "root", "workspaces": ["packages/*", "./tools/cli/"]}"#,
    );
    member(root, "packages/b", "b");
    member(root, "packages/a", "@s/a");
    member(root, "tools/cli", "cli");
    fs::create_dir_all(root.join("packages/no-manifest")).unwrap();
    member(root, "packages/a/node_modules/x", "x");
    let set = WorkspaceSet::discover(root).unwrap().unwrap();
    assert_eq!(paths(&set), ["packages/a", "packages/b", "tools/cli"]);
    let a = &set.members[0];
    assert_eq!((a.name.as_str(), a.version.as_str()), ("@s/a", "1.0.0"));
    assert_eq!(a.dir, root.join("packages/a"));
    assert!(a.manifest_text.contains("@s/a"));
    assert_eq!(set.member_by_path("./tools/cli/").unwrap().name, "cli");
}

#[test]
fn object_form_negation_and_double_star() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "package.json",
        r#"{"workspaces": {"packages": ["apps/**", "!apps/legacy"], "nohoist": ["**/x"]}}"#,
    );
    member(root, "apps/web", "web");
    member(root, "apps/group/deep/api", "api");
    member(root, "apps/legacy", "legacy");
    member(root, "apps/node_modules/dep", "dep");
    let set = WorkspaceSet::discover(root).unwrap().unwrap();
    assert_eq!(paths(&set), ["apps/group/deep/api", "apps/web"]);
}

#[test]
fn pnpm_yaml_wins_over_package_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "package.json",
        r#"{"name": "r", "workspaces": ["ignored/*"]}"#,
    );
    write(
        root,
        PNPM_WORKSPACE_FILE,
        "packages:\n  - 'packages/*'\n  - '!**/test/**'\ncatalog:\n  react: ^18.2.0\n  version-as-number: 18\ncatalogs:\n  react17:\n    react: ^17.0.2\n",
    );
    member(root, "packages/one", "one");
    member(root, "packages/test", "t");
    let set = WorkspaceSet::discover(root).unwrap().unwrap();
    assert_eq!(paths(&set), ["packages/one", "packages/test"]);
    assert_eq!(set.catalogs.default["react"], "^18.2.0");
    assert_eq!(set.catalogs.default["version-as-number"], "18");
    assert_eq!(set.catalogs.named["react17"]["react"], "^17.0.2");
}

#[test]
fn bad_inputs_are_one_line_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "package.json",
        r#"{"workspaces": ["packages/*", "libs/*"]}"#,
    );
    member(root, "packages/a", "same");
    let err = WorkspaceSet::discover(root).unwrap_err();
    assert!(matches!(err, Error::WorkspacePatternEmpty { .. }), "{err}");
    assert!(err.to_string().contains("`libs/*`"), "{err}");
    assert!(err.to_string().contains("package.json"), "{err}");

    member(root, "libs/b", "same");
    let err = WorkspaceSet::discover(root).unwrap_err();
    assert_eq!(
        err.to_string(),
        "two workspace members are named `same`: libs/b and packages/a"
    );
    assert!(err.help().is_some());

    write(root, "libs/b/package.json", r#"{"version": "1.0.0"}"#);
    let err = WorkspaceSet::discover(root).unwrap_err();
    assert!(err.to_string().contains("libs/b/package.json"), "{err}");
    assert!(err.to_string().contains("no `name`"), "{err}");

    write(root, "libs/b/package.json", "{");
    let err = WorkspaceSet::discover(root).unwrap_err();
    assert!(err.to_string().contains("invalid JSON"), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
}

#[cfg(unix)]
#[test]
fn a_member_linked_from_outside_the_root_is_an_error() {
    let outside = tempfile::tempdir().unwrap();
    member(outside.path(), "lib", "lib");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "package.json", r#"{"workspaces": ["packages/*"]}"#);
    fs::create_dir_all(root.join("packages")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("lib"), root.join("packages/lib")).unwrap();
    let err = WorkspaceSet::discover(root).unwrap_err();
    assert!(
        matches!(err, Error::WorkspaceMemberOutsideRoot { .. }),
        "{err}"
    );
}

#[test]
fn find_workspace_root_from_members_and_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "package.json",
        r#"{"workspaces": ["packages/*", "!packages/skip"]}"#,
    );
    member(root, "packages/a", "a");
    member(root, "packages/skip", "skip");
    member(root, "packages/a/fixtures/inner", "inner");
    assert_eq!(
        find_workspace_root(&root.join("packages/a")).unwrap(),
        Some((root.to_path_buf(), Some("packages/a".to_owned())))
    );
    assert_eq!(
        find_workspace_root(root).unwrap(),
        Some((root.to_path_buf(), None))
    );
    // Not included: excluded, or a nested package that no pattern names.
    assert_eq!(
        find_workspace_root(&root.join("packages/skip")).unwrap(),
        None
    );
    assert_eq!(
        find_workspace_root(&root.join("packages/a/fixtures/inner")).unwrap(),
        None
    );
}

#[test]
fn find_workspace_root_skips_a_nearer_workspace_that_does_not_include_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, PNPM_WORKSPACE_FILE, "packages:\n  - 'group/**'\n");
    write(
        root,
        "group/package.json",
        r#"{"name": "g", "workspaces": ["other/*"]}"#,
    );
    member(root, "group/x", "x");
    assert_eq!(
        find_workspace_root(&root.join("group/x")).unwrap(),
        Some((root.to_path_buf(), Some("group/x".to_owned())))
    );
}

#[test]
fn bun_catalogs_in_package_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "package.json",
        r#"{"workspaces": {"packages": ["packages/*"], "catalog": {"react": "^19.0.0"}, "catalogs": {"testing": {"jest": "30.0.0"}}}, "catalogs": {"build": {"vite": "^6"}}}"#,
    );
    member(root, "packages/a", "a");
    let set = WorkspaceSet::discover(root).unwrap().unwrap();
    let c = &set.catalogs;
    assert_eq!(
        c.resolve("react", "catalog:").unwrap().as_deref(),
        Some("^19.0.0")
    );
    assert_eq!(
        c.resolve("react", "catalog:default").unwrap().as_deref(),
        Some("^19.0.0")
    );
    assert_eq!(
        c.resolve("jest", "catalog:testing").unwrap().as_deref(),
        Some("30.0.0")
    );
    assert_eq!(
        c.resolve("vite", "catalog:build").unwrap().as_deref(),
        Some("^6")
    );
    assert_eq!(c.resolve("react", "^18").unwrap(), None);
}

#[test]
fn catalog_errors_name_the_manifest_dependency_and_catalog() {
    let mut c = Catalogs::default();
    c.set("default", "react", "^18");
    let manifest = Path::new("packages/a/package.json");
    let err = c.resolve_in(manifest, "vue", "catalog:").unwrap_err();
    assert_eq!(
        err.to_string(),
        "packages/a/package.json: `vue@catalog:`: catalog `default` has no entry for `vue`"
    );
    let err = c.resolve_in(manifest, "react", "catalog:old").unwrap_err();
    assert_eq!(
        err.to_string(),
        "packages/a/package.json: `react@catalog:old`: the workspace has no catalog `old`"
    );
    assert!(err.help().is_some());
    assert!(Catalogs::default().resolve("react", "catalog:").is_err());
}

#[test]
fn write_catalog_entry_keeps_the_rest_of_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let yaml = "# workspace\npackages:\n  - packages/*\ncatalog:\n  react: ^18.2.0 # ui\n";
    write(root, PNPM_WORKSPACE_FILE, yaml);
    let package = "{\n    \"name\": \"r\",\n    \"catalogs\": {\n        \"build\": {\n            \"vite\": \"^5\"\n        }\n    },\n    \"private\": true\n}\n";
    write(root, "package.json", package);

    let written = write_catalog_entry(root, "default", "react", "^18.3.1").unwrap();
    assert_eq!(written, root.join(PNPM_WORKSPACE_FILE));
    assert_eq!(
        fs::read_to_string(&written).unwrap(),
        yaml.replace("^18.2.0", "^18.3.1")
    );
    let written = write_catalog_entry(root, "build", "vite", "^6.0.0").unwrap();
    assert_eq!(written, root.join("package.json"));
    assert_eq!(
        fs::read_to_string(&written).unwrap(),
        package.replace("^5", "^6.0.0")
    );
    let err = write_catalog_entry(root, "build", "rollup", "^4").unwrap_err();
    assert!(matches!(err, Error::CatalogEntryMissing { .. }), "{err}");
    assert_eq!(
        fs::read_to_string(root.join("package.json")).unwrap(),
        package.replace("^5", "^6.0.0")
    );
}

#[test]
fn find_workspace_root_passes_a_broken_unrelated_package_json_but_not_a_broken_config() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "package.json", "{ not json");
    member(root, "project", "p");
    assert_eq!(find_workspace_root(&root.join("project")).unwrap(), None);
    write(root, "package.json", r#"{"workspaces": ["project"],"#);
    let err = find_workspace_root(&root.join("project")).unwrap_err();
    assert!(err.to_string().contains("invalid JSON"), "{err}");
    write(root, PNPM_WORKSPACE_FILE, "packages: [");
    write(root, "package.json", "{}");
    let err = find_workspace_root(&root.join("project")).unwrap_err();
    assert!(
        err.to_string()
            .contains("pnpm-workspace.yaml: invalid YAML"),
        "{err}"
    );
}
