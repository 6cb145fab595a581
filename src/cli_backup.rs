//! `oauth-vault backup FILE`: a consistent copy of the SQLite database,
//! taken online (`VACUUM INTO`: one read transaction, so a running server
//! keeps serving and writing); for PostgreSQL, the `pg_dump` command to use.
//! The key file is not copied: it belongs in another place than the data,
//! and the message says to back it up with the copy.

use super::load_config;
use crate::config::KeySource;
use app::infra::db::Db;
use secrecy::ExposeSecret;
use std::path::Path;

pub async fn run(file: &Path) -> Result<String, String> {
    let config = load_config()?;
    let url = config.database_url.expose_secret();
    let keys = match &config.keys {
        KeySource::File { path, .. } => format!("the key file {}", path.display()),
        KeySource::Inline(_) => "the keys of OAUTH_VAULT_KEYS".to_string(),
    };
    if url.starts_with("postgres") {
        return Ok(format!(
            "PostgreSQL is backed up with its own tool, online and consistent:\n  \
             pg_dump --format=custom --file='{}' '{}'\n\
             (its password from PGPASSWORD or ~/.pgpass). Back up {keys} with it: \
             without them the copy's secrets cannot be opened.",
            file.display(),
            without_password(url)
        ));
    }
    let source = url
        .strip_prefix("sqlite://")
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .ok_or("DATABASE_URL is neither sqlite:// nor postgres://")?;
    if !Path::new(source).exists() {
        return Err(format!("there is no database at {source} to back up"));
    }
    let target = file
        .to_str()
        .ok_or("the backup's file name must be UTF-8")?;
    // made here, empty (which VACUUM INTO accepts), so that a missing
    // folder or a lack of permission is named as such, and a file that
    // exists is never overwritten
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                format!("{target} exists: give the name of a new file")
            }
            std::io::ErrorKind::NotFound => format!(
                "cannot write the backup to {target}: the folder {} does not exist",
                file.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .display()
            ),
            _ => format!("cannot write the backup to {target}: {e}"),
        })?;
    eprintln!("backing up {source} to {target} …");
    let copied = match Db::connect(url, 1).await {
        Ok(db) => {
            let copied = sqlx::query("VACUUM INTO $1")
                .bind(target)
                .execute(db.pool())
                .await
                .map_err(|e| format!("cannot write the backup to {target}: {e}"));
            db.close().await;
            copied
        }
        Err(e) => Err(e.to_string()),
    };
    if let Err(message) = copied {
        // no half-written copy left behind to be mistaken for a backup
        let _ = std::fs::remove_file(file);
        return Err(message);
    }
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    Ok(format!(
        "backed up the database to {target} ({bytes} bytes). Keep it with {keys}: \
         the two restore together (see `oauth-vault check`)."
    ))
}

/// The URL without its password (pg_dump takes that from elsewhere).
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => app::infra::db::redact_url(url),
    }
}
