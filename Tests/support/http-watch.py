#!/usr/bin/python3
"""Asks ADDRESS:80 over and over for SECONDS and prints, for every answer, the wall clock
in nanoseconds and the body's first line (the node name node-http.py answers with).
A connection attempt that gets nothing in 50 ms is abandoned and tried again, so a
client whose ARP entry points at a dead node retries as soon as it learns a new MAC."""
import socket
import sys
import time


def main():
    address, seconds = sys.argv[1], float(sys.argv[2])
    end = time.monotonic() + seconds
    out = sys.stdout
    while time.monotonic() < end:
        try:
            with socket.create_connection((address, 80), timeout=0.05) as conn:
                conn.settimeout(0.2)
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while True:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            body = data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip()
            out.write(f"{time.time_ns()} {body}\n")
            out.flush()
            time.sleep(0.005)
        except OSError:
            pass


if __name__ == "__main__":
    main()
