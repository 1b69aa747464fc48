//! PINGREQ and PINGRESP (sections 3.12 and 3.13): a fixed header and nothing else, in every
//! version. They have no struct: [`Packet::PingReq`](super::Packet::PingReq) and
//! [`Packet::PingResp`](super::Packet::PingResp) are the whole packets, decoded in
//! [`read`](super::read), where a body of any length is refused as trailing bytes.

#[cfg(test)]
mod tests {
    use crate::mqtt::testing::{both_ways, decode};
    use crate::mqtt::{Error, Packet, Version};

    #[test]
    fn pings_are_two_bytes() {
        for version in [Version::V31, Version::V311, Version::V5] {
            both_ways(&[0xc0, 0x00], Packet::PingReq, version); // PINGREQ, remaining length 0
            both_ways(&[0xd0, 0x00], Packet::PingResp, version); // PINGRESP, remaining length 0
        }
    }

    #[test]
    fn a_ping_with_a_body_or_flags_is_malformed() {
        assert_eq!(decode(&[0xc0, 0x01, 0x00], Version::V5), Err(Error::TrailingBytes { packet: "PINGREQ", bytes: 1 }));
        assert_eq!(decode(&[0xd1, 0x00], Version::V5), Err(Error::InvalidFlags { packet_type: 13, flags: 1 }));
    }
}
