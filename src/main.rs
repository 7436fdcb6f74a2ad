//! The `msingi` binary: one program, several commands.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use msingi::clock::SystemClock;
use msingi::config::{Config, ConfigError};
use msingi::{Application, app, telemetry, worker};
use tokio_util::sync::CancellationToken;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Msingi: a multi-tenant SaaS backend (tenants, stores, identity, RBAC, M-Pesa billing).
#[derive(Parser)]
#[command(name = "msingi", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default). In the embedded shape (SQLite) the job workers run in
    /// this process too.
    Serve,
    /// Run the job workers (and the outbox drainer) without the API.
    Worker,
    /// Apply pending database migrations, as MIGRATION_DATABASE_URL (or DATABASE_URL).
    Migrate,
    /// Print the GraphQL schema (SDL), or write it to a file.
    ExportSchema {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Platform administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Create (or complete) a demo tenant with four people and three stores, and print
    /// their logins. Safe to run again.
    Demo,
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The Daraja simulator alone (STK push, STK Query, callbacks, the control API), for
    /// testing any app's M-Pesa integration offline; credentials from MPESA_* (the
    /// sandbox's by default).
    DarajaSim {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8089")]
        bind: std::net::SocketAddr,
    },
    /// M-Pesa payments.
    Payments {
        #[command(subcommand)]
        command: PaymentsCommand,
    },
    /// Billing.
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
    /// The job queues: what waits, runs and failed; dead letters to retry or discard.
    Jobs {
        #[command(subcommand)]
        command: Option<JobsCommand>,
    },
    /// The email templates (templates/email/).
    Email {
        #[command(subcommand)]
        command: EmailCommand,
    },
    /// Tenants' isolation tiers: where each data plane lives, its migrations, live moves.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
}

#[derive(Subcommand)]
enum TenantsCommand {
    /// Every tenant with its tier, location (`public` or its schema) and data-plane
    /// migration version.
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run the data-plane migrations in every tenant schema, a few at a time, with a
    /// progress bar and a failure summary (exit 1 when a schema failed). Idempotent, and
    /// resumable after a kill: each schema records what it applied.
    Migrate {
        /// Schemas migrated at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Write a tenant's archive (everything it owns, control and data plane: a tar.gz of
    /// JSON Lines per table and a manifest with counts and SHA-256s) to a file.
    Export {
        /// The tenant's slug.
        slug: String,
        /// The archive to write.
        #[arg(short, long)]
        output: std::path::PathBuf,
    },
    /// Load a tenant's archive (from this or another deployment, or made by a script from
    /// an older system): every row and the manifest's counts and checksums checked, then
    /// all of it committed in one transaction, or nothing; ids kept.
    Import {
        /// The archive.
        file: std::path::PathBuf,
        /// Check everything and report, row by row, without loading anything.
        #[arg(long)]
        dry_run: bool,
        /// After loading (on the shared tier), move the tenant's data plane to `schema` or
        /// `database` (PostgreSQL).
        #[arg(long)]
        tier: Option<String>,
        /// With `--tier database`: the tenant database's URL (as `tenants move --url`).
        #[arg(long, env = "MSINGI_TENANT_DATABASE_URL", hide_env_values = true)]
        url: Option<String>,
    },
    /// Move a tenant's data plane to another tier while it runs (copy, verify, switch under
    /// a short write freeze of that tenant only) and wait for the outcome; with --confirm,
    /// drop the old copy of its last, switched move instead.
    Move {
        /// The tenant's slug.
        slug: String,
        /// `shared`, `schema` or `database`.
        #[arg(long, required_unless_present = "confirm")]
        to: Option<String>,
        /// With `--to database`: the tenant database's URL (its own PostgreSQL, BYODB),
        /// checked step by step before anything moves and stored sealed under
        /// MSINGI_DATA_KEY. Prefer MSINGI_TENANT_DATABASE_URL: a URL on the command line
        /// shows in `ps` and shell history.
        #[arg(long, env = "MSINGI_TENANT_DATABASE_URL", hide_env_values = true)]
        url: Option<String>,
        /// Drop the old copy of the tenant's last move (after checking the new place).
        #[arg(long)]
        confirm: bool,
    },
}

#[derive(Subcommand)]
enum EmailCommand {
    /// Render a template with sample data to a file, to look at in a browser (or a mail
    /// client, with --text); `msingi email preview list` names them all.
    Preview {
        /// The template, e.g. invoice_issued.
        template: String,
        /// Write here (default: <template>.html, or .txt with --text).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// The plain-text part instead of the HTML.
        #[arg(long)]
        text: bool,
    },
}

#[derive(Subcommand)]
enum PaymentsCommand {
    /// The reconciliation report: callbacks and payments flagged for review (amount or
    /// phone mismatches, late successes, forged or malformed callbacks) and what to do, as
    /// JSON lines.
    Reconcile,
}

#[derive(Subcommand)]
enum BillingCommand {
    /// Queue every billing step that fell due now (period ends, dunning steps, grace
    /// expiries, cancellations), as the workers' minute sweep does, and print how many.
    /// Safe to run at any time, on any node: each step is queued under an id derived from
    /// what it is for.
    Sweep,
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Every queue: pending, running, retrying, dead, age of the oldest (the default).
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Dead letters, newest first.
    Dead {
        /// Also the retried and discarded ones.
        #[arg(long)]
        all: bool,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One dead letter, with its payload and error (JSON).
    Show {
        /// The dead letter's id.
        id: uuid::Uuid,
    },
    /// Queue a dead letter's job again (same job id: an effect already done is not
    /// repeated).
    Retry {
        /// The dead letter's id.
        id: uuid::Uuid,
    },
    /// Drop a dead letter's job for good.
    Discard {
        /// The dead letter's id.
        id: uuid::Uuid,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chains: exits 1 when an entry was edited or deleted.
    Verify {
        /// Only this tenant's chain (by slug); every chain otherwise.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a platform admin, or promote an existing user and set their password.
    Create {
        /// The admin's login email.
        #[arg(long)]
        email: String,
        /// The admin's password (8 to 128 characters). Prefer MSINGI_ADMIN_PASSWORD or
        /// standard input: a password on the command line shows in `ps` and shell history.
        #[arg(long)]
        password: Option<String>,
    },
}

/// Exit status for configuration errors.
const CONFIG_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::ExportSchema { output }) = &cli.command {
        return export_schema(output.as_ref());
    }
    if let Some(Command::Email {
        command:
            EmailCommand::Preview {
                template,
                output,
                text,
            },
    }) = &cli.command
    {
        return preview_email(template, output.as_ref(), *text);
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(ConfigError { var, message }) => {
            eprintln!("msingi: configuration error: {var}: {message}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    telemetry::init_logging(config.log_format);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("msingi: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(()) => ExitCode::SUCCESS,
        // A setting that failed once the server used it: one line naming it, as at load.
        Err(e) if e.downcast_ref::<ConfigError>().is_some() => {
            if let Some(ConfigError { var, message }) = e.downcast_ref::<ConfigError>() {
                eprintln!("msingi: configuration error: {var}: {message}");
            }
            ExitCode::from(CONFIG_ERROR)
        }
        Err(e) => {
            eprintln!("msingi: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn export_schema(output: Option<&PathBuf>) -> ExitCode {
    let sdl = msingi::graphql::sdl();
    match output {
        None => {
            print!("{sdl}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(path, sdl) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("msingi: writing {}: {e}", path.display());
                ExitCode::FAILURE
            }
        },
    }
}

/// `msingi email preview`: needs no configuration, database or network.
fn preview_email(template: &str, output: Option<&PathBuf>, text: bool) -> ExitCode {
    use msingi::notify::templates;
    if template == "list" {
        for (name, _) in templates::TEMPLATES {
            println!("{name}");
        }
        return ExitCode::SUCCESS;
    }
    let mail = match templates::preview(template) {
        Ok(mail) => mail,
        Err(e) => {
            eprintln!("msingi: {e}");
            return ExitCode::FAILURE;
        }
    };
    let extension = if text { "txt" } else { "html" };
    let path = output
        .cloned()
        .unwrap_or_else(|| PathBuf::from(format!("{template}.{extension}")));
    let content = if text { mail.text } else { mail.html };
    match std::fs::write(&path, content) {
        Ok(()) => {
            println!("{} (subject: {})", path.display(), mail.subject);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("msingi: writing {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let application = Application::build(config).await?;
            application.run(shutdown_on_signal()).await
        }
        Command::Worker => {
            let (clock, test_clock) = app::process_clock(&config, Arc::new(SystemClock));
            let (db, jobs) = app::open_stores(&config, clock).await?;
            if let Some(test) = &test_clock {
                app::follow_test_clock(test, &db).await?;
            }
            let (db, _access) = app::publishing(&config, db).await?;
            tracing::info!(queue = jobs.kind(), "running job workers");
            worker::run(app::worker_deps(&config, db, jobs)?, shutdown_on_signal()).await
        }
        Command::Migrate => {
            msingi::db::Db::migrate(
                &config.database.migration_url,
                &config.database.url,
                &config.database.platform_url,
            )
            .await?;
            println!("migrations applied");
            Ok(())
        }
        Command::ExportSchema { .. } | Command::Email { .. } => Ok(()),
        Command::Demo => {
            let (db, _jobs) = app::open_stores(&config, Arc::new(SystemClock)).await?;
            let demo = msingi::identity::demo::ensure(&db, &config.billing.default_plan)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let state = if demo.created {
                "created"
            } else {
                "already there"
            };
            println!(
                "demo tenant {} ({}) {state}; log in at {} with:",
                demo.tenant.name, demo.tenant.slug, config.http.public_url
            );
            for account in msingi::identity::demo::ACCOUNTS {
                let scope = account
                    .store
                    .map_or_else(|| "whole tenant".to_owned(), |s| format!("store {s}"));
                println!(
                    "  {:<9} {:<28} {:<24} ({scope})",
                    account.role, account.email, account.password
                );
            }
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { tenant },
        } => {
            let db = app::open_database(&config, Arc::new(SystemClock)).await?;
            let system = db
                .platform_read(msingi::db::Access::Task(
                    msingi::db::SystemTask::AuditVerify,
                ))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let chains = match tenant {
                Some(slug) => {
                    let tenant = system
                        .find_tenant_by_slug(&slug)
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                        .ok_or_else(|| anyhow::anyhow!("no tenant with the slug {slug:?}"))?;
                    vec![tenant.id.into_uuid()]
                }
                None => system
                    .audit_chains()
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            };
            let mut broken = 0;
            for chain in chains {
                let check = system
                    .verify_audit_chain(chain)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let name = if chain.is_nil() {
                    "platform".to_owned()
                } else {
                    chain.to_string()
                };
                match check.broken {
                    None => println!("ok      {name}: {} entries", check.entries),
                    Some((seq, why)) => {
                        broken += 1;
                        println!("BROKEN  {name}: at entry {seq}: {why}");
                    }
                }
            }
            if broken > 0 {
                anyhow::bail!("{broken} audit chain(s) broken");
            }
            Ok(())
        }
        Command::DarajaSim { bind } => {
            use msingi::payments::mpesa::simulator::{SimConfig, Simulator};
            let simulator = Simulator::new(SimConfig::of(&config.mpesa), Arc::new(SystemClock));
            let listener = tokio::net::TcpListener::bind(bind).await?;
            println!(
                "Daraja simulator on http://{} (consumer key {:?}, shortcode {})",
                listener.local_addr()?,
                config.mpesa.consumer_key,
                config.mpesa.shortcode
            );
            axum::serve(listener, simulator.router())
                .with_graceful_shutdown(async {
                    shutdown_on_signal().cancelled().await;
                })
                .await?;
            Ok(())
        }
        Command::Payments {
            command: PaymentsCommand::Reconcile,
        } => {
            let (db, _jobs) = app::open_stores(&config, Arc::new(SystemClock)).await?;
            for (flagged, todo) in msingi::payments::reconcile::report(
                &db,
                msingi::db::Access::Task(msingi::db::SystemTask::Mpesa),
            )
            .await?
            {
                let mut line = serde_json::to_value(&flagged)?;
                line["todo"] = serde_json::json!(todo);
                println!("{line}");
            }
            Ok(())
        }
        Command::Tenants { command } => tenants(&config, command).await,
        Command::Billing {
            command: BillingCommand::Sweep,
        } => {
            let (clock, test_clock) = app::process_clock(&config, Arc::new(SystemClock));
            let (db, _jobs) = app::open_stores(&config, clock).await?;
            if let Some(test) = &test_clock {
                app::follow_test_clock(test, &db).await?;
            }
            let queued = msingi::billing::sweep(&db, &config.billing).await?;
            println!("{queued} billing jobs queued");
            Ok(())
        }
        Command::Jobs { command } => {
            let (db, jobs) = app::open_stores(&config, Arc::new(SystemClock)).await?;
            jobs_command(
                command.unwrap_or(JobsCommand::List { json: false }),
                &db,
                &jobs,
            )
            .await
        }
        Command::Admin {
            command: AdminCommand::Create { email, password },
        } => {
            let password = match password {
                Some(password) => password,
                None => admin_password()?,
            };
            let db = app::open_database(&config, Arc::new(SystemClock)).await?;
            let (admin, created) = msingi::identity::ensure_platform_admin(&db, &email, &password)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let verb = if created { "created" } else { "updated" };
            println!("platform admin {} {verb}", admin.email);
            Ok(())
        }
    }
}

async fn jobs_command(
    command: JobsCommand,
    db: &msingi::db::Db,
    jobs: &msingi_jobs::JobBackend,
) -> anyhow::Result<()> {
    use msingi::worker::dead_letters::{self, Resolution};
    // An operator at the command line sees an internal error's cause.
    let failed = |e: msingi::error::AppError| match e {
        msingi::error::AppError::Internal(cause) => cause,
        other => anyhow::anyhow!("{other}"),
    };
    match command {
        JobsCommand::List { json } => {
            let reports = dead_letters::report(db, jobs).await.map_err(failed)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
                return Ok(());
            }
            let age = |secs: Option<u64>| secs.map_or_else(|| "-".to_owned(), |s| format!("{s}s"));
            println!(
                "{:<10} {:>8} {:>8} {:>9} {:>6} {:>14}  effect",
                "queue", "pending", "running", "retrying", "dead", "oldest pending"
            );
            for r in reports {
                println!(
                    "{:<10} {:>8} {:>8} {:>9} {:>6} {:>14}  {}",
                    r.queue,
                    r.pending,
                    r.running,
                    r.retrying,
                    r.dead,
                    age(r.oldest_pending_secs),
                    r.effect
                );
            }
            Ok(())
        }
        JobsCommand::Dead { all, json } => {
            let letters = db.dead_letters(all).await.map_err(failed)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
                return Ok(());
            }
            if letters.is_empty() {
                println!("no dead letters");
            }
            for l in letters {
                println!(
                    "{}  {}  {:<10} attempts {:<2} {}  {}",
                    l.id,
                    l.died_at.format("%Y-%m-%d %H:%M:%S"),
                    l.queue,
                    l.attempts,
                    l.resolution.as_deref().unwrap_or("open"),
                    l.error.lines().next().unwrap_or_default()
                );
            }
            Ok(())
        }
        JobsCommand::Show { id } => {
            let letter = db
                .dead_letter(id)
                .await
                .map_err(failed)?
                .ok_or_else(|| anyhow::anyhow!("no dead letter {id}"))?;
            println!("{}", serde_json::to_string_pretty(&letter)?);
            Ok(())
        }
        JobsCommand::Retry { id } | JobsCommand::Discard { id } => {
            let resolution = if matches!(command, JobsCommand::Retry { .. }) {
                Resolution::Retried
            } else {
                Resolution::Discarded
            };
            let letter = db
                .resolve_dead_letter(id, resolution)
                .await
                .map_err(failed)?;
            match resolution {
                Resolution::Retried => println!(
                    "dead letter {id}: job {} queued again on {}",
                    letter.job_id, letter.queue
                ),
                Resolution::Discarded => println!("dead letter {id}: discarded"),
            }
            Ok(())
        }
    }
}

/// The new admin's password when `--password` is absent: `MSINGI_ADMIN_PASSWORD`, else one
/// line of standard input (prompted for on a terminal).
fn admin_password() -> anyhow::Result<String> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    if let Some(password) = std::env::var("MSINGI_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(password);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password for the platform admin: ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        anyhow::bail!(
            "no password: pass it on standard input, in MSINGI_ADMIN_PASSWORD, or with --password"
        );
    }
    Ok(password)
}

/// A token cancelled on SIGTERM or Ctrl-C.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {}
            () = terminate => {}
        }
        tracing::info!("shutting down: finishing in-flight requests and running jobs");
        cancel.cancel();
    });
    token
}

async fn tenants(config: &Config, command: TenantsCommand) -> anyhow::Result<()> {
    use msingi::tiers::{IsolationTier, TierAdmin, admin, moves};
    let db = app::open_database(config, Arc::new(SystemClock)).await?;
    let tiers = TierAdmin::of(config);
    let postgres = db.kind() == msingi::config::DatabaseKind::Postgres;
    match command {
        TenantsCommand::List { json } => {
            let places = admin::list(&db, postgres.then_some(&tiers)).await?;
            if !json {
                println!("{:<32} {:<9} {:<40} VERSION", "TENANT", "TIER", "LOCATION");
            }
            for place in places {
                if json {
                    println!("{}", serde_json::to_string(&place)?);
                } else {
                    println!(
                        "{:<32} {:<9} {:<40} {}",
                        place.slug,
                        place.tier,
                        place.location,
                        place.version.as_deref().unwrap_or("-")
                    );
                }
            }
            Ok(())
        }
        TenantsCommand::Migrate { concurrency } => {
            anyhow::ensure!(
                postgres,
                "on SQLite every tenant is on the SHARED tier: `msingi migrate` migrates its tables"
            );
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(indicatif::ProgressStyle::with_template(
                "{spinner} {pos}/{len} schemas {wide_bar} {elapsed_precise} {msg}",
            )?);
            let started = std::time::Instant::now();
            let summary = admin::migrate_all(&db, &tiers, concurrency, |n, schema| {
                if schema.is_empty() {
                    bar.inc_length(n as u64);
                }
                bar.inc(n as u64);
                bar.set_message(schema.to_owned());
            })
            .await?;
            bar.finish_and_clear();
            println!(
                "{} schemas: {} current, {} migrated ({} migrations), {} failed, in {:.2?}",
                summary.schemas,
                summary.current,
                summary.migrated,
                summary.applied,
                summary.failed.len(),
                started.elapsed()
            );
            for (schema, why) in &summary.failed {
                eprintln!("failed: {schema}: {why}");
            }
            anyhow::ensure!(summary.failed.is_empty(), "some schemas were not migrated");
            Ok(())
        }
        TenantsCommand::Move {
            slug,
            to,
            url,
            confirm,
        } => {
            let tenant = find_tenant(&db, &slug).await?;
            if confirm {
                let done = moves::confirm(&db, &tiers, tenant.id).await?;
                println!(
                    "{slug}: the old copy on {} is dropped; served from {}",
                    done.from.as_str(),
                    done.to.as_str()
                );
                return Ok(());
            }
            let to = parse_tier(to.as_deref())?;
            move_and_wait(config, &db, &tiers, tenant.id, &slug, to, url).await
        }
        TenantsCommand::Export { slug, output } => {
            let tenant = find_tenant(&db, &slug).await?;
            let bar = rows_bar("exporting")?;
            let started = std::time::Instant::now();
            let manifest = db
                .export_tenant(tenant.id, &output, &|table, n| {
                    bar.inc(n);
                    bar.set_message(table.to_owned());
                })
                .await
                .map_err(msingi::tiers::operator_error)?;
            bar.finish_and_clear();
            let took = started.elapsed();
            println!(
                "{slug}: {} rows in {} tables to {} in {took:.2?} ({:.0} rows/s)",
                manifest.rows(),
                manifest.tables.len(),
                output.display(),
                manifest.rows() as f64 / took.as_secs_f64().max(1e-9)
            );
            Ok(())
        }
        TenantsCommand::Import {
            file,
            dry_run,
            tier,
            url,
        } => {
            let to = tier.as_deref().map(|t| parse_tier(Some(t))).transpose()?;
            if to.is_some_and(|t| t != IsolationTier::Shared) {
                anyhow::ensure!(
                    postgres,
                    "--tier: on SQLite every tenant is on the SHARED tier"
                );
            }
            let bar = rows_bar(if dry_run { "checking" } else { "loading" })?;
            let started = std::time::Instant::now();
            let report = db
                .import_tenant(&file, dry_run, &|table, n| {
                    bar.inc(n);
                    bar.set_message(table.to_owned());
                })
                .await
                .map_err(msingi::tiers::operator_error)?;
            bar.finish_and_clear();
            let took = started.elapsed();
            for (table, rows) in &report.tables {
                println!("{table:<26} {rows:>10} rows");
            }
            let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
            for problem in &report.problems {
                eprintln!("problem: {problem}");
            }
            if report.more_problems > 0 {
                eprintln!("problem: ... and {} more", report.more_problems);
            }
            if !report.is_clean() {
                anyhow::bail!(
                    "{}: {} problems; nothing was loaded",
                    file.display(),
                    report.problems.len() + report.more_problems
                );
            }
            let Some(manifest) = report.manifest else {
                anyhow::bail!("{}: no manifest", file.display());
            };
            let slug = manifest.tenant.slug.clone();
            if dry_run {
                println!(
                    "{slug}: {rows} rows would load ({} members already have an account here); nothing was loaded (--dry-run)",
                    report.existing_users
                );
                return Ok(());
            }
            println!(
                "{slug}: {rows} rows loaded in {took:.2?} ({:.0} rows/s); {} members linked to existing accounts; new members sign in by resetting their password",
                rows as f64 / took.as_secs_f64().max(1e-9),
                report.existing_users
            );
            match to {
                Some(to) if to != IsolationTier::Shared => {
                    let tenant = msingi::ids::TenantId::from_uuid(manifest.tenant.id);
                    move_and_wait(config, &db, &tiers, tenant, &slug, to, url).await
                }
                _ => Ok(()),
            }
        }
    }
}

async fn find_tenant(db: &msingi::db::Db, slug: &str) -> anyhow::Result<msingi::tenancy::Tenant> {
    db.platform_read(msingi::db::Access::Task(
        msingi::db::SystemTask::TenantMoves,
    ))
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?
    .find_tenant_by_slug(slug)
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?
    .ok_or_else(|| anyhow::anyhow!("no tenant with the slug {slug:?}"))
}

fn rows_bar(what: &'static str) -> anyhow::Result<indicatif::ProgressBar> {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(indicatif::ProgressStyle::with_template(&format!(
        "{{spinner}} {what} {{pos}} rows ({{per_sec}}) {{elapsed_precise}} {{msg}}"
    ))?);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Ok(bar)
}

fn parse_tier(to: Option<&str>) -> anyhow::Result<msingi::tiers::IsolationTier> {
    use msingi::tiers::IsolationTier;
    Ok(match to.map(str::to_ascii_lowercase).as_deref() {
        Some("shared") => IsolationTier::Shared,
        Some("schema") => IsolationTier::Schema,
        Some("database") => IsolationTier::Database,
        other => anyhow::bail!("the tier: shared, schema or database, not {other:?}"),
    })
}

/// Moves `tenant`'s data plane to `to` (checking and sealing a tenant database's URL
/// first) and waits for the outcome.
async fn move_and_wait(
    config: &Config,
    db: &msingi::db::Db,
    tiers: &msingi::tiers::TierAdmin,
    tenant: msingi::ids::TenantId,
    slug: &str,
    to: msingi::tiers::IsolationTier,
    url: Option<String>,
) -> anyhow::Result<()> {
    use msingi::tiers::{IsolationTier, moves};
    let sealed = match (&url, to) {
        (Some(url), IsolationTier::Database) => {
            msingi::db::onboard(url, tenant)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let keys = msingi::secrets::DataKeys::load(&config.data_key)?;
            Some(keys.seal(url).map_err(|e| anyhow::anyhow!("{e}"))?)
        }
        (None, IsolationTier::Database) => {
            anyhow::bail!("--to database needs --url (or MSINGI_TENANT_DATABASE_URL)")
        }
        (Some(_), _) => anyhow::bail!("--url is for --to database only"),
        (None, _) => None,
    };
    let (started, _, _) = moves::begin(
        db,
        msingi::db::Access::Task(msingi::db::SystemTask::TenantMoves),
        tenant,
        to,
        sealed,
        None,
        &msingi::audit::Actor::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let done = moves::run(db, tiers, started.id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the move disappeared"))?;
    match done.status {
        msingi::tiers::MoveStatus::Switched => {
            println!(
                "{slug}: moved {} -> {}: {} rows, writes held {} ms; \
                 `msingi tenants move {slug} --confirm` drops the old copy",
                done.from.as_str(),
                done.to.as_str(),
                done.rows_copied,
                done.freeze_ms.unwrap_or(0)
            );
            Ok(())
        }
        status => anyhow::bail!(
            "{slug}: the move is {}: {}; the tenant stays on {}",
            status.as_str(),
            done.error.as_deref().unwrap_or("no reason recorded"),
            done.from.as_str()
        ),
    }
}
