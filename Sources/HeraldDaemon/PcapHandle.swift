import CPcap
import Glibc
import HeraldCore
import HeraldSystem
import HeraldWire

/// One libpcap capture on one interface, set up the way the responder needs it:
/// immediate mode (no block timeout delaying replies), inbound only (our own injected
/// frames never come back), non-blocking with a pollable descriptor, and a BPF filter that
/// passes only ARP and ICMPv6 neighbor solicitations/advertisements — narrowed to the
/// addresses the link watches once it knows them (`CaptureFilter`).
final class PcapHandle: @unchecked Sendable {
    static let filter = "arp or (icmp6 and (ip6[40] == 135 or ip6[40] == 136))"

    let interface: String
    private let handle: OpaquePointer
    let selectableFD: Int32

    /// 1 MB of ring holds about 3,000 frames: 30 ms of a 100,000 requests/s flood, which
    /// the link thread drains at half a core. The ring is resident from the start, so it is
    /// most of what heraldd adds to its RSS.
    init(interface: String, bufferSize: Int32 = Tuning.captureBuffer) throws(SystemError) {
        self.interface = interface
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_create(interface, &errorBuffer) else {
            throw SystemError("pcap_create(\(interface)): \(String(cBuffer: errorBuffer))", errno: 0)
        }
        self.handle = handle
        func check(_ result: Int32, _ what: String) throws(SystemError) {
            guard result >= 0 else {
                let message = String(cString: pcap_geterr(handle))
                pcap_close(handle)
                throw SystemError("\(what) on \(interface): \(message.isEmpty ? String(cString: pcap_statustostr(result)) : message)", errno: 0)
            }
        }
        try check(pcap_set_snaplen(handle, 256), "pcap_set_snaplen")
        try check(pcap_set_promisc(handle, 0), "pcap_set_promisc")
        try check(pcap_set_immediate_mode(handle, 1), "pcap_set_immediate_mode")
        try check(pcap_set_buffer_size(handle, bufferSize), "pcap_set_buffer_size")
        try check(pcap_activate(handle), "pcap_activate")
        try check(pcap_setdirection(handle, PCAP_D_IN), "pcap_setdirection")
        var program = bpf_program()
        try check(pcap_compile(handle, &program, Self.filter, 1, PCAP_NETMASK_UNKNOWN), "pcap_compile")
        let installed = pcap_setfilter(handle, &program)
        pcap_freecode(&program)
        try check(installed, "pcap_setfilter")
        try check(pcap_setnonblock(handle, 1, &errorBuffer), "pcap_setnonblock")
        selectableFD = pcap_get_selectable_fd(handle)
        guard selectableFD >= 0 else {
            pcap_close(handle)
            throw SystemError("no selectable descriptor for \(interface)", errno: 0)
        }
        // libpcap opens its packet socket without close-on-exec: no child may inherit it.
        _ = fcntl(selectableFD, F_SETFD, fcntl(selectableFD, F_GETFD) | FD_CLOEXEC)
    }

    /// Hands up to `limit` waiting frames to `body`; returns how many, or throws when the
    /// interface went away.
    func dispatch(limit: Int32, _ body: (UnsafeRawBufferPointer) -> Void) throws(SystemError) -> Int {
        try withoutActuallyEscaping(body) { (escapable) throws(SystemError) -> Int in
            var box = escapable
            let count = withUnsafeMutablePointer(to: &box) { pointer in
                pcap_dispatch(handle, limit, { user, header, bytes in
                    guard let user, let header, let bytes else { return }
                    let callback = user.withMemoryRebound(to: ((UnsafeRawBufferPointer) -> Void).self, capacity: 1) { $0.pointee }
                    callback(UnsafeRawBufferPointer(start: bytes, count: Int(header.pointee.caplen)))
                }, UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: UInt8.self))
            }
            guard count >= 0 else {
                throw SystemError("capture on \(interface) failed: \(String(cString: pcap_geterr(handle)))", errno: 0)
            }
            return Int(count)
        }
    }

    /// Installs `program` as the kernel filter, or the broad one without; the reason when
    /// the kernel refused it (the filter in place stays).
    func setFilter(_ program: BPFProgram?) -> String? {
        var code = bpf_program()
        if let program {
            var instructions = program.instructions.map { bpf_insn(code: $0.code, jt: $0.jt, jf: $0.jf, k: $0.k) }
            return instructions.withUnsafeMutableBufferPointer { buffer in
                code.bf_len = UInt32(buffer.count)
                code.bf_insns = buffer.baseAddress
                return pcap_setfilter(handle, &code) == 0 ? nil : String(cString: pcap_geterr(handle))
            }
        }
        guard pcap_compile(handle, &code, Self.filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else { return String(cString: pcap_geterr(handle)) }
        defer { pcap_freecode(&code) }
        return pcap_setfilter(handle, &code) == 0 ? nil : String(cString: pcap_geterr(handle))
    }

    /// Sends one frame as is. Returns false (and the reason) when the kernel refused it.
    func inject(_ frame: [UInt8]) -> String? {
        let sent = frame.withUnsafeBytes { pcap_inject(handle, $0.baseAddress, $0.count) }
        return sent == frame.count ? nil : String(cString: pcap_geterr(handle))
    }

    /// Frames the kernel dropped because our buffer was full.
    var kernelDrops: UInt32 {
        var stats = pcap_stat()
        return pcap_stats(handle, &stats) == 0 ? stats.ps_drop : 0
    }

    deinit { pcap_close(handle) }
}
