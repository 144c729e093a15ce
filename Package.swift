// swift-tools-version:6.1
import PackageDescription

/// libFuzzer targets (Fuzz/), built only by `make fuzz` (HERALD_FUZZ=1, with
/// -sanitize=fuzzer): a plain build has no libFuzzer to link them against.
let fuzzTargets: [Target] = Context.environment["HERALD_FUZZ"] == nil ? [] : [
    .systemLibrary(name: "CFuzzer", path: "Fuzz/CFuzzer"),
    .executableTarget(name: "FuzzFrames", dependencies: ["CFuzzer", "HeraldCore", "HeraldWire"], path: "Fuzz/FuzzFrames"),
    .executableTarget(name: "FuzzGossip", dependencies: ["CFuzzer", "HeraldMembership", "HeraldWire"], path: "Fuzz/FuzzGossip"),
    .executableTarget(name: "FuzzConfig", dependencies: ["CFuzzer", "HeraldCore", "HeraldWire"], path: "Fuzz/FuzzConfig"),
    .executableTarget(name: "FuzzKube", dependencies: ["CFuzzer", "HeraldKube"], path: "Fuzz/FuzzKube"),
]

let package = Package(
    name: "herald",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "heraldd", targets: ["heraldd"]),
        .executable(name: "heraldctl", targets: ["heraldctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // libcurl's headers at build time; the library itself is loaded when [kubernetes] is used.
        .target(name: "CCurl"),
        // Starting a health check's command confined, and fencing heraldd's own identity changes.
        .target(name: "CConfine"),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CLinux"),
        .target(name: "HeraldWire", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "HeraldMembership", dependencies: ["HeraldWire"]),
        .target(name: "HeraldCore", dependencies: ["HeraldWire", "HeraldMembership", .product(name: "Crypto", package: "swift-crypto")]),
        // The operating system as both binaries use it: files, users, interfaces, errors.
        // The pure modules never import it.
        .target(name: "HeraldSystem", dependencies: ["CLinux", "HeraldCore", "HeraldWire"]),
        // What heraldctl shares with heraldd: the control protocol, its reports and client,
        // and loading a config against this host. No pcap, systemd or service lifecycle.
        .target(name: "HeraldControl", dependencies: ["CLinux", "HeraldCore", "HeraldWire", "HeraldKube", "HeraldSystem"]),
        .target(
            name: "HeraldDaemon",
            dependencies: [
                "HeraldWire", "HeraldCore", "HeraldMembership", "HeraldKube", "HeraldControl", "HeraldSystem", "CPcap", "CSystemd",
                "CLinux", "CConfine",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "HeraldKube",
            dependencies: ["CCurl", "CYAML", "HeraldCore", "HeraldSystem", "HeraldWire", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .executableTarget(name: "heraldd", dependencies: ["HeraldDaemon", "HeraldControl", "HeraldCore", "HeraldSystem"]),
        .executableTarget(
            name: "heraldctl",
            dependencies: [
                "HeraldControl", "HeraldCore", "HeraldKube", "HeraldSystem", "HeraldWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "HeraldTestKit", dependencies: ["HeraldWire", "HeraldMembership"], path: "Tests/HeraldTestKit"),
        .testTarget(name: "HeraldWireTests", dependencies: ["HeraldWire", "HeraldTestKit"]),
        .testTarget(name: "HeraldMembershipTests", dependencies: ["HeraldMembership", "HeraldWire", "HeraldTestKit"]),
        .testTarget(name: "HeraldCoreTests", dependencies: ["HeraldCore", "HeraldWire", "HeraldMembership", "HeraldTestKit"]),
        .testTarget(name: "HeraldDaemonTests", dependencies: ["HeraldDaemon", "HeraldControl", "HeraldCore", "HeraldSystem", "HeraldTestKit"]),
        .testTarget(name: "HeraldKubeTests", dependencies: ["HeraldKube", "HeraldControl", "HeraldDaemon", "HeraldCore", "HeraldSystem", "HeraldWire",
                                                           "HeraldTestKit"]),
    ] + fuzzTargets
)
