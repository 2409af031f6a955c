//! The portal's assets and its event stream, over HTTPS.

use std::io::Read;

use crate::Server;

#[test]
fn the_portal_is_served_with_its_policy_and_events_need_a_token() {
    let s = Server::start();
    for (path, kind) in [("/", "text/html"), ("/portal/app.js", "text/javascript"), ("/portal/style.css", "text/css")] {
        let r = reqwest_get(&s, path);
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let headers = r.headers().clone();
        assert!(headers["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert!(headers["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    }
    let session = s.get("/portal/session").body;
    assert_eq!(session["principals"], 1);
    let refused = reqwest_get(&s, "/portal/events?access_token=forged");
    assert_eq!(refused.status().as_u16(), 401);
    let mut stream = reqwest_get(&s, &format!("/portal/events?access_token={}", s.token));
    assert_eq!(stream.status().as_u16(), 200);
    let mut first = [0u8; 64];
    let n = stream.read(&mut first).unwrap();
    let text = String::from_utf8_lossy(&first[..n]);
    assert!(text.starts_with("event: revision\ndata: "), "{text}");
}

fn reqwest_get(s: &Server, path: &str) -> reqwest::blocking::Response {
    s.client().get(format!("{}{path}", s.url)).send().unwrap()
}
