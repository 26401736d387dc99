//! Reading `dx.lock` text, line by line, with line numbers in every error.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::token::tokenize;
use super::{
    EdgeKind, Edges, Importer, LOCKFILE_VERSION, LockedEdge, LockedPackage, Lockfile,
    LockfileError, OLDEST_LOCKFILE_VERSION, WORKSPACE_LOCKFILE_VERSION, Workspace,
    check_workspace_path, split_package_key,
};
use crate::hash::{HashError, Integrity, IntegrityAlgorithm};

/// A package block being read.
struct PackageBlock {
    line: usize,
    key: String,
    name: Option<String>,
    version: Option<String>,
    pkg: LockedPackage,
}

/// A workspace block being read.
struct WorkspaceBlock {
    line: usize,
    path: String,
    name: Option<String>,
    version: Option<String>,
    member: Workspace,
}

enum Block {
    /// Before the first block.
    None,
    Root,
    Workspace(Box<WorkspaceBlock>),
    Package(Box<PackageBlock>),
}

struct Parser {
    lock: Lockfile,
    /// Finished package blocks with their header lines; sorted and checked for duplicates at
    /// the end, then bulk-built into the map (cheaper than one tree search per package).
    packages: Vec<(String, usize, LockedPackage)>,
    block: Block,
    seen_root: bool,
    /// The header line of each workspace block read so far, by path.
    workspace_lines: BTreeMap<String, usize>,
    /// The version the header named.
    version: u32,
    line: usize,
}

fn syntax(line: usize, message: impl Into<String>) -> LockfileError {
    LockfileError::Syntax {
        line,
        message: message.into(),
    }
}

pub(crate) fn parse(text: &str) -> Result<(Lockfile, u32), LockfileError> {
    let mut parser = Parser {
        lock: Lockfile::default(),
        packages: Vec::new(),
        block: Block::None,
        seen_root: false,
        workspace_lines: BTreeMap::new(),
        version: 0,
        line: 0,
    };
    let mut version = None;
    // One buffer for every line's tokens: they borrow from `text`, so it can be reused.
    let mut tokens: Vec<Cow<'_, str>> = Vec::new();
    for (index, raw) in text.split('\n').enumerate() {
        parser.line = index + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let indent = raw
            .bytes()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
        let content = &raw[indent..];
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indented = indent > 0;
        tokens.clear();
        tokenize(content, &mut tokens).map_err(|m| syntax(parser.line, m))?;
        if version.is_none() {
            let found = read_header(parser.line, indented, &tokens)?;
            parser.version = found;
            version = Some(found);
            continue;
        }
        if indented {
            parser.field(&tokens)?;
        } else {
            parser.start_block(&tokens)?;
        }
    }
    let Some(version) = version else {
        return Err(LockfileError::MissingHeader { line: parser.line });
    };
    parser.finish_block()?;
    let Parser {
        mut lock,
        mut packages,
        ..
    } = parser;
    // Stable: of two equal keys the earlier block comes first, so the error names the later.
    packages.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = packages.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(syntax(
            pair[1].1,
            format!(
                "package `{}` is listed twice (first on line {})",
                pair[1].0, pair[0].1
            ),
        ));
    }
    lock.packages = packages
        .into_iter()
        .map(|(key, _, pkg)| (key, pkg))
        .collect();
    Ok((lock, version))
}

/// Reads `dx-lock <version>`, returning the version when this dx reads it.
fn read_header(line: usize, indented: bool, tokens: &[Cow<'_, str>]) -> Result<u32, LockfileError> {
    match tokens {
        [word, version] if !indented && word == "dx-lock" => version
            .parse::<u32>()
            .ok()
            // Only the canonical spelling: `02` is not a version dx wrote.
            .filter(|v| {
                (OLDEST_LOCKFILE_VERSION..=LOCKFILE_VERSION).contains(v)
                    && v.to_string() == version.as_ref()
            })
            .ok_or_else(|| LockfileError::UnsupportedVersion {
                line,
                found: version.to_string(),
            }),
        _ => Err(LockfileError::MissingHeader { line }),
    }
}

/// Inserts into a map, refusing a second value for the same key; `what` names the map in
/// the error (built only on error: this runs for every edge of every package).
fn insert_unique<V>(
    map: &mut BTreeMap<String, V>,
    key: &str,
    value: V,
    line: usize,
    what: impl FnOnce() -> String,
) -> Result<(), LockfileError> {
    match map.entry(key.to_owned()) {
        Entry::Occupied(_) => Err(syntax(line, format!("duplicate {} `{key}`", what()))),
        Entry::Vacant(slot) => {
            slot.insert(value);
            Ok(())
        }
    }
}

/// [`insert_unique`] for an edge map.
fn insert_unique_edge(
    edges: &mut Edges,
    name: &str,
    edge: LockedEdge,
    line: usize,
    what: impl FnOnce() -> String,
) -> Result<(), LockfileError> {
    if !edges.insert_if_absent(name.to_owned(), edge) {
        return Err(syntax(line, format!("duplicate {} `{name}`", what())));
    }
    Ok(())
}

impl Parser {
    fn start_block(&mut self, tokens: &[Cow<'_, str>]) -> Result<(), LockfileError> {
        self.finish_block()?;
        let line = self.line;
        self.block = match tokens {
            [word] if word == "root" => {
                if self.seen_root {
                    return Err(syntax(line, "a second `root` block"));
                }
                self.seen_root = true;
                Block::Root
            }
            [word, path] if word == "workspace" => self.start_workspace(line, path)?,
            [word, ..] if word == "workspace" => {
                return Err(syntax(
                    line,
                    "expected `workspace <path>` (quote a path that has spaces)",
                ));
            }
            [word, key] if word == "package" => Block::Package(Box::new(PackageBlock {
                line,
                key: key.to_string(),
                name: None,
                version: None,
                pkg: LockedPackage::default(),
            })),
            [word, ..] if word == "package" => {
                return Err(syntax(
                    line,
                    "expected `package <name@version>` (quote a key that has spaces)",
                ));
            }
            [word, ..] => {
                return Err(syntax(
                    line,
                    format!(
                        "expected `root`, `workspace <path>` or `package <key>` at the start of a block, found `{word}` (fields are indented)"
                    ),
                ));
            }
            [] => return Err(syntax(line, "empty line")),
        };
        Ok(())
    }

    /// Opens `workspace PATH`: the version must know workspaces, the path must be a member
    /// path, and no other block may have it.
    fn start_workspace(&mut self, line: usize, path: &str) -> Result<Block, LockfileError> {
        if self.version < WORKSPACE_LOCKFILE_VERSION {
            return Err(syntax(
                line,
                format!(
                    "a `workspace` block needs `dx-lock {WORKSPACE_LOCKFILE_VERSION}` or later (this file is version {})",
                    self.version
                ),
            ));
        }
        check_workspace_path(path)
            .map_err(|why| syntax(line, format!("workspace `{path}`: {why}")))?;
        if let Some(first) = self.workspace_lines.insert(path.to_owned(), line) {
            return Err(syntax(
                line,
                format!("workspace `{path}` is listed twice (first on line {first})"),
            ));
        }
        Ok(Block::Workspace(Box::new(WorkspaceBlock {
            line,
            path: path.to_owned(),
            name: None,
            version: None,
            member: Workspace::default(),
        })))
    }

    fn finish_block(&mut self) -> Result<(), LockfileError> {
        let block = std::mem::replace(&mut self.block, Block::None);
        if let Block::Workspace(block) = block {
            let WorkspaceBlock {
                line,
                path,
                name,
                version,
                mut member,
            } = *block;
            member.name = name.ok_or_else(|| {
                syntax(
                    line,
                    format!("workspace `{path}`: a `name` line is required"),
                )
            })?;
            member.version = version.unwrap_or_default();
            self.lock.workspaces.insert(path, member);
            return Ok(());
        }
        if let Block::Package(block) = block {
            let PackageBlock {
                line,
                key,
                name,
                version,
                mut pkg,
            } = *block;
            let derived = split_package_key(&key);
            pkg.name = match (name, derived) {
                (Some(name), _) => name,
                (None, Some((name, _))) => name.to_owned(),
                (None, None) => {
                    return Err(syntax(
                        line,
                        format!(
                            "package `{key}`: the key is not `name@version`, so a `name` line is required"
                        ),
                    ));
                }
            };
            pkg.version = match (version, derived) {
                (Some(version), _) => version,
                (None, Some((_, version))) => version.to_owned(),
                (None, None) => {
                    return Err(syntax(
                        line,
                        format!(
                            "package `{key}`: the key is not `name@version`, so a `version` line is required"
                        ),
                    ));
                }
            };
            self.packages.push((key, line, pkg));
        }
        Ok(())
    }

    fn field(&mut self, tokens: &[Cow<'_, str>]) -> Result<(), LockfileError> {
        let line = self.line;
        let Some((keyword, args)) = tokens.split_first() else {
            return Ok(());
        };
        match &mut self.block {
            Block::None => Err(syntax(
                line,
                format!("field `{keyword}` outside of a `root`, `workspace` or `package` block"),
            )),
            Block::Root => root_field(&mut self.lock.root, line, keyword, args),
            Block::Workspace(block) => workspace_field(block, line, keyword, args),
            Block::Package(block) => package_field(block, line, keyword, args),
        }
    }
}

fn root_field(
    root: &mut Importer,
    line: usize,
    keyword: &str,
    args: &[Cow<'_, str>],
) -> Result<(), LockfileError> {
    if keyword == "override" {
        return match args {
            [selector, spec] => insert_unique(
                &mut root.overrides,
                selector,
                spec.to_string(),
                line,
                || "override".to_owned(),
            ),
            _ => Err(syntax(
                line,
                format!(
                    "`override` takes a selector and a specifier, found {} values",
                    args.len()
                ),
            )),
        };
    }
    let Some(kind) = EdgeKind::from_keyword(keyword) else {
        return Err(syntax(
            line,
            format!("unknown field `{keyword}` in the root block"),
        ));
    };
    importer_edge(root, kind, line, keyword, args, "", || {
        "root dependency".to_owned()
    })
}

/// An importer's edge line (the root's or a member's); `prefix` starts an error message
/// (`workspace `a`: `), `duplicate` names the edge in a duplicate's error.
fn importer_edge(
    importer: &mut Importer,
    kind: EdgeKind,
    line: usize,
    keyword: &str,
    args: &[Cow<'_, str>],
    prefix: &str,
    duplicate: impl FnOnce() -> String,
) -> Result<(), LockfileError> {
    // Version 1 wrote no target; later versions write one unless the edge is unmet.
    let (name, edge) = edge(kind, args).ok_or_else(|| {
        syntax(
            line,
            format!(
                "{prefix}`{keyword}` takes a name, a specifier and the resolved key, found {} values",
                args.len()
            ),
        )
    })?;
    insert_unique_edge(&mut importer.edges, name, edge, line, duplicate)
}

fn workspace_field(
    block: &mut WorkspaceBlock,
    line: usize,
    keyword: &str,
    args: &[Cow<'_, str>],
) -> Result<(), LockfileError> {
    let path = block.path.as_str();
    let prefix = format!("workspace `{path}`: ");
    if let Some(kind) = EdgeKind::from_keyword(keyword) {
        return importer_edge(
            &mut block.member.importer,
            kind,
            line,
            keyword,
            args,
            &prefix,
            || format!("dependency of workspace `{path}`:"),
        );
    }
    let single = |args: &[Cow<'_, str>]| match args {
        [value] => Ok(value.to_string()),
        _ => Err(syntax(
            line,
            format!("{prefix}`{keyword}` takes one value, found {}", args.len()),
        )),
    };
    let once = |slot: &mut Option<String>, value: String| {
        if slot.is_some() {
            return Err(syntax(line, format!("{prefix}duplicate `{keyword}`")));
        }
        *slot = Some(value);
        Ok(())
    };
    match keyword {
        "name" => once(&mut block.name, single(args)?),
        "version" => once(&mut block.version, single(args)?),
        "bin" => match args {
            [name, bin_path] => insert_unique(
                &mut block.member.bin,
                name,
                bin_path.to_string(),
                line,
                || format!("bin of workspace `{path}`:"),
            ),
            _ => Err(syntax(
                line,
                format!(
                    "{prefix}`bin` takes a command name and a path, found {} values",
                    args.len()
                ),
            )),
        },
        "override" => Err(syntax(
            line,
            format!(
                "{prefix}`override` belongs to the root block only (npm reads overrides from the root package.json)"
            ),
        )),
        other => Err(syntax(line, format!("{prefix}unknown field `{other}`"))),
    }
}

/// An edge line's values: `NAME SPEC [TARGET]`.
fn edge<'a>(kind: EdgeKind, args: &'a [Cow<'_, str>]) -> Option<(&'a str, LockedEdge)> {
    let (name, specifier, target) = match args {
        [name, spec] => (name, spec, None),
        [name, spec, target] => (name, spec, Some(target.to_string())),
        _ => return None,
    };
    let edge = LockedEdge {
        specifier: specifier.to_string(),
        kind,
        target,
    };
    Some((name, edge))
}

/// Takes exactly one value for a field of package `key`.
fn one<'t>(
    key: &str,
    line: usize,
    keyword: &str,
    args: &'t [Cow<'_, str>],
) -> Result<&'t str, LockfileError> {
    match args {
        [value] => Ok(value),
        _ => Err(syntax(
            line,
            format!(
                "package `{key}`: `{keyword}` takes one value, found {}",
                args.len()
            ),
        )),
    }
}

fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    key: &str,
    line: usize,
    keyword: &str,
) -> Result<(), LockfileError> {
    if slot.is_some() {
        return Err(syntax(
            line,
            format!("package `{key}`: duplicate `{keyword}`"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

fn set_flag(
    flag: &mut bool,
    key: &str,
    line: usize,
    keyword: &str,
    args: &[Cow<'_, str>],
) -> Result<(), LockfileError> {
    if !args.is_empty() {
        return Err(syntax(
            line,
            format!("package `{key}`: `{keyword}` takes no value"),
        ));
    }
    if *flag {
        return Err(syntax(
            line,
            format!("package `{key}`: duplicate `{keyword}`"),
        ));
    }
    *flag = true;
    Ok(())
}

fn set_list(
    list: &mut Vec<String>,
    key: &str,
    line: usize,
    keyword: &str,
    args: &[Cow<'_, str>],
) -> Result<(), LockfileError> {
    if !list.is_empty() {
        return Err(syntax(
            line,
            format!("package `{key}`: duplicate `{keyword}`"),
        ));
    }
    if args.is_empty() {
        return Err(syntax(
            line,
            format!("package `{key}`: `{keyword}` needs at least one value"),
        ));
    }
    list.extend(args.iter().map(|a| a.to_string()));
    Ok(())
}

/// Reads an integrity; the `sha512-<88 base64>` that dx writes is decoded on the stack (a
/// third of all parse time went to the general parser's allocations).
fn parse_integrity(value: &str) -> Result<Integrity, HashError> {
    use base64::Engine as _;
    if let Some(b64) = value.strip_prefix("sha512-").filter(|b| b.len() == 88) {
        let mut digest = [0u8; 66];
        if let Ok(64) = base64::engine::general_purpose::STANDARD.decode_slice(b64, &mut digest) {
            return Integrity::from_digest(IntegrityAlgorithm::Sha512, &digest[..64]);
        }
    }
    value.parse()
}

fn package_field(
    block: &mut PackageBlock,
    line: usize,
    keyword: &str,
    args: &[Cow<'_, str>],
) -> Result<(), LockfileError> {
    let key = block.key.as_str();
    let pkg = &mut block.pkg;
    if let Some(kind) = EdgeKind::from_keyword(keyword) {
        if kind == EdgeKind::Dev {
            return Err(syntax(
                line,
                format!("package `{key}`: `{keyword}` belongs to the root block only"),
            ));
        }
        let (name, edge) = edge(kind, args).ok_or_else(|| {
            syntax(
                line,
                format!(
                    "package `{key}`: `{keyword}` takes a name, a specifier and the resolved key, found {} values",
                    args.len()
                ),
            )
        })?;
        return insert_unique_edge(&mut pkg.dependencies, name, edge, line, || {
            format!("dependency of `{key}`:")
        });
    }
    match keyword {
        "name" => set_once(
            &mut block.name,
            one(key, line, keyword, args)?.to_owned(),
            key,
            line,
            keyword,
        ),
        "version" => set_once(
            &mut block.version,
            one(key, line, keyword, args)?.to_owned(),
            key,
            line,
            keyword,
        ),
        "resolved" => set_once(
            &mut pkg.resolved,
            one(key, line, keyword, args)?.to_owned(),
            key,
            line,
            keyword,
        ),
        "integrity" => {
            let value = one(key, line, keyword, args)?;
            let integrity = parse_integrity(value)
                .map_err(|e| syntax(line, format!("package `{key}`: {e}")))?;
            set_once(&mut pkg.integrity, integrity, key, line, keyword)
        }
        "deprecated" => set_once(
            &mut pkg.deprecated,
            one(key, line, keyword, args)?.to_owned(),
            key,
            line,
            keyword,
        ),
        "os" => set_list(&mut pkg.os, key, line, keyword, args),
        "cpu" => set_list(&mut pkg.cpu, key, line, keyword, args),
        "libc" => set_list(&mut pkg.libc, key, line, keyword, args),
        "bin" => match args {
            [name, path] => insert_unique(&mut pkg.bin, name, path.to_string(), line, || {
                format!("bin of `{key}`:")
            }),
            _ => Err(syntax(
                line,
                format!(
                    "package `{key}`: `bin` takes a command name and a path, found {} values",
                    args.len()
                ),
            )),
        },
        "has-install-script" => set_flag(&mut pkg.has_install_script, key, line, keyword, args),
        "optional" => set_flag(&mut pkg.optional, key, line, keyword, args),
        "dev" => set_flag(&mut pkg.dev, key, line, keyword, args),
        other => Err(syntax(
            line,
            format!("package `{key}`: unknown field `{other}`"),
        )),
    }
}
