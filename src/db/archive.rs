//! Tenant archives: everything a tenant owns, control and data plane, as one file (a tar,
//! gzip-compressed when written here) of a `manifest.json` and one JSON Lines file per
//! table, each line a row with the table's column names as keys. The manifest lists the
//! tables in load order with each one's row count and SHA-256; an import checks every row
//! and both figures before it commits, in one transaction, so an altered archive loads
//! nothing and names the table.
//!
//! The format is documented in the README for those who produce an archive from another
//! system: `tenants` (one row), `users` (the members, never a password hash), `plans`
//! (those the subscriptions name) and then the tenant's tables; rows keep their ids.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use futures::TryStreamExt as _;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Db;
use super::entities::*;
use super::platform::{Access, SystemTask};
use super::scope::{PlatformTx, Scoped, Table, Unfiltered};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;

/// The manifest's `format`.
pub const FORMAT: &str = "msingi-tenant-archive";
/// The manifest's `version` this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// At most this many problems are listed (the count of the rest is given).
const MAX_PROBLEMS: usize = 100;

/// An archive's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// The tenant archived.
    pub tenant: ArchivedTenant,
    /// When the archive was made.
    pub exported_at: chrono::DateTime<chrono::Utc>,
    /// Where it came from (free text: the system, its backend and tier).
    #[serde(default)]
    pub source: Option<String>,
    /// Every table in the archive, in load order.
    pub tables: Vec<ArchivedTable>,
}

/// The tenant an archive holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedTenant {
    /// Its id, kept by an import.
    pub id: uuid::Uuid,
    /// Its slug.
    pub slug: String,
    /// Its name.
    pub name: String,
}

/// One table of an archive: `<name>.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedTable {
    /// The table.
    pub name: String,
    /// Its rows (lines).
    pub rows: u64,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
}

impl Manifest {
    /// Rows over every table.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// What an import found and did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The archive's manifest, when it could be read.
    pub manifest: Option<Manifest>,
    /// Rows read (and, when committed, loaded) per table, in order.
    pub tables: Vec<(String, u64)>,
    /// Every problem found, row by row (table and line), up to a hundred.
    pub problems: Vec<String>,
    /// Problems past the first hundred.
    pub more_problems: usize,
    /// Members who already had an account here (matched by id and email), linked rather
    /// than created.
    pub existing_users: u64,
    /// Whether the rows were committed (never on a dry run or with a problem).
    pub committed: bool,
}

impl ImportReport {
    fn problem(&mut self, problem: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.more_problems += 1;
        }
    }

    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Which rows of a table are the tenant's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plane {
    /// `tenants`: the row whose id is the tenant's.
    Tenant,
    /// `users`: the tenant's members.
    Members,
    /// `plans`: those its subscriptions name.
    Plans,
    /// A control-plane table keyed by `tenant_id`.
    Control,
    /// A data-plane table, wherever the tenant's tier puts it.
    Data,
}

/// Columns an export leaves out: secrets of this deployment (a password hash, the sealed
/// address of a tenant database).
fn strip(table: &str, row: &mut serde_json::Value) {
    let drop: &[&str] = match table {
        "tenants" => &["data_url_sealed"],
        "users" => &["password_hash"],
        _ => &[],
    };
    if let Some(object) = row.as_object_mut() {
        for column in drop {
            object.remove(*column);
        }
    }
}

/// What an import changes of a row before it loads: a tenant starts on the shared tier of
/// this deployment (`--tier` moves it after), a member is never a platform admin here and
/// signs in by resetting their password.
fn adapt(table: &str, row: &mut serde_json::Value) {
    let Some(object) = row.as_object_mut() else {
        return;
    };
    match table {
        "tenants" => {
            object.insert("isolation".into(), "SHARED".into());
            object.insert("data_url_sealed".into(), serde_json::Value::Null);
        }
        "users" => {
            object.insert("password_hash".into(), serde_json::Value::Null);
            object.insert("is_platform_admin".into(), false.into());
        }
        _ => {}
    }
}

/// One table file being written: its rows counted and its bytes hashed as they go.
struct TableFile {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    hasher: Sha256,
    rows: u64,
    line: Vec<u8>,
}

impl TableFile {
    fn create(path: PathBuf) -> AppResult<Self> {
        let file = std::fs::File::create(&path).map_err(io)?;
        Ok(Self {
            path,
            out: std::io::BufWriter::with_capacity(1 << 16, file),
            hasher: Sha256::new(),
            rows: 0,
            line: Vec::with_capacity(512),
        })
    }

    fn row(&mut self, row: &serde_json::Value) -> AppResult<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, row).map_err(AppError::internal)?;
        self.line.push(b'\n');
        self.hasher.update(&self.line);
        self.out.write_all(&self.line).map_err(io)?;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self, name: &str) -> AppResult<(ArchivedTable, PathBuf)> {
        self.out.flush().map_err(io)?;
        Ok((
            ArchivedTable {
                name: name.to_owned(),
                rows: self.rows,
                sha256: hex::encode(self.hasher.finalize()),
            },
            self.path,
        ))
    }
}

fn io(e: std::io::Error) -> AppError {
    AppError::internal(anyhow::Error::new(e).context("writing the archive"))
}

/// Writes every row of `rows` to `file`, in key order, calling `progress` every 10,000.
async fn dump<E, C>(
    rows: Scoped<'_, sea_orm::Select<E>, C>,
    table: &str,
    file: &mut TableFile,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> AppResult<()>
where
    E: EntityTrait,
    E::Model: Serialize + Send + Sync,
    C: sea_orm::ConnectionTrait + sea_orm::StreamTrait + Send + Sync,
{
    let mut stream = rows.order_by_key().stream().await?;
    while let Some(model) = stream.try_next().await? {
        let mut row = serde_json::to_value(&model).map_err(AppError::internal)?;
        strip(table, &mut row);
        file.row(&row)?;
        if file.rows.is_multiple_of(10_000) {
            progress(table, 10_000);
        }
    }
    progress(table, file.rows % 10_000);
    Ok(())
}

/// Parses each row into its table's model, once (a row that does not parse is a problem
/// naming its line and the column at fault), ready to insert as it is.
fn parse_models<E>(
    table: &str,
    rows: Vec<(u64, serde_json::Value)>,
    report: &mut ImportReport,
) -> Vec<E::ActiveModel>
where
    E: EntityTrait,
    E::Model: serde::de::DeserializeOwned + IntoActiveModel<E::ActiveModel>,
{
    let mut models = Vec::with_capacity(rows.len());
    for (n, row) in rows {
        match serde_json::from_value::<E::Model>(row) {
            Ok(model) => models.push(model.into_active_model().reset_all()),
            Err(e) => report.problem(format!("{table} line {n}: {e}")),
        }
    }
    models
}

/// Inserts `models` in statements small enough for either database's parameter limit.
async fn insert_models<E>(
    table: Table<'_, E, Unfiltered>,
    mut models: Vec<E::ActiveModel>,
) -> Result<(), sea_orm::DbErr>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: sea_orm::ActiveModelBehavior + Send,
{
    use sea_orm::Iterable as _;
    let per = (30_000 / E::Column::iter().count().max(1)).clamp(1, BATCH);
    while !models.is_empty() {
        let rest = models.split_off(per.min(models.len()));
        table.insert_rows(models).await?;
        models = rest;
    }
    Ok(())
}

/// The archived tables, in load order (referenced ones first), with which rows of each
/// are the tenant's; and the three operations on each, by name.
macro_rules! archived {
    ($($name:literal => $module:ident @ $plane:ident),* $(,)?) => {
        /// Every table of an archive, in load order.
        const ARCHIVED: &[(&str, Plane)] = &[$(($name, Plane::$plane)),*];

        /// The tables an archive holds, in load order (for the README and its readers).
        pub fn archived_tables() -> impl Iterator<Item = &'static str> {
            ARCHIVED.iter().map(|(name, _)| *name)
        }

        async fn dump_table(
            name: &str,
            from: &Sources<'_>,
            file: &mut TableFile,
            progress: &(dyn Fn(&str, u64) + Sync),
        ) -> AppResult<()> {
            match name {
                $($name => archived!(@dump $plane, $module, from, name, file, progress),)*
                other => Err(AppError::internal(anyhow::anyhow!("{other} is not archived"))),
            }
        }

        /// One table's rows, parsed.
        #[allow(non_camel_case_types)]
        enum Batch {
            $($module(Vec<$module::ActiveModel>),)*
        }

        /// Parses `rows` of table `name` (problems go to `report`); `None` for a table that
        /// is not archived.
        fn parse_batch(
            name: &str,
            rows: Vec<(u64, serde_json::Value)>,
            report: &mut ImportReport,
        ) -> Option<Batch> {
            match name {
                $($name => Some(Batch::$module(parse_models::<$module::Entity>(name, rows, report))),)*
                _ => None,
            }
        }

        impl Batch {
            fn len(&self) -> usize {
                match self {
                    $(Self::$module(models) => models.len(),)*
                }
            }

            async fn insert(self, tx: &PlatformTx) -> Result<(), sea_orm::DbErr> {
                match self {
                    $(Self::$module(models) => {
                        insert_models(tx.across_tenants::<$module::Entity>(), models).await
                    })*
                }
            }
        }

        /// Deletes the tenant's rows of a data-plane table, wherever its tier puts them;
        /// 0 for the others.
        async fn purge_data_table(
            name: &str,
            data: &super::scope::DataScope,
        ) -> Result<u64, sea_orm::DbErr> {
            match name {
                $($name => archived!(@purge_data $plane, $module, data),)*
                _ => Ok(0),
            }
        }

        /// Deletes the tenant's rows of a control-plane table; 0 for the others.
        async fn purge_table(
            name: &str,
            tx: &PlatformTx,
            tenant: TenantId,
        ) -> Result<u64, sea_orm::DbErr> {
            match name {
                $($name => archived!(@purge $plane, $module, tx, tenant),)*
                _ => Ok(0),
            }
        }

    };
    (@dump Tenant, $module:ident, $from:ident, $name:ident, $file:ident, $progress:ident) => {
        dump(
            $from.platform.across_tenants::<$module::Entity>().find()
                .filter($module::Column::Id.eq($from.tenant.into_uuid())),
            $name, $file, $progress,
        ).await
    };
    (@dump Members, $module:ident, $from:ident, $name:ident, $file:ident, $progress:ident) => {
        dump(
            $from.platform.across_tenants::<$module::Entity>().find()
                .filter($module::Column::Id.is_in($from.members.clone())),
            $name, $file, $progress,
        ).await
    };
    (@dump Plans, $module:ident, $from:ident, $name:ident, $file:ident, $progress:ident) => {
        dump(
            $from.platform.across_tenants::<$module::Entity>().find()
                .filter($module::Column::Id.is_in($from.plans.clone())),
            $name, $file, $progress,
        ).await
    };
    (@dump Control, $module:ident, $from:ident, $name:ident, $file:ident, $progress:ident) => {
        dump(
            $from.platform.across_tenants::<$module::Entity>().find()
                .filter($module::Column::TenantId.eq($from.tenant.into_uuid())),
            $name, $file, $progress,
        ).await
    };
    (@purge Control, $module:ident, $tx:ident, $tenant:ident) => {
        $tx.across_tenants::<$module::Entity>()
            .delete()
            .filter($module::Column::TenantId.eq($tenant.into_uuid()))
            .exec()
            .await
    };
    (@purge $plane:ident, $module:ident, $tx:ident, $tenant:ident) => {
        Ok(0)
    };
    (@purge_data Data, $module:ident, $data:ident) => {
        $data.table::<$module::Entity>().delete().exec().await
    };
    (@purge_data $plane:ident, $module:ident, $data:ident) => {
        Ok(0)
    };
    (@dump Data, $module:ident, $from:ident, $name:ident, $file:ident, $progress:ident) => {
        dump($from.data.table::<$module::Entity>().find(), $name, $file, $progress).await
    };
}

archived! {
    "tenants" => tenants @ Tenant,
    "users" => users @ Members,
    "plans" => plans @ Plans,
    "stores" => stores @ Control,
    "roles" => roles @ Control,
    "role_permissions" => role_permissions @ Control,
    "memberships" => memberships @ Control,
    "role_assignments" => role_assignments @ Control,
    "invitations" => invitations @ Control,
    "api_keys" => api_keys @ Control,
    "tenant_modules" => tenant_modules @ Control,
    "subscriptions" => subscriptions @ Control,
    "invoice_counters" => invoice_counters @ Control,
    "invoices" => invoices @ Control,
    "invoice_lines" => invoice_lines @ Control,
    "payments" => payments @ Control,
    "usage_events" => usage_events @ Control,
    "usage_rollups" => usage_rollups @ Control,
    "usage_alerts" => usage_alerts @ Control,
    "notifications" => notifications @ Control,
    "notification_preferences" => notification_preferences @ Control,
    "webhook_endpoints" => webhook_endpoints @ Control,
    "webhook_deliveries" => webhook_deliveries @ Control,
    "audit_log" => audit_log @ Control,
    "products" => products @ Data,
    "stock_levels" => stock_levels @ Data,
    "stock_movements" => stock_movements @ Data,
}

/// Where an export reads from: the control plane on one snapshot, the data plane where
/// the tenant's tier puts it.
struct Sources<'a> {
    platform: &'a PlatformTx,
    data: &'a super::scope::DataScope,
    tenant: TenantId,
    members: Vec<uuid::Uuid>,
    plans: Vec<uuid::Uuid>,
}

impl Db {
    /// Writes `tenant`'s archive to `out` (through a `.partial` file renamed at the end, so
    /// a killed export never leaves a file that looks whole); `progress` hears of rows as
    /// they are written, by table.
    pub async fn export_tenant(
        &self,
        tenant: TenantId,
        out: &Path,
        progress: &(dyn Fn(&str, u64) + Sync),
    ) -> AppResult<Manifest> {
        let platform = self
            .platform_snapshot(Access::Task(SystemTask::DataRights))
            .await?;
        let row = platform
            .across_tenants::<tenants::Entity>()
            .by_id(tenant.into_uuid())
            .one()
            .await?
            .ok_or(AppError::NotFound { entity: "tenant" })?;
        let members: Vec<uuid::Uuid> = platform
            .across_tenants::<memberships::Entity>()
            .find()
            .filter(memberships::Column::TenantId.eq(tenant.into_uuid()))
            .values(memberships::Column::UserId, true)
            .await?;
        let mut plans: Vec<uuid::Uuid> = Vec::new();
        for subscription in platform
            .across_tenants::<subscriptions::Entity>()
            .find()
            .filter(subscriptions::Column::TenantId.eq(tenant.into_uuid()))
            .all()
            .await?
        {
            plans.push(subscription.plan_id);
            plans.extend(subscription.pending_plan_id);
        }
        plans.sort();
        plans.dedup();
        let data = self.pools.data(tenant, None, false).await?;
        let source = format!(
            "msingi {} on {:?}, {} tier",
            env!("CARGO_PKG_VERSION"),
            self.kind(),
            data.tier().as_str()
        );
        let from = Sources {
            platform: &platform,
            data: &data,
            tenant,
            members,
            plans,
        };
        let parts = out.with_extension("parts");
        std::fs::create_dir_all(&parts).map_err(io)?;
        let mut tables = Vec::new();
        let mut files = Vec::new();
        for (name, _) in ARCHIVED {
            let mut file = TableFile::create(parts.join(format!("{name}.jsonl")))?;
            dump_table(name, &from, &mut file, progress).await?;
            let (table, path) = file.finish(name)?;
            tables.push(table);
            files.push(path);
        }
        drop(data);
        drop(platform);
        let manifest = Manifest {
            format: FORMAT.to_owned(),
            version: FORMAT_VERSION,
            tenant: ArchivedTenant {
                id: row.id,
                slug: row.slug,
                name: row.name,
            },
            exported_at: self.clock().now(),
            source: Some(source),
            tables,
        };
        let written = manifest.clone();
        let out = out.to_owned();
        tokio::task::spawn_blocking(move || pack(&written, &files, &out))
            .await
            .map_err(AppError::internal)??;
        std::fs::remove_dir_all(&parts).ok();
        Ok(manifest)
    }
}

/// The tables a closed tenant keeps past its retention, for the fiscal retention: its
/// invoices and payments (and the audit chain, pseudonymised, which is never deleted).
pub const FISCAL_TABLES: &[&str] = &["invoice_counters", "invoices", "invoice_lines", "payments"];

impl PlatformTx {
    /// Deletes `tenant`'s control-plane rows, referencing tables first; the fiscal tables
    /// too when `fiscal`. The audit log stays (see `Db::purge_tenant`). Returns the rows.
    pub async fn purge_tenant_rows(&self, tenant: TenantId, fiscal: bool) -> AppResult<u64> {
        let mut rows = 0;
        for (name, plane) in ARCHIVED.iter().rev() {
            if *plane != Plane::Control
                || *name == "audit_log"
                || (!fiscal && FISCAL_TABLES.contains(name))
            {
                continue;
            }
            rows += purge_table(name, self, tenant).await?;
        }
        Ok(rows)
    }
}

impl Db {
    /// Deletes every row of `tenant`'s data plane, wherever its tier puts it, audited in
    /// its chain (a closed tenant past its retention).
    pub async fn purge_data_plane(&self, tenant: TenantId) -> AppResult<u64> {
        let data = self.pools.data(tenant, None, true).await?;
        let mut rows = 0;
        for (name, plane) in ARCHIVED.iter().rev() {
            if *plane == Plane::Data {
                rows += purge_data_table(name, &data).await?;
            }
        }
        let entry = crate::audit::AuditEntry::new("tenant.purge.data", "tenant", tenant)
            .with_changes(serde_json::json!({ "rows": rows }));
        data.commit(crate::audit::Audit::by(Default::default(), entry))
            .await?;
        Ok(rows)
    }
}

/// The tar.gz: the manifest first, then the tables in order.
fn pack(manifest: &Manifest, files: &[PathBuf], out: &Path) -> AppResult<()> {
    let partial = out.with_extension("partial");
    let file = std::fs::File::create(&partial).map_err(io)?;
    let gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::with_capacity(1 << 16, file),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let body = serde_json::to_vec_pretty(manifest).map_err(AppError::internal)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(manifest.exported_at.timestamp().max(0) as u64);
    header.set_cksum();
    tar.append_data(&mut header, "manifest.json", body.as_slice())
        .map_err(io)?;
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        tar.append_path_with_name(path, name.unwrap_or_default())
            .map_err(io)?;
    }
    let gz = tar.into_inner().map_err(io)?;
    let mut buffered = gz.finish().map_err(io)?;
    buffered.flush().map_err(io)?;
    buffered
        .into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)?;
    std::fs::rename(&partial, out).map_err(io)?;
    Ok(())
}

/// What the archive's reader hands the loader.
enum Piece {
    Manifest(Box<Manifest>),
    Rows {
        table: String,
        first_line: u64,
        lines: Vec<Vec<u8>>,
    },
    End {
        table: String,
        rows: u64,
        sha256: String,
    },
    Problem(String),
}

/// Rows handed over (and loaded) at a time.
const BATCH: usize = 1_000;

/// Reads an archive (tar, gzip-compressed or not) entry by entry, on a blocking thread.
fn read_archive(path: &Path, pieces: tokio::sync::mpsc::Sender<Piece>) {
    let send = |piece| pieces.blocking_send(piece).is_ok();
    let problem = |why: String| {
        pieces.blocking_send(Piece::Problem(why)).ok();
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => return problem(format!("{}: {e}", path.display())),
    };
    let mut buffered = std::io::BufReader::with_capacity(1 << 16, file);
    let gzip = matches!(buffered.fill_buf(), Ok([0x1f, 0x8b, ..]));
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => return problem(format!("not a tar archive: {e}")),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => return problem(format!("the archive is damaged: {e}")),
        };
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let name = match entry.path() {
            Ok(p) => p.to_string_lossy().trim_start_matches("./").to_owned(),
            Err(e) => return problem(format!("an entry's name is unreadable: {e}")),
        };
        if name == "manifest.json" {
            let mut body = Vec::new();
            let mut entry = entry;
            if let Err(e) = entry.read_to_end(&mut body) {
                return problem(format!("manifest.json: {e}"));
            }
            match serde_json::from_slice::<Manifest>(&body) {
                Ok(manifest) => {
                    if !send(Piece::Manifest(Box::new(manifest))) {
                        return;
                    }
                }
                Err(e) => return problem(format!("manifest.json: {e}")),
            }
            continue;
        }
        let Some(table) = name.strip_suffix(".jsonl").map(str::to_owned) else {
            problem(format!(
                "{name}: not part of a tenant archive (expected <table>.jsonl)"
            ));
            continue;
        };
        let mut lines = std::io::BufReader::with_capacity(1 << 16, entry);
        let mut hasher = Sha256::new();
        let (mut rows, mut batch, mut first_line) = (0u64, Vec::with_capacity(BATCH), 1u64);
        loop {
            let mut line = Vec::new();
            match lines.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return problem(format!("{table}: {e}")),
            }
            hasher.update(&line);
            rows += 1;
            batch.push(line);
            if batch.len() == BATCH {
                let lines = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if !send(Piece::Rows {
                    table: table.clone(),
                    first_line,
                    lines,
                }) {
                    return;
                }
                first_line = rows + 1;
            }
        }
        if !batch.is_empty()
            && !send(Piece::Rows {
                table: table.clone(),
                first_line,
                lines: batch,
            })
        {
            return;
        }
        if !send(Piece::End {
            table,
            rows,
            sha256: hex::encode(hasher.finalize()),
        }) {
            return;
        }
    }
}

/// Checks a manifest against this build: the format, the version, tables known and in
/// load order, each once.
fn check_manifest(manifest: &Manifest, report: &mut ImportReport) {
    if manifest.format != FORMAT {
        report.problem(format!(
            "manifest.json: format is {:?}, expected {FORMAT:?}",
            manifest.format
        ));
    }
    if manifest.version != FORMAT_VERSION {
        report.problem(format!(
            "manifest.json: version {} is not one this build reads ({FORMAT_VERSION})",
            manifest.version
        ));
    }
    let mut last = None;
    for table in &manifest.tables {
        match ARCHIVED.iter().position(|(n, _)| *n == table.name) {
            None => report.problem(format!(
                "manifest.json: {} is not a table of a tenant archive",
                table.name
            )),
            Some(at) if last.is_some_and(|l| at <= l) => report.problem(format!(
                "manifest.json: {} is out of load order (the order is: {})",
                table.name,
                archived_tables().collect::<Vec<_>>().join(", ")
            )),
            Some(at) => last = Some(at),
        }
    }
    if manifest.tables.first().is_none_or(|t| t.name != "tenants") {
        report.problem("manifest.json: the first table must be tenants".to_owned());
    }
}

/// The loader's state for the table being read.
struct Loading {
    table: String,
    plane: Plane,
    rows: u64,
}

impl Db {
    /// Loads the archive at `path`: every row checked (its columns, its tenant), every
    /// table's row count and SHA-256 compared with the manifest, then everything committed
    /// in one transaction, or nothing. With `dry_run` nothing is committed either way: the
    /// report says what would load and what is wrong, row by row.
    pub async fn import_tenant(
        &self,
        path: &Path,
        dry_run: bool,
        progress: &(dyn Fn(&str, u64) + Sync),
    ) -> AppResult<ImportReport> {
        let (send, mut pieces) = tokio::sync::mpsc::channel(4);
        let file = path.to_owned();
        let reader = tokio::task::spawn_blocking(move || read_archive(&file, send));
        let mut report = ImportReport {
            manifest: None,
            tables: Vec::new(),
            problems: Vec::new(),
            more_problems: 0,
            existing_users: 0,
            committed: false,
        };
        let tx = self
            .platform_write(Access::Task(SystemTask::DataRights))
            .await?;
        // Once a statement fails the transaction is spent: the rest is only checked.
        let mut writable = true;
        let mut loading: Option<Loading> = None;
        let mut tenant_rows = 0;
        let mut read: Option<Manifest> = None;
        let mut renamed = Vec::new();
        while let Some(piece) = pieces.recv().await {
            match piece {
                Piece::Problem(why) => report.problem(why),
                Piece::Manifest(manifest) => {
                    if read.is_some() {
                        report.problem("the archive has two manifests".to_owned());
                        continue;
                    }
                    check_manifest(&manifest, &mut report);
                    read = Some(*manifest);
                }
                Piece::Rows {
                    table,
                    first_line,
                    lines,
                } => {
                    let Some(manifest) = &read else {
                        report.problem(format!(
                            "{table}.jsonl comes before manifest.json, which must be the first entry"
                        ));
                        break;
                    };
                    if loading.as_ref().is_none_or(|l| l.table != table) {
                        let Some((_, plane)) = ARCHIVED.iter().find(|(n, _)| *n == table) else {
                            report
                                .problem(format!("{table}.jsonl: not a table of a tenant archive"));
                            continue;
                        };
                        if !manifest.tables.iter().any(|t| t.name == table) {
                            report.problem(format!("{table}.jsonl is not in the manifest"));
                        }
                        loading = Some(Loading {
                            table: table.clone(),
                            plane: *plane,
                            rows: 0,
                        });
                    }
                    let tenant = manifest.tenant.id;
                    let state = loading.as_mut().expect("set above");
                    let mut good = Vec::with_capacity(lines.len());
                    for (n, line) in (first_line..).zip(lines) {
                        state.rows += 1;
                        let mut row: serde_json::Value = match serde_json::from_slice(&line) {
                            Ok(row) => row,
                            Err(e) => {
                                report.problem(format!("{table} line {n}: not JSON: {e}"));
                                continue;
                            }
                        };
                        if let Err(why) = check_row(state.plane, tenant, &row) {
                            report.problem(format!("{table} line {n}: {why}"));
                            continue;
                        }
                        adapt(&table, &mut row);
                        if table == "subscriptions" {
                            rename_plans(&mut row, &renamed);
                        }
                        if state.plane == Plane::Tenant {
                            tenant_rows += 1;
                        }
                        good.push((n, row));
                    }
                    // What is here already decides what loads of the tenant, its members and
                    // the plans (asked while the transaction can still answer).
                    if writable {
                        good = match state.plane {
                            Plane::Tenant => new_tenant(&tx, &table, good, &mut report).await?,
                            Plane::Members => new_users(&tx, &table, good, &mut report).await?,
                            Plane::Plans => new_plans(&tx, good, &mut renamed).await?,
                            Plane::Control | Plane::Data => good,
                        };
                    }
                    // Each row is parsed into its model once, problems named by line.
                    let Some(batch) = parse_batch(&table, good, &mut report) else {
                        continue;
                    };
                    if !writable || !report.is_clean() {
                        continue;
                    }
                    let count = batch.len() as u64;
                    if let Err(e) = batch.insert(&tx).await {
                        report.problem(format!(
                            "{table}: rows {first_line}..: refused by the database: {e}"
                        ));
                        writable = false;
                    }
                    progress(&table, count);
                }
                Piece::End {
                    table,
                    rows,
                    sha256,
                } => {
                    let Some(manifest) = &read else {
                        continue;
                    };
                    if loading.as_ref().is_none_or(|l| l.table != table) {
                        // An empty table file.
                        if !ARCHIVED.iter().any(|(n, _)| *n == table) {
                            report
                                .problem(format!("{table}.jsonl: not a table of a tenant archive"));
                        }
                    }
                    loading = None;
                    match manifest.tables.iter().find(|t| t.name == table) {
                        None => {}
                        Some(listed) if listed.rows != rows => report.problem(format!(
                            "{table}: {rows} rows, but the manifest says {}: the archive was altered or cut short",
                            listed.rows
                        )),
                        Some(listed) if !listed.sha256.eq_ignore_ascii_case(&sha256) => report.problem(format!(
                            "{table}: its SHA-256 does not match the manifest's: the archive was altered"
                        )),
                        Some(_) => {}
                    }
                    report.tables.push((table, rows));
                }
            }
        }
        reader.await.map_err(AppError::internal)?;
        match &read {
            None => report.problem("the archive has no manifest.json".to_owned()),
            Some(manifest) => {
                for listed in &manifest.tables {
                    if !report.tables.iter().any(|(t, _)| *t == listed.name) {
                        report.problem(format!(
                            "{}: in the manifest but not in the archive",
                            listed.name
                        ));
                    }
                }
                if tenant_rows != 1 && report.is_clean() {
                    report.problem(format!(
                        "tenants: exactly one row expected (the tenant {}), found {tenant_rows}",
                        manifest.tenant.id
                    ));
                }
            }
        }
        report.manifest = read;
        if report.is_clean() && !dry_run {
            tx.commit().await?;
            report.committed = true;
        }
        Ok(report)
    }
}

/// A row belongs to the archive's tenant: its `tenant_id` (or, for `tenants`, its `id`).
fn check_row(plane: Plane, tenant: uuid::Uuid, row: &serde_json::Value) -> Result<(), String> {
    let column = match plane {
        Plane::Tenant => "id",
        Plane::Control | Plane::Data => "tenant_id",
        Plane::Members | Plane::Plans => return Ok(()),
    };
    let value = row.get(column).and_then(|v| v.as_str());
    match value.map(uuid::Uuid::parse_str) {
        Some(Ok(id)) if id == tenant => Ok(()),
        Some(Ok(id)) => Err(format!(
            "{column} is {id}, not the archive's tenant {tenant}"
        )),
        _ => Err(format!("{column}: missing or not a UUID")),
    }
}

/// The tenant's row, refused when its id or slug is taken here.
async fn new_tenant(
    tx: &PlatformTx,
    table: &str,
    rows: Vec<(u64, serde_json::Value)>,
    report: &mut ImportReport,
) -> AppResult<Vec<(u64, serde_json::Value)>> {
    let mut out = Vec::new();
    for (n, row) in rows {
        let id = row.get("id").and_then(|v| v.as_str()).unwrap_or_default();
        let slug = row.get("slug").and_then(|v| v.as_str()).unwrap_or_default();
        let taken = tx
            .across_tenants::<tenants::Entity>()
            .find()
            .filter(
                sea_orm::Condition::any()
                    .add(tenants::Column::Id.eq(uuid::Uuid::parse_str(id).unwrap_or_default()))
                    .add(tenants::Column::Slug.eq(slug)),
            )
            .one()
            .await?;
        match taken {
            Some(t) if t.id.to_string() == id => report.problem(format!(
                "{table} line {n}: the tenant {id} exists here already (slug {:?})",
                t.slug
            )),
            Some(_) => report.problem(format!(
                "{table} line {n}: the slug {slug:?} is taken here by another tenant"
            )),
            None => out.push((n, row)),
        }
    }
    Ok(out)
}

/// Members new here; one who has an account here already (same id and email) is linked,
/// and an email taken by another account here is refused.
async fn new_users(
    tx: &PlatformTx,
    table: &str,
    rows: Vec<(u64, serde_json::Value)>,
    report: &mut ImportReport,
) -> AppResult<Vec<(u64, serde_json::Value)>> {
    let text = |row: &serde_json::Value, k: &str| {
        row.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let ids: Vec<uuid::Uuid> = rows
        .iter()
        .filter_map(|(_, r)| uuid::Uuid::parse_str(&text(r, "id")).ok())
        .collect();
    let emails: Vec<String> = rows.iter().map(|(_, r)| text(r, "email")).collect();
    let here = tx
        .across_tenants::<users::Entity>()
        .find()
        .filter(
            sea_orm::Condition::any()
                .add(users::Column::Id.is_in(ids))
                .add(users::Column::Email.is_in(emails)),
        )
        .all()
        .await?;
    let mut out = Vec::new();
    for (n, row) in rows {
        let (id, email) = (text(&row, "id"), text(&row, "email"));
        let by_id = here.iter().find(|u| u.id.to_string() == id);
        let by_email = here.iter().find(|u| u.email.eq_ignore_ascii_case(&email));
        match (by_id, by_email) {
            (None, None) => out.push((n, row)),
            (Some(a), Some(b)) if a.id == b.id => report.existing_users += 1,
            (Some(_), _) => report.problem(format!(
                "{table} line {n}: the user {id} exists here with another email"
            )),
            (None, Some(_)) => report.problem(format!(
                "{table} line {n}: {email} belongs to another account here"
            )),
        }
    }
    Ok(out)
}

/// Plans not here yet. A plan here with the same id is used as it is; one with the same
/// code and version but another id (each deployment seeds its own) is used instead, and
/// `renamed` records the archive's id for it, so the subscriptions name it.
async fn new_plans(
    tx: &PlatformTx,
    rows: Vec<(u64, serde_json::Value)>,
    renamed: &mut Vec<(String, String)>,
) -> AppResult<Vec<(u64, serde_json::Value)>> {
    let text = |row: &serde_json::Value, k: &str| {
        row.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let codes: Vec<String> = rows.iter().map(|(_, r)| text(r, "code")).collect();
    let ids: Vec<uuid::Uuid> = rows
        .iter()
        .filter_map(|(_, r)| uuid::Uuid::parse_str(&text(r, "id")).ok())
        .collect();
    let here = tx
        .across_tenants::<plans::Entity>()
        .find()
        .filter(
            sea_orm::Condition::any()
                .add(plans::Column::Id.is_in(ids))
                .add(plans::Column::Code.is_in(codes)),
        )
        .all()
        .await?;
    let mut out = Vec::new();
    for (n, row) in rows {
        let id = text(&row, "id");
        let version = row.get("version").and_then(|v| v.as_i64()).unwrap_or(1);
        if here.iter().any(|p| p.id.to_string() == id) {
            continue;
        }
        match here
            .iter()
            .find(|p| p.code == text(&row, "code") && i64::from(p.version) == version)
        {
            Some(same) => renamed.push((id, same.id.to_string())),
            None => out.push((n, row)),
        }
    }
    Ok(out)
}

/// Points a subscription at this deployment's id of its plans ([`new_plans`]).
fn rename_plans(row: &mut serde_json::Value, renamed: &[(String, String)]) {
    for column in ["plan_id", "pending_plan_id"] {
        if let Some(value) = row.get_mut(column)
            && let Some((_, here)) = renamed
                .iter()
                .find(|(from, _)| value.as_str() == Some(from))
        {
            *value = here.clone().into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_holds_every_tenant_table_but_the_operational_ones() {
        let operational = [
            "outbox",
            "tenant_job_effects",
            "tenant_moves",
            "tenant_exports",
        ];
        for table in msingi_migrations::TENANT_TABLES {
            assert!(
                operational.contains(table) || ARCHIVED.iter().any(|(n, _)| n == table),
                "{table} is neither archived nor listed as operational"
            );
        }
    }

    #[test]
    fn a_row_of_another_tenant_is_refused() {
        let tenant = uuid::Uuid::now_v7();
        let other = uuid::Uuid::now_v7();
        let row = serde_json::json!({"tenant_id": other.to_string()});
        assert!(
            check_row(Plane::Control, tenant, &row)
                .unwrap_err()
                .contains("not the archive's tenant")
        );
        let row = serde_json::json!({"tenant_id": tenant.to_string()});
        assert!(check_row(Plane::Data, tenant, &row).is_ok());
    }
}
