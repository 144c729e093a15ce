"""Binds a unix datagram socket and appends every datagram it receives to a file, one
per block separated by a line '--'. Stands in for systemd's notify socket and journald
in the tests. Exits after `seconds`."""
import os
import socket
import sys
import time

path, output, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
if os.path.exists(path):
    os.unlink(path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
os.chmod(path, 0o777)
sock.settimeout(0.2)
deadline = time.time() + seconds
with open(output, "ab", buffering=0) as out:
    while time.time() < deadline:
        try:
            data = sock.recv(1 << 20)
        except socket.timeout:
            continue
        out.write(data + b"\n--\n")
