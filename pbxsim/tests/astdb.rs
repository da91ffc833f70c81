//! AstDB over TCP: `DBPut`, `DBGet`, `DBDel` and `DBDelTree` answered as Asterisk 22's
//! `main/db.c` writes them (no recording has them), and refused without `system`.

mod common;

use common::{Client, keys};
use pbxsim::SimConfig;
use testkit::Pbx as Sim;

fn header(m: &shared::ami::Message, name: &str) -> String {
    m.get_str(name).map(|v| v.into_owned()).unwrap_or_default()
}

#[tokio::test]
async fn a_value_put_is_read_back_then_deleted() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;

    let put = c
        .action("Action: DBPut\r\nActionID: p1\r\nFamily: CF\r\nKey: 1001\r\nVal: 5551234\r\n\r\n")
        .await;
    assert_eq!(keys(&put), ["Response", "ActionID", "Message"]);
    assert_eq!(header(&put, "Response"), "Success");
    assert_eq!(header(&put, "Message"), "Updated database successfully");

    let (response, items, complete) = c
        .list(
            "Action: DBGet\r\nActionID: g1\r\nFamily: CF\r\nKey: 1001\r\n\r\n",
            "g1",
        )
        .await;
    assert_eq!(header(&response, "Message"), "Result will follow");
    assert_eq!(header(&response, "EventList"), "start");
    let [item] = items.as_slice() else {
        panic!("one DBGetResponse, got {items:?}")
    };
    // db.c appends the ActionID after the value.
    assert_eq!(keys(item), ["Event", "Family", "Key", "Val", "ActionID"]);
    assert_eq!(header(item, "Event"), "DBGetResponse");
    assert_eq!(header(item, "Val"), "5551234");
    assert_eq!(
        keys(&complete),
        ["Event", "ActionID", "EventList", "ListItems"]
    );
    assert_eq!(header(&complete, "Event"), "DBGetComplete");
    assert_eq!(header(&complete, "ListItems"), "1");

    let del = c
        .action("Action: DBDel\r\nActionID: d1\r\nFamily: CF\r\nKey: 1001\r\n\r\n")
        .await;
    assert_eq!(header(&del, "Message"), "Key deleted successfully");
    let gone = c
        .action("Action: DBGet\r\nActionID: g2\r\nFamily: CF\r\nKey: 1001\r\n\r\n")
        .await;
    assert_eq!(header(&gone, "Response"), "Error");
    assert_eq!(header(&gone, "Message"), "Database entry not found");
    let again = c
        .action("Action: DBDel\r\nActionID: d2\r\nFamily: CF\r\nKey: 1001\r\n\r\n")
        .await;
    assert_eq!(
        header(&again, "Message"),
        "Database entry could not be deleted"
    );
}

#[tokio::test]
async fn missing_headers_and_trees_answer_in_db_c_words() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let no_family = c.action("Action: DBPut\r\nKey: 1001\r\n\r\n").await;
    assert_eq!(header(&no_family, "Message"), "No family specified");
    let no_key = c.action("Action: DBPut\r\nFamily: CF\r\n\r\n").await;
    assert_eq!(header(&no_key, "Message"), "No key specified");
    let no_key = c.action("Action: DBGet\r\nFamily: CF\r\n\r\n").await;
    assert_eq!(header(&no_key, "Message"), "No key specified.");

    for key in ["1001", "1001/busy", "1002"] {
        c.action(&format!(
            "Action: DBPut\r\nFamily: CF\r\nKey: {key}\r\nVal: 1\r\n\r\n"
        ))
        .await;
    }
    let tree = c
        .action("Action: DBDelTree\r\nFamily: CF\r\nKey: 1001\r\n\r\n")
        .await;
    assert_eq!(header(&tree, "Message"), "Key tree deleted successfully");
    let kept = c
        .action("Action: DBGet\r\nFamily: CF\r\nKey: 1002\r\n\r\n")
        .await;
    assert_eq!(header(&kept, "Response"), "Success");
    let none = c
        .action("Action: DBDelTree\r\nFamily: CF\r\nKey: 1001\r\n\r\n")
        .await;
    assert_eq!(header(&none, "Message"), "Database entry not found");
}

#[tokio::test]
async fn a_put_needs_the_system_class() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "viewer", "viewer-secret").await;
    let refused = c
        .action("Action: DBPut\r\nFamily: CF\r\nKey: 1001\r\nVal: 1\r\n\r\n")
        .await;
    assert_eq!(header(&refused, "Message"), "Permission denied");
}
