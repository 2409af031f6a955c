//! Any request to the API: a request line and a body (`App::answer_bytes`). The server must answer
//! below 500 with ARM's envelope, and the lab must keep its invariants.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vnetlab_api::{App, Options};
use vnetlab_control::Lab;

fn app() -> &'static App {
    static APP: OnceLock<(App, tempfile::TempDir)> = OnceLock::new();
    let (app, _) = APP.get_or_init(|| {
        let home = tempfile::tempdir().expect("a temporary directory");
        let lab = Lab::open(home.path()).expect("a lab");
        let app = App::new(lab, Options { page_size: 2, ..Options::default() });
        for seed in [
            "PUT /subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg?api-version=2024-05-01\n{\"location\":\"westus\"}",
            "PUT /subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/a?api-version=2024-05-01\n{\"location\":\"westus\",\"properties\":{\"addressSpace\":{\"addressPrefixes\":[\"10.1.0.0/16\"]}}}",
            "PUT /subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/b?api-version=2024-05-01\n{\"location\":\"westus\",\"properties\":{\"addressSpace\":{\"addressPrefixes\":[\"10.2.0.0/16\"]}}}",
        ] {
            app.answer_bytes(seed.as_bytes());
        }
        (app, home)
    });
    app
}

fuzz_target!(|input: &[u8]| {
    let app = app();
    let reply = app.answer_bytes(input);
    assert!(reply.status.as_u16() < 500, "{:?}", reply.body);
        // ARM's envelope, or (from the token endpoint) OAuth's.
    if reply.status.as_u16() >= 400 && let Some(body) = &reply.body {
        assert!(body["error"]["code"].is_string() || body["error"].is_string(), "{body}");
    }
        let violations = app.lab.read(vnetlab_engine::invariants::check).expect("the store reads");
    assert!(violations.is_empty(), "{violations:?}");
});
