//! The command line: `serve`, `hash-token`, `config check`, `token create`,
//! `token list`, `token revoke`, `migrate-storage`, `gc`, `fsck`, and the
//! ecosystems' tools (`serve::Tool`), dispatched by name.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::access::Role;
use crate::app::AppState;
use crate::config::{Config, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "batlehub",
    version,
    about = "A self-hosted package registry: caching proxy, private registry, or both"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the embedded default configuration without --config)
    Serve {
        /// The configuration file
        #[arg(long, short, env = "BATLEHUB_CONFIG")]
        config: Option<PathBuf>,
        /// Listen on this address instead of the configured `[server] host`
        #[arg(long)]
        host: Option<String>,
        /// Listen on this port instead of the configured `[server] port` (0: any free port)
        #[arg(long)]
        port: Option<u16>,
    },
    /// Print an Argon2id hash of TOKEN, usable as a token `value` in the configuration
    HashToken { token: String },
    /// Configuration file commands
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// API tokens
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Copy every blob from the [storage] of one configuration to the
    /// [storage] of another (filesystem to S3, say), verifying each digest.
    /// Resumable: blobs already at the destination are skipped. Run it with
    /// the server stopped (or once more after), then switch the server's
    /// configuration to the new [storage].
    MigrateStorage {
        /// The configuration whose [storage] holds the blobs now
        #[arg(long)]
        from: PathBuf,
        /// The configuration whose [storage] receives them
        #[arg(long)]
        to: PathBuf,
    },
    /// Delete the blobs no row references that were last committed longer
    /// ago than the grace period. Safe while servers run.
    Gc {
        /// The configuration file (its [database] and [storage])
        #[arg(long, short, env = "BATLEHUB_CONFIG")]
        config: PathBuf,
        /// The grace period in seconds instead of `[storage] gc_grace_secs`
        /// (0 deletes every unreferenced blob at once: only with no server running)
        #[arg(long)]
        grace_secs: Option<u64>,
    },
    /// Cached upstream artifacts: sizes, and eviction by the registries'
    /// `[registries.cache]` limits
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// An ecosystem's tool (`batlehub --help` lists them)
    #[command(external_subcommand)]
    Tool(Vec<String>),
    /// Check that every blob a row references is stored and matches its
    /// digest and size; exit non-zero if one is missing or corrupt
    Fsck {
        /// The configuration file (its [database] and [storage])
        #[arg(long, short, env = "BATLEHUB_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Each registry's cached artifacts: how many, their bytes, its limits
    Stats {
        /// The configuration file (its [database] and registries)
        #[arg(long, short, env = "BATLEHUB_CONFIG")]
        config: PathBuf,
    },
    /// Apply the registries' cache limits now (`max_bytes`, `evict_after_days`,
    /// `keep_latest_versions`);
    /// the blobs nothing references any more go with the next `batlehub gc`
    Evict {
        /// The configuration file (its [database], [storage] and registries)
        #[arg(long, short, env = "BATLEHUB_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user (offline, against the configured catalog) and print it once
    Create {
        /// The configuration file (its [database] is used); without it, the
        /// embedded default's catalog under ./data
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The user id the token stands for
        #[arg(long)]
        user: String,
        /// user or admin
        #[arg(long, default_value = "user")]
        role: String,
        /// A group the token carries (repeatable)
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Lifetime in days (1 to 365)
        #[arg(long, default_value_t = 90)]
        days: i64,
        /// A name to recognise the token by
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List API tokens (offline, against the configured catalog): one user's, or every user's newest
    List {
        /// The configuration file (its [database] is used); without it, the
        /// embedded default's catalog under ./data
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Only this user's tokens (`alice`, `oidc:corp:alice`...)
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke an API token by id, or every token and browser session of a user; what was made with a revoked token is revoked too
    Revoke {
        /// The configuration file (its [database] is used); without it, the
        /// embedded default's catalog under ./data
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The token's id (as `token list` prints it)
        #[arg(long, conflicts_with = "user", required_unless_present = "user")]
        id: Option<String>,
        /// Revoke every token of this user, and end the user's browser sessions
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file: exit 0, or print every error with its line
    Check { file: PathBuf },
}

/// Read and validate a configuration file; the error lists every problem.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Config::parse(&text, &crate::ecosystems::Rules).map_err(|errors| {
        let lines: Vec<String> =
            errors.0.iter().map(|e| format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message)).collect();
        anyhow::anyhow!("invalid configuration:\n{}", lines.join("\n"))
    })
}

/// The configuration a `token` command works on: the file given, else the
/// embedded default (whose catalog must already be here: a lost bootstrap
/// token is replaced with `batlehub token create --user admin --role admin`
/// run where the server keeps its ./data).
fn token_config(path: Option<&Path>) -> anyhow::Result<Config> {
    if let Some(p) = path {
        return load_config(p);
    }
    let config =
        Config::embedded_default(&crate::ecosystems::Rules).map_err(|e| anyhow::anyhow!("embedded default: {e}"))?;
    let db = config.database.url.trim_start_matches("sqlite://");
    if !Path::new(db).is_file() {
        anyhow::bail!(
            "no --config given and no {db} here: run this in the directory where `batlehub serve` (the embedded default) keeps ./data, or pass --config"
        );
    }
    Ok(config)
}

pub fn init_tracing(config: &Config) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    // Colour only for a person at a terminal, never into files or journals.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The ecosystems' tools, for `batlehub --help`.
pub fn tools_help() -> String {
    let mut out = String::from("Ecosystem tools:\n");
    for t in crate::ecosystems::tools() {
        out.push_str(&format!("  {:<16} {}\n", t.name, t.about));
    }
    out
}

/// Parse the command line, with the ecosystems' tools in the help.
pub fn parse_args() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().after_help(tools_help()).get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn run_tool(args: &[String]) -> anyhow::Result<()> {
    let Some((name, rest)) = args.split_first() else { anyhow::bail!("no command given") };
    let Some(tool) = crate::ecosystems::tools().into_iter().find(|t| t.name == name) else {
        anyhow::bail!("unknown command `{name}`\n\n{}", tools_help());
    };
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}\n\nUsage: batlehub {} {}", tool.about, tool.name, tool.usage);
        return Ok(());
    }
    (tool.run)(rest).map_err(|e| anyhow::anyhow!("{name}: {e}\n\nUsage: batlehub {} {}", tool.name, tool.usage))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Tool(args) => run_tool(&args),
        Command::HashToken { token } => {
            println!("{}", crate::identity::hash_token(&token)?);
            Ok(())
        }
        Command::Config { command: ConfigCommand::Check { file } } => {
            let config = load_config(&file)?;
            // Advisory folders and zips are read as the server would read
            // them at start (URLs are not fetched here).
            let client = crate::upstream::control_client(None)?;
            for r in &config.registries {
                for rule in r.rule_set.advisories().filter(|a| !matches!(a.source, crate::rules::Source::Url(_))) {
                    let read = crate::upstream::advisories::refresh(rule, &client)
                        .await
                        .with_context(|| format!("registry `{}`: reading the advisories rule's source", r.name))?;
                    println!(
                        "registry `{}`: advisories from {}: {} records of its ecosystem ({} files not OSV records)",
                        r.name, rule.source, read.records, read.unreadable
                    );
                }
            }
            println!("{}: ok ({} registries)", file.display(), config.registries.len());
            Ok(())
        }
        Command::Token { command: TokenCommand::Create { config, user, role, groups, days, name } } => {
            let config = token_config(config.as_deref())?;
            let (role, expires_at) = crate::api::tokens::check_request(&name, Some(days), Some(&role), Role::Admin)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if user.trim().is_empty() {
                anyhow::bail!("--user must not be empty");
            }
            let catalog = crate::catalog::Catalog::connect(&config.database.url, 2).await?;
            let (secret, row) =
                crate::identity::mint_api_token(&catalog, &name, user.trim(), role, &groups, "cli", Some(expires_at))
                    .await?;
            eprintln!(
                "Token {} for {} (role {}, groups [{}]) expires {}; it is shown only this once:",
                row.id,
                row.user_id,
                row.role,
                row.groups.join(", "),
                crate::http::iso8601(expires_at)
            );
            println!("{secret}");
            catalog.close().await;
            Ok(())
        }
        Command::Token { command: TokenCommand::List { config, user } } => {
            let config = token_config(config.as_deref())?;
            let catalog = crate::catalog::Catalog::connect(&config.database.url, 2).await?;
            let rows = match user.as_deref().map(str::trim) {
                Some(u) if !u.is_empty() => catalog.list_api_tokens(u).await?,
                Some(_) => anyhow::bail!("--user must not be empty"),
                None => catalog.list_all_api_tokens(crate::api::tokens::ADMIN_LIST_LIMIT).await?,
            };
            let now = crate::catalog::now_ms();
            println!(
                "{:<32}  {:<24}  {:<20}  {:<5}  {:<9}  {:<8}  EXPIRES",
                "ID", "USER", "NAME", "ROLE", "ORIGIN", "STATUS"
            );
            for t in &rows {
                let status = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.is_active(now) {
                    "active"
                } else {
                    "expired"
                };
                println!(
                    "{:<32}  {:<24}  {:<20}  {:<5}  {:<9}  {:<8}  {}",
                    t.id,
                    t.user_id,
                    t.name,
                    t.role,
                    t.origin.as_deref().unwrap_or("?"),
                    status,
                    t.expires_at.map(crate::http::iso8601).unwrap_or_else(|| "never".into())
                );
            }
            catalog.close().await;
            Ok(())
        }
        Command::Token { command: TokenCommand::Revoke { config, id, user } } => {
            let config = token_config(config.as_deref())?;
            let catalog = crate::catalog::Catalog::connect(&config.database.url, 2).await?;
            let result = match (id, user) {
                (Some(id), _) => {
                    if catalog.revoke_api_token_by_id(id.trim()).await? {
                        println!("revoked token {} and every token made with it", id.trim());
                        Ok(())
                    } else {
                        Err(anyhow::anyhow!("no active token with id {}", id.trim()))
                    }
                }
                (None, Some(user)) if !user.trim().is_empty() => {
                    let done = catalog.revoke_user_tokens(user.trim()).await?;
                    println!(
                        "revoked {} token(s) and ended {} session(s) of {}",
                        done.tokens,
                        done.sessions,
                        user.trim()
                    );
                    Ok(())
                }
                _ => Err(anyhow::anyhow!("give --id ID or a non-empty --user USER")),
            };
            catalog.close().await;
            result
        }
        Command::MigrateStorage { from, to } => {
            let (from, to) = (load_config(&from)?, load_config(&to)?);
            let source = crate::blobs::BlobStore::open(&from.storage).await?;
            let dest = crate::blobs::BlobStore::open(&to.storage).await?;
            eprintln!("copying blobs from {} to {}", source.describe(), dest.describe());
            let report = crate::blobs::copy_all(&source, &dest, |done, total| {
                if done % 100 == 0 || done == total {
                    eprintln!("  {done}/{total}");
                }
            })
            .await?;
            println!(
                "{} blobs copied, {} already there ({} bytes copied)",
                report.copied, report.skipped, report.bytes
            );
            Ok(())
        }
        Command::Gc { config, grace_secs } => {
            let config = load_config(&config)?;
            let grace = std::time::Duration::from_secs(grace_secs.unwrap_or(config.storage.gc_grace_secs));
            let catalog = crate::catalog::Catalog::connect(&config.database.url, 2).await?;
            let store = crate::blobs::BlobStore::attach(&config.storage).await?;
            let report = crate::blobs::collect_garbage(&store, &catalog, grace).await;
            catalog.close().await;
            let r = report?;
            println!(
                "{} blobs examined: {} deleted, {} referenced, {} within the grace period of {}s, {} seen for the first time",
                r.examined,
                r.deleted,
                r.referenced,
                r.young,
                grace.as_secs(),
                r.leased
            );
            Ok(())
        }
        Command::Cache { command: CacheCommand::Stats { config } } => {
            let config = load_config(&config)?;
            let catalog = crate::catalog::Catalog::connect(&config.database.url, 2).await?;
            let store = crate::blobs::BlobStore::attach(&config.storage).await?;
            for r in config.registries.iter().filter(|r| r.mode.has_upstream()) {
                let (n, bytes) = catalog.cache_usage(&r.name).await?;
                let (docs, doc_bytes) = store.doc_usage(&r.name).await?;
                println!(
                    "{}: {n} cached artifacts, {bytes} bytes; {docs} documents here, {doc_bytes} bytes ({})",
                    r.name,
                    describe_limits(&r.cache)
                );
            }
            catalog.close().await;
            Ok(())
        }
        Command::Cache { command: CacheCommand::Evict { config } } => {
            let config = load_config(&config)?;
            let catalog = crate::catalog::Catalog::connect(&config.database.url, 2).await?;
            let store = crate::blobs::BlobStore::attach(&config.storage).await?;
            let cache = crate::upstream::artifacts::ArtifactCache::new(store.clone(), catalog.clone(), 1 << 20);
            for r in &config.registries {
                let limits = crate::app::eviction_limits(r);
                if limits.is_none() {
                    continue;
                }
                let gone = cache.evict(&r.name, &limits).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                let (n, bytes) = catalog.cache_usage(&r.name).await?;
                let (docs, doc_bytes) = store.doc_usage(&r.name).await?;
                println!(
                    "{}: {} evicted, {} documents evicted; {n} cached artifacts, {bytes} bytes, {docs} documents, {doc_bytes} bytes left",
                    r.name, gone.artifacts, gone.documents
                );
            }
            catalog.close().await;
            Ok(())
        }
        Command::Fsck { config } => {
            let config = load_config(&config)?;
            let catalog = crate::catalog::Catalog::connect(&config.database.url, 2).await?;
            let store = crate::blobs::BlobStore::attach(&config.storage).await?;
            let report = crate::blobs::fsck(&store, &catalog).await;
            catalog.close().await;
            let r = report?;
            for sha256 in &r.missing {
                println!("missing: blob {sha256} is referenced by the catalog but not stored");
            }
            for (sha256, what) in &r.corrupt {
                println!("corrupt: blob {sha256}: {what}");
            }
            println!(
                "{} referenced blobs checked in {}: {} missing, {} corrupt",
                r.checked,
                store.describe(),
                r.missing.len(),
                r.corrupt.len()
            );
            if !r.is_clean() {
                anyhow::bail!("{} missing and {} corrupt blobs", r.missing.len(), r.corrupt.len());
            }
            Ok(())
        }
        Command::Serve { config, host, port } => {
            let (mut config, embedded) = match &config {
                Some(path) => (load_config(path)?, false),
                None => (
                    Config::embedded_default(&crate::ecosystems::Rules)
                        .map_err(|e| anyhow::anyhow!("embedded default: {e}"))?,
                    true,
                ),
            };
            if let Some(h) = host {
                config.server.host = h;
            }
            if let Some(p) = port {
                config.server.port = p;
            }
            init_tracing(&config);
            serve(config, embedded).await
        }
    }
}

async fn serve(config: Config, embedded: bool) -> anyhow::Result<()> {
    let addr = format!("{}:{}", config.server.host, config.server.port);
    // The port first: a server that cannot listen touches nothing (no
    // ./data made, no migration run).
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("binding {addr}"))?;
    let app = AppState::build(config).await?;
    let local = listener.local_addr()?;
    let scheme = if app.config.server.tls_cert_file.is_some() { "https" } else { "http" };
    let base = app.config.server.public_url.clone().unwrap_or_else(|| format!("{scheme}://{local}"));
    let base = base.trim_end_matches('/').to_string();
    println!("BatleHub {} listening on {scheme}://{local}", env!("CARGO_PKG_VERSION"));
    for r in &app.config.registries {
        let url = crate::ecosystems::client_url(r.kind, &format!("{base}/proxy/{}", r.name));
        println!("  {url}  ({} registry, {} mode)", r.kind, r.mode.as_str());
    }
    println!("Setup Guide (every client's configuration): {base}/setup");
    if embedded {
        bootstrap_admin(&app, &base).await?;
    }
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutting down");
    };
    crate::router::serve(app, listener, shutdown).await
}

/// On the first start of the embedded default, mint an admin token, keep
/// only its hash, and print it once with the first registry's client
/// configuration (the Setup Guide's snippet) filled in with it.
async fn bootstrap_admin(app: &crate::app::App, base: &str) -> anyhow::Result<()> {
    const KEY: &str = "bootstrap_admin_token";
    if app.catalog.get_setting(KEY).await?.is_some() {
        println!("An admin token was printed at first start; only its hash is kept under ./data.");
        println!("Lost it? In this directory, run: batlehub token create --user admin --role admin");
        return Ok(());
    }
    let (secret, row) = app
        .identity
        .create_api_token("bootstrap-admin", "admin", Role::Admin, &[], "bootstrap", None)
        .await
        .map_err(|e| anyhow::anyhow!("creating the admin token: {e}"))?;
    app.catalog.insert_setting_once(KEY, &row.id).await?;
    println!();
    println!("First start: an admin token was created. It is shown only this once; keep it safe:");
    println!();
    println!("    {secret}");
    println!();
    // The first registry's first Setup Guide snippet, with the token in it.
    if let Some(r) = app.config.registries.first() {
        let target = crate::setup::Target::of(base, r, &app.config.registries);
        if let Some(snippet) = crate::ecosystems::setup_snippets(r.kind, &target).into_iter().find(|s| !s.publish) {
            let place = snippet.file.map(|f| format!(" ({f})")).unwrap_or_default();
            println!("To use the {} registry: {}{place}:", r.name, snippet.title);
            println!();
            for line in snippet.fill("admin", &secret).lines() {
                println!("    {line}");
            }
            println!();
        }
    }
    Ok(())
}

/// A registry's cache limits in words (`batlehub cache stats`).
fn describe_limits(c: &crate::config::CacheConfig) -> String {
    let cap = c.max_bytes.map_or("no cap".to_string(), |m| format!("cap {m} bytes"));
    let age = c.evict_after_days.map_or("kept however old".to_string(), |d| format!("evicted after {d} days unused"));
    let versions = c
        .keep_latest_versions
        .map_or("every version".to_string(), |n| format!("the latest {n} versions of each package"));
    format!("{cap}, {age}, {versions}")
}
