import CFuzzer
import Glibc
import HeraldCore
import HeraldWire

// Config text -> TOML -> config -> validation against a host with one interface. Any
// input must end in a config or in FILE:LINE errors, never a trap.
let host = HostFacts(hostname: "h1", interfaces: [
    HostInterface(name: "eth0", index: 2, mac: MACAddress(0x02, 0, 0, 0, 0, 0x0b), isUp: true, isBroadcast: true, isLoopback: false,
                  isVirtual: false, hasMaster: false, prefixes: [IPPrefix(address: IPAddress("198.51.100.11")!, length: 24)])])

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    switch ConfigDecoder.decode(main: ConfigFile(path: "/etc/herald/herald.toml", text: text)) {
    case .success(let config):
        _ = ConfigValidator.validate(config, host: host)
        _ = ConfigChange(from: HeraldConfig(), to: config)
    case .failure(let errors):
        precondition(!errors.errors.isEmpty && errors.errors.count <= 100, "errors must be named, and at most 100")
    }
    return 0
})
