import CFuzzer
import FoundationEssentials
import Glibc
import HeraldKube

// What comes from outside in Kubernetes mode: a kubeconfig (YAML, libyaml) and the API
// server's JSON (lists of Services, watch events). The first byte picks which.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let mode = bytes.first else { return 0 }
    let rest = Array(bytes.dropFirst())
    switch mode % 3 {
    case 0: _ = try? KubeConfigLoader.parse(String(decoding: rest, as: UTF8.self), path: "/etc/herald/kubeconfig")
    case 1: _ = try? WatchEvent<KubeService>.decode(rest)
    default: _ = try? JSONDecoder().decode(ObjectList<KubeService>.self, from: Data(rest))
    }
    return 0
})
