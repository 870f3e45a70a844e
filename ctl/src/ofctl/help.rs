//! `rvs-ofctl --help`: the commands, the targets, the flow syntax in
//! brief, the options, and worked examples.

use super::commands::COMMANDS;
use std::fmt::Write;

const TARGETS: &str = "\
SWITCH is one of:
  BRIDGE                  a bridge of rvs-vswitchd: the socket $RVS_RUNDIR/BRIDGE.mgmt
                          (RVS_RUNDIR defaults to /var/run/rvs)
  unix:PATH               an OpenFlow unix socket
  tcp:IP[:PORT]           an OpenFlow TCP listener (PORT defaults to 6653)
  PATH                    a unix socket path given bare
";

const FLOWS: &str = "\
FLOW is a comma-separated list of match fields and settings, then actions=:
  match     in_port=1  dl_src=02:00:00:00:00:01  dl_type=0x0800  ip  tcp  udp  arp
            nw_src=10.0.0.0/8  nw_dst=10.0.0.2  tp_dst=80  dl_vlan=10  vlan_tci=0x1000/0x1000
            (every OXM field by its name too: eth_src, ipv4_dst, tcp_dst, ...)
  settings  table=0  priority=100  cookie=0x1  idle_timeout=30  hard_timeout=60
            send_flow_rem  check_overlap  (filters: cookie=0x1/-1  out_port=2)
  actions   output:2  NORMAL  FLOOD  ALL  LOCAL  IN_PORT  CONTROLLER:128  drop
            mod_vlan_vid:10  strip_vlan  push_vlan:0x8100  set_field:10.0.0.1->ip_dst
            mod_dl_src:02:00:00:00:00:01  dec_ttl  set_queue:1  group:1  goto_table:1
            write_actions(output:2)  clear_actions  write_metadata:0x1/0xff
Ports may be given by name (in_port=veth0, output:veth0) unless --no-names.
A FILE has one flow a line; # starts a comment; - reads standard input.
In add-flows a line may start with add, modify, modify_strict, delete or
delete_strict to do that instead of adding.
";

const OPTIONS: &str = "\
Options:
  -O, --protocols=OpenFlow13  the OpenFlow version: rvs-ofctl speaks only OpenFlow 1.3
                              (and uses it without -O)
  --strict                    mod-flows, del-flows: match priority and fields exactly
  --readd                     replace-flows: re-add flows that did not change too
  -t, --timeout=SECS          give up after SECS seconds
  --names, --no-names         show port names instead of numbers (default: only on a
                              terminal); --no-names also refuses names in flows
  --stats, --no-stats         dump-flows: show or leave out durations and counters
  --sort[=FIELD], --rsort[=FIELD]
                              dump-flows: order by FIELD (default: priority), ascending or
                              descending; flows without FIELD come last; repeat to add keys
  -h, --help                  this help
  -V, --version               the version
";

const EXAMPLES: &str = "\
Examples:
  rvs-ofctl show br0
  rvs-ofctl add-flow br0 \"priority=100,ip,nw_dst=10.0.0.2,actions=output:2\"
  rvs-ofctl add-flow br0 \"in_port=veth0,actions=NORMAL\"
  rvs-ofctl dump-flows br0
  rvs-ofctl --no-stats --rsort dump-flows br0 \"table=0,tcp\"
  rvs-ofctl --strict del-flows br0 \"priority=100,ip,nw_dst=10.0.0.2\"
  rvs-ofctl add-flows br0 flows.txt        (or: rvs-ofctl add-flows br0 - < flows.txt)
  rvs-ofctl replace-flows br0 flows.txt    (make the table equal the file)
  rvs-ofctl diff-flows br0 flows.txt       (exit status 2 if they differ)
  rvs-ofctl dump-ports br0 1
  rvs-ofctl packet-out br0 LOCAL output:1 ffffffffffff020000000001080045000014000000004001f97cc0a80001c0a80002
  rvs-ofctl packet-out br0 \"in_port=LOCAL,packet=ffffffffffff0200000000010806,actions=FLOOD\"
  rvs-ofctl -O OpenFlow13 dump-tables unix:/var/run/rvs/br0.mgmt
  rvs-ofctl dump-aggregate tcp:127.0.0.1:6653 \"in_port=1\"

Output is the text ovs-ofctl -O OpenFlow13 prints, so scripts written for
ovs-ofctl work unchanged. Errors from the switch are printed as ovs-ofctl
prints them (OFPT_ERROR (OF1.3) (xid=0x2): OFPBMC_BAD_PREREQ ...).
Exit status: 0 success, 1 error (message on stderr), 2 diff-flows: differences.
";

/// The help text.
pub fn help_text() -> String {
    let mut s = String::from(
        "rvs-ofctl: manage an OpenFlow 1.3 switch (the command language of ovs-ofctl)\n\
         usage: rvs-ofctl [OPTIONS] COMMAND [ARG...]\n\nCommands:\n",
    );
    for c in COMMANDS {
        if c.usage.len() <= 34 {
            let _ = writeln!(s, "  {:<34} {}", c.usage, c.help);
        } else {
            let _ = writeln!(s, "  {}\n  {:<34} {}", c.usage, "", c.help);
        }
    }
    s.push('\n');
    s.push_str(TARGETS);
    s.push('\n');
    s.push_str(FLOWS);
    s.push('\n');
    s.push_str(OPTIONS);
    s.push('\n');
    s.push_str(EXAMPLES);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_command() {
        let h = help_text();
        for c in COMMANDS {
            assert!(h.contains(c.usage), "{} is missing from --help", c.name);
        }
        assert!(h.contains("Examples:"));
    }
}

#[cfg(test)]
mod syntax_tests {
    use rvs_openflow::flow_syntax::{parse_flow, FlowMode};

    /// Every match field, setting and action the help shows is one the
    /// flow syntax reads.
    #[test]
    fn help_examples_parse() {
        for flow in [
            "in_port=1,dl_src=02:00:00:00:00:01,dl_type=0x0800,actions=drop",
            "ip,nw_src=10.0.0.0/8,nw_dst=10.0.0.2,actions=drop",
            "tcp,tp_dst=80,actions=drop",
            "udp,actions=drop",
            "arp,actions=drop",
            "dl_vlan=10,actions=drop",
            "vlan_tci=0x1000/0x1000,actions=drop",
            "eth_src=02:00:00:00:00:01,ip,ipv4_dst=10.0.0.1,tcp,tcp_dst=22,actions=drop",
            "table=0,priority=100,cookie=0x1,idle_timeout=30,hard_timeout=60,send_flow_rem,check_overlap,actions=drop",
            "actions=output:2,NORMAL",
            "actions=FLOOD",
            "actions=ALL",
            "actions=LOCAL",
            "actions=IN_PORT",
            "actions=CONTROLLER:128",
            "actions=mod_vlan_vid:10,output:1",
            "dl_vlan=10,actions=strip_vlan,output:1",
            "actions=push_vlan:0x8100,output:1",
            "ip,actions=set_field:10.0.0.1->ip_dst,output:1",
            "actions=mod_dl_src:02:00:00:00:00:01,output:1",
            "ip,actions=dec_ttl,output:1",
            "actions=set_queue:1,output:1",
            "actions=group:1",
            "actions=goto_table:1",
            "actions=write_actions(output:2)",
            "actions=clear_actions",
            "actions=write_metadata:0x1/0xff",
            "priority=100,ip,nw_dst=10.0.0.2,actions=output:2",
        ] {
            parse_flow(flow, FlowMode::Add).unwrap_or_else(|e| panic!("{flow}: {e}"));
        }
        for filter in [
            "cookie=0x1/-1,out_port=2",
            "table=0,tcp",
            "priority=100,ip,nw_dst=10.0.0.2",
        ] {
            parse_flow(filter, FlowMode::Filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        }
    }
}
