//! Load on the REST API, printed for BENCHMARKS.md (not a timed test):
//! `cargo bench -p vnetlab --bench api_load`.
//!
//! Requests per second and latency (p50, p99) of a peering create (PUT of a new link, durable
//! before it answers) and a peering GET, at 1, 16 and 64 connections, each connection sending its
//! next request when the last is answered. Beside it, in the same run, the closest operations of
//! moto's EC2 server (`moto_server` from PyPI): CreateVpcPeeringConnection and
//! DescribeVpcPeeringConnections. vnetlab is the release binary (`vnetlab serve`, HTTPS); moto is
//! plain HTTP. Both servers, and this client, share the machine.
//!
//! Set `MOTO_SERVER` to the `moto_server` program (default: target/client-venv/bin/moto_server).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SUB: &str = "00000000-0000-0000-0000-000000000001";
/// VNets (and VPCs) to peer; each directed pair is created once, and the links spread evenly:
/// every network gains one before any gains another.
const NETWORKS: usize = 1000;
const CONCURRENCY: [usize; 3] = [1, 16, 64];
const SECONDS: u64 = 4;
const ROUNDS: usize = 3;

struct Served {
    child: Child,
    _home: Option<tempfile::TempDir>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {port}");
}

/// What a load run measured.
struct Figures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs `request(n)` from `connections` clients for SECONDS; n counts requests across clients.
async fn load<F, Fut>(connections: usize, clients: &[reqwest::Client], request: Arc<F>) -> Figures
where
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let counter = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let mut tasks = Vec::new();
    for client in clients.iter().take(connections) {
        let client = client.clone();
        let counter = counter.clone();
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let start = Instant::now();
                let ok = request(client.clone(), n).await;
                latencies.push(start.elapsed());
                if !ok {
                    failures += 1;
                }
            }
            (latencies, failures)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (l, f) = t.await.unwrap();
        all.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(failures, 0, "{failures} requests failed");
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    Figures { per_second: all.len() as f64 / elapsed, p50_ms: at(0.50), p99_ms: at(0.99) }
}

/// The directed pair of networks request `n` peers (each pair once).
fn pair(n: usize) -> (usize, usize) {
    let from = n % NETWORKS;
    let to = (from + 1 + (n / NETWORKS) % (NETWORKS - 1)) % NETWORKS;
    (from, to)
}

fn vnetlab() -> (Served, String, Vec<u8>) {
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_vnetlab"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("VNETLAB_HOME", home.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(port);
    let ca = std::fs::read(home.path().join("tls/ca.pem")).unwrap();
    (Served { child, _home: Some(home) }, format!("https://127.0.0.1:{port}"), ca)
}

fn moto() -> (Served, String) {
    let program = std::env::var("MOTO_SERVER")
        .unwrap_or_else(|_| format!("{}/../../target/client-venv/bin/moto_server", env!("CARGO_MANIFEST_DIR")));
    let port = free_port();
    let child = Command::new(&program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e} (pip install 'moto[server]')"));
    wait_for(port);
    (Served { child, _home: None }, format!("http://127.0.0.1:{port}"))
}

fn vnet_url(base: &str, i: usize) -> String {
    format!("{base}/subscriptions/{SUB}/resourceGroups/bench/providers/Microsoft.Network/virtualNetworks/v{i}")
}

/// An EC2 query-API call; moto reads the region from the signature's scope.
async fn ec2(client: &reqwest::Client, base: &str, form: &str) -> Option<String> {
    let response = client
        .post(base)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(format!("{form}&Version=2016-11-15"))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.text().await.ok()
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

fn row(server: &str, op: &str, c: usize, runs: &[Figures]) -> (f64, String) {
    let med = |f: fn(&Figures) -> f64| {
        let mut xs: Vec<f64> = runs.iter().map(f).collect();
        xs.sort_by(|a, b| a.total_cmp(b));
        xs[xs.len() / 2]
    };
    let rps = med(|f| f.per_second);
    let all: Vec<String> = runs.iter().map(|f| format!("{:.0}", f.per_second)).collect();
    (
        rps,
        format!(
            "  {server:<8} {op:<7} {c:>3} conn: median {rps:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  (runs: {})",
            med(|f| f.p50_ms),
            med(|f| f.p99_ms),
            all.join(", ")
        ),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (_lab, lab_url, ca) = vnetlab();
    let (_moto, moto_url) = moto();
    let certificate = reqwest::Certificate::from_pem(&ca).unwrap();
    let lab_clients: Vec<reqwest::Client> = (0..64)
        .map(|_| {
            reqwest::Client::builder()
                .tls_certs_only([certificate.clone()])
                .http1_only()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap()
        })
        .collect();
    let moto_clients: Vec<reqwest::Client> =
        (0..64).map(|_| reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap()).collect();

    // The networks: VNets with a /24 each, VPCs with a /24 each.
    let setup = &lab_clients[0];
    let group = format!("{lab_url}/subscriptions/{SUB}/resourceGroups/bench?api-version=2024-05-01");
    assert!(
        setup.put(&group).json(&serde_json::json!({"location": "westus"})).send().await.unwrap().status().is_success()
    );
    for i in 0..NETWORKS {
        let body = serde_json::json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": [format!("10.{}.{}.0/24", i / 256, i % 256)]}}});
        let r = setup
            .put(format!("{}?api-version=2024-05-01", vnet_url(&lab_url, i)))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("VNet {i}: {e:?}"));
        assert!(r.status().is_success());
    }
    let mut vpcs = Vec::new();
    for i in 0..NETWORKS {
        let text =
            ec2(&moto_clients[0], &moto_url, &format!("Action=CreateVpc&CidrBlock=10.{}.{}.0/24", i / 256, i % 256))
                .await
                .expect("CreateVpc");
        vpcs.push(between(&text, "<vpcId>", "</vpcId>").unwrap().to_owned());
    }
    let vpcs = Arc::new(vpcs);
    // One peering each side has for the GETs.
    let probe = format!("{}/virtualNetworkPeerings/probe?api-version=2024-05-01", vnet_url(&lab_url, 0));
    let remote = format!("/subscriptions/{SUB}/resourceGroups/bench/providers/Microsoft.Network/virtualNetworks/v1");
    assert!(
        setup
            .put(&probe)
            .json(&serde_json::json!({"properties": {"remoteVirtualNetwork": {"id": remote}}}))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let created = ec2(
        &moto_clients[0],
        &moto_url,
        &format!("Action=CreateVpcPeeringConnection&VpcId={}&PeerVpcId={}", vpcs[0], vpcs[1]),
    )
    .await
    .unwrap();
    let pcx = between(&created, "<vpcPeeringConnectionId>", "</vpcPeeringConnectionId>").unwrap().to_owned();

    // Creates draw fresh pairs from one counter per server, across rounds.
    let lab_creates = Arc::new(AtomicUsize::new(0));
    let moto_creates = Arc::new(AtomicUsize::new(0));
    let mut lines = Vec::new();
    let mut ratios = Vec::new();
    for op in ["create", "get"] {
        for c in CONCURRENCY {
            let (mut lab_runs, mut moto_runs) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                let base = lab_url.clone();
                let next = lab_creates.clone();
                let probe = probe.clone();
                let f = Arc::new(move |client: reqwest::Client, _n: usize| {
                    let base = base.clone();
                    let probe = probe.clone();
                    let next = next.clone();
                    async move {
                        if op == "get" {
                            return client.get(&probe).send().await.is_ok_and(|r| r.status().is_success());
                        }
                        let (a, b) = pair(next.fetch_add(1, Ordering::Relaxed) + 1);
                        let url =
                            format!("{}/virtualNetworkPeerings/to-v{b}?api-version=2024-05-01", vnet_url(&base, a));
                        let remote = format!(
                            "/subscriptions/{SUB}/resourceGroups/bench/providers/Microsoft.Network/virtualNetworks/v{b}"
                        );
                        let body = serde_json::json!({"properties": {"remoteVirtualNetwork": {"id": remote}, "allowVirtualNetworkAccess": true}});
                        client.put(&url).json(&body).send().await.is_ok_and(|r| r.status().as_u16() == 201)
                    }
                });
                lab_runs.push(load(c, &lab_clients, f).await);
                let base = moto_url.clone();
                let next = moto_creates.clone();
                let vpcs = vpcs.clone();
                let pcx = pcx.clone();
                let f = Arc::new(move |client: reqwest::Client, _n: usize| {
                    let base = base.clone();
                    let vpcs = vpcs.clone();
                    let pcx = pcx.clone();
                    let next = next.clone();
                    async move {
                        let form = if op == "get" {
                            format!("Action=DescribeVpcPeeringConnections&VpcPeeringConnectionId.1={pcx}")
                        } else {
                            let (a, b) = pair(next.fetch_add(1, Ordering::Relaxed) + 1);
                            format!("Action=CreateVpcPeeringConnection&VpcId={}&PeerVpcId={}", vpcs[a], vpcs[b])
                        };
                        ec2(&client, &base, &form).await.is_some()
                    }
                });
                moto_runs.push(load(c, &moto_clients, f).await);
            }
            let (lab_rps, lab_line) = row("vnetlab", op, c, &lab_runs);
            let (moto_rps, moto_line) = row("moto", op, c, &moto_runs);
            lines.push(lab_line);
            lines.push(moto_line);
            ratios.push(format!("  {op:<7} {c:>3} conn: vnetlab / moto = {:.1}", lab_rps / moto_rps));
        }
    }
    println!("REST API load, {SECONDS} s per run, {ROUNDS} rounds, medians ({NETWORKS} networks)");
    for l in lines {
        println!("{l}");
    }
    for r in ratios {
        println!("{r}");
    }
}
