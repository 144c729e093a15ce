#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets (Fuzz/corpus/TARGET/NAME): one good input
of each kind the target reads, so libFuzzer starts from inputs that reach deep. Run it
again after changing a format; the files are checked in."""
import json
import os
import struct

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    os.makedirs(os.path.join(root, target), exist_ok=True)
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# Frames: captured by tcpdump in the lab (the same bytes as Tests/HeraldWireTests/Fixtures.swift).
def mac(text):
    return bytes.fromhex(text.replace(":", ""))


def ip4(text):
    return bytes(int(part) for part in text.split("."))


def arp(op, sender_mac, sender_ip, target_mac, target_ip, destination):
    return (mac(destination) + mac(sender_mac) + b"\x08\x06" + struct.pack(">HHBBH", 1, 0x0800, 6, 4, op)
            + mac(sender_mac) + ip4(sender_ip) + mac(target_mac) + ip4(target_ip))


def ip6(text):
    import ipaddress
    return ipaddress.IPv6Address(text).packed


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(">%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def solicitation(source_mac, source, target):
    import ipaddress
    group = ipaddress.IPv6Address("ff02::1:ff00:0").packed[:13] + ip6(target)[13:]
    body = bytes([135, 0, 0, 0]) + bytes(4) + ip6(target) + bytes([1, 1]) + mac(source_mac)
    pseudo = ip6(source) + group + struct.pack(">I", len(body)) + bytes([0, 0, 0, 58])
    body = body[:2] + struct.pack(">H", checksum(pseudo + body)) + body[4:]
    ethernet = bytes([0x33, 0x33]) + group[12:] + mac(source_mac) + b"\x86\xdd"
    return ethernet + struct.pack(">IHBB", 0x60000000, len(body), 58, 255) + ip6(source) + group + body


frames = {
    # A client asks for the VIP the harness answers.
    "arp-request": arp(1, "02:00:00:00:00:12", "198.51.100.2", "00:00:00:00:00:00", "198.51.100.50", "ff:ff:ff:ff:ff:ff").hex(),
    # A watched node answers our probe (adjacent mode).
    "arp-reply-to-our-probe": arp(2, "02:00:00:00:00:1f", "198.51.100.31", "02:00:00:00:00:0b", "0.0.0.0", "02:00:00:00:00:0b").hex(),
    "solicitation": solicitation("02:00:00:00:00:12", "2001:db8:100::2", "2001:db8:100::50").hex(),
    "dad-probe": "3333ff00009902000000001186dd6000000000203aff00000000000000000000000000000000ff0200000000000000000001ff0000998700c59e0000000020010db80100000000000000000000990e017376c6623d3c",
    "advertisement": "02000000001202000000001186dd6000000000203aff20010db8010000000000000000000011fe80000000000000000000fffe0000128800b86b6000000020010db80100000000000000000000110201020000000011",
}
for name, text in frames.items():
    write("FuzzFrames", name, bytes.fromhex(text))


# Gossip: the first byte picks a bare payload (odd) or a plaintext sealed packet (even).
def name(text):
    return bytes([len(text)]) + text.encode()


def address(ip, port=7946):
    return bytes([4]) + bytes(int(part) for part in ip.split(".")) + struct.pack(">H", port)


ping = bytes([1]) + struct.pack(">I", 7) + name("h1") + name("h2")
ack = bytes([3]) + struct.pack(">I", 7) + name("h1")
alive = bytes([5]) + name("h4") + address("198.51.100.14") + struct.pack(">Q", 3) + struct.pack(">H", 4) + bytes([1, 0, 0, 0])
suspect = bytes([6]) + name("h1") + struct.pack(">Q", 9) + name("h2")
record = name("h5") + address("198.51.100.15") + struct.pack(">Q", 1) + bytes([0]) + struct.pack(">H", 0)
push_pull = bytes([8, 0]) + struct.pack(">H", 1) + record
write("FuzzGossip", "payload-ping-alive", bytes([1]) + bytes([2]) + ping + alive)
write("FuzzGossip", "payload-suspect-self", bytes([1]) + bytes([1]) + suspect)
write("FuzzGossip", "payload-push-pull", bytes([1]) + bytes([1]) + push_pull)
# Wire version 3: sender, run, counter, destination (the fuzz target's own address).
stamp = name("h2") + struct.pack(">QQ", 0x0123_4567_89AB_CDEF, 1) + address("198.51.100.11")
write("FuzzGossip", "sealed-plaintext", bytes([0]) + b"HRLD" + bytes([3, 0]) + name("fuzz") + stamp + bytes([2]) + ack + push_pull)
challenge = bytes([9]) + struct.pack(">Q", 42)
response = bytes([10]) + struct.pack(">Q", 42)
write("FuzzGossip", "sealed-challenge", bytes([0]) + b"HRLD" + bytes([3, 0]) + name("fuzz") + stamp + bytes([2]) + challenge + response)

# Config: the shipped examples.
here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in ["etc/herald.toml", "etc/lab/herald.toml"]:
    with open(os.path.join(here, path)) as f:
        write("FuzzConfig", os.path.basename(os.path.dirname(path)) + "-" + os.path.basename(path), f.read())
write("FuzzConfig", "everything", """[node]
name = "pve-1"
interfaces = ["eth0"]
mode = "local"
[gossip]
bind = "198.51.100.11:7946"
join = ["198.51.100.12:7946", "[2001:db8::1]:7946"]
key_file = "/etc/herald/gossip.key"
profile = "fast"
wire_version = 2
[kubernetes]
kubeconfig = "/etc/herald/kubeconfig"
load_balancer_class = ""
[metrics]
listen = "127.0.0.1:9473"
[[pool]]
name = "lab"
addresses = ["198.51.100.100-198.51.100.120", "2001:db8:100::/120"]
avoid_buggy_ips = true
nodes = ["pve-*"]
[[vip]]
name = "nas"
address = "198.51.100.50"
nodes = ["pve-1", "pve-2"]
check = { tcp = "127.0.0.1:445", interval = "1s", timeout = "500ms", rise = 2, fall = 3 }
""")

# Kubernetes: the first byte picks a kubeconfig (0), a watch event (1) or a list (2).
write("FuzzKube", "kubeconfig", bytes([0]) + b"""apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://198.51.100.5:6443
    certificate-authority-data: bm90IGEgcmVhbCBjZXJ0
users:
- name: herald
  user:
    token: abc
contexts:
- name: test
  context:
    cluster: test
    user: herald
current-context: test
""")
service = {"metadata": {"name": "web", "namespace": "default", "resourceVersion": "5",
                        "annotations": {"metallb.io/address-pool": "lab"}},
           "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}], "externalTrafficPolicy": "Local"},
           "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.100"}]}}}
write("FuzzKube", "watch-event", bytes([1]) + json.dumps({"type": "MODIFIED", "object": service}).encode())
write("FuzzKube", "list", bytes([2]) + json.dumps({"metadata": {"resourceVersion": "9"}, "items": [service]}).encode())
