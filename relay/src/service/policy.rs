//! What each role may use beyond actions (which `shared::action::Role::may_use`
//! decides, as the browser must know it too): the raw views and the audit log.

use shared::action::Role;
use shared::ami::Classes;

use super::Login;

/// A refusal, in the words the person reads.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub &'static str);

/// The event log and the AMI console show every call on the server: supervisors,
/// admins and AMI accounts logged in with their own secret (whose read classes
/// Asterisk gave them) may read raw events; an agent, who sees only their own
/// calls, may not.
pub fn may_read_raw_events(login: &Login) -> Result<(), Refused> {
    match login.role() {
        Some(Role::Agent) => Err(Refused(
            "the event log is for supervisors and admins; an agent sees their own calls only",
        )),
        _ => Ok(()),
    }
}

/// Raw AMI (AJAM, the console) reaches as far as the AMI account does: among relay
/// accounts, admins only.
pub fn may_use_raw_ami(login: &Login) -> bool {
    matches!(login.role(), None | Some(Role::Admin))
}

/// The audit log: relay accounts with the admin role, or AMI accounts that hold the
/// `system` write class (they could read Asterisk's own logs anyway).
pub fn may_read_audit(login: &Login) -> Result<(), Refused> {
    let allowed = match login.role() {
        Some(role) => role == Role::Admin,
        None => login.permissions().write.contains(Classes::SYSTEM),
    };
    if allowed {
        Ok(())
    } else {
        Err(Refused("the audit log is for admins only"))
    }
}
