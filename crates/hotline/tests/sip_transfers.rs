//! Transfers across platforms over SIP: a seat's phone transfers its caller by REFER (RFC
//! 3515): a number outside the configured targets is refused with 403, a sub-platform is
//! dialled with the caller's context, the phone follows the transfer in NOTIFYs and is hung up
//! when it completes; the caller then talks to the sub-platform. And the other way: a call a
//! sub-platform's trunk transfers in keeps its topic and shows where it came from.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_seat_phone_refers_its_caller_to_a_sub_platform() {
    let dir = TestDir::new("refer_blind");
    let tone = dir.file("target-1500hz.pcap");
    write_tone_pcap(&tone, 1500.0, 10);
    let seat = Sipp::seat(&dir, "seat", "uas_refer.xml")
        .calls(1)
        .timeout(60);
    // The trunk checks P-Asserted-Identity for the caller: SIPp's built-in caller is "sipp".
    let trunk_xml = scenario_with_pcap(&dir, "uas_trunk.xml", &tone);
    let text = std::fs::read_to_string(&trunk_xml).expect("scenario");
    std::fs::write(&trunk_xml, text.replace("sip:raw@", "sip:sipp@")).expect("scenario");
    let trunk = Sipp::new(&dir, "trunk-12333")
        .arg("-sf")
        .arg(trunk_xml)
        .calls(1)
        .timeout(60);
    let text = include_str!("../../../deploy/zhengzhou.toml")
        .replace("127.0.0.1:5071", &format!("127.0.0.1:{}", trunk.local_port));
    let plan = dir.file("plan.toml");
    std::fs::write(&plan, text).expect("plan");
    let plan = plan.display().to_string();
    let gw = Gateway::start(&dir, &["--config", &plan]);
    register_seat(&dir, &gw, "1001", seat.local_port, false);
    ready(&gw, "1001");
    let (seat, trunk) = (seat.spawn(), trunk.spawn());
    let caller = Sipp::new(&dir, "caller")
        .remote(gw.port)
        .args(["-sn", "uac", "-s", "12345", "-d", "6000"])
        .calls(1)
        .timeout(60)
        .run(Duration::from_secs(60));
    let seat = seat.finish(Duration::from_secs(10));
    let trunk = trunk.finish(Duration::from_secs(10));
    assert!(
        caller.ok() && seat.ok() && trunk.ok(),
        "{}",
        failure("REFER transfer", &[&caller, &seat, &trunk], &gw)
    );
    let text = metrics(&gw);
    assert_eq!(
        metric(
            &text,
            "hotline_transfers_total",
            &[("target", "renshe"), ("outcome", "completed")]
        ),
        1.0,
        "{text}"
    );
}

#[test]
fn a_call_transferred_in_from_a_sub_platform_keeps_its_topic_and_origin() {
    let dir = TestDir::new("transfer_inbound");
    let port = free_port();
    let text = include_str!("../../../deploy/zhengzhou.toml")
        .replace("127.0.0.1:5071", &format!("127.0.0.1:{port}"));
    let plan = dir.file("plan.toml");
    std::fs::write(&plan, text).expect("plan");
    let plan = plan.display().to_string();
    let gw = Gateway::start(&dir, &["--config", &plan]);
    // No seat is ready: the call waits while we look at it, then the trunk cancels.
    let trunk = Sipp::caller(&dir, "trunk-12333", &gw, "uac_from_trunk.xml", "12345")
        .local_port(port)
        .args(["-d", "3000"])
        .calls(1)
        .timeout(30)
        .spawn();
    let mut calls = String::new();
    eventually(Duration::from_secs(5), "the call is listed", || {
        calls = http(gw.http, "GET", "/api/v1/calls", None).1;
        calls.contains("\"origin\"") && calls.contains("waiting")
    });
    assert!(calls.contains(r#""origin":"renshe""#), "{calls}");
    assert!(
        calls.contains(r#""topic":"人社""#),
        "kept its topic: {calls}"
    );
    let trunk = trunk.finish(Duration::from_secs(15));
    assert!(trunk.ok(), "{}", failure("trunk", &[&trunk], &gw));
}
