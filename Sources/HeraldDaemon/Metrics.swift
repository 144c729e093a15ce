import HeraldControl
import HeraldCore
import HeraldMembership
import HeraldWire

/// What `GET /metrics` returns, read from the running services at scrape time.
///
/// MetalLB's names keep its dashboards working. MetalLB exposes its counters without the
/// `_total` suffix and a gauge with it, which `promtool check metrics` rejects as typed
/// metrics; they are declared `untyped` here (PromQL's `rate()` and `sum()` work the same),
/// and Herald's own metrics follow the naming rules.
extension Reports {
    var metrics: String {
        let loaded = loaded
        let machine = node.current
        let links = links.map { ($0.interface.name, $0.state) }
        let counters = links.map { ($0.0, $0.1.tally.text) }
        var out = MetricsText()

        func perAddress(_ name: String, _ help: String, _ values: (LinkCounters<String, String>) -> [String: UInt64]) {
            out.family(name, .untyped, help)
            var total: [String: UInt64] = [:]
            for (_, linkCounters) in counters { total.merge(values(linkCounters), uniquingKeysWith: +) }
            for (ip, value) in total.sorted(by: { $0.key < $1.key }) { out.sample(name, ["ip": ip], value) }
        }
        perAddress("metallb_layer2_requests_received", "Counter: ARP requests and NDP solicitations received for a VIP this node answers (MetalLB name).") { $0.requestsReceived }
        perAddress("metallb_layer2_responses_sent", "Counter: ARP replies and neighbor advertisements sent in answer (MetalLB name).") { $0.responsesSent }
        perAddress("metallb_layer2_gratuitous_sent", "Counter: gratuitous ARP and unsolicited neighbor advertisements sent (MetalLB name).") { $0.gratuitousSent }

        out.family("metallb_speaker_announced", .gauge, "1 for each address this node announces; service is the VIP name for standalone VIPs (MetalLB name).")
        let announced = Set(links.flatMap(\.1.serving))
        let services = machine.announcements
        for vip in loaded.config.vips + services.vips where announced.contains(vip.address) {
            out.sample("metallb_speaker_announced", ["ip": vip.address.description, "node": loaded.nodeName,
                                                     "protocol": "layer2", "service": vip.name], 1)
        }

        // From the allocator only, as from MetalLB's one controller, so sum() across hosts
        // counts each address once.
        out.family("metallb_allocator_addresses_total", .untyped, "Gauge: addresses in each pool, from the allocating node (MetalLB name).")
        out.family("metallb_allocator_addresses_in_use_total", .untyped,
                   "Gauge: pool addresses assigned to Services, from the allocating node (MetalLB name).")
        if kubernetes != nil && machine.isAllocator {
            for pool in loaded.config.pools {
                let size = pool.addressSet.count
                out.sample("metallb_allocator_addresses_total", ["pool": pool.name], size > UInt128(UInt64.max) ? UInt64.max : UInt64(size))
            }
            // Pool addresses are used only by Services (a VIP may not lie in a pool): count
            // the distinct addresses in Service statuses.
            let allocator = Allocator(pools: loaded.config.pools)
            let used = Set(services.vips.map(\.address))
            for pool in loaded.config.pools {
                out.sample("metallb_allocator_addresses_in_use_total", ["pool": pool.name],
                           UInt64(used.filter { allocator.pool(of: $0)?.name == pool.name }.count))
            }
        }

        // MetalLB's config health, which its chart's alerts watch: the running config
        // loaded, and whether the files have changed into one that failed to load.
        let reloads = runtime.reloads
        out.family("metallb_k8s_client_config_loaded_bool", .gauge, "1: the running config loaded (MetalLB name).")
        out.sample("metallb_k8s_client_config_loaded_bool", [:], 1)
        out.family("metallb_k8s_client_config_stale_bool", .gauge,
                   "1 while the last reload failed and an older config runs (MetalLB name).")
        out.sample("metallb_k8s_client_config_stale_bool", [:], reloads.stale ? 1 : 0)

        out.family("herald_build_info", .gauge, "Always 1; the version label says which heraldd runs.")
        out.sample("herald_build_info", ["version": HeraldVersion.current], 1)

        out.family("herald_vip_conflict", .gauge, "1 while this node withholds a VIP because another host (foreign_mac) answers for it.")
        out.family("herald_address_conflicts_total", .counter, "Frames from a MAC outside the cluster claiming one of this node's VIPs.")
        out.family("herald_address_probes_sent_total", .counter, "ARP probes and DAD solicitations sent before serving a VIP.")
        out.family("herald_frames_dropped_total", .counter, "Captured frames that got no answer, by reason.")
        out.family("herald_capture_kernel_drops_total", .counter, "Frames the kernel dropped before heraldd read them (capture buffer full).")
        out.family("herald_send_failures_total", .counter, "Frames heraldd failed to send.")
        for (interface, linkCounters) in counters {
            if let link = links.first(where: { $0.0 == interface })?.1 {
                for (ip, mac) in link.conflicts.sorted(by: { $0.key < $1.key }) {
                    out.sample("herald_vip_conflict", ["interface": interface, "ip": ip.description, "foreign_mac": mac.description], 1)
                }
            }
            for (ip, value) in linkCounters.conflicts.sorted(by: { $0.key < $1.key }) {
                out.sample("herald_address_conflicts_total", ["interface": interface, "ip": ip], value)
            }
            out.sample("herald_address_probes_sent_total", ["interface": interface], linkCounters.probesSent)
            for (reason, value) in linkCounters.dropped.sorted(by: { $0.key < $1.key }) {
                out.sample("herald_frames_dropped_total", ["interface": interface, "reason": reason], value)
            }
            out.sample("herald_capture_kernel_drops_total", ["interface": interface], linkCounters.kernelDrops)
            out.sample("herald_send_failures_total", ["interface": interface], linkCounters.injectFailures)
        }

        // Adjacent mode: declared in every mode, with samples only where targets are used.
        out.family("herald_adjacent_target", .gauge,
                   "1 for each Service address this node answers for with a target node's MAC (adjacent mode).")
        out.family("herald_adjacent_node_reachable", .gauge,
                   "1 while a watched Kubernetes node answers ARP/NDP probes on the link, 0 while it does not (adjacent mode).")
        out.family("herald_adjacent_retargets_total", .counter,
                   "Times a Service address started being answered with another target node's MAC (adjacent mode).")
        out.family("herald_adjacent_target_probes_sent_total", .counter, "ARP/NDP probes sent to resolve and watch target nodes.")
        if loaded.config.node.mode == .adjacent {
            let names = Dictionary(services.vips.map { ($0.address, $0.name) }, uniquingKeysWith: { first, _ in first })
            for (interface, link) in links {
                for (ip, mac) in link.answerMACs.sorted(by: { $0.key < $1.key }) {
                    out.sample("herald_adjacent_target", ["interface": interface, "ip": ip.description, "service": names[ip] ?? "",
                                                          "node": services.targets[ip]?.node ?? "", "mac": mac.description], 1)
                }
                for (address, node) in link.nodes.sorted(by: { $0.key < $1.key }) where node.state != .resolving {
                    out.sample("herald_adjacent_node_reachable", ["interface": interface, "node": node.name, "address": address.description],
                               node.state == .reachable ? UInt64(1) : 0)
                }
            }
            for (interface, linkCounters) in counters {
                for (ip, value) in linkCounters.retargets.sorted(by: { $0.key < $1.key }) {
                    out.sample("herald_adjacent_retargets_total", ["interface": interface, "ip": ip], value)
                }
                out.sample("herald_adjacent_target_probes_sent_total", ["interface": interface], linkCounters.targetProbesSent)
            }
        }

        out.family("herald_kubernetes_node_missing", .gauge,
                   "1 while this host, in local mode with [kubernetes], is no Kubernetes Node (so never announces a Service).")
        if kubernetes != nil { out.sample("herald_kubernetes_node_missing", [:], machine.isMissingKubernetesNode ? 1 : 0) }
        out.family("herald_kubernetes_api_errors_total", .counter, "Failed requests to the Kubernetes API, by what they were for.")
        for (resource, value) in (kubernetes?.apiErrors ?? [:]).sorted(by: { $0.key < $1.key }) {
            out.sample("herald_kubernetes_api_errors_total", ["resource": resource], value)
        }

        out.family("herald_config_reloads_total", .counter, "Config reloads (SIGHUP), by result.")
        out.sample("herald_config_reloads_total", ["result": "ok"], reloads.succeeded)
        out.sample("herald_config_reloads_total", ["result": "failed"], reloads.failed)

        out.family("herald_sync_last_run_timestamp_seconds", .gauge, "When heraldctl sync (herald-sync.timer) last ran, Unix time.")
        out.family("herald_sync_last_success_timestamp_seconds", .gauge,
                   "When heraldctl sync last left this host on its repository's config, Unix time.")
        out.family("herald_sync_result", .gauge,
                   "1 for the last sync's result (applied, unchanged, invalid, refused, fetch-failed, decrypt-failed) and revision.")
        if let sync = SyncStatus.read(SyncStatus.defaultPath) {
            out.sample("herald_sync_last_run_timestamp_seconds", [], sync.lastRun)
            if let success = sync.lastSuccess { out.sample("herald_sync_last_success_timestamp_seconds", [], success) }
            out.sample("herald_sync_result", [("result", sync.result), ("revision", sync.revision ?? "")], 1)
        }

        // Declared without gossip too (with no samples), so one dashboard fits every node.
        out.family("herald_members", .gauge, "Cluster members by state as this node sees them, itself included.")
        out.family("herald_gossip_suspicions_total", .counter, "Times a member turned suspect in this node's view.")
        out.family("herald_gossip_probe_rtt_seconds", .histogram, "Round trip of direct gossip probes.")
        out.family("herald_gossip_packets_rejected_total", .counter, "Gossip packets dropped, by reason (bad key, wrong cluster, malformed, dropped by the kernel filter).")
        out.family("herald_gossip_holding_down", .gauge, "1 while this node keeps out of elections after a stall or a link flap.")
        out.family("herald_failovers_total", .counter,
                   "Times the owner of a VIP or Service address moved from one node to another, as seen by this node.")
        out.family("herald_member_info", .gauge, "1 per alive member: the version, mode and config digest it gossips.")
        out.family("herald_config_drift", .gauge,
                   "1 per member whose config digest differs from the cluster's majority (all of them when there is none).")
        out.family("herald_takeovers_total", .counter, "VIPs this node started announcing, its first ones included.")
        if let gossip {
            let view = view
            for status in [MemberRecord.Status.alive, .suspect, .dead, .left] {
                out.sample("herald_members", ["state": "\(status)"], UInt64(view.filter { $0.status == status }.count))
            }
            let stats = gossip.stats
            out.sample("herald_gossip_suspicions_total", [:], stats.suspicions)
            out.histogram("herald_gossip_probe_rtt_seconds", [], stats.roundTrips)
            for (reason, value) in stats.rejected.sorted(by: { $0.key < $1.key }) {
                out.sample("herald_gossip_packets_rejected_total", ["reason": reason], value)
            }
            out.sample("herald_gossip_holding_down", [:], machine.holdingDownUntil != nil ? UInt64(1) : 0)
            for vip in loaded.config.vips + services.vips {
                out.sample("herald_failovers_total", ["ip": vip.address.description, "vip": vip.name],
                           machine.failovers[vip.address] ?? 0)
            }
            for member in view where member.isUp {
                guard let about = NodeMeta.decode(member.meta)?.about else { continue }
                out.sample("herald_member_info", ["node": member.name, "version": about.version, "mode": about.mode,
                                                  "config_digest": about.configDigest], 1)
            }
            for (name, digest) in machine.drift.differing.sorted(by: { $0.key < $1.key }) {
                out.sample("herald_config_drift", ["node": name, "config_digest": digest], 1)
            }
            out.sample("herald_takeovers_total", [:], UInt64(machine.takeovers))
        }
        return out.text
    }
}
