//! What the MQTT scenario's clients recorded, for the MQTT checkers: every message published
//! (with its outcome), every message each subscriber's application received, each subscriber's
//! connections, and how each will client's connections ended.

/// How a publish ended for its publisher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PubOutcome {
    /// PUBACK / PUBCOMP with success: the broker promised it.
    Acked,
    /// The broker refused it (an error reason): it must not be delivered, but may have been.
    Refused,
    /// No answer (connection lost, timeout): it may or may not have been delivered.
    Unknown,
}

/// One message a publisher sent. Its payload is unique in the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// `<publisher>/<connection>`: the order of a publisher's messages is promised per
    /// connection.
    pub source: String,
    pub topic: String,
    pub seq: u64,
    pub qos: u8,
    pub retain: bool,
    pub payload: String,
    pub sent_ms: u64,
    pub outcome: PubOutcome,
}

/// One message a subscriber's application received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    pub payload: String,
    pub qos: u8,
    pub at_ms: u64,
}

/// One persistent-session subscriber.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriberLog {
    pub name: String,
    /// When its subscription was first acknowledged (`None`: never).
    pub subscribed_ms: Option<u64>,
    /// Every CONNACK it got: (when, session present).
    pub connects: Vec<(u64, bool)>,
    pub got: Vec<Got>,
}

/// How a will client's connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WillEnd {
    /// A DISCONNECT, and the broker closed the connection after it: no will may follow (unless
    /// that broker crashed before meta recorded the disconnect: `broker` and `at_ms` tell).
    Clean { broker: u64, at_ms: u64 },
    /// The client dropped its socket without DISCONNECT: the will must follow.
    Dropped { at_ms: u64 },
}

/// One will client connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WillRun {
    pub will_payload: String,
    pub end: WillEnd,
}

/// A payload for message `seq` of `source` on `topic`.
pub fn payload(source: &str, topic: &str, seq: u64) -> String {
    format!("{source}|{topic}|{seq}")
}

/// The (source, topic, seq) a payload names.
pub fn parse(payload: &str) -> Option<(&str, &str, u64)> {
    let mut it = payload.rsplitn(3, '|');
    let seq = it.next()?.parse().ok()?;
    let topic = it.next()?;
    let source = it.next()?;
    Some((source, topic, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_back() {
        let p = payload("p1/3", "t/2", 17);
        assert_eq!(parse(&p), Some(("p1/3", "t/2", 17)));
        assert_eq!(parse("nonsense"), None);
    }
}
