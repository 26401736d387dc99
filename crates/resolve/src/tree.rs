//! The tree builder: npm arborist's `buildIdealTree` placement, shared by the resolver (choices
//! come from the registry) and the layout planner (choices come from the lock).
//!
//! Nodes are processed breadth-first by install depth, then by install path in npm's collation;
//! each node's missing or invalid edges are handled in name order. A dependency is placed by
//! walking up from the dependent towards the root and taking the highest `node_modules` where it
//! can go before the first conflict (arborist's `PlaceDep` / `CanPlaceDep`): an existing
//! satisfying copy is kept (dedupe), an older copy whose dependents all accept the new version is
//! replaced, and anything else nests. Peers are placed beside their dependent, at or above it.

pub(crate) mod package;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use std::sync::Arc;

use rustc_hash::FxHashMap;

use dx_formats::lockfile::{
    EdgeKind, Edges, Importer, LockedEdge, LockedPackage, Lockfile, Workspace,
};

use crate::collate::collation_key;
use crate::resolver::{ResolveError, ResolveWarning};
use crate::spec::DependencySpec;
use package::{Chunked, Dep, Packages, PkgIdx, PkgInfo};

/// Index of a node in the tree; the root project is node 0.
pub(crate) type NodeIdx = usize;
pub(crate) const ROOT: NodeIdx = 0;
/// Deeper than this is a dependency loop, not a real tree.
const MAX_DEPTH: u32 = 200;

/// A package at an install location.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The name it is installed under (the alias for `npm:` aliases).
    pub name: String,
    pub pkg: PkgIdx,
    pub parent: Option<NodeIdx>,
    /// By name (never iterated: order comes from `sort_key`).
    pub children: FxHashMap<String, NodeIdx>,
    pub depth: u32,
    /// `node_modules/a/node_modules/b`; empty for the root.
    pub location: String,
    /// [`collation_key`] of `location`: npm's path order as plain bytes (shared with the
    /// queue).
    pub sort_key: Arc<[u8]>,
    pub alive: bool,
}

/// What the builder asks of its source of versions.
pub(crate) enum Choice {
    Known(PkgIdx),
    New(Box<PkgInfo>),
    /// Nothing to install for this edge (with the reason, when worth a warning).
    Skip(Option<ResolveWarning>),
}

/// Where versions come from: the registry (resolver) or a lock (planner).
pub(crate) trait Chooser {
    /// A package for `dep` of package `from`; `advisory` is the requester's own edge on the same
    /// name when choosing a peer, whose range should be honoured first.
    fn choose(
        &mut self,
        pkgs: &Packages,
        from: PkgIdx,
        dep: &Dep,
        advisory: Option<&Dep>,
    ) -> Result<Choice, ResolveError>;
    /// The version a dist-tag resolved to, when known.
    fn tag_target(&self, name: &str, tag: &str) -> Option<String>;
    /// The package key a lock recorded for `dep` of `from`, when the lock's choice stands
    /// (same specifier, not being updated): the edge is valid only when it resolves to it.
    fn locked_target<'p>(&'p self, pkgs: &Packages, from: PkgIdx, dep: &Dep) -> Option<&'p str> {
        let _ = (pkgs, from, dep);
        None
    }
    /// Names about to be asked for.
    fn prefetch(&self, names: &[&str]) {
        let _ = names;
    }
    /// Whether choosing for `dep` of package `from` may need its name's metadata: `false`
    /// when a lock's answer will be taken as it is, so nothing is prefetched for it.
    fn needs_metadata(&self, pkgs: &Packages, from: PkgIdx, dep: &Dep) -> bool {
        let _ = (pkgs, from, dep);
        true
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Ok,
    Keep,
    Replace,
    Conflict,
}

/// The built tree.
#[derive(Debug)]
pub(crate) struct Tree {
    pub pkgs: Packages,
    pub nodes: Chunked<Node>,
    /// Edges resolved to an ancestor instead of a copy (dependency loops).
    pub forced: FxHashMap<(NodeIdx, String), PkgIdx>,
    /// Workspace members' nodes, by path: each is the root's child under its name (what
    /// `node_modules/<name>` links to) and lives at its own directory (`location` is the
    /// member's path), so what it needs is placed in `<path>/node_modules` or hoisted above.
    pub members: Vec<NodeIdx>,
}

impl Tree {
    /// The node `name` resolves to from `from`, as node's `require` would find it.
    pub fn resolve(&self, from: NodeIdx, name: &str) -> Option<NodeIdx> {
        let mut n = Some(from);
        while let Some(i) = n {
            if let Some(&c) = self.nodes[i].children.get(name) {
                return Some(c);
            }
            n = self.nodes[i].parent;
        }
        None
    }

    /// Live nodes other than the root, shallowest first, then by path in npm's order.
    pub fn ordered_nodes(&self) -> Vec<NodeIdx> {
        let mut v: Vec<NodeIdx> = (1..self.nodes.len())
            .filter(|&i| self.nodes[i].alive)
            .collect();
        self.sort_in_order(&mut v);
        v
    }

    /// Sorts `nodes` shallowest first, then by path in npm's order.
    pub fn sort_in_order(&self, nodes: &mut [NodeIdx]) {
        nodes.sort_unstable_by(|&a, &b| {
            let (na, nb) = (&self.nodes[a], &self.nodes[b]);
            na.depth
                .cmp(&nb.depth)
                .then_with(|| na.sort_key.cmp(&nb.sort_key))
        });
    }

    /// The package an edge of node `n` leads to.
    pub fn edge_target(&self, n: NodeIdx, name: &str) -> Option<PkgIdx> {
        self.resolve(n, name)
            .map(|t| self.nodes[t].pkg)
            .or_else(|| {
                if self.forced.is_empty() {
                    return None;
                }
                self.forced.get(&(n, name.to_string())).copied()
            })
    }

    /// The root or a workspace member: a project whose devDependencies are installed.
    pub fn is_importer(&self, n: NodeIdx) -> bool {
        n == ROOT || self.pkgs.list[self.nodes[n].pkg].workspace.is_some()
    }

    /// Whether node `n` is a workspace member.
    pub fn is_member(&self, n: NodeIdx) -> bool {
        n != ROOT && self.pkgs.list[self.nodes[n].pkg].workspace.is_some()
    }

    fn is_descendant_or_self(&self, mut n: NodeIdx, ancestor: NodeIdx) -> bool {
        loop {
            if n == ancestor {
                return true;
            }
            match self.nodes[n].parent {
                Some(p) => n = p,
                None => return false,
            }
        }
    }
}

/// Builds the tree for one root.
pub(crate) struct TreeBuilder<'c, C: Chooser> {
    tree: Tree,
    chooser: &'c mut C,
    queue: BTreeSet<(u32, Arc<[u8]>, NodeIdx)>,
    /// name → nodes whose package has an edge of that name (may repeat; checks are idempotent).
    dependents: FxHashMap<String, Vec<NodeIdx>>,
    warnings: Vec<ResolveWarning>,
}

impl<'c, C: Chooser> TreeBuilder<'c, C> {
    /// A builder for `root` and its workspace `members` (each with
    /// [`PkgInfo::workspace`] set), whose choices come from `chooser`.
    pub fn new(root: PkgInfo, members: Vec<PkgInfo>, chooser: &'c mut C) -> Self {
        let mut pkgs = Packages::default();
        let root_pkg = pkgs.intern(root);
        let node = Node {
            name: String::new(),
            pkg: root_pkg,
            parent: None,
            children: FxHashMap::default(),
            depth: 0,
            location: String::new(),
            sort_key: Arc::from(&[][..]),
            alive: true,
        };
        let mut builder = TreeBuilder {
            tree: Tree {
                pkgs,
                nodes: {
                    let mut nodes = Chunked::default();
                    nodes.push(node);
                    nodes
                },
                forced: FxHashMap::default(),
                members: Vec::new(),
            },
            chooser,
            queue: BTreeSet::new(),
            dependents: FxHashMap::default(),
            warnings: Vec::new(),
        };
        builder.index_dependents(ROOT);
        // As arborist loads workspaces: each member is linked from the root's node_modules
        // before anything is placed, so nothing else can take its name there.
        for info in members {
            let path = info.workspace.clone().unwrap_or_default();
            let name = info.name.clone();
            let pkg = builder.tree.pkgs.intern(info);
            let idx = builder.tree.nodes.len();
            builder.tree.nodes.push(Node {
                name: name.clone(),
                pkg,
                parent: Some(ROOT),
                children: FxHashMap::default(),
                depth: 0,
                sort_key: collation_key(&path).into(),
                location: path,
                alive: true,
            });
            builder.tree.nodes[ROOT].children.insert(name, idx);
            builder.tree.members.push(idx);
            builder.index_dependents(idx);
        }
        builder
    }

    /// Runs the placement to completion, prunes what nothing reaches, and reports peer problems.
    pub fn build(mut self) -> Result<(Tree, Vec<ResolveWarning>), ResolveError> {
        self.enqueue(ROOT);
        let mut processed_members = HashSet::new();
        loop {
            while let Some(entry) = self.queue.pop_first() {
                let n = entry.2;
                if self.tree.is_member(n) {
                    processed_members.insert(n);
                }
                self.process(n)?;
                if n == ROOT {
                    self.wake_members_after_root();
                }
            }
            // arborist's `#resolveLinks`: members nothing woke are built once the queue is
            // empty (depth 0, by path), then what they brought in.
            let pending: Vec<NodeIdx> = self
                .tree
                .members
                .iter()
                .copied()
                .filter(|m| !processed_members.contains(m))
                .collect();
            if pending.is_empty() {
                break;
            }
            for m in pending {
                self.enqueue(m);
            }
        }
        self.prune_unreachable();
        self.check_peers();
        Ok((self.tree, self.warnings))
    }

    fn enqueue(&mut self, n: NodeIdx) {
        let node = &self.tree.nodes[n];
        self.queue.insert((node.depth, node.sort_key.clone(), n));
    }

    fn index_dependents(&mut self, n: NodeIdx) {
        let pkg = &self.tree.pkgs.list[self.tree.nodes[n].pkg];
        for d in pkg.deps.iter() {
            match self.dependents.get_mut(d.name.as_str()) {
                Some(nodes) => nodes.push(n),
                None => {
                    self.dependents.insert(d.name.clone(), vec![n]);
                }
            }
        }
    }

    fn pkg(&self, n: NodeIdx) -> &PkgInfo {
        &self.tree.pkgs.list[self.tree.nodes[n].pkg]
    }

    /// Whether package `p` is acceptable for `dep`.
    fn satisfies(&self, p: PkgIdx, dep: &Dep) -> bool {
        let tag = match dep.spec.as_ref().map(|s| (s, s.registry_request())) {
            Some((s, Some(DependencySpec::Tag(t)))) => {
                self.chooser.tag_target(s.registry_name(&dep.name), t)
            }
            _ => None,
        };
        package::accepts(&self.tree.pkgs.list[p], dep, tag.as_deref())
    }

    fn dep_of(&self, n: NodeIdx, name: &str) -> Option<&Dep> {
        let pkg = self.pkg(n);
        pkg.deps
            .iter()
            .find(|d| d.name == name)
            .filter(|d| d.kind != EdgeKind::Dev || self.tree.is_importer(n))
    }

    /// Whether the lock (if any) lets `dep` of node `from` resolve to package `p`.
    fn lock_allows(&self, from: NodeIdx, p: PkgIdx, dep: &Dep) -> bool {
        self.chooser
            .locked_target(&self.tree.pkgs, self.tree.nodes[from].pkg, dep)
            .is_none_or(|locked| self.tree.pkgs.list[p].key == locked)
    }

    /// `Some(true)` valid, `Some(false)` invalid, `None` missing. Where a lock says which
    /// package the edge resolved to, only that package is valid (another copy that merely
    /// satisfies the range would drop a version the lock holds: npm's tree keeps it nested).
    fn edge_valid(&self, from: NodeIdx, dep: &Dep) -> Option<bool> {
        if !self.tree.forced.is_empty() && self.tree.forced.contains_key(&(from, dep.name.clone()))
        {
            return Some(true);
        }
        let t = self.tree.resolve(from, &dep.name)?;
        let found = self.tree.nodes[t].pkg;
        if let Some(locked) =
            self.chooser
                .locked_target(&self.tree.pkgs, self.tree.nodes[from].pkg, dep)
            && self.tree.pkgs.list[found].key != locked
        {
            return Some(false);
        }
        Some(self.satisfies(found, dep))
    }

    fn process(&mut self, n: NodeIdx) -> Result<(), ResolveError> {
        if !self.tree.nodes[n].alive || self.pkg(n).link {
            return Ok(());
        }
        let importer = self.tree.is_importer(n);
        // The package's edges are shared (`Arc`): walking them needs no copy while packages
        // are added below.
        let all = self.pkg(n).deps.clone();
        let deps: Vec<&Dep> = all
            .iter()
            .filter(|d| {
                !d.bundled
                    && d.kind != EdgeKind::OptionalPeer
                    && (importer || d.kind != EdgeKind::Dev)
            })
            .filter(|d| self.edge_valid(n, d) != Some(true))
            .collect();
        if deps.is_empty() {
            return Ok(());
        }
        let from_pkg = self.tree.nodes[n].pkg;
        self.prefetch_for(from_pkg, deps.iter().copied());
        for dep in deps {
            if self.edge_valid(n, dep) == Some(true) {
                continue;
            }
            if dep.kind == EdgeKind::Peer && n != ROOT {
                // A peer is the parent's business: resolve it as seen from the parent.
                if let Some(p) = self.tree.nodes[n].parent
                    && let Some(t) = self.tree.resolve(p, &dep.name)
                    && !self.satisfies(self.tree.nodes[t].pkg, dep)
                {
                    continue; // a peer conflict, reported by check_peers
                }
            }
            let Some(pkg) = self.choose(from_pkg, dep, None)? else {
                continue;
            };
            let peer_set = self.load_peer_set(n, &dep.name, pkg)?;
            self.place_dep(n, dep, pkg, &peer_set);
        }
        Ok(())
    }

    fn choose(
        &mut self,
        from: PkgIdx,
        dep: &Dep,
        advisory: Option<&Dep>,
    ) -> Result<Option<PkgIdx>, ResolveError> {
        // Before any chooser looks at it: `.bin`, `node_modules` or `../x` as a dependency's
        // name would place a package where node_modules keeps something else.
        let registry_name = dep.spec.as_ref().map(|s| s.registry_name(&dep.name));
        for name in std::iter::once(dep.name.as_str()).chain(registry_name) {
            if let Err(reason) = crate::name::validate_dependency_name(name) {
                let dependent = crate::resolver::dependent_name(&self.tree.pkgs, from);
                if dep.kind.is_optional() {
                    self.warnings.push(ResolveWarning::OptionalSkipped {
                        dependent,
                        name: dep.name.clone(),
                        specifier: dep.effective.clone(),
                        reason: format!("invalid package name {name:?}: {reason}"),
                    });
                    return Ok(None);
                }
                return Err(ResolveError::InvalidName {
                    dependent,
                    name: name.to_string(),
                    reason,
                });
            }
        }
        match self.chooser.choose(&self.tree.pkgs, from, dep, advisory)? {
            Choice::Known(i) => Ok(Some(i)),
            Choice::New(info) => Ok(Some(self.tree.pkgs.intern(*info))),
            Choice::Skip(w) => {
                self.warnings.extend(w);
                Ok(None)
            }
        }
    }

    /// The peers that must travel with `pkg`, chosen once: a visible satisfying copy is reused,
    /// else the requester's own range for that name is honoured, else the peer range is used.
    fn load_peer_set(
        &mut self,
        requester: NodeIdx,
        name: &str,
        pkg: PkgIdx,
    ) -> Result<HashMap<String, PkgIdx>, ResolveError> {
        let mut set = HashMap::new();
        set.insert(name.to_string(), pkg);
        let mut stack = vec![pkg];
        while let Some(member) = stack.pop() {
            let deps = self.tree.pkgs.list[member].deps.clone();
            for pd in deps.iter().filter(|d| d.kind == EdgeKind::Peer) {
                if set.contains_key(&pd.name) {
                    continue;
                }
                let visible = self
                    .tree
                    .resolve(requester, &pd.name)
                    .map(|t| self.tree.nodes[t].pkg)
                    .filter(|&p| self.satisfies(p, pd));
                let chosen = match visible {
                    Some(p) => Some(p),
                    None => {
                        let advisory = self
                            .dep_of(requester, &pd.name)
                            .filter(|d| !d.kind.is_peer() || requester == ROOT)
                            .cloned();
                        self.choose(member, pd, advisory.as_ref())?
                    }
                };
                if let Some(p) = chosen {
                    set.insert(pd.name.clone(), p);
                    stack.push(p);
                }
            }
        }
        Ok(set)
    }

    fn place_dep(
        &mut self,
        from: NodeIdx,
        dep: &Dep,
        pkg: PkgIdx,
        peer_set: &HashMap<String, PkgIdx>,
    ) -> Option<NodeIdx> {
        if self.edge_valid(from, dep) == Some(true) {
            return self.tree.resolve(from, &dep.name);
        }
        let start = if dep.kind.is_peer() && from != ROOT {
            self.tree.nodes[from].parent.unwrap_or(ROOT)
        } else {
            from
        };
        let mut chosen: Option<(NodeIdx, Place)> = None;
        let mut chosen_self: Option<(NodeIdx, Place)> = None;
        let mut target = Some(start);
        while let Some(t) = target {
            target = self.tree.nodes[t].parent;
            if t != ROOT && self.dep_of(t, &dep.name).is_some_and(|e| e.kind.is_peer()) {
                continue;
            }
            let own = self.check_own(pkg, dep, t == from, from, t, dep.kind.is_peer());
            if own != Place::Conflict {
                chosen_self = Some((t, own));
            }
            let total = if own == Place::Conflict {
                Place::Conflict
            } else if self.peers_fit(pkg, from, t, peer_set, &mut vec![pkg]) {
                own
            } else {
                Place::Conflict
            };
            if total == Place::Conflict {
                break;
            }
            chosen = Some((t, total));
        }
        let (target, place) = chosen.or(chosen_self)?;
        let placed = match place {
            Place::Keep | Place::Conflict => {
                return self.tree.nodes[target].children.get(&dep.name).copied();
            }
            Place::Replace => {
                let existing = self.tree.nodes[target].children.get(&dep.name).copied()?;
                self.tree.nodes[existing].pkg = pkg;
                self.index_dependents(existing);
                self.enqueue(existing);
                self.wake_members(existing);
                existing
            }
            Place::Ok => {
                // A dependency loop (a@1 -> b@1 -> a@2 -> b@2 -> a@1): point at the ancestor.
                let mut p = Some(target);
                while let Some(i) = p {
                    if i != ROOT && self.tree.nodes[i].pkg == pkg {
                        self.tree.forced.insert((from, dep.name.clone()), pkg);
                        return Some(i);
                    }
                    p = self.tree.nodes[i].parent;
                }
                if self.tree.nodes[target].depth >= MAX_DEPTH {
                    self.tree.forced.insert((from, dep.name.clone()), pkg);
                    return None;
                }
                let placed = self.add_node(target, &dep.name, pkg);
                self.wake_members(placed);
                placed
            }
        };
        // Place the unmet peers of what was just placed, beside it.
        let deps = self.tree.pkgs.list[pkg].deps.clone();
        for pd in deps.iter().filter(|d| d.kind == EdgeKind::Peer) {
            if self.edge_valid(placed, pd) == Some(true) {
                continue;
            }
            let Some(&peer) = peer_set.get(&pd.name) else {
                continue;
            };
            if !self.satisfies(peer, pd) {
                continue;
            }
            self.place_dep(placed, pd, peer, peer_set);
        }
        Some(placed)
    }

    /// arborist queues a dependent whose edge the node just placed leaves invalid (a member
    /// edge that now resolves to a version it does not accept): members are not in the queue
    /// until then (or until the end, `#resolveLinks`), so this decides when they are built.
    fn wake_members(&mut self, placed: NodeIdx) {
        if self.tree.members.is_empty() {
            return;
        }
        let name = self.tree.nodes[placed].name.clone();
        let pkg = self.tree.nodes[placed].pkg;
        let candidates: Vec<NodeIdx> = self
            .dependents
            .get(&name)
            .map(|d| {
                d.iter()
                    .copied()
                    .filter(|&d| self.tree.is_member(d))
                    .collect()
            })
            .unwrap_or_default();
        for m in candidates {
            if self.tree.resolve(m, &name) != Some(placed) {
                continue;
            }
            if self
                .dep_of(m, &name)
                .is_some_and(|e| !self.satisfies(pkg, e))
            {
                self.enqueue(m);
            }
        }
    }

    /// After the root's own step: members with an edge that a root-level node (another
    /// member's link or a root dependency) leaves invalid, as arborist queues them while it
    /// places the root's edges.
    fn wake_members_after_root(&mut self) {
        for m in self.tree.members.clone() {
            let invalid = self.pkg(m).deps.iter().any(|d| {
                self.tree.nodes[ROOT]
                    .children
                    .get(&d.name)
                    .is_some_and(|&t| {
                        t != m
                            && self.tree.resolve(m, &d.name) == Some(t)
                            && self.dep_of(m, &d.name).is_some()
                            && !self.satisfies(self.tree.nodes[t].pkg, d)
                    })
            });
            if invalid {
                self.enqueue(m);
            }
        }
    }

    fn add_node(&mut self, parent: NodeIdx, name: &str, pkg: PkgIdx) -> NodeIdx {
        let parent_node = &self.tree.nodes[parent];
        let location = if parent == ROOT {
            format!("node_modules/{name}")
        } else {
            format!("{}/node_modules/{name}", parent_node.location)
        };
        let node = Node {
            name: name.to_string(),
            pkg,
            parent: Some(parent),
            children: FxHashMap::default(),
            depth: parent_node.depth + 1,
            sort_key: collation_key(&location).into(),
            location,
            alive: true,
        };
        let idx = self.tree.nodes.len();
        self.tree.nodes.push(node);
        self.tree.nodes[parent]
            .children
            .insert(name.to_string(), idx);
        self.index_dependents(idx);
        self.enqueue(idx);
        let deps = self.tree.pkgs.list[pkg].deps.clone();
        self.prefetch_for(
            pkg,
            deps.iter()
                .filter(|d| !d.bundled && d.kind != EdgeKind::OptionalPeer),
        );
        idx
    }

    /// Asks the chooser to prefetch the registry names of `deps` (edges of package `from`)
    /// whose choice may need metadata.
    fn prefetch_for<'d>(&self, from: PkgIdx, deps: impl Iterator<Item = &'d Dep>) {
        let names: Vec<&str> = deps
            .filter(|d| self.chooser.needs_metadata(&self.tree.pkgs, from, d))
            .filter_map(|d| {
                d.spec
                    .as_ref()
                    .and_then(|s| s.registry_request().map(|_| s.registry_name(&d.name)))
            })
            .collect();
        if !names.is_empty() {
            self.chooser.prefetch(&names);
        }
    }

    /// arborist's `CanPlaceDep` for the dep itself (not its peers). `own_edge`: `dep` is the
    /// target's own edge; `entry_from`: the node whose edge started this placement.
    fn check_own(
        &self,
        pkg: PkgIdx,
        dep: &Dep,
        own_edge: bool,
        entry_from: NodeIdx,
        target: NodeIdx,
        prefer_dedupe: bool,
    ) -> Place {
        // What a package bundles sits in its own node_modules (from its tarball): nothing else
        // of that name can go there, as arborist sees the bundled copy.
        if target != ROOT
            && self
                .pkg(target)
                .deps
                .iter()
                .any(|d| d.bundled && d.name == dep.name)
        {
            return Place::Conflict;
        }
        let current = self.tree.nodes[target].children.get(&dep.name).copied();
        let target_edge = self.dep_of(target, &dep.name);
        if let Some(te) = target_edge {
            if te.kind.is_peer() && target != ROOT {
                return Place::Conflict;
            }
            if current.is_none() && !own_edge && !self.satisfies(pkg, te) {
                return Place::Conflict;
            }
        }
        match current {
            Some(cur) => {
                let cur_pkg = self.tree.nodes[cur].pkg;
                if cur_pkg == pkg && self.satisfies(cur_pkg, dep) {
                    return Place::Keep;
                }
                // A member's link is never replaced: what it does not satisfy nests below.
                if self.tree.is_member(cur) {
                    return if self.satisfies(cur_pkg, dep) {
                        Place::Keep
                    } else {
                        Place::Conflict
                    };
                }
                let try_replace = match (
                    &self.tree.pkgs.list[pkg].semver,
                    &self.tree.pkgs.list[cur_pkg].semver,
                ) {
                    (Some(new), Some(old)) => new >= old,
                    _ => false,
                };
                if try_replace && self.can_replace(pkg, cur) {
                    return Place::Replace;
                }
                if self.satisfies(cur_pkg, dep) && self.lock_allows(entry_from, cur_pkg, dep) {
                    return Place::Keep;
                }
                if prefer_dedupe && !try_replace && self.can_replace(pkg, cur) {
                    return Place::Replace;
                }
                if !dep.kind.is_peer() && own_edge {
                    return Place::Replace;
                }
                Place::Conflict
            }
            None => {
                if target != entry_from
                    && let Some(above) = self.tree.resolve(target, &dep.name)
                {
                    let above_pkg = self.tree.nodes[above].pkg;
                    for &d in self
                        .dependents
                        .get(&dep.name)
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                    {
                        if !self.tree.nodes[d].alive || !self.tree.is_descendant_or_self(d, target)
                        {
                            continue;
                        }
                        if self.tree.resolve(d, &dep.name) != Some(above) {
                            continue;
                        }
                        let Some(e) = self.dep_of(d, &dep.name) else {
                            continue;
                        };
                        if self.satisfies(above_pkg, e) && !self.satisfies(pkg, e) {
                            return Place::Conflict;
                        }
                    }
                }
                Place::Ok
            }
        }
    }

    /// Whether every node that now resolves to `cur` would accept `pkg` instead.
    fn can_replace(&self, pkg: PkgIdx, cur: NodeIdx) -> bool {
        let name = &self.tree.nodes[cur].name;
        for &d in self.dependents.get(name).map(Vec::as_slice).unwrap_or(&[]) {
            if !self.tree.nodes[d].alive || self.tree.resolve(d, name) != Some(cur) {
                continue;
            }
            if let Some(e) = self.dep_of(d, name)
                && !self.satisfies(pkg, e)
            {
                return false;
            }
        }
        true
    }

    /// arborist's `deepestNestingTarget`: the first of `start` and its ancestors where `name`
    /// may be placed, skipping packages that have `name` as a peer (it must go above them).
    fn deepest_nesting_target(&self, start: NodeIdx, name: &str) -> NodeIdx {
        let mut t = start;
        while t != ROOT && self.dep_of(t, name).is_some_and(|e| e.kind.is_peer()) {
            t = self.tree.nodes[t].parent.unwrap_or(ROOT);
        }
        t
    }

    /// arborist's `canPlacePeers`: the peers of `pkg` must be placeable at `target` (or kept).
    fn peers_fit(
        &self,
        pkg: PkgIdx,
        entry_from: NodeIdx,
        target: NodeIdx,
        peer_set: &HashMap<String, PkgIdx>,
        path: &mut Vec<PkgIdx>,
    ) -> bool {
        for pd in self.tree.pkgs.list[pkg]
            .deps
            .iter()
            .filter(|d| d.kind == EdgeKind::Peer)
        {
            let Some(&peer) = peer_set.get(&pd.name) else {
                continue;
            };
            if path.contains(&peer) {
                continue;
            }
            // The peer may have to go above `target` when `target` itself peers on it.
            let peer_target = self.deepest_nesting_target(target, &pd.name);
            if self.check_own(peer, pd, false, entry_from, peer_target, true) == Place::Conflict {
                return false;
            }
            path.push(peer);
            let ok = self.peers_fit(peer, entry_from, peer_target, peer_set, path);
            path.pop();
            if !ok {
                return false;
            }
        }
        true
    }

    /// Drops nodes that no edge reaches any more (left behind by replacements).
    fn prune_unreachable(&mut self) {
        let mut reached = vec![false; self.tree.nodes.len()];
        reached[ROOT] = true;
        let mut stack = vec![ROOT];
        for &m in &self.tree.members {
            reached[m] = true;
            stack.push(m);
        }
        while let Some(n) = stack.pop() {
            let names: Vec<String> = self.pkg(n).deps.iter().map(|d| d.name.clone()).collect();
            for name in names {
                if let Some(t) = self.tree.resolve(n, &name)
                    && !reached[t]
                {
                    reached[t] = true;
                    stack.push(t);
                }
            }
        }
        for (i, r) in reached.iter().enumerate() {
            if !r && self.tree.nodes[i].alive {
                self.tree.nodes[i].alive = false;
                if let Some(p) = self.tree.nodes[i].parent {
                    let name = self.tree.nodes[i].name.clone();
                    if self.tree.nodes[p].children.get(&name) == Some(&i) {
                        self.tree.nodes[p].children.remove(&name);
                    }
                }
            }
        }
    }

    /// Peer edges left unmet or unsatisfied become warnings naming both sides.
    fn check_peers(&mut self) {
        let mut seen = HashSet::new();
        let mut found_problems = Vec::new();
        // Only nodes with peer edges, in the tree's order (what the warnings' order follows).
        let mut with_peers: Vec<NodeIdx> = (1..self.tree.nodes.len())
            .filter(|&i| {
                self.tree.nodes[i].alive && self.pkg(i).deps.iter().any(|d| d.kind.is_peer())
            })
            .collect();
        self.tree.sort_in_order(&mut with_peers);
        for n in with_peers {
            let pkg = self.pkg(n);
            for pd in pkg.deps.iter().filter(|d| d.kind.is_peer()) {
                let found = self.tree.resolve(n, &pd.name);
                let problem = match found {
                    Some(t) => !self.satisfies(self.tree.nodes[t].pkg, pd),
                    None => pd.kind == EdgeKind::Peer,
                };
                if !problem || !seen.insert((pkg.key.clone(), pd.name.clone())) {
                    continue;
                }
                let found_key = found.map(|t| self.pkg(t).key.clone());
                let required_by = found
                    .map(|t| {
                        let mut by: Vec<String> = self
                            .dependents
                            .get(&pd.name)
                            .map(Vec::as_slice)
                            .unwrap_or(&[])
                            .iter()
                            .filter(|&&d| {
                                d != n
                                    && self.tree.nodes[d].alive
                                    && self.tree.resolve(d, &pd.name) == Some(t)
                            })
                            .filter(|&&d| {
                                self.dep_of(d, &pd.name)
                                    .is_some_and(|e| self.satisfies(self.tree.nodes[t].pkg, e))
                            })
                            .map(|&d| {
                                if d == ROOT {
                                    "the root project".to_string()
                                } else if self.tree.is_member(d) {
                                    format!("workspace {}", self.pkg(d).name)
                                } else {
                                    self.pkg(d).key.clone()
                                }
                            })
                            .collect();
                        by.sort();
                        by.dedup();
                        by
                    })
                    .unwrap_or_default();
                found_problems.push(ResolveWarning::PeerConflict {
                    dependent: pkg.key.clone(),
                    peer: pd.name.clone(),
                    wanted: pd.effective.clone(),
                    found: found_key,
                    required_by,
                });
            }
        }
        self.warnings.extend(found_problems);
    }
}

impl Tree {
    /// The graph view of the tree: each package once, its edges as seen from its shallowest copy.
    /// The tree is consumed: what the lock keeps (names, versions, URLs, specifiers) is moved
    /// out rather than copied, and the rest is freed on another thread.
    pub fn into_lockfile(mut self, overrides: BTreeMap<String, String>) -> Lockfile {
        let order = self.ordered_nodes();
        let not_dev = self.reach(|n, kind| !self.is_importer(n) || kind != EdgeKind::Dev);
        let not_optional = self
            .reach(|n, kind| !kind.is_optional() && (self.is_importer(n) || kind != EdgeKind::Dev));
        // Per package (not per copy): reached without dev edges, without optional edges,
        // and whether its block is written yet (from its shallowest copy, the first in order).
        let count = self.pkgs.list.len();
        let (mut prod_reachable, mut required, mut written) =
            (vec![false; count], vec![false; count], vec![false; count]);
        // (key, package) once the keys are moved in below; sorted in place.
        let mut packages: Vec<(PkgIdx, String, LockedPackage)> = Vec::with_capacity(count);
        let mut workspaces = BTreeMap::new();
        for &n in &order {
            let p = self.nodes[n].pkg;
            if self.pkgs.list[p].workspace.is_some() {
                let edges = self.take_edges(n);
                let info = &mut self.pkgs.list[p];
                workspaces.insert(
                    info.workspace.clone().unwrap_or_default(),
                    Workspace {
                        name: info.name.clone(),
                        version: info.version.clone(),
                        importer: Importer {
                            edges,
                            overrides: BTreeMap::new(),
                        },
                        bin: std::mem::take(&mut info.bin),
                    },
                );
                continue;
            }
            prod_reachable[p] |= not_dev[n];
            required[p] |= not_optional[n];
            if std::mem::replace(&mut written[p], true) {
                continue;
            }
            // Later copies of this package are skipped above, so its fields can be moved.
            let dependencies = self.take_edges(n);
            let info = &mut self.pkgs.list[p];
            packages.push((
                p,
                String::new(),
                LockedPackage {
                    name: std::mem::take(&mut info.name),
                    version: std::mem::take(&mut info.version),
                    resolved: info.resolved.take(),
                    integrity: info.integrity.take(),
                    dependencies,
                    os: std::mem::take(&mut info.os),
                    cpu: std::mem::take(&mut info.cpu),
                    libc: std::mem::take(&mut info.libc),
                    bin: std::mem::take(&mut info.bin),
                    has_install_script: info.has_install_script,
                    deprecated: info.deprecated.take(),
                    // Set below, once every copy has been seen.
                    optional: false,
                    dev: false,
                },
            ));
        }
        // Before the keys its targets are named by are moved into the package map.
        let root = Importer {
            edges: self.take_edges(ROOT),
            overrides,
        };
        for (p, key, locked) in &mut packages {
            locked.dev = !prod_reachable[*p];
            locked.optional = !required[*p];
            *key = std::mem::take(&mut self.pkgs.list[*p].key);
        }
        packages.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        let packages: BTreeMap<String, LockedPackage> = packages
            .into_iter()
            .map(|(_, key, locked)| (key, locked))
            .collect();
        // Tens of thousands of small allocations the caller does not need to wait for.
        crate::resolver::drop_in_background(self);
        Lockfile {
            root,
            workspaces,
            packages,
        }
    }

    /// Node `n`'s edges as the lock records them, each with the key of the package it resolves
    /// to (none for a bundled one). Names and specifiers are moved out of the package's edges
    /// when nothing else holds them: call it once per package, after every lookup through
    /// them (package keys, which targets are named by, are left in place).
    fn take_edges(&mut self, n: NodeIdx) -> Edges {
        let p = self.nodes[n].pkg;
        let targets: Vec<Option<String>> = self.pkgs.list[p]
            .deps
            .iter()
            .map(|d| {
                if d.bundled {
                    None
                } else {
                    self.edge_target(n, &d.name)
                        .map(|t| self.pkgs.list[t].key.clone())
                }
            })
            .collect();
        let edge = |name: String, specifier: String, kind: EdgeKind, target| {
            (
                name,
                LockedEdge {
                    specifier,
                    kind,
                    target,
                },
            )
        };
        match Arc::get_mut(&mut self.pkgs.list[p].deps) {
            Some(deps) => deps
                .iter_mut()
                .zip(targets)
                .map(|(d, t)| {
                    edge(
                        std::mem::take(&mut d.name),
                        std::mem::take(&mut d.raw),
                        d.kind,
                        t,
                    )
                })
                .collect(),
            None => self.pkgs.list[p]
                .deps
                .iter()
                .zip(targets)
                .map(|(d, t)| edge(d.name.clone(), d.raw.clone(), d.kind, t))
                .collect(),
        }
    }

    /// Nodes reachable from the root through edges that `follow(from, kind)` accepts.
    pub fn reach(&self, follow: impl Fn(NodeIdx, EdgeKind) -> bool) -> Vec<bool> {
        let mut reached = vec![false; self.nodes.len()];
        reached[ROOT] = true;
        let mut stack = vec![ROOT];
        for &m in &self.members {
            reached[m] = true;
            stack.push(m);
        }
        while let Some(n) = stack.pop() {
            for d in self.pkgs.list[self.nodes[n].pkg].deps.iter() {
                if d.bundled || !follow(n, d.kind) {
                    continue;
                }
                if let Some(t) = self.resolve(n, &d.name)
                    && self.nodes[t].alive
                    && !reached[t]
                {
                    reached[t] = true;
                    stack.push(t);
                }
            }
        }
        reached
    }
}
