//! The `msingi` binary's commands.

use std::process::Command;

fn msingi() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_msingi"));
    for var in [
        "DATABASE_URL",
        "MIGRATION_DATABASE_URL",
        "REDIS_URL",
        "MSINGI_ADMIN_EMAIL",
        "MSINGI_ADMIN_PASSWORD",
    ] {
        command.env_remove(var);
    }
    command
}

#[test]
fn help_lists_every_command() {
    let output = msingi().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for command in ["serve", "worker", "migrate", "export-schema", "admin"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
    let output = msingi()
        .args(["admin", "create", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(
        help.contains("--email") && help.contains("--password"),
        "{help}"
    );
}

#[test]
fn a_bad_database_url_exits_2_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = msingi()
        .current_dir(dir.path())
        .env("DATABASE_URL", "nonsense")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn export_schema_prints_the_committed_schema() {
    let output = msingi().arg("export-schema").output().unwrap();
    assert!(output.status.success());
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}

#[test]
fn migrate_then_admin_create_makes_and_then_updates_a_platform_admin() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        msingi()
            .current_dir(dir.path())
            .env("MSINGI_DATA_DIR", dir.path().join("data"))
            .args(args)
            .output()
            .unwrap()
    };
    let migrated = run(&["migrate"]);
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(dir.path().join("data/msingi.db").exists());

    let created = run(&[
        "admin",
        "create",
        "--email",
        "Root@Example.com",
        "--password",
        "a long secret",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&created.stdout).trim(),
        "platform admin root@example.com created"
    );

    let updated = run(&[
        "admin",
        "create",
        "--email",
        "root@example.com",
        "--password",
        "another secret",
    ]);
    assert!(updated.status.success());
    assert_eq!(
        String::from_utf8_lossy(&updated.stdout).trim(),
        "platform admin root@example.com updated"
    );

    let short = run(&[
        "admin",
        "create",
        "--email",
        "x@example.com",
        "--password",
        "short",
    ]);
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));
}
