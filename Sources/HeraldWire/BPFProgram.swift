/// A classic BPF program (`struct sock_filter` array): what the kernel runs on each packet
/// before it reaches a socket, so what a filter drops never wakes heraldd. Built by pure
/// code (`CaptureFilter`, `GossipSeal.socketFilter`), installed by the shell, and run here
/// by tests on the packets they describe.
public struct BPFProgram: Equatable, Sendable {
    /// One instruction.
    public struct Instruction: Equatable, Sendable {
        public var code: UInt16
        public var jt: UInt8
        public var jf: UInt8
        public var k: UInt32

        public init(_ code: UInt16, _ jt: UInt8, _ jf: UInt8, _ k: UInt32) {
            self.code = code
            self.jt = jt
            self.jf = jf
            self.k = k
        }

        public init(_ code: UInt16, k: UInt32) { self.init(code, 0, 0, k) }

        public static func loadByte(at offset: UInt32) -> Self { Self(BPFProgram.loadByte, k: offset) }
        public static func loadHalf(at offset: UInt32) -> Self { Self(BPFProgram.loadHalf, k: offset) }
        public static func loadWord(at offset: UInt32) -> Self { Self(BPFProgram.loadWord, k: offset) }
        /// The packet's length.
        public static let loadLength = Self(BPFProgram.loadLength, k: 0)
        /// If the accumulator equals `value`, skips `then` instructions, else `otherwise`.
        public static func ifEqual(_ value: UInt32, skip then: UInt8 = 0, else otherwise: UInt8) -> Self {
            Self(BPFProgram.jumpEqual, then, otherwise, value)
        }
        public static func ifGreater(than value: UInt32, skip then: UInt8 = 0, else otherwise: UInt8) -> Self {
            Self(BPFProgram.jumpGreater, then, otherwise, value)
        }
        public static func skip(_ count: UInt32) -> Self { Self(BPFProgram.jumpAlways, k: count) }
        public static let accept = Self(BPFProgram.returnConstant, k: BPFProgram.accept)
        public static let drop = Self(BPFProgram.returnConstant, k: 0)
    }

    // The opcodes used (linux/filter.h).
    public static let loadHalf: UInt16 = 0x28       // BPF_LD | BPF_H | BPF_ABS
    public static let loadWord: UInt16 = 0x20       // BPF_LD | BPF_W | BPF_ABS
    public static let loadByte: UInt16 = 0x30       // BPF_LD | BPF_B | BPF_ABS
    public static let loadLength: UInt16 = 0x80     // BPF_LD | BPF_W | BPF_LEN
    public static let jumpEqual: UInt16 = 0x15      // BPF_JMP | BPF_JEQ | BPF_K
    public static let jumpGreater: UInt16 = 0x25    // BPF_JMP | BPF_JGT | BPF_K
    public static let jumpAlways: UInt16 = 0x05     // BPF_JMP | BPF_JA
    public static let returnConstant: UInt16 = 0x06 // BPF_RET | BPF_K
    /// What `return` passes: the whole packet.
    public static let accept: UInt32 = 0xFFFF_FFFF
    /// The most instructions the kernel takes (BPF_MAXINSNS).
    public static let maxInstructions = 4096

    public var instructions: [Instruction]

    public init(_ instructions: [Instruction]) { self.instructions = instructions }

    /// Runs the program on `packet` as the kernel would: whether it passes. A load beyond
    /// the packet drops it, as in the kernel.
    public func passes(_ packet: [UInt8]) -> Bool {
        var accumulator: UInt32 = 0
        var pc = 0
        func load(_ offset: Int, _ size: Int) -> UInt32? {
            guard offset + size <= packet.count else { return nil }
            return packet[offset..<offset + size].reduce(0) { $0 << 8 | UInt32($1) }
        }
        while pc < instructions.count {
            let instruction = instructions[pc]
            switch instruction.code {
            case Self.loadHalf, Self.loadWord, Self.loadByte:
                let size = instruction.code == Self.loadHalf ? 2 : instruction.code == Self.loadWord ? 4 : 1
                guard let value = load(Int(instruction.k), size) else { return false }
                accumulator = value
                pc += 1
            case Self.loadLength:
                accumulator = UInt32(packet.count)
                pc += 1
            case Self.jumpEqual, Self.jumpGreater:
                let taken = instruction.code == Self.jumpEqual ? accumulator == instruction.k : accumulator > instruction.k
                pc += 1 + Int(taken ? instruction.jt : instruction.jf)
            case Self.jumpAlways:
                pc += 1 + Int(instruction.k)
            case Self.returnConstant:
                return instruction.k != 0
            default:
                return false
            }
        }
        return false
    }
}
