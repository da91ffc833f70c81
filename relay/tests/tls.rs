//! TLS both ways over real sockets, with certificates made here (rcgen): HTTPS and WSS on
//! the relay's listener and its reload on SIGHUP, and AMI over TLS to pbxsim.

mod relay_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use relay::ami::{AmiConfig, AmiError, AmiTls, SessionEvent, connect_session, spawn_session};
use relay::config::{ListenerTls, ServerTls};
use relay_support::*;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::{TcpListener, TcpStream};

/// A certificate authority of the test's own, and the files it signs.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

/// A leaf certificate written to `cert` and `key`.
struct Leaf {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// The CA certificate as a PEM file, as `tls_ca` names it.
    fn ca_file(&self) -> PathBuf {
        let path = self.path("ca.pem");
        std::fs::write(&path, self.issuer.pem()).expect("write the CA");
        path
    }

    /// Signs a certificate for `names` and writes it as `<file>.pem` and `<file>.key`.
    fn issue(&self, file: &str, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = KeyPair::generate().expect("leaf key");
        let cert = CertificateParams::new(names)
            .expect("leaf params")
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        let leaf = Leaf {
            cert: self.path(&format!("{file}.pem")),
            key: self.path(&format!("{file}.key")),
            der: cert.der().clone(),
        };
        std::fs::write(&leaf.cert, cert.pem()).expect("write the certificate");
        std::fs::write(&leaf.key, key.serialize_pem()).expect("write the key");
        leaf
    }

    /// A client configuration that trusts this CA only.
    fn client(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).expect("CA as a root");
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
        )
    }
}

impl Leaf {
    fn listener(&self) -> ListenerTls {
        ListenerTls {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }

    /// Puts `other`'s certificate and key in this leaf's files, as an operator renewing it would.
    fn replace_with(&self, other: &Leaf) {
        std::fs::copy(&other.cert, &self.cert).expect("copy the certificate");
        std::fs::copy(&other.key, &self.key).expect("copy the key");
    }
}

/// A pbxsim serving AMI over TLS with `leaf`, as Asterisk with `tlsenable = yes` does.
async fn tls_pbx(leaf: &Leaf) -> Pbx {
    let mut config = pbxsim::SimConfig::quiet();
    config.tls = Some(pbxsim::tls::server_config(&leaf.cert, &leaf.key).expect("pbxsim TLS"));
    Pbx::start(config).await
}

/// The certificate a fresh handshake with `addr` is shown.
async fn presented_certificate(
    addr: std::net::SocketAddr,
    trust: Arc<rustls::ClientConfig>,
) -> CertificateDer<'static> {
    let tcp = TcpStream::connect(addr).await.expect("TCP connect");
    let tls = tokio_rustls::TlsConnector::from(trust)
        .connect(ServerName::from(addr.ip()), tcp)
        .await
        .expect("TLS handshake");
    tls.get_ref().1.peer_certificates().expect("a certificate")[0].clone()
}

fn agent_login() -> serde_json::Value {
    serde_json::json!({"server": "pbx", "username": "agent", "secret": "agent-secret"})
}

#[tokio::test]
async fn https_login_and_a_wss_snapshot_with_a_secure_cookie() {
    let ca = TestCa::new("AstPanel test CA");
    let leaf = ca.issue("panel", &["127.0.0.1", "localhost"]);
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let mut relay = Relay::start(vec![server("pbx", &pbx)], |config| {
        config.tls = Some(leaf.listener());
    })
    .await;
    assert!(relay.base.starts_with("https://"), "{}", relay.base);

    // A client that never starts its handshake holds a slot, not the listener.
    let _silent = TcpStream::connect(relay.addr).await.expect("TCP connect");

    // A client that does not trust the test CA is refused.
    let tcp = TcpStream::connect(relay.addr).await.expect("TCP connect");
    let refused = tokio_rustls::TlsConnector::from(TestCa::new("another CA").client())
        .connect(ServerName::from(relay.addr.ip()), tcp)
        .await;
    assert!(refused.is_err(), "a stranger's certificate was accepted");

    relay.trust = Some(ca.client());
    let (status, cookie, body) = relay.https_post("/api/v1/login", &agent_login()).await;
    assert_eq!(status, 200, "{body}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let token = body["token"].as_str().expect("a token");

    let mut socket = relay.secure_socket(token).await;
    let hello = socket.next_of("hello").await;
    assert_eq!(hello["username"], "agent", "{hello}");
    let snapshot = socket.next_of("snapshot").await;
    assert_eq!(snapshot["server"], "pbx", "{snapshot}");
    relay.stop().await;
}

#[tokio::test]
async fn plain_http_keeps_the_cookie_without_secure() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let response = relay
        .http()
        .post(format!("{}/api/v1/login", relay.base))
        .json(&agent_login())
        .send()
        .await
        .expect("login");
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        cookie.contains("HttpOnly") && !cookie.contains("Secure"),
        "{cookie}"
    );
    relay.stop().await;
}

#[tokio::test]
async fn sighup_switches_the_certificate_and_open_sockets_stay() {
    let ca = TestCa::new("AstPanel test CA");
    let served = ca.issue("panel", &["127.0.0.1"]);
    let renewed = ca.issue("renewed", &["127.0.0.1"]);
    assert_ne!(served.der, renewed.der);
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let mut relay = Relay::start(vec![server("pbx", &pbx)], |config| {
        config.tls = Some(served.listener());
    })
    .await;
    relay.trust = Some(ca.client());
    let (status, _, body) = relay.https_post("/api/v1/login", &agent_login()).await;
    assert_eq!(status, 200, "{body}");
    let mut open = relay
        .secure_socket(body["token"].as_str().expect("token"))
        .await;
    open.next_of("snapshot").await;
    assert_eq!(
        presented_certificate(relay.addr, ca.client()).await,
        served.der
    );

    served.replace_with(&renewed);
    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::HUP)
        .expect("SIGHUP to this process");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while presented_certificate(relay.addr, ca.client()).await != renewed.der {
        assert!(
            tokio::time::Instant::now() < deadline,
            "new handshakes never got the renewed certificate"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The socket opened before the reload still carries the live model.
    let admin = side_session(&pbx);
    call(&admin, "100", "500", 30).await;
    let delta = open.next_of("delta").await;
    assert_eq!(delta["server"], "pbx", "{delta}");
    relay.stop().await;
}

#[tokio::test]
async fn a_reload_of_a_broken_file_keeps_the_certificate_in_use() {
    let ca = TestCa::new("AstPanel test CA");
    let served = ca.issue("panel", &["127.0.0.1"]);
    let certificate = relay::net::tls::ListenerCertificate::load(&served.listener()).expect("load");
    std::fs::write(&served.key, "not a key").expect("spoil the key");
    let refused = certificate.reload().expect_err("a broken key");
    assert!(
        refused
            .to_string()
            .contains(&served.key.display().to_string()),
        "{refused}"
    );

    // What rustls is handed is still the first certificate.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut tls = relay::web::listen::TlsListener::new(listener, &certificate).expect("listener");
    let accepting = tokio::spawn(async move {
        axum::serve::Listener::accept(&mut tls).await;
    });
    assert_eq!(presented_certificate(addr, ca.client()).await, served.der);
    let _ = tokio::time::timeout(PATIENCE, accepting).await;
}

#[tokio::test]
async fn ami_over_tls_to_pbxsim_with_the_ca() {
    let ca = TestCa::new("PBX CA");
    let pbx = tls_pbx(&ca.issue("pbx", &["127.0.0.1"])).await;
    let mut server = server("pbx", &pbx);
    server.tls = Some(ServerTls {
        ca: Some(ca.ca_file()),
        verify: true,
        server_name: None,
    });
    let relay = Relay::start(vec![server], |_| {}).await;
    let token = relay
        .login("pbx", "agent", "agent-secret")
        .await
        .expect("a login through AMI over TLS");
    relay
        .state_until(&token, "the service session up over TLS", |s| {
            s["servers"][0]["link"]["state"] == "up"
        })
        .await;
    let health = relay.get_json("/healthz").await;
    assert_eq!(health["status"], "ok", "{health}");
    relay.stop().await;
}

/// An AMI configuration for `pbx` over TLS, retrying fast.
fn ami_tls(pbx: &Pbx, tls: &ServerTls) -> AmiConfig {
    let mut config = AmiConfig::new(pbx.addr.to_string(), "admin", "admin-secret");
    config.tls = Some(AmiTls::new(tls, &pbx.addr.ip().to_string()).expect("AMI TLS"));
    config.backoff_initial = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(40);
    config
}

/// Two failed attempts in a row, each with its reason: the session keeps trying.
async fn two_refusals(config: AmiConfig) -> Vec<String> {
    let (_session, mut events) = spawn_session(config);
    let mut reasons = Vec::new();
    while reasons.len() < 2 {
        match tokio::time::timeout(PATIENCE, events.recv()).await {
            Ok(Some(SessionEvent::Disconnected { reason })) => reasons.push(reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    reasons
}

#[tokio::test]
async fn a_wrong_ca_or_name_is_refused_clearly_and_retried() {
    let ca = TestCa::new("PBX CA");
    let pbx = tls_pbx(&ca.issue("pbx", &["pbx.example.test"])).await;
    let stranger = TestCa::new("some other CA");
    let trusting = |ca: &TestCa, server_name: Option<&str>| ServerTls {
        ca: Some(ca.ca_file()),
        verify: true,
        server_name: server_name.map(String::from),
    };

    for reason in two_refusals(ami_tls(&pbx, &trusting(&stranger, None))).await {
        assert!(
            reason.starts_with("TLS handshake with 127.0.0.1:"),
            "{reason}"
        );
        assert!(reason.contains("invalid peer certificate"), "{reason}");
        assert!(reason.contains("UnknownIssuer"), "{reason}");
        assert!(reason.ends_with("signed this certificate)"), "{reason}");
    }
    // The right CA, but the certificate names pbx.example.test, not 127.0.0.1.
    for reason in two_refusals(ami_tls(&pbx, &trusting(&ca, None))).await {
        assert!(
            reason.contains("not valid for name \"127.0.0.1\""),
            "{reason}"
        );
        assert!(reason.contains("set tls_server_name"), "{reason}");
    }
    // A person's login hears it at once, typed.
    let refused = connect_session(ami_tls(&pbx, &trusting(&ca, None))).await;
    assert!(matches!(refused, Err(AmiError::Tls { .. })), "{refused:?}");
    assert_eq!(pbx.stats.logins("admin"), 0, "nothing got past TLS");

    // tls_server_name names what the certificate carries.
    let named = trusting(&ca, Some("pbx.example.test"));
    let (_session, mut events) = connect_session(ami_tls(&pbx, &named))
        .await
        .expect("login with the certificate's name");
    assert!(matches!(
        events.recv().await,
        Some(SessionEvent::Connected { .. })
    ));
}

/// Log lines, captured for one synchronous call.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tls_verify_false_connects_to_a_self_signed_pbx_and_warns() {
    let unknown = TestCa::new("nobody trusts this");
    let pbx = tls_pbx(&unknown.issue("pbx", &["elsewhere.test"])).await;
    let lax = ServerTls {
        ca: None,
        verify: false,
        server_name: None,
    };
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let tls = tracing::subscriber::with_default(subscriber, || AmiTls::new(&lax, "127.0.0.1"))
        .expect("AMI TLS without verification");
    let logged = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    assert!(logged.contains("WARN"), "{logged}");
    assert!(logged.contains("verification is off"), "{logged}");

    let mut config = AmiConfig::new(pbx.addr.to_string(), "admin", "admin-secret");
    config.tls = Some(tls);
    let (session, _events) = connect_session(config)
        .await
        .expect("connected without verification");
    let pong = session
        .send(shared::ami::Message::new().with("Action", "Ping"))
        .await
        .expect("a Ping answered over TLS");
    assert_eq!(
        pong.response.get_str("Ping").as_deref(),
        Some("Pong"),
        "{:?}",
        pong.response
    );
}

/// Runs a relay that must refuse to start; its error text.
async fn refused_start(config: relay::config::Config) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let outcome = tokio::time::timeout(
        PATIENCE,
        relay::run_with_legacy(config, listener, None, std::future::pending()),
    )
    .await
    .expect("refused at once");
    outcome.expect_err("a bad TLS file").to_string()
}

fn names(message: &str, path: &Path) -> bool {
    message.contains(&path.display().to_string())
}

#[tokio::test]
async fn bad_pem_files_are_refused_at_startup_naming_the_file() {
    let ca = TestCa::new("AstPanel test CA");
    let good = ca.issue("panel", &["127.0.0.1"]);
    let other = ca.issue("other", &["127.0.0.1"]);
    let garbage = ca.path("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
        .expect("write garbage");
    let missing = ca.path("missing.pem");
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let with_listener = |tls: ListenerTls| {
        let mut config = relay::config::Config::demo("127.0.0.1:0".parse().expect("addr"));
        config.upstream = relay::config::Upstream::Asterisk(vec![server("pbx", &pbx)]);
        config.tls = Some(tls);
        config
    };

    let message = refused_start(with_listener(ListenerTls {
        cert: garbage.clone(),
        key: good.key.clone(),
    }))
    .await;
    assert!(names(&message, &garbage), "{message}");
    assert!(
        message.contains("\"-----END CERTIFICATE-----\" line"),
        "{message}"
    );

    let message = refused_start(with_listener(ListenerTls {
        cert: good.cert.clone(),
        key: missing.clone(),
    }))
    .await;
    assert!(names(&message, &missing), "{message}");
    assert!(message.contains("No such file"), "{message}");

    // A certificate in the key file: no key in it.
    let message = refused_start(with_listener(ListenerTls {
        cert: good.cert.clone(),
        key: good.cert.clone(),
    }))
    .await;
    assert!(message.contains("no PRIVATE KEY"), "{message}");

    // Two good files that do not belong together.
    let message = refused_start(with_listener(ListenerTls {
        cert: good.cert.clone(),
        key: other.key.clone(),
    }))
    .await;
    assert!(
        names(&message, &good.cert) && names(&message, &other.key),
        "{message}"
    );

    // The CA file of an AMI server.
    let mut server = server("pbx", &pbx);
    server.tls = Some(ServerTls {
        ca: Some(garbage.clone()),
        verify: true,
        server_name: None,
    });
    let mut config = relay::config::Config::demo("127.0.0.1:0".parse().expect("addr"));
    config.upstream = relay::config::Upstream::Asterisk(vec![server]);
    let message = refused_start(config).await;
    assert!(names(&message, &garbage), "{message}");
}
