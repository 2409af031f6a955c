//! The REST API over real HTTPS: a server on a loopback port per test, driven with an HTTP client
//! that trusts the lab's certificate authority.

mod arm;
mod async_mode;
mod authorization;
mod connectivity;
mod identity;
mod portal;
mod recordings;
mod resources;
mod robustness;

use std::sync::Arc;

use serde_json::Value;
use vnetlab_api::{App, LroMode, Options, tls};
use vnetlab_control::Lab;

pub const SUB: &str = "00000000-0000-0000-0000-000000000001";
pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
pub const NETWORK_CONTRIBUTOR: &str = "4d97b98b-1d4f-4787-a291-c67834d212e7";

/// A running server and a client for it.
pub struct Server {
    pub url: String,
    pub app: Arc<App>,
    pub home: tempfile::TempDir,
    client: reqwest::blocking::Client,
    /// The default principal's token, sent with every request unless one is given.
    pub token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {:#}", self.body))
    }
}

impl Server {
    pub fn start() -> Server {
        Server::with(Options::default())
    }

    /// A server holding the lab a topology file describes, made in the default subscription.
    pub fn with_topology(options: Options, topology: &str) -> Server {
        let server = Server::with(options);
        let loaded = vnetlab_topology::Loaded::parse("test.yaml", topology.to_owned()).unwrap();
        let defaults = vnetlab_topology::Defaults {
            tenant_id: vnetlab_control::DEFAULT_TENANT_ID.to_owned(),
            subscription_id: SUB.to_owned(),
            secrets: None,
            owner: None,
        };
        server
            .app
            .lab
            .execute_planned(&vnetlab_control::Request::default(), |state| {
                loaded.compile(state, &defaults).map(|c| (c.ops, ()))
            })
            .unwrap_or_else(|e| panic!("{e:?}"));
        server
    }

    pub fn with(options: Options) -> Server {
        let home = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("https://{addr}");
        let deferred = options.lro == LroMode::Async;
        let lab = Lab::open_adjusted(home.path(), |s| {
            s.management_endpoint = url.clone();
            if deferred {
                s.provisioning = vnetlab_engine::Provisioning::Deferred;
            }
        })
        .unwrap();
        let certificate = tls::TlsFiles::in_home(home.path()).load_or_create(&tls::names_for(addr.ip())).unwrap();
        let ca = std::fs::read(&certificate.ca_path).unwrap();
        let app = Arc::new(App::new(lab, options));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = app.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime
                .block_on(vnetlab_api::serve(served, listener, &certificate, async {
                    let _ = stopped.await;
                }))
                .unwrap();
        });
        let client = reqwest::blocking::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .build()
            .unwrap();
        let token = app.default_token().unwrap();
        Server { url, app, home, client, token, stop: Some(stop), thread: Some(thread) }
    }

    /// The HTTPS client, trusting the lab's certificate authority.
    pub fn client(&self) -> &reqwest::blocking::Client {
        &self.client
    }

    /// Sends a request; `path` may carry a query, and gets `api-version` when it has none.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Response {
        let url = if path.starts_with("https://") { path.to_owned() } else { format!("{}{path}", self.url) };
        let url = if url.contains("api-version=") || path.starts_with("/metadata") || path.starts_with("/msi") {
            url
        } else if url.contains('?') {
            format!("{url}&api-version=2024-05-01")
        } else {
            format!("{url}?api-version=2024-05-01")
        };
        self.raw(method, &url, body.map(|b| b.to_string().into_bytes()), &[])
    }

    pub fn raw(&self, method: &str, url: &str, body: Option<Vec<u8>>, headers: &[(&str, &str)]) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, url);
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            request = request.header("Authorization", format!("Bearer {}", self.token));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().unwrap();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Response { status, headers, body }
    }

    pub fn get(&self, path: &str) -> Response {
        self.call("GET", path, None)
    }

    pub fn put(&self, path: &str, body: Value) -> Response {
        self.call("PUT", path, Some(&body))
    }

    pub fn delete(&self, path: &str) -> Response {
        self.call("DELETE", path, None)
    }

    /// A tenant and a service principal at home in it (a guest of `guest_of`), signing in with
    /// `secret`; its object id.
    pub fn add_principal(&self, tenant: &str, app_id: &str, secret: &str, guest_of: &[&str]) -> String {
        let object_id = uuid_like(app_id);
        let mut ops = Vec::new();
        for t in std::iter::once(&tenant).chain(guest_of) {
            let known = self.app.lab.read(|s| vnetlab_api::tenant_exists(s, t)).unwrap();
            if !known {
                ops.push(vnetlab_engine::Operation::TenantPut {
                    tenant_id: (*t).to_owned(),
                    display_name: format!("tenant {t}"),
                    default_domain: None,
                });
            }
        }
        ops.push(vnetlab_engine::Operation::PrincipalPut {
            spec: vnetlab_engine::PrincipalSpec {
                tenant_id: tenant.to_owned(),
                object_id: object_id.clone(),
                display_name: format!("app {app_id}"),
                principal_type: vnetlab_model::PrincipalType::ServicePrincipal,
                app_id: Some(app_id.to_owned()),
                user_principal_name: None,
                secret_digest: Some(vnetlab_control::tokens::secret_digest(secret)),
                guest_of: guest_of.iter().map(|t| (*t).to_owned()).collect(),
            },
        });
        self.app.lab.execute_all(&ops).unwrap();
        object_id
    }

    /// Gives `principal` the built-in role `role` (its GUID) at `scope`, as the lab; the
    /// assignment's name.
    pub fn grant(&self, principal: &str, role: &str, scope: &str) -> String {
        let name = uuid::Uuid::new_v4().to_string();
        let id = self.app.lab.read(|s| vnetlab_engine::role_assignment_id(s, scope, &name)).unwrap().unwrap();
        let op = vnetlab_engine::Operation::RoleAssignmentPut {
            id,
            spec: vnetlab_engine::RoleAssignmentSpec {
                scope: scope.to_owned(),
                role_definition_id: format!("/providers/Microsoft.Authorization/roleDefinitions/{role}"),
                principal_id: principal.to_owned(),
                principal_type: None,
                description: None,
                created_by: None,
            },
        };
        self.app.lab.execute(&op).unwrap();
        name
    }

    /// A token from the service-principal endpoint of `tenant`.
    #[track_caller]
    pub fn sign_in(&self, tenant: &str, app_id: &str, secret: &str) -> String {
        let form = format!(
            "client_id={app_id}&grant_type=client_credentials&client_secret={secret}&scope=https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default"
        );
        let r = self.raw("POST", &format!("{}/{tenant}/oauth2/v2.0/token", self.url), Some(form.into_bytes()), &[]);
        assert_eq!(r.status, 200, "{:#}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// PUT that must succeed; the body.
    #[track_caller]
    pub fn created(&self, path: &str, body: Value) -> Value {
        let r = self.put(path, body);
        assert!(matches!(r.status, 200 | 201), "PUT {path}: {} {:#}", r.status, r.body);
        r.body
    }
}

/// An object id made from an app id: the app id with its first digit changed.
pub fn uuid_like(app_id: &str) -> String {
    let mut id: Vec<char> = app_id.chars().collect();
    if let Some(c) = id.first_mut() {
        *c = if *c == 'f' { 'e' } else { 'f' };
    }
    id.into_iter().collect()
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The text of a file in `examples/`.
pub fn example(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name);
    std::fs::read_to_string(path).unwrap()
}

/// `/subscriptions/{SUB}/resourceGroups/{rg}`.
pub fn rg(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{name}")
}

/// A resource path in a group of the default subscription.
pub fn net(group: &str, rest: &str) -> String {
    format!("{}/providers/Microsoft.Network/{rest}", rg(group))
}
