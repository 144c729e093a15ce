#!/usr/bin/python3
"""Hostile gossip for t_hostile: crafts Herald gossip datagrams (plaintext, as a cluster
with `insecure = true` accepts them from anyone) and sends them to TARGET from the lab.

  gossip-attack.py TARGET CLUSTER junk COUNT          random bytes from COUNT source ports
  gossip-attack.py TARGET CLUSTER suspect NAME INC    "NAME is suspect at incarnation INC"
  gossip-attack.py TARGET CLUSTER members COUNT       a push-pull naming COUNT made-up members
  gossip-attack.py TARGET CLUSTER replay              one packet, sent twice
  gossip-attack.py TARGET CLUSTER v1                  a Herald 0.1 packet (wire version 1)

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


def packet(cluster, sender, counter, payload, epoch=None):
    epoch = epoch if epoch is not None else int(time.time() * 1_000_000)
    return b"HRLD" + bytes([2, 0]) + name(cluster) + name(sender) + struct.pack(">QQ", epoch, counter) + payload


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
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(packet(cluster, "attacker", 1, payload), target)
        print(f"sent: {victim} is suspect at incarnation {incarnation}")
    elif kind == "members":
        count = int(sys.argv[4])
        sent = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            # Several push-pulls of 200 records each (a datagram's worth), from one sender.
            for start in range(0, count, 200):
                records = b""
                batch = range(start, min(start + 200, count))
                for index in batch:
                    records += (name(f"fake-{index}") + address(f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}", 7946)
                                + struct.pack(">Q", 1) + bytes([0]) + struct.pack(">H", 0))
                payload = bytes([1, 8, 1]) + struct.pack(">H", len(batch)) + records
                sock.sendto(packet(cluster, "attacker", start + 1, payload), target)
                sent += len(batch)
        print(f"sent push-pulls naming {sent} made-up members")
    elif kind == "replay":
        payload = bytes([1, 1]) + struct.pack(">I", 99) + name("h1") + name("replayer")
        data = packet(cluster, "replayer", 1, payload)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(data, target)
            sock.sendto(data, target)
        print("sent one packet twice")
    elif kind == "v1":
        payload = bytes([1, 1]) + struct.pack(">I", 5) + name("h1") + name("old")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"HRLD" + bytes([1, 0]) + payload, target)
        print("sent a wire version 1 packet")
    else:
        sys.exit(f"unknown attack {kind}")


if __name__ == "__main__":
    main()
