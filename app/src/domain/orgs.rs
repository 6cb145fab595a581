//! Organisations and their members: roles, what each may do, and the rules
//! that keep an organisation owned.

use serde::{Deserialize, Serialize};

pub const ORG_NAME_MAX: usize = 80;

/// A member's role in an organisation. Each role may do everything the
/// roles below it may.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// Reads apps, provider pages (never a secret), connections and
    /// activity; changes nothing.
    #[default]
    Viewer,
    /// Creates and changes apps, provider configurations, API keys, settings
    /// and webhooks; disconnects connections.
    Developer,
    /// Manages members and invitations.
    Admin,
    /// Deletes the organisation, transfers ownership, manages owners.
    Owner,
}

impl OrgRole {
    pub const ALL: [Self; 4] = [Self::Owner, Self::Admin, Self::Developer, Self::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Developer => "developer",
            Self::Viewer => "viewer",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Owner => "Owner",
            Self::Admin => "Admin",
            Self::Developer => "Developer",
            Self::Viewer => "Viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "owner" => Some(Self::Owner),
            "admin" => Some(Self::Admin),
            "developer" => Some(Self::Developer),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }

    /// Whether this role may do what `need` asks.
    pub fn allows(self, need: Need) -> bool {
        self >= need.role()
    }
}

/// What an action needs of the member doing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Need {
    /// Read apps, providers, connections, activity and members.
    Read,
    /// Change apps, providers, keys, settings, webhooks and connections.
    Develop,
    /// Invite, change and remove members (not owners).
    ManageMembers,
    /// Delete the organisation, manage owners.
    Own,
}

impl Need {
    /// The least role that may.
    pub fn role(self) -> OrgRole {
        match self {
            Self::Read => OrgRole::Viewer,
            Self::Develop => OrgRole::Developer,
            Self::ManageMembers => OrgRole::Admin,
            Self::Own => OrgRole::Owner,
        }
    }
}

/// How a "forbidden" server function error starts (the portal's pages tell
/// it from "not found" by it).
pub const FORBIDDEN_PREFIX: &str = "forbidden: ";

/// What the 403 page says.
pub fn forbidden_message(need: Need, have: OrgRole) -> String {
    let needed = need.role();
    format!(
        "This needs the {} role or higher in this organisation; you are {} {}. Ask an owner or admin of the organisation to change your role.",
        needed.as_str(),
        article(have),
        have.as_str()
    )
}

fn article(role: OrgRole) -> &'static str {
    match role {
        OrgRole::Owner | OrgRole::Admin => "an",
        OrgRole::Developer | OrgRole::Viewer => "a",
    }
}

/// An organisation as the header's switcher shows it, with the user's role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRef {
    pub id: String,
    pub name: String,
    pub role: OrgRole,
}

/// The signed-in user as every portal page sees them: their email, the
/// organisation the page is about (with their role there), and all of
/// theirs, for the header's switcher.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    pub email: String,
    pub organisation: OrgRef,
    pub organisations: Vec<OrgRef>,
}

impl Seat {
    /// Whether the user's role in the page's organisation allows `need`:
    /// pages show a form only to those who may post it (the handlers check
    /// again).
    pub fn can(&self, need: Need) -> bool {
        self.organisation.role.allows(need)
    }
}

/// A member as the members page lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    pub role: OrgRole,
    pub joined_at: i64,
    pub last_login_at: Option<i64>,
}

/// An invitation into the organisation, as the members page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgInvitationView {
    pub id: String,
    pub email: String,
    pub role: OrgRole,
    pub invited_by: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

pub const LAST_OWNER: &str =
    "This is the organisation's last owner: make another member an owner first.";
pub const OWNERS_ONLY: &str =
    "Only an owner can change an owner's role, remove an owner or make someone an owner.";

/// A change to a membership, as the rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// Give the member this role.
    SetRole(OrgRole),
    /// Remove the member (or the member leaves).
    Remove,
}

/// Whether `acting` (their role) may make `change` to a member whose role is
/// `target`; `owners` counts the organisation's owners, the target included.
/// Only owners touch owners; the last owner stays an owner.
pub fn check_member_change(
    acting: OrgRole,
    target: OrgRole,
    change: MemberChange,
    owners: i64,
    leaving_themselves: bool,
) -> Result<(), &'static str> {
    let touches_owner = target == OrgRole::Owner || change == MemberChange::SetRole(OrgRole::Owner);
    if !leaving_themselves && touches_owner && acting != OrgRole::Owner {
        return Err(OWNERS_ONLY);
    }
    let ends_ownership =
        target == OrgRole::Owner && change != MemberChange::SetRole(OrgRole::Owner);
    if ends_ownership && owners <= 1 {
        return Err(LAST_OWNER);
    }
    Ok(())
}

/// An organisation's name: what its members see in the switcher.
pub fn check_org_name(text: &str) -> Result<String, String> {
    crate::domain::labels::check_label(text, ORG_NAME_MAX, "Enter a name for the organisation")
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberChange::*;
    use OrgRole::*;

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Owner.allows(Need::Own));
        assert!(Admin.allows(Need::ManageMembers) && !Admin.allows(Need::Own));
        assert!(Developer.allows(Need::Develop) && !Developer.allows(Need::ManageMembers));
        assert!(Viewer.allows(Need::Read) && !Viewer.allows(Need::Develop));
        for role in OrgRole::ALL {
            assert_eq!(OrgRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(OrgRole::parse("root"), None);
    }

    #[test]
    fn only_owners_touch_owners() {
        assert_eq!(
            check_member_change(Admin, Owner, SetRole(Viewer), 2, false),
            Err(OWNERS_ONLY)
        );
        assert_eq!(
            check_member_change(Admin, Developer, SetRole(Owner), 1, false),
            Err(OWNERS_ONLY)
        );
        assert_eq!(
            check_member_change(Admin, Owner, Remove, 2, false),
            Err(OWNERS_ONLY)
        );
        assert!(check_member_change(Admin, Developer, SetRole(Admin), 1, false).is_ok());
        assert!(check_member_change(Owner, Developer, SetRole(Owner), 1, false).is_ok());
    }

    #[test]
    fn the_last_owner_stays() {
        assert_eq!(
            check_member_change(Owner, Owner, SetRole(Admin), 1, false),
            Err(LAST_OWNER)
        );
        assert_eq!(
            check_member_change(Owner, Owner, Remove, 1, true),
            Err(LAST_OWNER)
        );
        assert!(check_member_change(Owner, Owner, Remove, 2, true).is_ok());
        assert!(check_member_change(Owner, Owner, SetRole(Developer), 2, false).is_ok());
        // anyone may leave, an owner too while another remains
        assert!(check_member_change(Viewer, Viewer, Remove, 1, true).is_ok());
    }

    #[test]
    fn the_forbidden_page_names_the_role() {
        let text = forbidden_message(Need::Develop, Viewer);
        assert!(
            text.contains("developer role") && text.contains("a viewer"),
            "{text}"
        );
    }
}
