//! `rvs-vsctl --help`: every command with one line each, the options, the
//! value syntax, how records are named, and worked examples.

use super::commands::COMMANDS;
use super::db_cmds::{RowRule, ROW_RULES};
use super::parse::Group;
use std::fmt::Write;

const GROUPS: &[Group] = &[
    Group::Switch,
    Group::Bridge,
    Group::Port,
    Group::Interface,
    Group::Controller,
    Group::Manager,
    Group::Database,
];

const OPTIONS: &str = "\
Options:
  --db=unix:PATH|tcp:IP:PORT  the database server
                              (default: unix:$RVS_RUNDIR/db.sock, RVS_RUNDIR=/var/run/rvs)
  --no-wait                   do not wait for rvs-vswitchd to apply the change
                              (use it when rvs-vswitchd is not running)
  -t, --timeout=SECS          give up after SECS seconds (0: wait forever, the default)
  --retry                     keep trying to connect until the timeout
  --dry-run                   run the commands but do not commit the changes
  --oneline                   print the output of each command on one line
  -h, --help                  print this help
  -V, --version               print the version

Output formatting (list and find):
  -f, --format=FORMAT         list (default), table, csv, html or json
  -d, --data=FORMAT           cells as string (default), bare or json
  --no-headings               no heading row (list: no \"column :\" prefix)
  --pretty                    indent JSON output
  --bare                      same as --format=list --data=bare --no-headings
  --max-column-width=N        truncate table cells to N characters

Command options go right before the command name, after \"--\":
  rvs-vsctl --no-wait -- --may-exist add-br br0 -- --if-exists del-port vnet0
The options of the first command may also stand among the global options.
";

const VALUES: &str = "\
Values:
  integer, real        10, -3, 1.5
  boolean              true or false
  string               a bare word (letters, digits, _ - .) or a JSON string
                       in double quotes: \"tcp:127.0.0.1:6653\", \"\" (quote for the shell too)
  uuid                 a full UUID, or @name from --id=@name in the same invocation
  set                  values separated by commas or spaces, optionally in [...];
                       [] is empty; integer sets take ranges: trunks=1-10,20
  map                  key=value pairs likewise, optionally in {...}; {} is empty
  COLUMN:KEY=VALUE     one key of a map; VALUE takes the rest of the argument
Table and column names ignore case, treat - and _ alike, and may be shortened
to a unique prefix (external-ids = external_ids, trunk = trunks).
Conditions of find and wait-until: COLUMN[:KEY]OP VALUE with OP one of
  = != < > <= >=  (compare)   {=} {!=} {<} {>} {<=} {>=} {in} {not-in}  (sets)
";

const EXAMPLES: &str = "\
Examples:
  rvs-vsctl --no-wait init
  rvs-vsctl add-br br0 -- add-port br0 eth0 tag=10
  rvs-vsctl add-port br0 vlan10 tag=10 -- set Interface vlan10 type=internal
  rvs-vsctl set Interface eth0 options:remote_ip=1.2.3.4 external-ids:vm-id=abc
  rvs-vsctl --columns=name,ofport find Interface type=internal
  rvs-vsctl get Interface eth0 external_ids:vm-id
  rvs-vsctl --format=json list Bridge br0
  rvs-vsctl -- set Port eth0 qos=@q -- --id=@q create QoS type=linux-htb
  rvs-vsctl --timeout=5 -- --if-exists del-port vnet0 -- add-port br0 vnet0 \\
            -- set Interface vnet0 \"external-ids:attached-mac=\\\"52:54:00:00:00:01\\\"\"
  rvs-vsctl br-exists br0 || echo \"no bridge br0 (exit status 2)\"
Every invocation is one transaction: if any command fails, nothing changes.
Exit status: 0 success, 1 error (message on stderr), 2 br-exists: no such bridge.
";

/// The help text.
pub fn help_text() -> String {
    let mut s = String::new();
    s.push_str(
        "rvs-vsctl: configure rvs through its database (the command language of ovs-vsctl)\n\
         usage: rvs-vsctl [OPTIONS] [--] [CMD-OPTIONS] COMMAND [ARG...] [-- [CMD-OPTIONS] COMMAND [ARG...]]...\n",
    );
    for g in GROUPS {
        let _ = writeln!(s, "\n{}:", g.title());
        for c in COMMANDS.iter().filter(|c| c.group == *g) {
            if c.usage.len() <= 40 {
                let _ = writeln!(s, "  {:<40} {}", c.usage, c.help);
            } else {
                let _ = writeln!(s, "  {}\n  {:<40} {}", c.usage, "", c.help);
            }
        }
    }
    s.push_str("\nRecords (RECORD) are named by UUID (or a unique prefix of 4+ hex digits),\nby @name, or:\n");
    for (table, rules) in ROW_RULES {
        let how: Vec<String> = rules
            .iter()
            .map(|r| match r {
                RowRule::Name(c) => format!("by \"{c}\""),
                RowRule::Dot => "as \".\"".to_string(),
                RowRule::Via {
                    table,
                    name: Some(n),
                    column,
                } => format!("via \"{column}\" of the {table} with that \"{n}\""),
                RowRule::Via {
                    table,
                    name: None,
                    column,
                } => format!("as \".\" (via \"{column}\" of {table})"),
            })
            .collect();
        let _ = writeln!(s, "  {:<26} {}", table, how.join(", "));
    }
    s.push('\n');
    s.push_str(VALUES);
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
