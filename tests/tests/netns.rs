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
