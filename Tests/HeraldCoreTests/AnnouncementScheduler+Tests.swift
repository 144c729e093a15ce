import HeraldCore
import HeraldWire
import Testing

@Suite struct AnnouncementSchedulerTests {
    let a = IPAddress("198.51.100.50")!
    let b = IPAddress("2001:db8:100::50")!

    func ms(_ value: Int) -> Duration { .milliseconds(value) }

    @Test func announcesAtOnceThenBurstThenRefresh() {
        var scheduler = AnnouncementScheduler(settings: .init(burst: [.zero, .milliseconds(200), .seconds(1)],
                                                              refreshInterval: .seconds(30)))
        scheduler.onOwnershipChanged([a], now: ms(1000))
        #expect(scheduler.nextDeadline == ms(1000))
        var sentAt: [Duration] = []
        var now = ms(1000)
        while now <= ms(70_000) {
            if !scheduler.onTick(now: now).isEmpty { sentAt.append(now) }
            now = scheduler.nextDeadline!
        }
        #expect(sentAt == [ms(1000), ms(1200), ms(2000), ms(32_000), ms(62_000)])
    }

    @Test func lateTicksDoNotBunchUp() {
        var scheduler = AnnouncementScheduler(settings: .init(burst: [.zero, .milliseconds(100), .milliseconds(200)],
                                                              refreshInterval: .seconds(10)))
        scheduler.onOwnershipChanged([a], now: .zero)
        #expect(scheduler.onTick(now: .zero) == [a])
        // The thread was descheduled for 1 s: one catch-up announcement, not two at once.
        #expect(scheduler.onTick(now: .seconds(1)) == [a])
        #expect(scheduler.onTick(now: .seconds(1)) == [])
    }

    @Test func releaseStopsAnnouncingAtOnceAndKeptAddressesKeepTheirSchedule() {
        var scheduler = AnnouncementScheduler()
        scheduler.onOwnershipChanged([a], now: .zero)
        _ = scheduler.onTick(now: .zero)
        scheduler.onOwnershipChanged([a, b], now: ms(50))
        #expect(scheduler.onTick(now: ms(50)) == [b])
        #expect(scheduler.onTick(now: ms(200)) == [a])
        scheduler.onOwnershipChanged([b], now: ms(300))
        var seen: Set<IPAddress> = []
        var now = ms(300)
        for _ in 0..<20 {
            seen.formUnion(scheduler.onTick(now: now))
            now = scheduler.nextDeadline!
        }
        #expect(seen == [b])
        scheduler.onOwnershipChanged([], now: now)
        #expect(scheduler.nextDeadline == nil)
        #expect(scheduler.onTick(now: now + .seconds(100)) == [])
    }

    @Test func announcementFrames() throws {
        let mac = MACAddress("02:00:00:00:00:11")!
        let frames = Announcement.frames(for: a, mac: mac)
        #expect(frames.count == 2)
        for frame in frames {
            guard case .arp(let ethernet, let arp) = try Frame.decode(frame) else { Issue.record("not ARP"); continue }
            #expect(ethernet.destination == .broadcast && arp.isGratuitous && arp.senderMAC == mac)
        }
        guard case .ndp(let ethernet, let ndp) = try Frame.decode(Announcement.frames(for: b, mac: mac)[0]),
              case .advertisement(let advertisement) = ndp.message else {
            Issue.record("not an NA")
            return
        }
        #expect(ethernet.destination == MACAddress("33:33:00:00:00:01"))
        #expect(ndp.header.destination == .allNodes)
        #expect(advertisement.override && !advertisement.solicited && advertisement.targetLinkLayer == mac)
    }
}
