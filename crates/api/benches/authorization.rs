//! What authorization costs a request, with 10,000 role assignments in the lab: requests go
//! through `App::answer` in process (no sockets, no TLS), each timed alone, and the same
//! authorization work (verifying the token, finding its principal, deciding) is timed alone on
//! the same lab. Prints p50 and p99 of both, and their ratio.

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Method};
use vnetlab_api::{App, Options};
use vnetlab_control::{DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID, Lab};
use vnetlab_engine::authorization;
use vnetlab_engine::{Operation, PrincipalSpec, RoleAssignmentSpec};
use vnetlab_model::{Kind, PrincipalType, ResourceId, View};

/// splitmix64: a reproducible stream without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

const GROUPS: usize = 100;
const VNETS_PER_GROUP: usize = 10;
const PRINCIPALS: usize = 1_000;
const ASSIGNMENTS: usize = 10_000;
const ROLES: [&str; 4] = [
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "4d97b98b-1d4f-4787-a291-c67834d212e7",
];

fn group(g: usize) -> String {
    format!("/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/resourceGroups/rg{g}")
}

fn vnet(g: usize, v: usize) -> String {
    format!("{}/providers/Microsoft.Network/virtualNetworks/vnet{v}", group(g))
}

fn build() -> (App, tempfile::TempDir) {
    let home = tempfile::tempdir().expect("a temporary directory");
    let lab = Lab::open(home.path()).expect("a lab");
    let app = App::new(lab, Options::default());
    let send = |method: Method, path: &str, body: String| {
        let reply = request(&app, method, path, body);
        assert!(reply.status.is_success(), "{path}: {:?}", reply.body);
    };
    for g in 0..GROUPS {
        send(Method::PUT, &format!("{}?api-version=2024-11-01", group(g)), r#"{"location":"westus"}"#.into());
        for v in 0..VNETS_PER_GROUP {
            let body = format!(
                r#"{{"location":"westus","properties":{{"addressSpace":{{"addressPrefixes":["10.{}.{}.0/24"]}}}}}}"#,
                g,
                v * 16
            );
            send(Method::PUT, &format!("{}?api-version=2024-05-01", vnet(g, v)), body);
        }
    }
    let principals: Vec<Operation> = (0..PRINCIPALS)
        .map(|p| Operation::PrincipalPut {
            spec: PrincipalSpec {
                tenant_id: DEFAULT_TENANT_ID.into(),
                object_id: format!("{p:08x}-1111-0000-0000-000000000000"),
                display_name: format!("p{p}"),
                principal_type: PrincipalType::ServicePrincipal,
                app_id: Some(format!("{p:08x}-2222-0000-0000-000000000000")),
                user_principal_name: None,
                secret_digest: None,
                guest_of: Vec::new(),
            },
        })
        .collect();
    app.lab.execute_all(&principals).expect("principals");
    let mut rng = Rng(11);
    let mut seen = std::collections::HashSet::new();
    let mut ops = Vec::new();
    while ops.len() < ASSIGNMENTS {
        let (g, v) = (rng.below(GROUPS), rng.below(VNETS_PER_GROUP));
        let scope = match rng.below(3) {
            0 => format!("/subscriptions/{DEFAULT_SUBSCRIPTION_ID}"),
            1 => group(g),
            _ => vnet(g, v),
        };
        let (p, role) = (rng.below(PRINCIPALS), ROLES[rng.below(ROLES.len())]);
        if !seen.insert((p, role, scope.clone())) {
            continue;
        }
        let name = format!("{:08x}-3333-0000-0000-000000000000", ops.len());
        let id = ResourceId::directory(DEFAULT_TENANT_ID, Kind::RoleAssignment, &name).expect("an id");
        ops.push(Operation::RoleAssignmentPut {
            id,
            spec: RoleAssignmentSpec {
                scope,
                role_definition_id: format!("/providers/Microsoft.Authorization/roleDefinitions/{role}"),
                principal_id: format!("{p:08x}-1111-0000-0000-000000000000"),
                principal_type: None,
                description: None,
                created_by: None,
            },
        });
    }
    for chunk in ops.chunks(500) {
        app.lab.execute_all(chunk).expect("role assignments");
    }
    (app, home)
}

fn request(app: &App, method: Method, path: &str, body: String) -> vnetlab_api::Reply {
    let mut headers = HeaderMap::new();
    let token = app.default_token().expect("the default principal");
    headers.insert("authorization", HeaderValue::try_from(format!("Bearer {token}")).expect("a header"));
    app.answer(method, path, headers, body.into_bytes(), "127.0.0.1")
}

/// The same GETs from a client over HTTPS on loopback: what a request costs as a client sees it.
fn over_https(
    app: &std::sync::Arc<App>,
    home: &tempfile::TempDir,
    token: &str,
    list: bool,
    rng: &mut Rng,
) -> Vec<Duration> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = listener.local_addr().expect("an address");
    let certificate = vnetlab_api::tls::TlsFiles::in_home(home.path())
        .load_or_create(&vnetlab_api::tls::names_for(addr.ip()))
        .expect("a certificate");
    let ca = std::fs::read(&certificate.ca_path).expect("the CA");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = app.clone();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        runtime
            .block_on(vnetlab_api::serve(served, listener, &certificate, async {
                let _ = stopped.await;
            }))
            .expect("served");
    });
    let client = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("a certificate")])
        .build()
        .expect("a client");
    let mut times = Vec::with_capacity(5_000);
    for i in 0..5_100 {
        let (_, path) = target(rng, list);
        let t = Instant::now();
        let r = client.get(format!("https://{addr}{path}")).bearer_auth(token).send().expect("an answer");
        let status = r.status();
        black_box(r.bytes().expect("a body"));
        if i >= 100 {
            times.push(t.elapsed());
        }
        assert!(status.is_success());
    }
    let _ = stop.send(());
    let _ = thread.join();
    times
}

/// A random request's group and path: one VNet, or the group's VNets.
fn target(rng: &mut Rng, list: bool) -> (usize, String) {
    let (g, v) = (rng.below(GROUPS), rng.below(VNETS_PER_GROUP));
    let path = if list {
        format!("{}/providers/Microsoft.Network/virtualNetworks?api-version=2024-05-01", group(g))
    } else {
        format!("{}?api-version=2024-05-01", vnet(g, v))
    };
    (g, path)
}

fn percentiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn main() {
    let started = Instant::now();
    let (app, home) = build();
    let app = std::sync::Arc::new(app);
    let held = app.lab.read(|s| s.all_of(Kind::RoleAssignment).len()).expect("a read");
    println!(
        "lab: {} VNets, {PRINCIPALS} principals, {held} role assignments (built in {:.1?})",
        GROUPS * VNETS_PER_GROUP,
        started.elapsed()
    );
    let token = app.default_token().expect("a token");
    let mut headers = HeaderMap::new();
    headers.insert("authorization", HeaderValue::try_from(format!("Bearer {token}")).expect("a header"));
    let mut rng = Rng(5);
    const N: usize = 20_000;

    for (label, list) in [("GET one VNet", false), ("GET a group's VNets (10)", true)] {
        let mut whole = Vec::with_capacity(N);
        let mut authz = Vec::with_capacity(N);
        for _ in 0..N {
            let (g, path) = target(&mut rng, list);
            let t = Instant::now();
            let reply = app.answer(Method::GET, &path, headers.clone(), Vec::new(), "127.0.0.1");
            whole.push(t.elapsed());
            assert_eq!(reply.status.as_u16(), 200);
            // The same admission alone: the token (its signature is checked once, then kept),
            // its principal and tenant, and the read right on the target; a list also decides
            // for each item it shows.
            let req = vnetlab_api::Request::new(Method::GET, &path, headers.clone(), Vec::new(), "127.0.0.1")
                .expect("a request");
            let t = Instant::now();
            let Ok(caller) = app.admit(&req) else { panic!("{path} was not admitted") };
            let mut spent = t.elapsed();
            if list {
                // Inside the list's own read of the lab, as the handler decides them.
                let items: Vec<ResourceId> =
                    (0..VNETS_PER_GROUP).map(|v| ResourceId::parse(&vnet(g, v)).expect("an id")).collect();
                spent += app
                    .lab
                    .read(|s| {
                        let t = Instant::now();
                        for item in &items {
                            black_box(authorization::can_read(s, &caller, item));
                        }
                        t.elapsed()
                    })
                    .expect("a read");
            }
            authz.push(spent);
        }
        let (w50, w99) = percentiles(whole);
        let https = over_https(&app, &home, &token, list, &mut rng);
        let (a50, a99) = percentiles(authz);
        println!(
            "{label}: request p50 {w50:.1?} p99 {w99:.1?}; authorization p50 {a50:.1?} p99 {a99:.1?}; share at p50 {:.1}%, at p99 {:.1}%",
            100.0 * a50.as_secs_f64() / w50.as_secs_f64(),
            100.0 * a99.as_secs_f64() / w99.as_secs_f64()
        );
        let (h50, h99) = percentiles(https);
        println!(
            "  over HTTPS (a client on loopback, one connection): p50 {h50:.1?} p99 {h99:.1?}; authorization's share at p50 {:.1}%, at p99 {:.1}%",
            100.0 * a50.as_secs_f64() / h50.as_secs_f64(),
            100.0 * a99.as_secs_f64() / h99.as_secs_f64()
        );
    }
}
