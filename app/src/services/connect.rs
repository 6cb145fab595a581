//! The connect flow's use cases: what a session offers, and completing an
//! authorization at the callback (issuer check, code exchange with PKCE,
//! identity, storing the connection). Any failure leaves nothing behind.

use crate::domain::grants::{expiry_ms, TokenSet};
use crate::{
    domain::connect::ConnectFailure,
    domain::provider_configs::{ConfigStatus, ConfigView},
    infra::crypto::Aad,
    infra::db::now_ms,
    services::context::Context,
    services::oauth::{self, ClientCredentials, IdentityError, ProviderProfile, TokenError},
    services::values,
    store::connect::{OpenSession, Transaction},
    store::connections::{save_authorized, Authorized, StoreError},
    store::provider_configs::{self as configs},
};
use secrecy::ExposeSecret;
use std::collections::HashMap;

/// The active configurations a session offers, in the app's order.
pub async fn offered(
    state: &Context,
    session: &OpenSession,
) -> Result<Vec<(ConfigView, ProviderProfile)>, sqlx::Error> {
    let all = configs::list(&state.db, &state.keyring, &session.app_id).await?;
    Ok(all
        .into_iter()
        .filter(|c| c.status == ConfigStatus::Active)
        .filter(|c| session.providers.is_empty() || session.providers.contains(&c.slug))
        .filter_map(|c| ProviderProfile::of(&c, &state.catalogue).map(|p| (c, p)))
        .collect())
}

/// Checks the answer, exchanges the code, reads the account and stores
/// the connection. Any failure leaves nothing behind.
pub async fn complete(
    state: &Context,
    tx: &Transaction,
    session: &OpenSession,
    query: &HashMap<String, String>,
) -> Result<String, ConnectFailure> {
    if tx.expires_at <= now_ms() {
        return Err(ConnectFailure::Expired);
    }
    let config = configs::find(
        &state.db,
        &state.keyring,
        &session.app_id,
        &tx.provider_config_id,
    )
    .await
    .map_err(|e| server_error(&e))?
    .ok_or(ConnectFailure::ProviderDisabled)?;
    if config.status != ConfigStatus::Active {
        return Err(ConnectFailure::ProviderDisabled);
    }
    let profile =
        ProviderProfile::of(&config, &state.catalogue).ok_or(ConnectFailure::ProviderDisabled)?;
    let code = authorization_code(tx, &profile, query)?;
    // what the URLs are filled with: the developer's and the end user's
    // parameters, then what the provider returns (checked before use)
    let mut kept = values::from_json(tx.parameters.as_deref());
    let definition = profile.definition.clone();
    for name in definition.iter().flat_map(|d| d.callback.values.iter()) {
        match query.get(name) {
            Some(v) if values::returned_ok(v, &state.outbound) => {
                kept.insert(name.clone(), values::normalised(v));
            }
            _ => return Err(ConnectFailure::InvalidRequest),
        }
    }
    let mut all = config.parameters.clone();
    all.extend(kept.clone());
    let resolved = profile.resolved(&all);
    if let Some(missing) = ProviderProfile::unfilled(&resolved.oauth.token_url) {
        return Err(server_error(&format!("the token URL lacks {missing}")));
    }
    let tokens = exchange(state, tx, &config, &resolved, code).await?;
    for (name, value) in &tokens.returned {
        if !values::returned_ok(value, &state.outbound) {
            tracing::warn!(value = %name, "the provider returned a value that cannot be used in a URL");
            return Err(ConnectFailure::TokenExchangeFailed);
        }
        kept.insert(name.clone(), value.clone());
        all.insert(name.clone(), value.clone());
    }
    let resolved = resolved.resolved(&all);
    let account = match (&tokens.identity, &resolved.identity) {
        (Some(found), _) => found.clone(),
        (None, Some(spec)) => oauth::identify_for(
            &state.http,
            &resolved,
            spec,
            &tokens.token_type,
            &tokens.access_token,
        )
        .await
        .map_err(|e: IdentityError| {
            tracing::warn!(error = %e, "reading the account identity failed");
            ConnectFailure::IdentityFailed
        })?,
        (None, None) => crate::domain::grants::AccountIdentity::default(),
    };
    let granted = account.scopes.clone().or_else(|| tokens.scopes.clone());
    let expires_at = tokens
        .expires_in
        .map(|s| expiry_ms(now_ms(), s))
        .or_else(|| {
            // A token that must be refreshed but names no lifetime gets the
            // definition's fallback; a long-lived one none.
            (profile.tokens.lifecycle != crate::catalogue::TokenLifecycle::LongLived
                && tokens.refresh_token.is_some())
            .then(|| expiry_ms(now_ms(), profile.fallback_lifetime_secs()))
        });
    let saved = save_authorized(
        &state.db,
        &state.keyring,
        &Authorized {
            app_id: &session.app_id,
            provider_config_id: &config.id,
            session_id: &session.id,
            end_user_id: &session.end_user_id,
            end_user_name: session.end_user_name.as_deref(),
            end_user_email: session.end_user_email.as_deref(),
            account: &account,
            tokens: &tokens,
            granted_scopes: granted.as_deref(),
            expires_at,
            reconnect_id: session.reconnect_id.as_deref(),
            parameters: values::to_json(&kept).as_deref(),
        },
    )
    .await;
    let failure = match saved {
        Ok((id, _)) => {
            state.caches.connection_changed(&id);
            return Ok(id);
        }
        Err(StoreError::SessionUsed) => ConnectFailure::SessionUsed,
        Err(StoreError::ConnectionRevoked) => ConnectFailure::ConnectionRevoked,
        Err(e) => server_error(&e),
    };
    // Not kept: the grant is revoked at the provider, not left behind.
    let (token, hint) = match &tokens.refresh_token {
        Some(refresh) => (refresh.clone(), "refresh_token"),
        None => (tokens.access_token.clone(), "access_token"),
    };
    crate::services::revocation::revoke_unkept(state, config, token, hint);
    Err(failure)
}

/// The authorization code of the provider's answer, after checking who
/// answered and whether the end user agreed.
fn authorization_code<'q>(
    tx: &Transaction,
    profile: &ProviderProfile,
    query: &'q HashMap<String, String>,
) -> Result<&'q String, ConnectFailure> {
    // RFC 9207: where the provider names itself, it must be the issuer
    // this authorization was started with.
    match (query.get("iss"), &tx.issuer) {
        (Some(iss), Some(expected)) if iss != expected => {
            return Err(ConnectFailure::IssuerMismatch)
        }
        (None, _) if profile.oauth.authorization_response_iss => {
            return Err(ConnectFailure::IssuerMismatch)
        }
        _ => {}
    }
    if let Some(error) = query.get("error") {
        return Err(if error == "access_denied" {
            ConnectFailure::AccessDenied
        } else {
            ConnectFailure::ProviderError
        });
    }
    query
        .get("code")
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or(ConnectFailure::InvalidRequest)
}

/// Exchanges the code, with the PKCE verifier the transaction sealed.
async fn exchange(
    state: &Context,
    tx: &Transaction,
    config: &ConfigView,
    profile: &ProviderProfile,
    code: &str,
) -> Result<TokenSet, ConnectFailure> {
    let verifier = tx
        .code_verifier
        .as_ref()
        .map(|sealed| {
            state.keyring.decrypt_string(
                sealed,
                Aad::new("oauth_transactions", "code_verifier", &tx.id),
            )
        })
        .transpose()
        .map_err(|e| server_error(&e))?;
    let secret = configs::client_secret(&state.db, &state.keyring, &config.id)
        .await
        .map_err(|e| server_error(&e))?
        .ok_or(ConnectFailure::ProviderDisabled)?;
    let mut grant = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", tx.redirect_uri.as_str()),
    ];
    if let Some(v) = &verifier {
        grant.push(("code_verifier", v.expose_secret()));
    }
    oauth::token_request(
        &state.http,
        profile,
        &ClientCredentials {
            client_id: &config.client_id,
            client_secret: &secret,
        },
        grant,
    )
    .await
    .map_err(|e: TokenError| {
        tracing::warn!(error = %e, "token exchange failed");
        ConnectFailure::TokenExchangeFailed
    })
}

fn server_error(error: &dyn std::fmt::Display) -> ConnectFailure {
    crate::infra::failure::report("the connect callback", error);
    ConnectFailure::ServerError
}
