//! Attended transfer from the seat's phone (RFC 5589 §7, RFC 3891): the seat keeps its caller
//! on hold and calls the target from its phone; that INVITE reaches the platform as a call of
//! its own, the *consultation*, which the platform joins to the call it is about. The target is
//! dialled as that call's transfer target ([`Gateway::dial_target`]) and the seat's
//! consultation leg becomes the call's [`CONSULT_LEG`](super::CONSULT_LEG) on the media plane,
//! so seat and target talk inside the caller's own media task. A REFER whose `Replaces` names
//! the consultation completes the transfer: caller and target talk, both of the seat's
//! dialogs are hung up.

use std::time::Instant;

use super::call::{CallState, Side};
use super::{Dial, EndCause, Gateway, TransferError};
use crate::route::Router;

impl<R: Router> Gateway<R> {
    /// Make the held call `consult` (an INVITE from the seat's phone to a transfer target) the
    /// seat's consultation about the answered call `call`: the target is dialled as `call`'s
    /// transfer target ([`dial_target`](Self::dial_target)) and the consultation's media joins
    /// `call`'s. Ringing, answer and failure come as `call`'s transfer events; the platform
    /// passes them on with [`ring_back`](Self::ring_back) (to `consult`),
    /// [`answer_consult`](Self::answer_consult) and [`end_consult`](Self::end_consult).
    ///
    /// # Errors
    ///
    /// Those of [`dial_target`](Self::dial_target); [`TransferError::NotConsultable`] when
    /// `consult` is not a held call, or its INVITE has no SDP offer while media is anchored.
    pub fn consult(
        &mut self,
        now: Instant,
        consult: u64,
        call: u64,
        dial: &Dial<'_>,
    ) -> Result<(), TransferError> {
        let held = self
            .calls
            .get(&consult)
            .is_some_and(|c| c.state == CallState::Held && c.consult_for.is_none());
        if !held || consult == call {
            return Err(TransferError::NotConsultable);
        }
        let has_offer = self.anchor.is_none()
            || self
                .calls
                .get(&consult)
                .and_then(|c| self.caller_offer(consult).filter(|_| c.media.is_some()))
                .is_some();
        if !has_offer {
            return Err(TransferError::NotConsultable);
        }
        if self.consults.contains_key(&call) {
            return Err(TransferError::Pending);
        }
        self.dial_target(now, call, dial)?;
        let consult_media = self.calls.get_mut(&consult).and_then(|c| c.media.take());
        if let (Some(anchor), Some(consult_media), Some(media)) = (
            self.anchor.as_mut(),
            consult_media,
            self.calls.get_mut(&call).and_then(|c| c.media.as_mut()),
        ) {
            if let Err(e) = anchor.adopt_consult(call, media, consult, consult_media) {
                tracing::debug!(?e, call, consult, "consultation media refused");
                self.cancel_transfer(now, call);
                return Err(TransferError::NoMediaPort);
            }
        }
        if let Some(c) = self.calls.get_mut(&consult) {
            c.consult_for = Some(call);
        }
        self.consults.insert(call, consult);
        Ok(())
    }

    /// The seat's consultation about `call`, if it has one.
    pub fn consultation(&self, call: u64) -> Option<u64> {
        self.consults.get(&call).copied()
    }

    /// The target answered: answer the seat's consultation INVITE with our SDP for its leg.
    /// False if `call` has no consultation waiting for an answer.
    pub fn answer_consult(&mut self, now: Instant, call: u64) -> bool {
        let Some(&consult) = self.consults.get(&call) else {
            return false;
        };
        let sdp = match (
            self.anchor.as_mut(),
            self.calls.get_mut(&call).and_then(|c| c.media.as_mut()),
        ) {
            (Some(anchor), Some(media)) => anchor.consult_answer(media),
            _ => None,
        };
        match sdp {
            Some(sdp) => self.answer_locally(now, consult, &sdp),
            None => false,
        }
    }

    /// End the seat's consultation about `call` (its transfer completed, was cancelled or
    /// failed): an unanswered consultation INVITE is refused with `status` (the target's
    /// failure, or 487), an answered one is hung up (BYE). False if there is none.
    pub fn end_consult(&mut self, now: Instant, call: u64, status: u16, reason: &str) -> bool {
        let Some(consult) = self.consults.remove(&call) else {
            return false;
        };
        self.close_consult_media(call);
        self.finish_consult(now, consult, status, reason);
        true
    }

    /// The consultation `consult` (no longer linked to its call) is over.
    fn finish_consult(&mut self, now: Instant, consult: u64, status: u16, reason: &str) {
        let Some(c) = self.calls.get_mut(&consult) else {
            return;
        };
        c.consult_for = None;
        match c.state {
            CallState::Held | CallState::Ringing => {
                self.reject_now(now, consult, status, reason);
            }
            CallState::Answered => {
                self.send_bye(now, consult, Side::Caller);
                self.end_call(consult, EndCause::Terminated);
                self.remove_call(consult);
            }
            CallState::Ending => {}
        }
    }

    /// The consultation about `about` ended on its own (the seat hung it up or cancelled it):
    /// unlink it and close its media; the platform hears `CallEnded` for it.
    pub(super) fn consult_gone(&mut self, about: u64) {
        self.consults.remove(&about);
        self.close_consult_media(about);
    }

    fn close_consult_media(&mut self, call: u64) {
        if let (Some(anchor), Some(media)) = (
            self.anchor.as_mut(),
            self.calls.get_mut(&call).and_then(|c| c.media.as_mut()),
        ) {
            anchor.close_consult(call, media);
        }
    }

    /// Consultations of calls that ended: refused (487) or hung up once `now` is known.
    pub(super) fn drop_orphaned_consults(&mut self, now: Instant) {
        while let Some(consult) = self.consult_orphans.pop() {
            self.finish_consult(now, consult, 487, "Request Terminated");
        }
    }
}
