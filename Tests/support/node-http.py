#!/usr/bin/python3
"""A stand-in for a Service's backends on one emulated Kubernetes node: answers every GET
with the node's name, so a client can tell which node its traffic reached."""
import argparse
import http.server
import socket


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, default=80)
    args = parser.parse_args()
    body = (args.name + "\n").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6  # and IPv4 too: bindv6only is 0

    server = Server(("::", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
