//! Waiting calls of one queue, bucketed by (topic, priority) and ordered by arrival.
//!
//! A bucket is a `BTreeMap` keyed by `(entered, seq)`: its first entry is the longest waiting
//! caller, and a call that returns after a failed offer is reinserted under its original key,
//! so it is back at the head with its original wait. A routing decision looks only at bucket
//! heads (a handful per queue), never at all waiting calls.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::model::{CallId, Priority, TopicId};

/// Order of a waiting call within its bucket: arrival instant, then arrival sequence.
pub(crate) type WaitKey = (Instant, u64);

/// Calls of one topic and priority, oldest first.
#[derive(Debug)]
pub(crate) struct Bucket {
    pub(crate) topic: TopicId,
    pub(crate) priority: Priority,
    pub(crate) calls: BTreeMap<WaitKey, CallId>,
}

/// The waiting calls of one queue.
#[derive(Debug, Default)]
pub(crate) struct WaitingQueue {
    buckets: Vec<Bucket>,
}

impl WaitingQueue {
    fn bucket_mut(&mut self, topic: TopicId, priority: Priority) -> &mut Bucket {
        let pos = match self
            .buckets
            .iter()
            .position(|b| b.topic == topic && b.priority == priority)
        {
            Some(p) => p,
            None => {
                self.buckets.push(Bucket {
                    topic,
                    priority,
                    calls: BTreeMap::new(),
                });
                self.buckets.len() - 1
            }
        };
        &mut self.buckets[pos]
    }

    /// Adds a call under its wait key.
    pub(crate) fn insert(
        &mut self,
        topic: TopicId,
        priority: Priority,
        key: WaitKey,
        call: CallId,
    ) {
        self.bucket_mut(topic, priority).calls.insert(key, call);
    }

    /// Removes a call; true if it was there.
    pub(crate) fn remove(&mut self, topic: TopicId, priority: Priority, key: WaitKey) -> bool {
        self.bucket_mut(topic, priority)
            .calls
            .remove(&key)
            .is_some()
    }

    /// Buckets, empty ones included (they are kept to avoid reallocating).
    pub(crate) fn buckets(&self) -> &[Bucket] {
        &self.buckets
    }

    /// The arrival instant of the longest waiting caller.
    pub(crate) fn oldest(&self) -> Option<Instant> {
        self.buckets
            .iter()
            .filter_map(|b| b.calls.keys().next().map(|k| k.0))
            .min()
    }
}
