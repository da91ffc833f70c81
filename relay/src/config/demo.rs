//! `--demo`: the settings that follow the in-process simulated PBX.
//!
//! The accounts and their read classes are pbxsim's own manager.conf users (the
//! fixtures'), read from pbxsim rather than written out a second time.

use std::net::SocketAddr;

use shared::ami::Classes;
use shared::model::figures::QueueThresholds;
use shared::protocol::{DemoAccount, Seat};

use crate::ami::AmiConfig;
use crate::control::Dialing;
use crate::live::ServerConfig;

/// The in-process simulated PBX at `addr`, followed as its first (all-powerful) user,
/// with the read classes of pbxsim's users.
pub fn server(addr: SocketAddr) -> ServerConfig {
    let demo = pbxsim::SimConfig::demo();
    let users = demo.users;
    let service = users
        .iter()
        .find(|u| u.write == Classes::ALL)
        .or(users.first());
    let (username, secret) = service.map_or(("admin", "admin-secret"), |u| {
        (u.name.as_str(), u.secret.as_str())
    });
    ServerConfig {
        read_classes: users.iter().map(|u| (u.name.clone(), u.read)).collect(),
        demo_accounts: users
            .iter()
            .map(|u| DemoAccount {
                username: u.name.clone(),
                secret: u.secret.clone(),
                role: role_of(u.read, u.write).to_owned(),
            })
            .collect(),
        // pbxsim's dialplan is Asterisk's test context, parking spaces included; its
        // call centre's agents sign in as the members its queues were made of.
        dialing: Dialing {
            channel_template: "PJSIP/{exten}".into(),
            context: "test".into(),
            parking_context: "test".into(),
            voicemail_context: pbxsim::VOICEMAIL_CONTEXT.into(),
            dnd_pauses: true,
            // pbxsim keeps an AstDB: the demo's forwards land there.
            call_forward: Some("CF/{exten}".into()),
            seats: pbxsim::SimConfig::demo()
                .directory
                .seats()
                .into_iter()
                .map(|(exten, interface, queues)| Seat {
                    exten,
                    interface,
                    queues,
                })
                .collect(),
        },
        // Alarms the demo's traffic reaches now and then, on every queue it has. No
        // service level: its queues set none (0 s), so hardly a call is within it.
        queue_alarms: demo
            .directory
            .queues
            .iter()
            .map(|queue| QueueThresholds {
                queue: queue.name.clone(),
                wait_amber_s: Some(20),
                wait_red_s: Some(45),
                waiting_amber: Some(2),
                waiting_red: Some(4),
                ..QueueThresholds::default()
            })
            .collect(),
        ..ServerConfig::new("demo", AmiConfig::new(addr.to_string(), username, secret))
    }
}

/// What the login page says an account is for, from what manager.conf lets it do.
fn role_of(read: Classes, write: Classes) -> &'static str {
    if write == Classes::ALL {
        "administrator: everything"
    } else if write == Classes::NONE {
        "read-only"
    } else if read.intersects(Classes::AGENT) {
        "agent"
    } else {
        "operator"
    }
}
