//! Who may connect, and how many at once: the listener's gate.
//!
//! Asterisk's manager.conf keeps strangers out with `permit`/`deny` network rules; a
//! relay that puts AMI on the web must do at least as much, and also bound what one
//! client address can hold open (sockets cost file descriptors and memory, and a
//! flood from one address must not starve everyone else). Both listeners, the
//! panel's and the AJAM one, pass every accepted connection through one [`Gate`], so
//! the counts per address cover both.
//!
//! Behind a reverse proxy every connection comes from the proxy, so addresses listed
//! as `trusted_proxies` are exempt from the per-address count, and for them the
//! client's own address (for login throttling and logs) is read from
//! `X-Forwarded-For`, whose entries a trusted proxy appends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::HeaderMap;
use ipnet::IpNet;

use crate::sync::lock;

/// Whether a rule lets an address in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sense {
    Permit,
    Deny,
}

/// One `permit 10.0.0.0/8` or `deny 0.0.0.0/0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkRule {
    pub sense: Sense,
    pub network: IpNet,
}

/// A rule that does not parse, with what was wrong.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("{0:?}: a rule is \"permit NETWORK\" or \"deny NETWORK\"")]
    Shape(String),
    #[error("{0:?}: not a network (write 10.0.0.0/8, 192.168.1.7 or ::1/128)")]
    Network(String),
}

impl FromStr for NetworkRule {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Self, RuleError> {
        let (sense, network) = text
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| RuleError::Shape(text.to_owned()))?;
        let sense = match sense {
            "permit" => Sense::Permit,
            "deny" => Sense::Deny,
            _ => return Err(RuleError::Shape(text.to_owned())),
        };
        Ok(NetworkRule {
            sense,
            network: parse_network(network.trim())?,
        })
    }
}

/// A network as `10.0.0.0/8`, or one address as `192.168.1.7`.
pub fn parse_network(text: &str) -> Result<IpNet, RuleError> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| RuleError::Network(text.to_owned()))
}

/// manager.conf's semantics: rules are read in order and the last one that matches
/// decides; an address no rule matches is let in, so no rules means no restriction.
#[derive(Clone, Debug, Default)]
pub struct NetworkRules(pub Vec<NetworkRule>);

impl NetworkRules {
    pub fn permits(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0
            .iter()
            .rev()
            .find(|rule| rule.network.contains(&address))
            .is_none_or(|rule| rule.sense == Sense::Permit)
    }
}

/// An IPv4 client on a dual-stack socket shows up as `::ffff:a.b.c.d`; rules and
/// counts are about the IPv4 address.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// The gate's settings (`[security]`).
#[derive(Clone, Debug)]
pub struct GateConfig {
    pub rules: NetworkRules,
    pub trusted_proxies: Vec<IpNet>,
    /// Connections open at once over both listeners.
    pub max_connections: usize,
    /// Connections one client address may hold open (trusted proxies excepted).
    pub max_connections_per_address: usize,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            rules: NetworkRules::default(),
            trusted_proxies: Vec::new(),
            max_connections: 20_000,
            max_connections_per_address: 1_000,
        }
    }
}

/// Why a connection was closed at once.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} is not permitted by the network rules")]
    Network(IpAddr),
    #[error("{0} already holds the most connections one address may")]
    PerAddress(IpAddr),
    #[error("the relay already holds the most connections it may")]
    Total,
}

/// Counts connections and applies the network rules; shared by both listeners.
#[derive(Debug)]
pub struct Gate {
    config: GateConfig,
    open: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

impl Gate {
    pub fn new(config: GateConfig) -> Arc<Gate> {
        Arc::new(Gate {
            config,
            open: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
        })
    }

    /// Lets a connection from `peer` in, or says why not. The connection counts
    /// until the returned [`Admission`] is dropped.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admission, Refusal> {
        let peer = canonical(peer);
        if !self.config.rules.permits(peer) {
            return Err(Refusal::Network(peer));
        }
        let counted = !self.is_trusted_proxy(peer);
        let mut per_address = lock(&self.per_address);
        if self.open.load(Ordering::Acquire) >= self.config.max_connections {
            return Err(Refusal::Total);
        }
        if counted {
            let held = per_address.entry(peer).or_default();
            if *held >= self.config.max_connections_per_address {
                return Err(Refusal::PerAddress(peer));
            }
            *held += 1;
        }
        self.open.fetch_add(1, Ordering::AcqRel);
        Ok(Admission {
            gate: self.clone(),
            peer: counted.then_some(peer),
        })
    }

    /// Connections open now, over both listeners.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    fn is_trusted_proxy(&self, address: IpAddr) -> bool {
        self.config
            .trusted_proxies
            .iter()
            .any(|net| net.contains(&address))
    }

    /// The address of the person behind a request: the peer, or, when the peer is a
    /// trusted proxy, the last address in `X-Forwarded-For` that is not one (the
    /// entries before it were written by the client and prove nothing).
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.is_trusted_proxy(peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .collect::<Vec<_>>();
        forwarded
            .into_iter()
            .rev()
            .find(|address| !self.is_trusted_proxy(*address))
            .unwrap_or(peer)
    }
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct Admission {
    gate: Arc<Gate>,
    /// The address it counts against, unless it came from a trusted proxy.
    peer: Option<IpAddr>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(peer) = self.peer {
            let mut per_address = lock(&self.gate.per_address);
            if let Some(held) = per_address.get_mut(&peer) {
                *held -= 1;
                if *held == 0 {
                    per_address.remove(&peer);
                }
            }
        }
        self.gate.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection a plain (non-axum) listener took: its socket, its peer, and its places
/// at the gate and among the listener's slots, held for as long as it is served.
pub struct Accepted {
    pub stream: tokio::net::TcpStream,
    pub peer: std::net::SocketAddr,
    pub held: (Admission, tokio::sync::OwnedSemaphorePermit),
}

/// The next connection of `listener` that `gate` admits, once one of `slots` is free;
/// `None` when `closing` fires. Both AMI-speaking listeners (AJAM's own HTTP and the AMI
/// proxy) take connections this way: a full listener waits in the kernel's backlog, a
/// failed accept (out of file descriptors) backs off instead of spinning, and a refused
/// peer is closed without a word. `what` names the listener in the logs.
pub async fn accept(
    listener: &tokio::net::TcpListener,
    gate: &Arc<Gate>,
    slots: &Arc<tokio::sync::Semaphore>,
    closing: &tokio_util::sync::CancellationToken,
    what: &str,
) -> Option<Accepted> {
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.ok()?,
            () = closing.cancelled() => return None,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, listener = what, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = closing.cancelled() => return None,
        };
        match gate.admit(peer.ip()) {
            Ok(admission) => {
                return Some(Accepted {
                    stream,
                    peer,
                    held: (admission, permit),
                });
            }
            Err(refusal) => tracing::debug!(%refusal, listener = what, "connection refused"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &[&str]) -> NetworkRules {
        NetworkRules(text.iter().map(|r| r.parse().expect("rule")).collect())
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn the_last_matching_rule_decides_as_in_manager_conf() {
        let rules = rules(&["deny 0.0.0.0/0", "permit 10.1.0.0/16", "deny 10.1.2.3"]);
        assert!(rules.permits(ip("10.1.9.9")));
        assert!(!rules.permits(ip("10.1.2.3")));
        assert!(!rules.permits(ip("192.0.2.1")));
        // A v4 client on a dual-stack socket is judged by its v4 address.
        assert!(rules.permits(ip("::ffff:10.1.9.9")));
        // No rule for v6 at all: let in, as Asterisk does when no rule matches.
        assert!(rules.permits(ip("2001:db8::1")));
        assert!(NetworkRules::default().permits(ip("192.0.2.1")));
    }

    #[test]
    fn a_malformed_rule_says_what_is_wrong() {
        assert_eq!(
            "allow 10.0.0.0/8".parse::<NetworkRule>(),
            Err(RuleError::Shape("allow 10.0.0.0/8".into()))
        );
        assert_eq!(
            "permit 10.0.0.0/33".parse::<NetworkRule>(),
            Err(RuleError::Network("10.0.0.0/33".into()))
        );
        assert_eq!(
            "deny".parse::<NetworkRule>(),
            Err(RuleError::Shape("deny".into()))
        );
    }

    fn gate(per_address: usize, total: usize) -> Arc<Gate> {
        Gate::new(GateConfig {
            max_connections: total,
            max_connections_per_address: per_address,
            trusted_proxies: vec![parse_network("127.0.0.1").expect("net")],
            rules: rules(&["deny 203.0.113.0/24"]),
        })
    }

    #[test]
    fn one_address_holds_at_most_its_share_and_gets_it_back() {
        let gate = gate(2, 100);
        let a = ip("192.0.2.1");
        let first = gate.admit(a).expect("1st");
        let _second = gate.admit(a).expect("2nd");
        assert_eq!(gate.admit(a).unwrap_err(), Refusal::PerAddress(a));
        // Another address is not held up.
        let _other = gate.admit(ip("192.0.2.2")).expect("other");
        drop(first);
        let _again = gate.admit(a).expect("a place came back");
        assert_eq!(gate.open(), 3);
        assert_eq!(
            gate.admit(ip("203.0.113.5")).unwrap_err(),
            Refusal::Network(ip("203.0.113.5"))
        );
    }

    #[test]
    fn the_total_bounds_everyone_trusted_proxies_included() {
        let gate = gate(1, 3);
        let proxy = ip("127.0.0.1");
        let held: Vec<_> = (0..3)
            .map(|_| {
                gate.admit(proxy)
                    .expect("a proxy is not counted per address")
            })
            .collect();
        assert_eq!(gate.admit(ip("192.0.2.1")).unwrap_err(), Refusal::Total);
        drop(held);
        assert_eq!(gate.open(), 0);
        assert!(lock(&gate.per_address).is_empty());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let gate = gate(1, 10);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.9, 192.0.2.7".parse().expect("header"),
        );
        assert_eq!(
            gate.client_address(ip("127.0.0.1"), &headers),
            ip("192.0.2.7"),
            "the entry the proxy wrote, not the one the client made up"
        );
        assert_eq!(
            gate.client_address(ip("192.0.2.50"), &headers),
            ip("192.0.2.50")
        );
        assert_eq!(
            gate.client_address(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
    }
}
