use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use super::*;

struct Dirs {
    _root: tempfile::TempDir,
    project: PathBuf,
    home: PathBuf,
    prefix: PathBuf,
}

fn dirs() -> Dirs {
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("project");
    let home = root.path().join("home");
    let prefix = root.path().join("prefix");
    for d in [&project, &home, &prefix.join("etc")] {
        std::fs::create_dir_all(d).unwrap();
    }
    Dirs {
        _root: root,
        project,
        home,
        prefix,
    }
}

fn inputs(d: &Dirs, env: &[(&str, &str)], cli: Option<&str>) -> ConfigInputs {
    let mut env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert("PREFIX".into(), d.prefix.display().to_string());
    ConfigInputs {
        cli_registry: cli.map(str::to_owned),
        env,
        project_dir: Some(d.project.clone()),
        home_dir: Some(d.home.clone()),
    }
}

#[test]
fn registry_precedence_is_flag_then_env_then_project_user_global() {
    let d = dirs();
    std::fs::write(
        d.prefix.join("etc/npmrc"),
        "registry=http://127.0.0.1:1/\nfetch-retries=7\n",
    )
    .unwrap();
    let load = |env: &[(&str, &str)], cli| RegistryConfig::load(&inputs(&d, env, cli)).unwrap();
    assert_eq!(
        load(&[], None).registry.as_deref(),
        Some("http://127.0.0.1:1")
    );
    std::fs::write(d.home.join(".npmrc"), "registry=http://127.0.0.1:2/\n").unwrap();
    assert_eq!(
        load(&[], None).registry.as_deref(),
        Some("http://127.0.0.1:2")
    );
    std::fs::write(d.project.join(".npmrc"), "registry=http://127.0.0.1:3/\n").unwrap();
    let project = load(&[], None);
    assert_eq!(project.registry.as_deref(), Some("http://127.0.0.1:3"));
    assert_eq!(
        project.fetch_retries, 7,
        "settings from lower layers still apply"
    );
    assert_eq!(
        load(&[("npm_config_registry", "http://127.0.0.1:4")], None)
            .registry
            .as_deref(),
        Some("http://127.0.0.1:4")
    );
    let env = [
        ("NPM_CONFIG_REGISTRY", "http://127.0.0.1:4"),
        ("DX_REGISTRY", "http://127.0.0.1:5"),
    ];
    assert_eq!(
        load(&env, None).registry.as_deref(),
        Some("http://127.0.0.1:5")
    );
    assert_eq!(
        load(&env, Some("http://127.0.0.1:6/")).registry.as_deref(),
        Some("http://127.0.0.1:6")
    );
}

#[test]
fn scoped_registries_and_tokens_stay_with_their_registry() {
    let d = dirs();
    std::fs::write(
        d.project.join(".npmrc"),
        "registry=http://127.0.0.1:1/\n@corp:registry=http://127.0.0.1:2/npm/\n\
         //127.0.0.1:2/npm/:_authToken=${CORP_TOKEN}\n//127.0.0.1:1/:_auth=dXNlcjpwYXNz\n",
    )
    .unwrap();
    let config = RegistryConfig::load(&inputs(&d, &[("CORP_TOKEN", "tok-A")], None)).unwrap();
    assert_eq!(
        config.registry_for("@corp/lib"),
        Some("http://127.0.0.1:2/npm")
    );
    assert_eq!(
        config.registry_for("@other/lib"),
        Some("http://127.0.0.1:1")
    );
    assert_eq!(config.registry_for("lodash"), Some("http://127.0.0.1:1"));
    let corp = config
        .credential_for("http://127.0.0.1:2/npm/@corp%2flib")
        .unwrap();
    assert_eq!(corp.header_value(), "Bearer tok-A");
    assert_eq!(
        config
            .credential_for("http://127.0.0.1:1/lodash")
            .unwrap()
            .header_value(),
        "Basic dXNlcjpwYXNz"
    );
    // Same host, other path, other port: no token.
    assert!(
        config
            .credential_for("http://127.0.0.1:2/other/x")
            .is_none()
    );
    assert!(config.credential_for("http://127.0.0.1:3/npm/x").is_none());
    assert!(
        !format!("{config:?}").contains("tok-A"),
        "Debug must not show tokens"
    );
}

#[test]
fn username_and_password_become_basic_auth() {
    let d = dirs();
    std::fs::write(
        d.home.join(".npmrc"),
        "registry=http://127.0.0.1:1/\n//127.0.0.1:1/:username=u\n//127.0.0.1:1/:_password=cA==\n",
    )
    .unwrap();
    let config = RegistryConfig::load(&inputs(&d, &[], None)).unwrap();
    // base64("u:p")
    assert_eq!(
        config
            .credential_for("http://127.0.0.1:1/x")
            .unwrap()
            .header_value(),
        "Basic dTpw"
    );
}

#[test]
fn transport_settings_are_read() {
    let d = dirs();
    std::fs::write(
        d.project.join(".npmrc"),
        "strict-ssl=false\ncafile=/etc/ca.pem\nhttps-proxy=http://127.0.0.1:8\nnoproxy=localhost\nnetwork-concurrency=3\nfetch-timeout=5000\n",
    )
    .unwrap();
    let config = RegistryConfig::load(&inputs(&d, &[], None)).unwrap();
    assert!(!config.strict_ssl);
    assert_eq!(config.cafile.as_deref(), Some(Path::new("/etc/ca.pem")));
    assert_eq!(config.https_proxy.as_deref(), Some("http://127.0.0.1:8"));
    assert_eq!(config.noproxy.as_deref(), Some("localhost"));
    assert_eq!(config.network_concurrency, 3);
    assert_eq!(config.fetch_timeout, Duration::from_secs(5));
    assert!(config.registry.is_none());
}

#[test]
fn bad_registry_urls_are_refused_naming_their_origin() {
    let d = dirs();
    let err = RegistryConfig::load(&inputs(&d, &[], Some("ftp://x")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--registry"), "{err}");
}

#[derive(Default)]
struct Memo(RefCell<Option<String>>);
impl RegistryUrlMemo for Memo {
    fn recall(&self) -> Option<String> {
        self.0.borrow().clone()
    }
    fn remember(&self, url: &str) {
        *self.0.borrow_mut() = Some(url.to_owned());
    }
}

#[cfg(unix)]
#[test]
fn npm_is_asked_once_and_the_answer_remembered() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("calls");
    let npm = dir.path().join("npm");
    std::fs::write(
        &npm,
        format!(
            "#!/bin/sh\necho x >> '{}'\necho http://127.0.0.1:9/\n",
            counter.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&npm, std::fs::Permissions::from_mode(0o755)).unwrap();
    let memo = Memo::default();
    let first = RegistryConfig::default()
        .with_npm_default(&memo, &npm)
        .unwrap();
    assert_eq!(first.registry.as_deref(), Some("http://127.0.0.1:9"));
    let second = RegistryConfig::default()
        .with_npm_default(&memo, &npm)
        .unwrap();
    assert_eq!(second.registry.as_deref(), Some("http://127.0.0.1:9"));
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        1
    );
    let missing =
        RegistryConfig::default().with_npm_default(&Memo::default(), &dir.path().join("no-npm"));
    let message = missing.unwrap_err().to_string();
    assert!(
        message.contains("--registry") && message.contains(".npmrc"),
        "{message}"
    );
}

#[test]
fn nerf_darts_drop_scheme_userinfo_and_query() {
    assert_eq!(
        nerf_dart("https://u:p@127.0.0.1:8/a/b?x=1"),
        "//127.0.0.1:8/a/b/"
    );
    assert_eq!(nerf_dart("http://127.0.0.1"), "//127.0.0.1/");
}

proptest::proptest! {
    /// The fuzz target's promise in CI: any text parses to settings or an error.
    #[test]
    fn any_npmrc_text_parses_or_fails_cleanly(text in "(\\PC{0,40}\n){0,8}") {
        let _ = parse_npmrc(&text, Path::new(".npmrc"), &|_| None);
        if let Ok(settings) = parse_npmrc(&text, Path::new(".npmrc"), &|name| Some(name.repeat(2))) {
            for (key, _) in settings {
                proptest::prop_assert!(!key.contains('\n'));
            }
        }
    }
}
