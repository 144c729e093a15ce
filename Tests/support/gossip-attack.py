#!/usr/bin/python3
"""Hostile gossip for t_hostile: crafts Herald gossip datagrams (wire version 3, plaintext,
as a cluster with `insecure = true` accepts them from anyone), answers the challenge the
first one draws from the receiver's replay guard, and sends them to TARGET from the lab.

  gossip-attack.py TARGET CLUSTER junk COUNT          random bytes from COUNT source ports
  gossip-attack.py TARGET CLUSTER suspect NAME INC    "NAME is suspect at incarnation INC"
  gossip-attack.py TARGET CLUSTER members COUNT       a push-pull naming COUNT made-up members
  gossip-attack.py TARGET CLUSTER replay              one packet, sent twice
  gossip-attack.py TARGET CLUSTER v1                  a Herald 0.1 packet (wire version 1)
  gossip-attack.py TARGET - flood SIZE SECONDS        SIZE-byte datagrams with a valid encrypted
                                                      version 3 header and a random body (they fail
                                                      authentication), as fast as one socket sends

Prints one line saying what it sent."""
import os
import random
import socket
import struct
import sys
import time


def name(text):
    data = text.encode()
    return bytes([len(data)]) + data


def address(ip, port):
    return bytes([4]) + socket.inet_aton(ip) + struct.pack(">H", port)


RUN = random.Random(os.getpid()).getrandbits(64)


def packet(cluster, sender, counter, payload, destination):
    """A wire version 3 plaintext packet from `sender` (this run) to `destination`."""
    return (b"HRLD" + bytes([3, 0]) + name(cluster) + name(sender) + struct.pack(">QQ", RUN, counter)
            + address(*destination) + payload)


class Sender:
    """Speaks as `sender` from one socket: the first packet is held by the receiver's replay
    guard, which challenges this run; the challenge is answered, so what follows counts."""

    def __init__(self, cluster, sender, target):
        self.cluster, self.sender, self.target = cluster, sender, target
        self.counter = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(1.0)

    def send(self, payload):
        self.counter += 1
        data = packet(self.cluster, self.sender, self.counter, payload, self.target)
        self.sock.sendto(data, self.target)
        return data

    def handshake(self, payload):
        """Sends `payload` and answers the challenge it draws (the held packet is then
        admitted); False when none comes: the packet was refused before the replay guard."""
        self.send(payload)
        try:
            reply, _ = self.sock.recvfrom(65536)
        except TimeoutError:
            return False
        body = reply[6 + 1 + len(self.cluster.encode()):]
        body = body[1 + body[0] + 16 + 7:]       # sender, run, counter, destination
        assert body[0] >= 1 and body[1] == 9, f"expected a challenge, got {reply!r}"
        nonce = body[2:10]
        self.send(bytes([1, 10]) + nonce)
        return True


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    target = (host, int(port))
    cluster, kind = sys.argv[2], sys.argv[3]
    if kind == "junk":
        count = int(sys.argv[4])
        rng = random.Random(7)
        for index in range(count):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.sendto(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200))), target)
        print(f"sent {count} junk datagrams from {count} source ports")
    elif kind == "suspect":
        victim, incarnation = sys.argv[4], int(sys.argv[5])
        payload = bytes([1, 6]) + name(victim) + struct.pack(">Q", incarnation) + name("attacker")
        heard = Sender(cluster, "attacker", target).handshake(payload)
        print(f"sent: {victim} is suspect at incarnation {incarnation}" + ("" if heard else " (refused unopened)"))
    elif kind == "members":
        count = int(sys.argv[4])
        sent = 0
        speaker = Sender(cluster, "attacker", target)
        # Several push-pulls of 200 records each (a datagram's worth), from one sender.
        for start in range(0, count, 200):
            records = b""
            batch = range(start, min(start + 200, count))
            for index in batch:
                records += (name(f"fake-{index}") + address(f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}", 7946)
                            + struct.pack(">Q", 1) + bytes([0]) + struct.pack(">H", 0))
            payload = bytes([1, 8, 1]) + struct.pack(">H", len(batch)) + records
            speaker.handshake(payload) if start == 0 else speaker.send(payload)
            sent += len(batch)
        print(f"sent push-pulls naming {sent} made-up members")
    elif kind == "replay":
        speaker = Sender(cluster, "replayer", target)
        speaker.handshake(bytes([1, 1]) + struct.pack(">I", 98) + name("h1") + name("replayer"))
        data = speaker.send(bytes([1, 1]) + struct.pack(">I", 99) + name("h1") + name("replayer"))
        speaker.sock.sendto(data, target)
        print("sent one packet twice")
    elif kind == "v1":
        payload = bytes([1, 1]) + struct.pack(">I", 5) + name("h1") + name("old")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"HRLD" + bytes([1, 0]) + payload, target)
        print("sent a wire version 1 packet")
    elif kind == "flood":
        size, seconds = int(sys.argv[4]), float(sys.argv[5])
        header = b"HRLD" + bytes([3, 1])
        bodies = [header + os.urandom(size - len(header)) for _ in range(16)]
        sent = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            start = time.monotonic()
            while time.monotonic() - start < seconds:
                for body in bodies:
                    try:
                        sock.sendto(body, target)
                        sent += 1
                    except (BlockingIOError, OSError):
                        pass
            elapsed = time.monotonic() - start
        print(f"sent={sent} seconds={elapsed:.3f} per_s={sent / elapsed:.0f} bytes={size}")
    else:
        sys.exit(f"unknown attack {kind}")


if __name__ == "__main__":
    main()
