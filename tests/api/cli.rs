//! The `msingi` binary's commands.

use std::process::Command;

fn msingi() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_msingi"));
    for var in [
        "DATABASE_URL",
        "MIGRATION_DATABASE_URL",
        "PLATFORM_DATABASE_URL",
        "JWT_SIGNING_KEY_FILE",
        "MSINGI_DATA_DIR",
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

/// Issue 8, item 8: start-up that used to fail late or silently.
#[test]
fn start_up_problems_name_their_variable_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let expect_config_error = |output: std::process::Output, var: &str| {
        let stderr = String::from_utf8(output.stderr).unwrap();
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("msingi:"))
            .collect();
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].contains(var), "{stderr}");
    };
    // A configured signing key that does not exist is never silently replaced.
    let output = msingi()
        .current_dir(dir.path())
        .env("JWT_SIGNING_KEY_FILE", dir.path().join("missing.pem"))
        .env("MSINGI_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    expect_config_error(output, "JWT_SIGNING_KEY_FILE");
    assert!(!dir.path().join("missing.pem").exists());

    // An unreachable database: one line naming DATABASE_URL, exit 2.
    let output = msingi()
        .current_dir(dir.path())
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("MSINGI_BIND", "127.0.0.1:0")
        .output()
        .unwrap();
    expect_config_error(output, "DATABASE_URL");
}

/// Issue 8, item 8: a SQLite database outside `./data`, with no `./data` directory, still
/// starts: the data directory (job store, keys, outbox) is created.
#[test]
fn the_data_directory_is_created_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("elsewhere.db");
    let mut child = msingi()
        .current_dir(dir.path())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", db.display()),
        )
        .env("MSINGI_BIND", "127.0.0.1:0")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline && !dir.path().join("data/jobs.db").exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            panic!(
                "exited early ({status}): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let started = dir.path().join("data/jobs.db").exists();
    child.kill().ok();
    child.wait().ok();
    assert!(started, "the job store was not created under ./data");
}

/// Issue 8, item 11: `admin create` takes the password from standard input or
/// MSINGI_ADMIN_PASSWORD, so it never has to be on the command line.
#[test]
fn admin_create_reads_the_password_from_stdin_or_the_environment() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let command = || {
        let mut command = msingi();
        command
            .current_dir(dir.path())
            .env("MSINGI_DATA_DIR", dir.path().join("data"));
        command
    };
    let mut child = command()
        .args(["admin", "create", "--email", "root@example.com"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from standard input\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created"));

    let output = command()
        .args(["admin", "create", "--email", "root@example.com"])
        .env("MSINGI_ADMIN_EMAIL", "root@example.com")
        .env("MSINGI_ADMIN_PASSWORD", "from the environment")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("updated"));

    let output = command()
        .args(["admin", "create", "--email", "root@example.com"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no password"));
}

/// Issue 8, item 11: `msingi demo` makes a demo tenant whose printed logins work, with the
/// employee limited to one store, and running it again changes nothing.
#[tokio::test]
async fn demo_creates_a_tenant_whose_logins_work_and_is_idempotent() {
    let app = crate::common::TestApp::spawn().await;
    let demo = || {
        msingi()
            .args(["demo"])
            .env("DATABASE_URL", &app.database_url)
            .env("PLATFORM_DATABASE_URL", &app.platform_database_url)
            .env("MIGRATION_DATABASE_URL", &app.owner_database_url)
            .env("MSINGI_DATA_DIR", &app.data_dir)
            .env("MSINGI_AUTO_MIGRATE", "false")
            .output()
            .unwrap()
    };
    let first = demo();
    let printed = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(printed.contains("created"), "{printed}");
    let second = demo();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("already there"));

    let login = |email: &str, password: &str| {
        app.graphql(
            crate::personas::LOGIN,
            serde_json::json!({ "input": { "email": email, "password": password, "tenantSlug": "demo-duka" } }),
        )
    };
    for line in printed.lines().skip(1) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let email = words[1];
        let password = line
            .split(email)
            .nth(1)
            .unwrap()
            .split('(')
            .next()
            .unwrap()
            .trim();
        let answer = login(email, password).await;
        assert!(
            answer.body()["errors"].is_null(),
            "{email}: {}",
            answer.body()
        );
    }
    let owner = login("owner@demo-duka.example", "demo owner password").await;
    let token = owner.data()["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let stores = app
        .graphql_as(&token, &[], crate::personas::STORES, serde_json::json!({}))
        .await;
    assert_eq!(
        stores.data()["stores"]["totalCount"],
        3,
        "running twice added nothing"
    );
    let members = app
        .graphql_as(&token, &[], crate::ops::MEMBERS, serde_json::json!({}))
        .await;
    assert_eq!(members.data()["members"]["totalCount"], 4);
    let employee = login("employee@demo-duka.example", "demo employee password").await;
    let employee = employee.data()["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let nowhere = app
        .graphql_as(
            &employee,
            &[],
            crate::personas::STORES,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(
        nowhere.error_code(),
        "FORBIDDEN",
        "the employee is limited to one store"
    );
}

#[test]
fn email_preview_writes_a_template_rendered_with_sample_data() {
    let dir = tempfile::tempdir().unwrap();
    let list = msingi()
        .args(["email", "preview", "list"])
        .output()
        .unwrap();
    let names = String::from_utf8(list.stdout).unwrap();
    assert!(names.lines().count() >= 13, "{names}");
    for name in [
        "verify_email",
        "invoice_issued",
        "payment_received",
        "webhook_disabled",
    ] {
        assert!(
            names.lines().any(|l| l == name),
            "{name} missing from {names}"
        );
    }
    let html = dir.path().join("invoice.html");
    let out = msingi()
        .args(["email", "preview", "invoice_issued", "-o"])
        .arg(&html)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert!(
        page.contains("DUKA-000042") && page.contains("Duka la Mama Njeri"),
        "{page}"
    );
    let text = dir.path().join("invoice.txt");
    let out = msingi()
        .args(["email", "preview", "invoice_issued", "--text", "-o"])
        .arg(&text)
        .output()
        .unwrap();
    assert!(out.status.success());
    let body = std::fs::read_to_string(&text).unwrap();
    assert!(body.contains("View the invoice: https://"), "{body}");
    assert!(!body.contains('<'), "{body}");
    // An unknown template names those there are.
    let out = msingi()
        .args(["email", "preview", "nope"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invoice_issued"));
}
