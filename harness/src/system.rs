//! A system under test is data: a TOML *system file* says how to start one
//! node (a command template), which levels it has, how to tell that a node
//! is ready and whether it leads, which client protocol it speaks and which
//! workloads fit. The three bundled systems are such files
//! (`systems/defs/*.toml`, built into the binary); `faultline test
//! --system-file FILE` runs a system described only by a file. The keys are
//! documented in `docs/adding-a-system.md`.
//!
//! Nothing here knows a system by name: the supervisor renders the command
//! of a node from its [`SystemDef`], the run driver probes readiness and
//! leadership through it, and the workloads read their per-level options
//! from it.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The bundled system files, in the order `faultline systems` lists them.
const BUNDLED: [(&str, &str); 9] = [
    ("kv.toml", include_str!("../../systems/defs/kv.toml")),
    ("queue.toml", include_str!("../../systems/defs/queue.toml")),
    ("lock.toml", include_str!("../../systems/defs/lock.toml")),
    ("txn.toml", include_str!("../../systems/defs/txn.toml")),
    ("etcd.toml", include_str!("../../systems/defs/etcd.toml")),
    ("redis.toml", include_str!("../../systems/defs/redis.toml")),
    (
        "zookeeper.toml",
        include_str!("../../systems/defs/zookeeper.toml"),
    ),
    (
        "postgres.toml",
        include_str!("../../systems/defs/postgres.toml"),
    ),
    (
        "postgres-replica.toml",
        include_str!("../../systems/defs/postgres-replica.toml"),
    ),
];

/// Client protocols the harness speaks.
pub const PROTOCOLS: [&str; 5] = ["faultline-http", "etcd", "resp", "zookeeper", "postgres"];

/// How a system's nodes are networked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// Every node on loopback on ports of its own; peers dial a proxy per
    /// link (`{peers}` gives the proxies' addresses). No root needed.
    #[default]
    Proxy,
    /// One network namespace per node on a private bridge, every node on
    /// the same ports; partitions are packet-filter rules. Needs root.
    Netns,
}

/// Placeholders of a node command, its environment, level arguments and
/// the ready command (`{port:NAME}` and `{addr:NAME}` too, for each port in
/// `ports`).
pub const NODE_PLACEHOLDERS: [&str; 13] = [
    "bin", "id", "index", "host", "port", "addr", "peers", "cluster", "nodes", "data_dir",
    "node_dir", "level", "fsync",
];

/// Placeholders of the `peer` template (one element of `{peers}` and
/// `{cluster}`), about the peer.
pub const PEER_PLACEHOLDERS: [&str; 5] = ["id", "index", "host", "port", "addr"];

/// One system file, validated.
#[derive(Debug, Clone)]
pub struct SystemDef {
    pub name: String,
    pub description: String,
    /// Where the definition came from (a path, or `bundled:kv.toml`).
    pub source: String,
    /// The directory relative binaries are resolved against (system files
    /// only).
    pub dir: Option<PathBuf>,
    pub binary: Option<String>,
    /// The faultline subcommand that runs the same node code when the
    /// binary was not built (bundled systems only).
    pub builtin: Option<String>,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub peer: String,
    pub peer_separator: String,
    /// Extra named ports per node, beyond the main one (`{port}`).
    pub ports: Vec<String>,
    pub protocol: String,
    pub workloads: Vec<String>,
    /// The node count the system runs with, when it fixes one (`nodes =
    /// 1`: a single server); `--nodes` defaults to it and must agree.
    pub nodes: Option<usize>,
    pub network: Network,
    /// The main port in network namespaces (extra ports follow it, in the
    /// order of `ports`).
    pub port: u16,
    pub default_level: String,
    /// Workload options for every level (a level's own override them).
    pub options: toml::Table,
    pub ready: Ready,
    pub leader: Option<LeaderProbe>,
    /// Files a node writes outside its stdout/stderr (placeholders as in
    /// `command`); copied under `nodes/<id>/logs/` after the run.
    pub logs: Vec<String>,
    /// Why clock faults cannot apply to this system (`clock_unsupported`):
    /// the default nemesis leaves them out saying so, `--nemesis clock` is
    /// refused with it.
    pub clock_unsupported: Option<String>,
    /// In file order.
    pub levels: Vec<Level>,
}

#[derive(Debug, Clone)]
pub struct Level {
    pub name: String,
    pub description: String,
    /// Appended to the command at this level.
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// No node leads at this level: the harness does not wait for an
    /// agreed leader after healing.
    pub leaderless: bool,
    pub options: toml::Table,
}

/// How the harness tells that a node serves requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ready {
    /// Ready when `GET` of this path on the node's main address answers 200.
    pub http_get: Option<String>,
    /// Ready when this command (placeholders as in `command`) exits 0.
    pub command: Option<Vec<String>>,
}

/// How the harness asks a node whether it leads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderProbe {
    /// The path answered with a JSON document.
    pub http_get: Option<String>,
    /// Or a path to `POST {}` to (etcd's gateway: `/v3/maintenance/status`).
    pub http_post: Option<String>,
    /// Or a command (placeholders as in `command`): the node leads when it
    /// exits 0 (Redis: `redis-cli role` names `master`).
    pub command: Option<Vec<String>>,
    /// JSON pointer (RFC 6901) to the node's role in that document.
    pub role: Option<String>,
    /// The roles that mean "this node leads".
    #[serde(default)]
    pub roles: Vec<String>,
    /// Or two JSON pointers: the node leads when both give the same value
    /// (etcd: `["/header/member_id", "/leader"]`).
    pub same: Option<Vec<String>>,
    /// JSON pointer to the id of the leader the node knows, if it says.
    pub names: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDef {
    name: String,
    #[serde(default)]
    description: String,
    binary: Option<String>,
    builtin: Option<String>,
    command: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    peer: Option<String>,
    peer_separator: Option<String>,
    #[serde(default)]
    ports: Vec<String>,
    protocol: String,
    workloads: Vec<String>,
    nodes: Option<usize>,
    network: Option<String>,
    port: Option<u16>,
    default_level: Option<String>,
    #[serde(default)]
    options: toml::Table,
    #[serde(default)]
    ready: Ready,
    leader: Option<LeaderProbe>,
    #[serde(default)]
    logs: Vec<String>,
    clock_unsupported: Option<String>,
    #[serde(default)]
    levels: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    #[serde(default)]
    description: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    leaderless: bool,
    #[serde(default)]
    options: toml::Table,
}

/// The 1-based line of the first line of `text` that sets `key` (`key =`)
/// or opens table `key` (`[key]`), for error messages.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let header = format!("[{key}]");
    if let Some(i) = text
        .lines()
        .position(|l| l.trim_start().starts_with(&header))
    {
        return Some(i + 1);
    }
    // `table.key`: the key's line inside `[table]`, else the table's line
    // (an inline table, or a key the file leaves out).
    if let Some((table, field)) = key.split_once('.') {
        let start = line_of(text, table)?;
        let header = format!("[{table}]");
        let in_section = text
            .lines()
            .nth(start - 1)?
            .trim_start()
            .starts_with(&header);
        if in_section {
            let found = text
                .lines()
                .enumerate()
                .skip(start)
                .take_while(|(_, l)| !l.trim_start().starts_with('['))
                .find(|(_, l)| is_key_line(l, field));
            if let Some((i, _)) = found {
                return Some(i + 1);
            }
        }
        return Some(start);
    }
    text.lines()
        .position(|l| is_key_line(l, key))
        .map(|i| i + 1)
}

/// Whether `line` sets `key` (`key = ...`).
fn is_key_line(line: &str, key: &str) -> bool {
    line.trim_start()
        .strip_prefix(key)
        .is_some_and(|r| r.trim_start().starts_with('='))
}

/// The placeholders (`{name}`) in `s`; an error for an unclosed `{`.
/// `{{` and `}}` are literal braces.
fn placeholders(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
            }
            '{' => {
                let rest = &s[i + 1..];
                let end = rest
                    .find('}')
                    .ok_or_else(|| format!("unclosed `{{` in {s:?}"))?;
                out.push(rest[..end].to_string());
                for _ in 0..=end {
                    chars.next();
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Replaces the placeholders of `s` by `lookup` (every one must resolve;
/// validated at load).
pub fn render(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(c as char);
            rest = &tail[2..];
            continue;
        }
        if c == b'}' {
            out.push('}');
            rest = &tail[1..];
            continue;
        }
        match tail.find('}') {
            Some(end) => {
                let name = &tail[1..end];
                out.push_str(&lookup(name).unwrap_or_default());
                rest = &tail[end + 1..];
            }
            None => {
                out.push_str(tail);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

impl SystemDef {
    /// Parses and validates a system file's text; `source` names it in
    /// errors.
    pub fn parse(text: &str, source: &str, dir: Option<PathBuf>) -> Result<SystemDef> {
        let raw: RawDef = toml::from_str(text).map_err(|e| {
            let (line, col) = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    (
                        before.matches('\n').count() + 1,
                        before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1,
                    )
                })
                .unwrap_or((0, 0));
            anyhow!(
                "{source}:{line}:{col}: {}",
                e.message().trim_end().replace('\n', " ")
            )
        })?;
        let at = |key: &str| match line_of(text, key) {
            Some(l) => format!("{source}:{l}: {key}"),
            None => format!("{source}: {key}"),
        };
        let valid_name = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        };
        if !valid_name(&raw.name) {
            bail!(
                "{}: expected letters, digits, `-`, `_` or `.`, got {:?}",
                at("name"),
                raw.name
            );
        }
        if raw.command.is_empty() {
            bail!("{}: must not be empty", at("command"));
        }
        if raw.binary.is_none() && raw.command.iter().any(|a| a.contains("{bin}")) {
            bail!(
                "{}: uses {{bin}} but the file sets no `binary`",
                at("command")
            );
        }
        let ports: Vec<String> = raw.ports.clone();
        for p in &ports {
            if !valid_name(p) || p == "main" {
                bail!("{}: bad port name {p:?}", at("ports"));
            }
        }
        let node_ok = |name: &str| {
            NODE_PLACEHOLDERS.contains(&name)
                || name
                    .strip_prefix("port:")
                    .or_else(|| name.strip_prefix("addr:"))
                    .is_some_and(|p| ports.iter().any(|q| q == p))
        };
        let check = |field: &str, values: &[&String], ok: &dyn Fn(&str) -> bool, known: String| {
            for v in values {
                let names = placeholders(v).map_err(|e| anyhow!("{}: {e}", at(field)))?;
                for n in names {
                    if !ok(&n) {
                        bail!(
                            "{}: unknown placeholder {{{n}}} in {v:?} (known: {known})",
                            at(field)
                        );
                    }
                }
            }
            Ok(())
        };
        let mut known_node: Vec<String> = NODE_PLACEHOLDERS
            .iter()
            .map(|p| format!("{{{p}}}"))
            .collect();
        for p in &ports {
            known_node.push(format!("{{port:{p}}}"));
            known_node.push(format!("{{addr:{p}}}"));
        }
        let known_node = known_node.join(" ");
        check(
            "command",
            &raw.command.iter().collect::<Vec<_>>(),
            &node_ok,
            known_node.clone(),
        )?;
        check(
            "env",
            &raw.env.values().collect::<Vec<_>>(),
            &node_ok,
            known_node.clone(),
        )?;
        check(
            "logs",
            &raw.logs.iter().collect::<Vec<_>>(),
            &node_ok,
            known_node.clone(),
        )?;
        if let Some(c) = &raw.ready.command {
            if c.is_empty() {
                bail!("{}: must not be empty", at("ready.command"));
            }
            check(
                "ready.command",
                &c.iter().collect::<Vec<_>>(),
                &node_ok,
                known_node.clone(),
            )?;
        }
        if let Some(p) = &raw.ready.http_get {
            if !p.starts_with('/') {
                bail!(
                    "{}: expected a path starting with `/`, got {p:?}",
                    at("http_get")
                );
            }
        }
        let peer = raw.peer.clone().unwrap_or_else(|| "{addr}".to_string());
        let peer_ok = |name: &str| {
            PEER_PLACEHOLDERS.contains(&name)
                || name
                    .strip_prefix("port:")
                    .or_else(|| name.strip_prefix("addr:"))
                    .is_some_and(|p| ports.iter().any(|q| q == p))
        };
        check(
            "peer",
            &[&peer],
            &peer_ok,
            PEER_PLACEHOLDERS
                .iter()
                .map(|p| format!("{{{p}}}"))
                .collect::<Vec<_>>()
                .join(" "),
        )?;
        if !PROTOCOLS.contains(&raw.protocol.as_str()) {
            bail!(
                "{}: unknown protocol {:?} (known: {})",
                at("protocol"),
                raw.protocol,
                PROTOCOLS.join(", ")
            );
        }
        if raw.workloads.is_empty() {
            bail!("{}: name at least one workload", at("workloads"));
        }
        for w in &raw.workloads {
            let Some(kind) = crate::run::workload::find(w) else {
                bail!(
                    "{}: unknown workload {w:?} (known: {})",
                    at("workloads"),
                    crate::run::workload::names().join(", ")
                );
            };
            if !kind.protocols().contains(&raw.protocol.as_str()) {
                bail!(
                    "{}: workload {w} has no client for protocol {:?} (it speaks: {})",
                    at("workloads"),
                    raw.protocol,
                    kind.protocols().join(", ")
                );
            }
        }
        if let Some(l) = &raw.leader {
            let same = l.same.iter().flatten();
            for (field, p) in [("role", l.role.as_ref()), ("names", l.names.as_ref())]
                .into_iter()
                .chain(same.map(|p| ("same", Some(p))))
            {
                if let Some(p) = p {
                    if !(p.is_empty() || p.starts_with('/')) {
                        bail!(
                            "{}: expected a JSON pointer like \"/role\", got {p:?}",
                            at(&format!("leader.{field}"))
                        );
                    }
                }
            }
            let asks = [
                l.http_get.is_some(),
                l.http_post.is_some(),
                l.command.is_some(),
            ];
            if asks.iter().filter(|a| **a).count() != 1 {
                bail!(
                    "{}: the leader probe needs exactly one of http_get, http_post or command",
                    at("leader")
                );
            }
            if let Some(c) = &l.command {
                if c.is_empty() || c[0].is_empty() {
                    bail!("{}: expected a non-empty argv", at("leader.command"));
                }
                check(
                    "leader.command",
                    &c.iter().collect::<Vec<_>>(),
                    &node_ok,
                    known_node.clone(),
                )?;
                for (field, set) in [
                    ("role", l.role.is_some()),
                    ("roles", !l.roles.is_empty()),
                    ("same", l.same.is_some()),
                    ("names", l.names.is_some()),
                ] {
                    if set {
                        bail!(
                            "{}: a command leader probe answers by its exit status; `{field}` reads a JSON answer (use http_get or http_post)",
                            at(&format!("leader.{field}"))
                        );
                    }
                }
            } else {
                if let Some(p) = l.http_get.as_ref().or(l.http_post.as_ref()) {
                    if !p.starts_with('/') {
                        bail!(
                            "{}: expected a path starting with `/`, got {p:?}",
                            at("leader")
                        );
                    }
                }
                match (&l.role, &l.same) {
                    (Some(_), None) if !l.roles.is_empty() => {}
                    (Some(_), None) => {
                        bail!("{}: name at least one role that leads", at("leader.roles"))
                    }
                    (None, Some(s)) if s.len() == 2 => {}
                    (None, Some(_)) => bail!("{}: expected two JSON pointers", at("leader.same")),
                    _ => bail!(
                        "{}: the leader probe needs `role` and `roles`, or `same`",
                        at("leader")
                    ),
                }
            }
        }
        if let Some(n) = raw.nodes {
            if n == 0 || n > 64 {
                bail!("{}: must be 1..=64, got {n}", at("nodes"));
            }
        }
        let network = match raw.network.as_deref() {
            None | Some("proxy") => Network::Proxy,
            Some("netns") => Network::Netns,
            Some(other) => bail!(
                "{}: expected \"proxy\" or \"netns\", got {other:?}",
                at("network")
            ),
        };
        let port = raw.port.unwrap_or(7000);
        if port == 0 || usize::from(port) + ports.len() > 65535 {
            bail!("{}: {port} leaves no room for the ports", at("port"));
        }
        let mut levels = Vec::new();
        for (name, v) in &raw.levels {
            let key = format!("levels.{name}");
            if !valid_name(name) {
                bail!("{}: bad level name {name:?}", at(&key));
            }
            let l: RawLevel = v
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| anyhow!("{}: {}", at(&key), e.message().trim()))?;
            check(
                &key,
                &l.args.iter().chain(l.env.values()).collect::<Vec<_>>(),
                &node_ok,
                known_node.clone(),
            )?;
            levels.push(Level {
                name: name.clone(),
                description: l.description,
                args: l.args,
                env: l.env,
                leaderless: l.leaderless,
                options: l.options,
            });
        }
        if levels.is_empty() {
            levels.push(Level {
                name: "default".into(),
                description: String::new(),
                args: Vec::new(),
                env: BTreeMap::new(),
                leaderless: raw.leader.is_none(),
                options: toml::Table::new(),
            });
        }
        let default_level = raw
            .default_level
            .clone()
            .unwrap_or_else(|| levels[0].name.clone());
        if !levels.iter().any(|l| l.name == default_level) {
            bail!(
                "{}: {default_level:?} is not one of the levels ({})",
                at("default_level"),
                levels
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(SystemDef {
            name: raw.name,
            description: raw.description,
            source: source.to_string(),
            dir,
            binary: raw.binary,
            builtin: raw.builtin,
            command: raw.command,
            env: raw.env,
            peer,
            peer_separator: raw.peer_separator.unwrap_or_else(|| ",".to_string()),
            ports,
            protocol: raw.protocol,
            workloads: raw.workloads,
            nodes: raw.nodes,
            network,
            port,
            default_level,
            options: raw.options,
            ready: raw.ready,
            leader: raw.leader,
            logs: raw.logs,
            clock_unsupported: raw.clock_unsupported,
            levels,
        })
    }

    /// Loads a system file.
    pub fn load(path: &Path) -> Result<SystemDef> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--system-file: reading {}", path.display()))?;
        let dir = path
            .parent()
            .map(|d| {
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                }
            })
            .map(Path::to_path_buf);
        SystemDef::parse(&text, &path.display().to_string(), dir)
    }

    pub fn level(&self, name: &str) -> Option<&Level> {
        self.levels.iter().find(|l| l.name == name)
    }

    pub fn level_names(&self) -> Vec<&str> {
        self.levels.iter().map(|l| l.name.as_str()).collect()
    }

    /// The workload options at `level`: the system's, overridden by the
    /// level's.
    pub fn options_at(&self, level: &str) -> toml::Table {
        let mut o = self.options.clone();
        if let Some(l) = self.level(level) {
            for (k, v) in &l.options {
                o.insert(k.clone(), v.clone());
            }
        }
        o
    }

    /// Where the node binary is: an absolute `binary` as is, a relative
    /// path with a `/` against the system file's directory, a bare name in
    /// `bin_dir` and then on `PATH`. `None` when not found.
    pub fn find_binary(&self, bin_dir: &Path) -> Option<PathBuf> {
        let b = self.binary.as_ref()?;
        let p = Path::new(b);
        if p.is_absolute() {
            return p.is_file().then(|| p.to_path_buf());
        }
        if b.contains('/') {
            let base = self.dir.clone().unwrap_or_else(|| PathBuf::from("."));
            let q = base.join(p);
            return q.is_file().then_some(q);
        }
        let q = bin_dir.join(b);
        if q.is_file() {
            return Some(q);
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(b))
                .find(|q| q.is_file())
        })
    }
}

/// The bundled system definitions.
pub fn bundled() -> Vec<SystemDef> {
    BUNDLED
        .iter()
        .map(|(file, text)| {
            SystemDef::parse(text, &format!("bundled:{file}"), None)
                .unwrap_or_else(|e| panic!("bundled system file {file}: {e:#}"))
        })
        .collect()
}

/// A bundled system by name.
pub fn find_bundled(name: &str) -> Result<SystemDef> {
    let all = bundled();
    let names: Vec<String> = all.iter().map(|d| d.name.clone()).collect();
    all.into_iter().find(|d| d.name == name).ok_or_else(|| {
        anyhow!(
            "--system: unknown system {name:?} (known: {}; or describe yours in a file and pass --system-file FILE)",
            names.join(", ")
        )
    })
}

/// What `faultline systems` prints about one definition.
pub fn describe(def: &SystemDef, out: &mut String) {
    use std::fmt::Write;
    let _ = writeln!(out, "  {}  {} ({})", def.name, def.description, def.source);
    let bin = match (&def.binary, &def.builtin) {
        (Some(b), Some(s)) => format!("{b} (or `faultline {s}`)"),
        (Some(b), None) => b.clone(),
        (None, _) => "-".into(),
    };
    let _ = writeln!(out, "      binary: {bin}");
    let _ = writeln!(out, "      command: {}", def.command.join(" "));
    let _ = writeln!(
        out,
        "      protocol: {}  workloads: {}",
        def.protocol,
        def.workloads.join(", ")
    );
    let ready = match (&def.ready.http_get, &def.ready.command) {
        (Some(p), _) => format!("GET {p} answers 200"),
        (None, Some(c)) => format!("`{}` exits 0", c.join(" ")),
        (None, None) => "its port accepts connections".into(),
    };
    let _ = writeln!(out, "      ready when: {ready}");
    if let Some(n) = def.nodes {
        let _ = writeln!(out, "      nodes: {n} (fixed by the system file)");
    }
    if let Some(l) = &def.leader {
        let ask = match (&l.http_get, &l.http_post, &l.command) {
            (Some(p), _, _) => format!("GET {p}"),
            (None, Some(p), _) => format!("POST {p}"),
            (None, None, c) => format!(
                "`{}`",
                c.iter().flatten().cloned().collect::<Vec<_>>().join(" ")
            ),
        };
        let test = match (&l.role, &l.same) {
            _ if l.command.is_some() => "exits 0".to_string(),
            (Some(r), _) => format!("has {r} in {}", l.roles.join("|")),
            (None, s) => format!(
                "has {} equal",
                s.iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        };
        let _ = writeln!(out, "      leads when: {ask} {test}");
    }
    if def.network == Network::Netns {
        let _ = writeln!(
            out,
            "      network: namespaces (needs root; partitions are nftables rules)"
        );
    }
    let _ = writeln!(out, "      levels (default {}):", def.default_level);
    for l in &def.levels {
        let mut extra = Vec::new();
        if !l.args.is_empty() {
            extra.push(format!("args: {}", l.args.join(" ")));
        }
        if l.leaderless {
            extra.push("leaderless".into());
        }
        if !l.options.is_empty() {
            extra.push(format!(
                "options: {}",
                l.options
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let _ = writeln!(
            out,
            "        {:<14} {}{}",
            l.name,
            l.description,
            if extra.is_empty() {
                String::new()
            } else {
                format!(" [{}]", extra.join("; "))
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "mine"
binary = "/bin/true"
command = ["{bin}", "--me", "{id}", "--listen", "{addr}", "--peers", "{peers}"]
protocol = "faultline-http"
workloads = ["register"]
"#;

    #[test]
    fn bundled_files_load() {
        let all = bundled();
        let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "kv",
                "queue",
                "lock",
                "txn",
                "etcd",
                "redis",
                "zookeeper",
                "postgres",
                "postgres-replica"
            ]
        );
        assert_eq!(all[7].nodes, Some(1));
        assert_eq!(all[8].nodes, Some(2));
        assert_eq!(all[0].nodes, None);
        let kv = &all[0];
        assert_eq!(
            kv.level_names(),
            [
                "raft",
                "raft-lease",
                "raft-local",
                "primary-async",
                "quorum",
                "gossip"
            ]
        );
        assert!(kv.level("quorum").unwrap().leaderless);
        assert!(!kv.level("raft").unwrap().leaderless);
        let q = &all[1];
        assert_eq!(
            q.options_at("at-most-once")["delivery"].as_str(),
            Some("at-most-once")
        );
        assert!(q.options_at("raft").get("delivery").is_none());
    }

    #[test]
    fn a_minimal_file_gets_defaults() {
        let d = SystemDef::parse(MINIMAL, "mine.toml", None).unwrap();
        assert_eq!(d.level_names(), ["default"]);
        assert_eq!(d.default_level, "default");
        assert_eq!(d.peer, "{addr}");
        assert!(d.level("default").unwrap().leaderless);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let cases: [(&str, &str, &str); 11] = [
            (
                "unknown placeholder",
                &MINIMAL.replace("{peers}", "{perrs}"),
                "mine.toml:4: command: unknown placeholder {perrs}",
            ),
            (
                "unknown key",
                &format!("{MINIMAL}colour = \"red\"\n"),
                "mine.toml:7:1: unknown field `colour`",
            ),
            (
                "bad protocol",
                &MINIMAL.replace("faultline-http", "carrier-pigeon"),
                "mine.toml:5: protocol: unknown protocol \"carrier-pigeon\"",
            ),
            (
                "bad workload",
                &MINIMAL.replace("[\"register\"]", "[\"bank\"]"),
                "mine.toml:6: workloads: unknown workload \"bank\"",
            ),
            (
                "bad default level",
                &format!("{MINIMAL}default_level = \"fast\"\n[levels.slow]\n"),
                "mine.toml:7: default_level: \"fast\" is not one of the levels (slow)",
            ),
            (
                "bad level key",
                &format!("{MINIMAL}[levels.slow]\nargz = [\"-x\"]\n"),
                "mine.toml:7: levels.slow: unknown field `argz`",
            ),
            (
                "wrong type",
                &MINIMAL.replace("workloads = [\"register\"]", "workloads = \"register\""),
                "mine.toml:6:13: invalid type",
            ),
            (
                "two ways to ask for the leader",
                &format!("{MINIMAL}[leader]\nhttp_get = \"/x\"\ncommand = [\"true\"]\n"),
                "mine.toml:7: leader: the leader probe needs exactly one of http_get, http_post or command",
            ),
            (
                "a JSON field on a command leader probe",
                &format!("{MINIMAL}[leader]\ncommand = [\"true\"]\nroles = [\"leader\"]\n"),
                "mine.toml:9: leader.roles: a command leader probe answers by its exit status",
            ),
            (
                "unknown placeholder in the leader command",
                &format!("{MINIMAL}[leader]\ncommand = [\"probe\", \"{{hots}}\"]\n"),
                "mine.toml:8: leader.command: unknown placeholder {hots}",
            ),
            (
                "empty ready command",
                &format!("{MINIMAL}[ready]\ncommand = []\n"),
                "mine.toml:8: ready.command: must not be empty",
            ),
        ];
        for (what, text, want) in cases {
            let e = format!(
                "{:#}",
                SystemDef::parse(text, "mine.toml", None).unwrap_err()
            );
            assert!(e.starts_with(want), "{what}: got {e:?}, want {want:?}");
        }
    }

    #[test]
    fn render_fills_placeholders_and_keeps_escaped_braces() {
        let f = |n: &str| match n {
            "id" => Some("n1".to_string()),
            "port:peer" => Some("7001".to_string()),
            _ => None,
        };
        assert_eq!(render("--id={id}", &f), "--id=n1");
        assert_eq!(render("{id}:{port:peer}", &f), "n1:7001");
        assert_eq!(render("{{literal}} {id}", &f), "{literal} n1");
        assert_eq!(placeholders("a{b}c{{d}}").unwrap(), ["b"]);
        assert!(placeholders("a{b").is_err());
    }
}
