//! Operator commands of the `oauth-vault` binary: administrators, migrations,
//! encryption keys and a health check of the configuration. They read the
//! same configuration as the server (environment and `.env`).

use crate::{
    config::{Config, KeySource},
    keys,
};
use app::{
    catalogue::{loader::Catalogue, urls::OutboundPolicy},
    domain::users::{check_new_password, normalise_email},
    infra::crypto::Keyring,
    infra::db::Db,
    infra::password,
    store::accounts as store,
};
use clap::{CommandFactory, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};
use std::{
    io::{BufRead, IsTerminal},
    path::PathBuf,
};

#[path = "cli_backup.rs"]
mod backup;
#[path = "cli_rotate.rs"]
mod rotate;

/// `oauth-vault`: the server and its operator commands.
#[derive(Debug, Parser)]
#[command(
    name = "oauth-vault",
    version,
    propagate_version = true,
    about = "OAuth Vault: a self-hostable credential vault. Without a command, it serves.",
    after_help = "Configuration comes from environment variables (and a .env file in the \
working directory); see .env.example.\n\nExit codes: 0 success; 1 the command failed \
(one line says why); 2 the command line is wrong."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server (the default)
    Serve,
    /// Apply database migrations and exit
    Migrate,
    /// Check the configuration, database, catalogue and keys; every stored
    /// secret must open with the keys present (run it after a restore)
    Check,
    /// Manage administrators
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage the encryption keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Copy the SQLite database to FILE while the server runs (for
    /// PostgreSQL: print the pg_dump command to use)
    Backup {
        /// The new file to write (it must not exist)
        file: PathBuf,
    },
    /// Print the API's OpenAPI document (JSON)
    Openapi {
        /// The server the document names (default: the configured public URL)
        #[arg(long, value_name = "URL")]
        server: Option<String>,
    },
    /// Print a shell completion script (e.g. `oauth-vault completions bash
    /// > /etc/bash_completion.d/oauth-vault`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an administrator (password from a prompt or stdin)
    Create {
        #[arg(long)]
        email: String,
    },
    /// Make an existing user an administrator
    Grant {
        #[arg(long)]
        email: String,
    },
    /// Remove administrator rights (never from the last administrator)
    Revoke {
        #[arg(long)]
        email: String,
    },
    /// Print a one-time link (valid 24 hours) that sets a new password for
    /// the account; every session of it ends
    ResetPassword {
        /// The account's email
        #[arg(required_unless_present = "email_option")]
        email: Option<String>,
        /// The account's email, as an option
        #[arg(long = "email", value_name = "EMAIL", conflicts_with = "email")]
        email_option: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new key for OAUTH_VAULT_KEYS or a key file
    Generate,
    /// Add a new active key to the key file and re-seal every secret under
    /// it, online (servers reload the key file)
    Rotate {
        /// Seconds to wait for servers to load the new key before re-sealing
        #[arg(long, value_name = "N")]
        wait_secs: Option<u64>,
        /// Stop after N re-sealed secrets (an interrupted rotation, on purpose)
        #[arg(long, value_name = "N", hide = true)]
        max_rows: Option<usize>,
    },
}

/// Runs an operator command; `Ok(None)` means "start the server".
pub async fn run(command: Option<Command>) -> Result<Option<String>, String> {
    match command {
        None | Some(Command::Serve) => Ok(None),
        Some(Command::Migrate) => migrate().await.map(Some),
        Some(Command::Check) => check().await.map(Some),
        Some(Command::Admin(admin)) => match admin {
            AdminCommand::Create { email } => admin_create(&email).await.map(Some),
            AdminCommand::Grant { email } => set_admin(&email, true).await.map(Some),
            AdminCommand::Revoke { email } => set_admin(&email, false).await.map(Some),
            AdminCommand::ResetPassword {
                email,
                email_option,
            } => {
                let email = email.or(email_option).unwrap_or_default();
                reset_password(&email).await.map(Some)
            }
        },
        Some(Command::Keys(KeysCommand::Generate)) => {
            Ok(Some(Keyring::generate_entry().expose_secret().to_string()))
        }
        Some(Command::Keys(KeysCommand::Rotate {
            wait_secs,
            max_rows,
        })) => rotate::run(wait_secs, max_rows).await.map(Some),
        Some(Command::Backup { file }) => backup::run(&file).await.map(Some),
        Some(Command::Openapi { server }) => openapi(server.as_deref()),
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), BIN, &mut out);
            let mut script = String::from_utf8_lossy(&out).trim_end().to_string();
            if shell == clap_complete::Shell::Bash {
                script = mend_bash_completion(&script);
            }
            Ok(Some(script))
        }
    }
}

/// The command's name, as shells see it.
const BIN: &str = "oauth-vault";

/// The bash script spells the state of a subcommand two ways when the
/// command's name has a hyphen: its loop arrives at `oauth__vault__subcmd__keys`
/// while its case arms read `oauth__subcmd__vault__subcmd__keys`, so nothing
/// after the first word ever completes. Spell the arms as the loop does.
fn mend_bash_completion(script: &str) -> String {
    let sep = "__subcmd__";
    let wrong = format!("{}{sep}", BIN.replace('-', sep));
    let right = format!("{}{sep}", BIN.replace('-', "__"));
    script.replace(&wrong, &right)
}

fn openapi(server: Option<&str>) -> Result<Option<String>, String> {
    let server = match server {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let config = load_config()?;
            match &config.public_url {
                Some(url) => crate::config::public_base(url),
                None => crate::config::derive_public_url(config.bind),
            }
        }
    };
    crate::api::document(&server)
        .to_pretty_json()
        .map(Some)
        .map_err(|e| format!("cannot write the document: {e}"))
}

fn load_config() -> Result<Config, String> {
    if let Err(error) = dotenvy::dotenv() {
        if !error.not_found() {
            return Err(format!(".env: {error}"));
        }
    }
    Config::from_env().map_err(|e| e.to_string())
}

async fn database(config: &Config) -> Result<Db, String> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        format!(
            "cannot create the data folder {}: {e}",
            config.data_dir.display()
        )
    })?;
    let url = config.database_url.expose_secret();
    let db = Db::connect(url, 2).await.map_err(|e| e.to_string())?;
    db.migrate().await.map_err(|e| e.to_string())?;
    Ok(db)
}

async fn migrate() -> Result<String, String> {
    let config = load_config()?;
    let db = database(&config).await?;
    db.check_ready().await.map_err(|e| e.to_string())?;
    db.close().await;
    Ok(format!(
        "migrations applied to {}",
        app::infra::db::redact_url(config.database_url.expose_secret())
    ))
}

fn read_password() -> Result<SecretString, String> {
    let text = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password (12-128 characters): ")
            .map_err(|e| format!("cannot read the password: {e}"))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    check_new_password(&text)?;
    Ok(SecretString::from(text))
}

async fn admin_create(email: &str) -> Result<String, String> {
    let email = normalise_email(email).map_err(|e| format!("--email: {e}"))?;
    let config = load_config()?;
    let password = read_password()?;
    let hash = password::hash(password).await.map_err(|e| e.to_string())?;
    let db = database(&config).await?;
    let created = store::create_account(&db, &email, &hash, store::Joining::Operator).await;
    db.close().await;
    match created {
        Ok(_) => Ok(format!("administrator {email} created; sign in at the portal")),
        Err(store::AccountError::EmailTaken) => Err(format!(
            "{email} already has an account; make it an administrator with `oauth-vault admin grant --email {email}`"
        )),
        Err(e) => Err(e.to_string()),
    }
}

async fn reset_password(email: &str) -> Result<String, String> {
    use app::infra::tokens::random_token;
    let email = normalise_email(email).map_err(|e| format!("EMAIL: {e}"))?;
    let config = load_config()?;
    let public_url = match &config.public_url {
        Some(url) => url.as_str().trim_end_matches('/').to_string(),
        None => crate::config::derive_public_url(config.bind),
    };
    let db = database(&config).await?;
    let token = random_token();
    let created = app::store::account_links::create_reset(&db, &email, &token).await;
    db.close().await;
    match created {
        Ok(Some(_)) => Ok(format!(
            "A one-time link that sets a new password for {email} (valid 24 hours; earlier links stop working):\n\n  {public_url}/reset/{token}\n\nHand it to its owner over a channel you trust."
        )),
        Ok(None) => Err(format!("no account with the email {email}")),
        Err(e) => Err(e.to_string()),
    }
}

async fn set_admin(email: &str, admin: bool) -> Result<String, String> {
    let email = normalise_email(email).map_err(|e| format!("--email: {e}"))?;
    let config = load_config()?;
    let db = database(&config).await?;
    let result = async {
        let mut tx = db.begin().await.map_err(|e| e.to_string())?;
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
        let Some(user_id) = found else {
            return Err(format!("no account with the email {email}"));
        };
        if !admin {
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND id <> $1 AND disabled_at IS NULL",
            )
            .bind(&user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
            if others == 0 {
                return Err(format!(
                    "{email} is the last administrator; make another user an administrator first"
                ));
            }
        }
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(if admin { "admin" } else { "developer" })
            .bind(&user_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
        app::store::audit::record(
            &mut tx,
            &app::store::audit::Actor::operator(),
            app::store::audit::Entry::new(if admin {
                "user.admin_granted"
            } else {
                "user.admin_revoked"
            })
            .target("user", &user_id)
            .detail(&email),
        )
        .await
        .map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        Ok(if admin {
            format!("{email} is now an administrator")
        } else {
            format!("{email} is no longer an administrator")
        })
    }
    .await;
    db.close().await;
    result
}

/// Everything a server needs, checked; each problem with its fix.
async fn check() -> Result<String, String> {
    let mut problems: Vec<String> = Vec::new();
    let mut report: Vec<String> = Vec::new();
    let config = match load_config() {
        Ok(c) => c,
        Err(e) => return Err(format!("configuration: {e}")),
    };
    report.push("ok: configuration".into());
    let policy = OutboundPolicy::new(config.allowed_hosts.clone());
    match Catalogue::load(config.providers_dir.as_deref(), &policy) {
        Ok(c) => report.push(format!(
            "ok: provider catalogue ({} providers)",
            c.all().len()
        )),
        Err(e) => problems.push(format!("catalogue: {e}")),
    }
    let keyring = check_keys(&config.keys, &mut report, &mut problems);
    check_database(
        config.database_url.expose_secret(),
        keyring.as_ref(),
        &mut report,
        &mut problems,
    )
    .await;
    if problems.is_empty() {
        Ok(report.join("\n"))
    } else {
        Err(format!(
            "{}\n{} problem(s):\n{}",
            report.join("\n"),
            problems.len(),
            problems
                .iter()
                .map(|p| format!("error: {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }
}

/// `check`'s key part: the keyring, if it loads.
fn check_keys(
    source: &KeySource,
    report: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Option<app::infra::crypto::Keyring> {
    match source {
        KeySource::File {
            path,
            generate: true,
        } if !path.exists() => {
            report.push(format!(
                "ok: no key file yet at {} (the server generates it on first start)",
                path.display()
            ));
            None
        }
        source => match keys::load_keyring(source) {
            Ok((ring, _)) => {
                report.push(format!(
                    "ok: keys {} (active: {})",
                    ring.key_ids().join(", "),
                    ring.active_key_id()
                ));
                Some(ring)
            }
            Err(e) => {
                problems.push(format!("keys: {e}"));
                None
            }
        },
    }
}

/// `check`'s database part: reachable, migrated, and every sealed secret's
/// key in the keyring.
async fn check_database(
    url: &str,
    keyring: Option<&app::infra::crypto::Keyring>,
    report: &mut Vec<String>,
    problems: &mut Vec<String>,
) {
    match Db::connect(url, 2).await {
        Ok(db) => {
            match db.check_ready().await {
                Ok(()) => report.push(format!("ok: database {}", app::infra::db::redact_url(url))),
                Err(e) => problems.push(format!(
                    "database: {e} (run `oauth-vault migrate` or start the server once)"
                )),
            }
            if let Some(ring) = keyring {
                check_secrets_open(&db, ring, report, problems).await;
                match app::services::rotation::census(&db).await {
                    Ok(counts) => {
                        for (key, count) in &counts {
                            if ring.has_key(key) {
                                report.push(format!("ok: {count} secrets sealed with key {key}"));
                            } else {
                                problems.push(format!(
                                    "keys: {count} secrets are sealed with key '{key}', which is not in the keyring; put that key back in the key file or OAUTH_VAULT_KEYS (the first key stays the active one)"
                                ));
                            }
                        }
                    }
                    Err(e) => {
                        problems.push(format!("database: cannot read the sealed secrets: {e}"))
                    }
                }
            }
            db.close().await;
        }
        Err(e) => problems.push(format!("database: {e}")),
    }
}

/// Whether every sealed secret opens with the keys present (after a
/// restore: with the key file that belongs to the database); names the
/// ones that do not.
async fn check_secrets_open(
    db: &Db,
    ring: &app::infra::crypto::Keyring,
    report: &mut Vec<String>,
    problems: &mut Vec<String>,
) {
    const NAMED: usize = 20;
    match app::services::rotation::unopenable(db, ring).await {
        Ok((0, _)) => report.push("ok: no secrets stored yet".to_string()),
        Ok((1, failed)) if failed.is_empty() => {
            report.push("ok: the one stored secret opens with these keys".to_string());
        }
        Ok((tried, failed)) if failed.is_empty() => {
            report.push(format!("ok: all {tried} secrets open with these keys"));
        }
        Ok((tried, failed)) => {
            let mut named: Vec<String> =
                failed.iter().take(NAMED).map(ToString::to_string).collect();
            if failed.len() > NAMED {
                named.push(format!("and {} more", failed.len() - NAMED));
            }
            problems.push(format!(
                "keys: {} of {tried} secrets do not open with these keys (a wrong or missing key file?): {}",
                failed.len(),
                named.join(", ")
            ));
        }
        Err(e) => problems.push(format!("database: cannot read the sealed secrets: {e}")),
    }
}
