//! The test harness itself: namespaces are created, usable and always removed.
//! Needs root (CI runs as root).

use rvs_tests::{run, NetNs};

fn netns_list() -> String {
    run("ip", &["netns", "list"])
}

#[test]
fn namespace_is_removed_even_when_the_test_panics() {
    let name = std::panic::catch_unwind(|| {
        let ns = NetNs::new("rvsns");
        let links = ns.exec("ip", &["-o", "link", "show"]);
        assert!(links.contains("lo"), "a new namespace has a loopback link");
        let name = ns.name().to_string();
        assert!(netns_list().contains(&name));
        std::panic::panic_any(name);
    })
    .unwrap_err()
    .downcast::<String>()
    .expect("the panic carries the namespace name");
    assert!(
        !netns_list()
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str())),
        "namespace {name} left behind"
    );
}

#[test]
fn two_namespaces_reach_each_other_through_a_linux_bridge() {
    use rvs_tests::{unique_name, Veth};
    let a = Veth::new("rvsa", "10.77.0.1");
    let b = Veth::new("rvsb", "10.77.0.2");
    let br = unique_name("rvbr");
    run("ip", &["link", "add", &br, "type", "bridge"]);
    struct DelLink(String);
    impl Drop for DelLink {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &self.0])
                .status();
        }
    }
    let _guard = DelLink(br.clone());
    run("ip", &["link", "set", &a.host, "master", &br]);
    run("ip", &["link", "set", &b.host, "master", &br]);
    run("ip", &["link", "set", &br, "up"]);
    let _srv = b.udp_echo_server(7777);
    assert!(
        a.udp_echo(&b.ip, 7777, 1.0),
        "UDP echo through the Linux bridge failed"
    );
}
