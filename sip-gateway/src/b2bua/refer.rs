//! Transfers asked for by the seat's own phone with REFER (RFC 3515): the gateway reads the
//! Refer-To, asks the platform ([`Event::Refer`]), answers 202 or a refusal, and reports the
//! transfer's progress to the phone in NOTIFYs carrying `message/sipfrag` (RFC 3515 §2.4.5).

use std::time::Instant;

use rsipstack::sip::{Header, Method};

use super::call::{CallState, ClientPurpose, Side};
use super::{Event, Gateway};
use crate::dialog::{uri_of, user_of, InDialog};
use crate::route::Router;
use crate::validate::ValidRequest;

/// What a REFER asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferTo {
    /// The user part of the Refer-To URI (the number to transfer to, e.g. "12333").
    pub user: String,
    /// The whole URI as written.
    pub uri: String,
    /// The dialog its `Replaces` names (an attended transfer, RFC 3891): the seat's
    /// consultation call to the target.
    pub replaces: Option<Replaces>,
}

/// A `Replaces` header (RFC 3891 §6.1) as carried in a Refer-To URI's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    /// The Call-ID of the dialog to replace.
    pub call_id: String,
    /// Its `to-tag`.
    pub to_tag: String,
    /// Its `from-tag`.
    pub from_tag: String,
}

impl Replaces {
    /// Reads the `Replaces` header of a URI (`sip:12333@host?Replaces=id%3Bto-tag%3D1%3Bfrom-tag%3D2`),
    /// percent-decoded (RFC 3261 §19.1.1). None if there is none or it lacks a tag.
    pub fn of_uri(uri: &str) -> Option<Self> {
        let (_, headers) = uri.split_once('?')?;
        let value = headers.split('&').find_map(|h| {
            let (name, value) = h.split_once('=')?;
            name.eq_ignore_ascii_case("replaces").then_some(value)
        })?;
        let value = percent_decode(value)?;
        let mut parts = value.split(';').map(str::trim);
        let call_id = parts.next().filter(|c| !c.is_empty())?.to_owned();
        let (mut to_tag, mut from_tag) = (None, None);
        for p in parts {
            match p.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("to-tag") => to_tag = Some(v.to_owned()),
                Some((k, v)) if k.eq_ignore_ascii_case("from-tag") => {
                    from_tag = Some(v.to_owned());
                }
                _ => {}
            }
        }
        Some(Self {
            call_id,
            to_tag: to_tag?,
            from_tag: from_tag?,
        })
    }
}

/// `%XX` escapes decoded; None for a broken escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(super) fn refer_to(req: &ValidRequest) -> Option<ReferTo> {
    let value = req.request.headers.iter().find_map(|h| match h {
        Header::ReferTo(v) => Some(v.value().to_owned()),
        Header::Other(name, v) if name.eq_ignore_ascii_case("r") => Some(v.clone()),
        _ => None,
    })?;
    let uri = uri_of(&value).to_owned();
    let user = user_of(&uri)?.to_owned();
    let replaces = Replaces::of_uri(&uri);
    Some(ReferTo {
        user,
        uri,
        replaces,
    })
}

impl<R: Router> Gateway<R> {
    /// A REFER inside a call's dialog. Only the seat's phone of an answered call may refer;
    /// anything else is refused here. The platform answers with
    /// [`answer_refer`](Self::answer_refer).
    pub(super) fn on_refer(
        &mut self,
        now: Instant,
        call_id: u64,
        side: Side,
        tx: u64,
        target: Option<ReferTo>,
    ) {
        let answered = self.calls.get(&call_id).is_some_and(|c| {
            c.state == CallState::Answered && c.parent.is_none() && !c.b.call_id.is_empty()
        });
        if side != Side::Seat || !answered {
            self.respond(now, tx, 403, "Forbidden", &[], None);
            return;
        }
        let Some(target) = target else {
            self.respond(now, tx, 400, "Bad Refer-To", &[], None);
            return;
        };
        // An attended transfer names the seat's consultation dialog, from either end's
        // point of view (phones differ on which tag is which).
        let consult = target.replaces.as_ref().and_then(|r| {
            [&r.to_tag, &r.from_tag].into_iter().find_map(|tag| {
                let &(c, side) = self.dialogs.get(&(r.call_id.clone(), tag.clone()))?;
                let cc = self.calls.get(&c)?;
                (side == Side::Caller && cc.consult_for == Some(call_id)).then_some(c)
            })
        });
        self.events.push_back(Event::Refer {
            call: call_id,
            refer: tx,
            target,
            consult,
        });
    }

    /// The platform's answer to [`Event::Refer`]: `status` 202 accepts (the phone then gets
    /// a NOTIFY "100 Trying" and, later, the outcome from [`refer_outcome`]); a 4xx/5xx refuses.
    ///
    /// [`refer_outcome`]: Self::refer_outcome
    pub fn answer_refer(
        &mut self,
        now: Instant,
        call_id: u64,
        refer: u64,
        status: u16,
        reason: &str,
    ) {
        self.respond(now, refer, status, reason, &[], None);
        if status == 202 {
            if let Some(c) = self.calls.get_mut(&call_id) {
                c.refer_pending = true;
            }
            self.notify_refer(now, call_id, "SIP/2.0 100 Trying", false);
        }
    }

    /// Tell the phone that referred how the transfer ended, e.g. `"SIP/2.0 200 OK"` or
    /// `"SIP/2.0 486 Busy Here"`; the subscription ends. Nothing if no REFER is pending.
    pub fn refer_outcome(&mut self, now: Instant, call_id: u64, status_line: &str) {
        let pending = self
            .calls
            .get_mut(&call_id)
            .is_some_and(|c| std::mem::take(&mut c.refer_pending));
        if pending {
            self.notify_refer(now, call_id, status_line, true);
        }
    }

    fn notify_refer(&mut self, now: Instant, call_id: u64, frag: &str, last: bool) {
        let branch = self.ids.branch();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.b.call_id.is_empty() {
            return;
        }
        let cseq = call.b.next_cseq();
        let body = format!("{frag}\r\n");
        let state = if last {
            "Subscription-State: terminated;reason=noresource"
        } else {
            "Subscription-State: active;expires=60"
        };
        let contact = self.sent_by.contact(call.b.peer.transport);
        let request = call.b.request_with(
            InDialog {
                method: Method::Notify,
                sent_by: self.sent_by.get(call.b.peer.transport),
                branch: &branch,
                cseq,
                contact: Some(&contact),
                body: Some(("message/sipfrag;version=2.0", body.as_bytes())),
            },
            &["Event: refer", state],
        );
        let peer = call.b.peer;
        self.open_client(
            now,
            peer,
            (branch, Method::Notify),
            request,
            ClientPurpose::Bye,
            None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::Replaces;

    #[test]
    fn refer_to_reads_the_user_and_replaces() {
        let uri = super::uri_of(
            "<sip:12333@127.0.0.1?Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3Dx2&Require=replaces>",
        )
        .to_owned();
        assert_eq!(
            Replaces::of_uri(&uri),
            Some(Replaces {
                call_id: "abc@host".into(),
                to_tag: "1".into(),
                from_tag: "x2".into(),
            })
        );
        assert_eq!(super::user_of("sip:12333@127.0.0.1"), Some("12333"));
    }

    #[test]
    fn replaces_without_tags_or_with_broken_escapes_is_none() {
        assert_eq!(Replaces::of_uri("sip:1@h?Replaces=abc%3Bto-tag%3D1"), None);
        assert_eq!(Replaces::of_uri("sip:1@h?Replaces=abc%3"), None);
        assert_eq!(Replaces::of_uri("sip:1@h"), None);
        assert_eq!(Replaces::of_uri("sip:1@h?Subject=x"), None);
    }
}
