/// Why the protocol core dropped a datagram or a part of it: the `reason` label of
/// `chorus_gossip_dropped_total` (the raw value). Reasons the shell counts before the core sees a
/// datagram (its envelope, its sealing, its size) are ``DatagramAuthenticator/Refusal`` and the
/// cluster key's.
public enum DropReason: String, Sendable, Hashable, CaseIterable {
    /// A new DHT key beyond GossipSettings.dhtMaxKeys.
    case dhtFull = "dht_full"
    /// A provider record beyond the per-key or total limit.
    case dhtProviderLimit = "dht_provider_limit"
    /// A new DHT key beyond GossipSettings.dhtMaxKeysPerWriter for its writer.
    case dhtWriterLimit = "dht_writer_limit"
    /// An alive or left whose signature is not its member's.
    case forgedAnnouncement = "forged_announcement"
    /// A suspicion or death claim whose signature is not its accuser's.
    case forgedAccusation = "forged_accusation"
    /// A suspicion or death claim signed further in the future than the clock skew allows.
    case futureAccusation = "future_accusation"
    /// A suspicion or death claim by its own subject, or by a key that is not a member.
    case misboundAccusation = "misbound_accusation"
    /// A suspicion or death claim older than GossipSettings.accusationLifetime (a replay).
    case staleAccusation = "stale_accusation"
    /// A suspicion or death claim whose accuser or subject is not trusted.
    case untrustedAccuser = "untrusted_accuser"
    /// A signed claim from a sender that made this node check too many forgeries this second.
    case forgeryBudget = "forgery_budget"
    /// A ping request beyond GossipSettings.maxPendingForwards.
    case forwardLimit = "forward_limit"
    /// An announcement or status whose generation lies beyond the clock skew.
    case futureGeneration = "future_generation"
    /// The datagram does not decode (dropped whole).
    case malformed
    /// A new member beyond GossipSettings.maxMembers.
    case memberLimit = "member_limit"
    /// Claims to come from this node's own key.
    case ownKey = "own_key"
    /// A ping request for a member this node does not hold alive.
    case pingRequestUnknownTarget = "ping_request_unknown_target"
    /// A pub/sub message from a sender that is not a live member.
    case publishFromStranger = "publish_from_stranger"
    /// A loopback message whose publisher is not its sender (a member returns only its sender's own).
    case loopbackNotFromPublisher = "loopback_not_from_publisher"
    /// A pub/sub message beyond GossipSettings.pubSubMaxMessages.
    case pubsubMemoryFull = "pubsub_memory_full"
    /// A pub/sub message beyond GossipSettings.pubSubMaxPerPublisher for its publisher.
    case pubsubPublisherLimit = "pubsub_publisher_limit"
    /// News of a member whose tombstone expired in that life or a newer one.
    case rememberedDead = "remembered_dead"
    /// An answer larger than the request, to a sender that is not a live member at its address.
    case replyToStranger = "reply_to_stranger"
    /// A request (buckets, digest, message ids, DHT, ping request) from a sender that is not a live member at its address.
    case requestFromStranger = "request_from_stranger"
    /// A suspicion, death or digest entry about a life the member never announced.
    case unannouncedLife = "unannounced_life"
    /// A DHT response nobody asked that member for.
    case unexpectedDhtResponse = "unexpected_dht_response"
    /// This node's own status could not be signed within its size limit.
    case unsignableStatus = "unsignable_status"
    /// An announcement or accusation about a key that is not trusted.
    case untrustedMember = "untrusted_member"
}
