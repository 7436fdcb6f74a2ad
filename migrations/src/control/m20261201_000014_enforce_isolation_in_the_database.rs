//! Isolation that the database enforces whatever SQL the run-time role sends (issue 7):
//!
//! - Tenant policies no longer honour a setting the caller can set (`app.platform`):
//!   platform work connects as its own role, and `msingi migrate` gives that role a
//!   `platform_door` policy on every table below (role names are the deployment's, so they
//!   are not written into a migration).
//! - Every table that carries a tenant is under FORCEd row-level security: `outbox` (a
//!   tenant sees only its own rows; platform rows have none), `tenants` (only the current
//!   one), `users` (only members of the current tenant, through `memberships`, itself
//!   under RLS; the password hash is not granted at all), and `sessions`,
//!   `refresh_tokens`, `user_tokens` (the platform's only).
//! - `member_profiles`: the columns of `users` a tenant may read, as a view that checks
//!   the reader's own rights (`security_invoker`).
//! - `audit_heads`: each chain's newest sequence number and hash, advanced by a trigger on
//!   every insert into `audit_log` (as the table owner: neither role may write heads), so
//!   deleting a chain's newest entries is detected by `msingi audit verify`.
//! - `audit_log.client_request_id`: the `X-Request-ID` a client chose, kept apart from the
//!   server's own request id.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261122_000013_enable_row_level_security::TENANT_TABLES as FIRST_TENANT_TABLES;

/// The current tenant, as every tenant policy reads it (once per statement).
const CURRENT_TENANT: &str = "(SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)";

fn force(table: &str) -> String {
    format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n\
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n"
    )
}

fn tenant_policy(table: &str, column: &str) -> String {
    let rule = format!("{column} = {CURRENT_TENANT}");
    format!(
        "DROP POLICY IF EXISTS tenant_isolation ON {table};\n\
         CREATE POLICY tenant_isolation ON {table} USING ({rule}) WITH CHECK ({rule});\n"
    )
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLog::Table)
                    .add_column(
                        ColumnDef::new(AuditLog::ClientRequestId)
                            .string_len(128)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditHeads::Table)
                    .col(
                        ColumnDef::new(AuditHeads::ChainId)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditHeads::Seq).big_integer().not_null())
                    .col(ColumnDef::new(AuditHeads::Hash).string_len(64).not_null())
                    .to_owned(),
            )
            .await?;
        // Chains that exist already start from their newest entry.
        db.execute_unprepared(
            "INSERT INTO audit_heads (chain_id, seq, hash) \
             SELECT a.tenant_id, a.seq, a.hash FROM audit_log a \
             WHERE a.seq = (SELECT max(b.seq) FROM audit_log b WHERE b.tenant_id = a.tenant_id)",
        )
        .await?;
        let profile_columns =
            "id, email, name, phone, email_verified_at, is_platform_admin, created_at";
        if manager.get_database_backend() == DbBackend::Postgres {
            let mut sql = String::new();
            for table in FIRST_TENANT_TABLES.iter().chain(&["outbox"]) {
                sql.push_str(&force(table));
                sql.push_str(&tenant_policy(table, "tenant_id"));
            }
            sql.push_str(&force("tenants"));
            sql.push_str(&tenant_policy("tenants", "id"));
            sql.push_str(&force("users"));
            sql.push_str(
                "CREATE POLICY tenant_members ON users FOR SELECT USING \
                 (EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id));\n",
            );
            for table in ["sessions", "refresh_tokens", "user_tokens"] {
                sql.push_str(&force(table));
            }
            sql.push_str(&format!(
                "CREATE VIEW member_profiles WITH (security_invoker = true) AS \
                 SELECT {profile_columns} FROM users;\n\
                 CREATE FUNCTION audit_advance_head() RETURNS trigger LANGUAGE plpgsql \
                 SECURITY DEFINER SET search_path = public AS $$ BEGIN \
                   INSERT INTO audit_heads (chain_id, seq, hash) VALUES (NEW.tenant_id, NEW.seq, NEW.hash) \
                   ON CONFLICT (chain_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash \
                   WHERE audit_heads.seq < EXCLUDED.seq; \
                   RETURN NEW; END $$;\n\
                 REVOKE ALL ON FUNCTION audit_advance_head() FROM PUBLIC;\n\
                 CREATE TRIGGER audit_log_advance_head AFTER INSERT ON audit_log \
                 FOR EACH ROW EXECUTE FUNCTION audit_advance_head();\n"
            ));
            db.execute_unprepared(&sql).await?;
        } else {
            db.execute_unprepared(&format!(
                "CREATE VIEW member_profiles AS SELECT {profile_columns} FROM users;"
            ))
            .await?;
            db.execute_unprepared(
                "CREATE TRIGGER audit_log_advance_head AFTER INSERT ON audit_log BEGIN \
                 INSERT INTO audit_heads (chain_id, seq, hash) VALUES (NEW.tenant_id, NEW.seq, NEW.hash) \
                 ON CONFLICT (chain_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash \
                 WHERE excluded.seq > audit_heads.seq; END;",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            let mut sql = String::from(
                "DROP TRIGGER IF EXISTS audit_log_advance_head ON audit_log;\n\
                 DROP FUNCTION IF EXISTS audit_advance_head();\n\
                 DROP VIEW IF EXISTS member_profiles;\n\
                 DROP POLICY IF EXISTS tenant_members ON users;\n",
            );
            for table in [
                "outbox",
                "tenants",
                "users",
                "sessions",
                "refresh_tokens",
                "user_tokens",
            ] {
                sql.push_str(&format!(
                    "DROP POLICY IF EXISTS tenant_isolation ON {table};\n\
                     ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;\n\
                     ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;\n"
                ));
            }
            for table in FIRST_TENANT_TABLES {
                sql.push_str(&format!(
                    "DROP POLICY IF EXISTS tenant_isolation ON {table};\n{}",
                    crate::m20261122_000013_enable_row_level_security::policy_sql(table)
                        .lines()
                        .filter(|l| l.starts_with("CREATE POLICY"))
                        .collect::<Vec<_>>()
                        .join("\n")
                        + "\n"
                ));
            }
            db.execute_unprepared(&sql).await?;
        } else {
            db.execute_unprepared("DROP TRIGGER IF EXISTS audit_log_advance_head; DROP VIEW IF EXISTS member_profiles;")
                .await?;
        }
        manager
            .drop_table(Table::drop().table(AuditHeads::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLog::Table)
                    .drop_column(AuditLog::ClientRequestId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    ClientRequestId,
}

#[derive(DeriveIden)]
enum AuditHeads {
    Table,
    ChainId,
    Seq,
    Hash,
}
