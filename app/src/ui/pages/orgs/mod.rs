//! An organisation's members page (members, roles, invitations, the
//! organisation itself) and creating an organisation. The posts are in
//! [`ssr`]; every one checks the role again in the service layer.

use crate::{
    domain::orgs::{MemberView, Need, OrgInvitationView, OrgRole, Seat, ORG_NAME_MAX},
    ui::components::{layout::PortalPage, portal::portal_page, provider::CopyField},
    ui::forms::{use_csrf_token, use_feedback, use_shown_once, CsrfField, FormError, TextField},
    util::time::{display, display_opt},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod ssr;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersData {
    pub seat: Seat,
    /// The signed-in user's id.
    pub me: String,
    pub members: Vec<MemberView>,
    /// Live invitations: for admins and owners only.
    pub invitations: Vec<OrgInvitationView>,
    /// Invitations go out by email (a mail server is configured).
    pub emails: bool,
}

#[server(endpoint = "orgs/members")]
pub async fn members_page(org_id: String) -> Result<MembersData, ServerFnError> {
    use crate::web::session::{internal, org_access};
    let (state, user, seat) = org_access(&org_id, Need::Read).await?;
    let members = crate::store::orgs::members(&state.db, &org_id)
        .await
        .map_err(internal)?;
    let invitations = if seat.can(Need::ManageMembers) {
        crate::store::account_links::org_invitations(&state.db, &org_id)
            .await
            .map_err(internal)?
    } else {
        Vec::new()
    };
    Ok(MembersData {
        seat,
        me: user.id,
        members,
        invitations,
        emails: state.mailer.is_some(),
    })
}

#[server(endpoint = "orgs/seat")]
pub async fn seat_page() -> Result<Seat, ServerFnError> {
    Ok(crate::web::session::require_seat().await?.2)
}

/// The roles a member of `role` may give (owners give any).
fn assignable(role: OrgRole) -> Vec<OrgRole> {
    OrgRole::ALL
        .into_iter()
        .filter(|r| role == OrgRole::Owner || *r < OrgRole::Owner)
        .collect()
}

#[component]
fn RoleSelect(name: &'static str, choices: Vec<OrgRole>, selected: OrgRole) -> impl IntoView {
    view! {
        <select name=name aria-label="Role">
            {choices.into_iter().map(|r| view! {
                <option value=r.as_str() selected=r == selected>{r.label()}</option>
            }).collect_view()}
        </select>
    }
}

#[component]
pub fn Members() -> impl IntoView {
    let params = use_params_map();
    let org_id = move || params.read().get("org_id").unwrap_or_default();
    let data = Resource::new(org_id, members_page);
    let invite = use_feedback("invite");
    let rename = use_feedback("rename-org");
    let delete = use_feedback("delete-org");
    let member = use_feedback("member");
    let link = use_shown_once();
    let sent = use_query_map().read_untracked().get("sent").is_some();
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let org = page.seat.organisation.clone();
        let action = format!("/orgs/{}/members", org.id);
        let manage = page.seat.can(Need::ManageMembers);
        let own = page.seat.can(Need::Own);
        let (invite, rename, delete, member) = (
            invite.clone(),
            rename.clone(),
            delete.clone(),
            member.clone(),
        );
        let (csrf, link) = (csrf.clone(), link.clone());
        view! {
            <Title text=format!("Members · {}", org.name) />
            <PortalPage email=page.seat.email.clone() seat=page.seat.clone() csrf=csrf.clone()>
                <h1 data-testid="org-title">{org.name.clone()}</h1>
                <p class="muted">"You are " <strong data-testid="my-role">{org.role.label()}</strong> " in this organisation. " <a href=format!("/orgs/{}/activity", org.id)>"Activity"</a></p>
                {link.map(|link| view! {
                    <section class="panel panel-highlight" data-testid="invitation-link">
                        <h2>"Send this invitation link"</h2>
                        <p>"It works once, for 7 days. Anyone with it can join as the invited address, so send it only to them."</p>
                        <CopyField value=link label="Invitation link" testid="invitation-link-value" />
                    </section>
                })}
                {sent.then(|| view! { <div class="alert alert-success" role="status" data-testid="invitation-sent">"The invitation was sent by email."</div> })}
                <section class="panel">
                    <h2>"Members"</h2>
                    <FormError error=member.error("") />
                    <MembersTable page=page.clone() action=action.clone() csrf=csrf.clone() />
                </section>
                {manage.then(|| view! {
                    <section class="panel">
                        <h2>"Invite someone"</h2>
                        <p class="muted">{if page.emails {
                            "They get an email with a single-use link, valid for 7 days."
                        } else {
                            "You get a single-use link, valid for 7 days, to send them. (The operator can set up a mail server to send invitations by email.)"
                        }}</p>
                        <FormError error=invite.error("") />
                        <form method="post" action=action.clone() class="form" data-testid="invite-form">
                            <CsrfField token=csrf.clone() />
                            <input type="hidden" name="_action" value="invite" />
                            <TextField label="Email" name="email" kind="email" value=invite.value("email") error=invite.error("email") maxlength=254 />
                            <div class="field">
                                <label for="invite-role">"Role"</label>
                                <RoleSelect name="role" choices=assignable(org.role) selected=invite.value("role").and_then(|r| OrgRole::parse(&r)).unwrap_or(OrgRole::Developer) />
                                {invite.error("role").map(|e| view! { <span class="error" role="alert">{e}</span> })}
                            </div>
                            <div><button type="submit" class="btn btn-primary">"Invite"</button></div>
                        </form>
                        <InvitationsTable invitations=page.invitations.clone() action=action.clone() csrf=csrf.clone() />
                    </section>
                })}
                <RolesExplained />
                {manage.then(|| view! {
                    <section class="panel">
                        <h2>"Rename the organisation"</h2>
                        <FormError error=rename.error("") />
                        <form method="post" action=action.clone() class="form">
                            <CsrfField token=csrf.clone() />
                            <input type="hidden" name="_action" value="rename" />
                            <TextField label="Name" name="name" value=Some(rename.value("name").unwrap_or(org.name.clone())) error=rename.error("name") maxlength=ORG_NAME_MAX />
                            <div><button type="submit" class="btn">"Save name"</button></div>
                        </form>
                    </section>
                })}
                {own.then(|| view! {
                    <section class="panel">
                        <h2>"Delete the organisation"</h2>
                        <p>"Deleting removes every app of the organisation with its provider configurations, API keys and connections (each revoked at its provider), and its invitations. Members keep their accounts. This cannot be undone."</p>
                        <FormError error=delete.error("") />
                        <form method="post" action=action.clone() class="form">
                            <CsrfField token=csrf.clone() />
                            <input type="hidden" name="_action" value="delete" />
                            <TextField label="Type the organisation's name to confirm" name="confirm" value=delete.value("confirm") error=delete.error("confirm") maxlength=ORG_NAME_MAX />
                            <div><button type="submit" class="btn btn-danger">"Delete organisation"</button></div>
                        </form>
                    </section>
                })}
            </PortalPage>
        }
        .into_any()
    })
}

/// The members, each with their role; admins and owners change roles and
/// remove members, and everyone may leave.
#[component]
fn MembersTable(page: MembersData, action: String, csrf: String) -> impl IntoView {
    let mine = page.seat.organisation.role;
    let manage = page.seat.can(Need::ManageMembers);
    view! {
        <div class="table-wrap"><table data-testid="members">
            <thead><tr><th>"Email"</th><th>"Role"</th><th>"Joined"</th><th>"Last sign-in"</th><th></th></tr></thead>
            <tbody>
                {page.members.into_iter().map(|m| {
                    let me = m.user_id == page.me;
                    // only owners touch owners
                    let editable = manage && (mine == OrgRole::Owner || m.role < OrgRole::Owner);
                    let role_cell = if editable {
                        view! {
                            <form method="post" action=action.clone() class="member-role">
                                <CsrfField token=csrf.clone() />
                                <input type="hidden" name="_action" value="set_role" />
                                <input type="hidden" name="user_id" value=m.user_id.clone() />
                                <RoleSelect name="role" choices=assignable(mine) selected=m.role />
                                <button type="submit" class="btn btn-sm">"Change"</button>
                            </form>
                        }.into_any()
                    } else {
                        view! { <span class="badge">{m.role.label()}</span> }.into_any()
                    };
                    let (label, what) = if me { ("Leave", "leave") } else { ("Remove", "remove") };
                    let button = (me || editable).then(|| view! {
                        <form method="post" action=action.clone()>
                            <CsrfField token=csrf.clone() />
                            <input type="hidden" name="_action" value=what />
                            <input type="hidden" name="user_id" value=m.user_id.clone() />
                            <button type="submit" class="btn btn-sm btn-danger">{label}</button>
                        </form>
                    });
                    view! {
                        <tr data-testid="member" data-email=m.email.clone()>
                            <td>{m.email.clone()}{me.then_some(" (you)")}</td>
                            <td>{role_cell}</td>
                            <td>{display(m.joined_at)}</td>
                            <td>{display_opt(m.last_login_at)}</td>
                            <td>{button}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table></div>
    }
}

#[component]
fn InvitationsTable(
    invitations: Vec<OrgInvitationView>,
    action: String,
    csrf: String,
) -> impl IntoView {
    if invitations.is_empty() {
        return view! { <p class="muted invitations-none" data-testid="no-invitations">"No invitations waiting."</p> }
            .into_any();
    }
    view! {
        <h3>"Waiting to be accepted"</h3>
        <div class="table-wrap"><table data-testid="invitations">
            <thead><tr><th>"Email"</th><th>"Role"</th><th>"Invited by"</th><th>"Expires"</th><th></th></tr></thead>
            <tbody>
                {invitations.into_iter().map(|i| view! {
                    <tr data-testid="invitation">
                        <td>{i.email.clone()}</td>
                        <td>{i.role.label()}</td>
                        <td>{i.invited_by.clone().unwrap_or_default()}</td>
                        <td>{display(i.expires_at)}</td>
                        <td>
                            <form method="post" action=action.clone()>
                                <CsrfField token=csrf.clone() />
                                <input type="hidden" name="_action" value="revoke" />
                                <input type="hidden" name="invitation_id" value=i.id.clone() />
                                <button type="submit" class="btn btn-sm btn-danger">"Revoke"</button>
                            </form>
                        </td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table></div>
    }
    .into_any()
}

/// What each role may do.
#[component]
fn RolesExplained() -> impl IntoView {
    view! {
        <section class="panel">
            <h2>"Roles"</h2>
            <div class="table-wrap"><table class="role-matrix">
                <thead><tr><th>"Role"</th><th>"May"</th></tr></thead>
                <tbody>
                    <tr><td>"Owner"</td><td>"Everything an admin may, and delete the organisation, make and demote owners. There is always at least one owner."</td></tr>
                    <tr><td>"Admin"</td><td>"Everything a developer may, and invite, change and remove members (not owners)."</td></tr>
                    <tr><td>"Developer"</td><td>"Create and change apps, providers, API keys, settings and webhooks; disconnect connections."</td></tr>
                    <tr><td>"Viewer"</td><td>"Read apps, providers (never a secret), connections and activity. Changes nothing."</td></tr>
                </tbody>
            </table></div>
        </section>
    }
}

/// Creating an organisation: the user becomes its owner and works in it.
#[component]
pub fn NewOrganisation() -> impl IntoView {
    let data = Resource::new(|| (), |_| seat_page());
    let feedback = use_feedback("create-org");
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |seat| {
        let (feedback, csrf) = (feedback.clone(), csrf.clone());
        view! {
            <Title text="New organisation" />
            <PortalPage email=seat.email.clone() seat=seat.clone() csrf=csrf.clone()>
                <h1>"New organisation"</h1>
                <p class="muted">"An organisation holds apps and the people who work on them. You become its owner."</p>
                <section class="panel">
                    <FormError error=feedback.error("") />
                    <form method="post" action="/orgs/new" class="form">
                        <CsrfField token=csrf />
                        <TextField label="Name" name="name" value=feedback.value("name") error=feedback.error("name") maxlength=ORG_NAME_MAX />
                        <div><button type="submit" class="btn btn-primary">"Create organisation"</button></div>
                    </form>
                </section>
            </PortalPage>
        }
        .into_any()
    })
}

/// The organisation pages, for the router.
#[component(transparent)]
pub fn OrgRoutes() -> impl leptos_router::MatchNestedRoutes + Clone {
    use leptos_router::{components::Route, path, SsrMode};
    view! {
        <Route path=path!("/orgs/new") view=NewOrganisation ssr=SsrMode::Async />
        <Route path=path!("/orgs/:org_id/members") view=Members ssr=SsrMode::Async />
    }
    .into_inner()
}
