#!/usr/bin/python3
"""A small Kubernetes API server for Herald's tests: not shipped, not a general server.

Speaks the real REST API for what heraldd and kubectl use, over TLS with client
certificates: discovery (/api, /apis, /version), create/get/list/update/patch/delete of
any resource in DISCOVERY (stored as given), the status subresource, Table output for
`kubectl get`, list and watch with resourceVersion (ADDED/MODIFIED/DELETED, BOOKMARK),
409 Conflict on a stale resourceVersion, 410 Gone for a resourceVersion older than the
last compaction, and fieldSelector/labelSelector on lists.

Test controls (only with the admin client certificate's CN "admin"):
  POST /debug/compact   forget history: watches from older versions get 410
  POST /debug/close     end every open watch (a load balancer restart)
  POST /debug/conflict?count=N
                        the next N status updates lose a race: the object is modified
                        (a new resourceVersion, seen by watches) and the update gets 409

A stand-in for the endpoints controller (there are no kubelets): each Deployment runs
`spec.replicas` (default 1) ready pods, placed on the Nodes in name order, and each
Service with a selector gets an EndpointSlice "<service>-lab" listing the pods it
selects, kept current as Deployments, Services and Nodes change. Slices a test writes
under any other name are left alone.

With --state FILE the objects survive a restart (as etcd would keep them): a restarted
server answers watches from before the restart with 410, like a compacted one.

Usage: kube-apiserver.py --listen ADDR:PORT --cert F --key F --client-ca F [--token T] [--state FILE]
"""
import argparse
import bisect
import copy
import datetime
import json
import random
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# group/version -> [(resource, kind, namespaced, short names)]
DISCOVERY = {
    "v1": [("services", "Service", True, ["svc"]), ("nodes", "Node", False, ["no"]),
           ("events", "Event", True, ["ev"]), ("namespaces", "Namespace", False, ["ns"]),
           ("pods", "Pod", True, ["po"]), ("endpoints", "Endpoints", True, ["ep"]),
           ("configmaps", "ConfigMap", True, ["cm"])],
    "apiextensions.k8s.io/v1": [("customresourcedefinitions", "CustomResourceDefinition", False, ["crd", "crds"])],
    "apps/v1": [("deployments", "Deployment", True, ["deploy"])],
    "discovery.k8s.io/v1": [("endpointslices", "EndpointSlice", True, [])],
    "events.k8s.io/v1": [("events", "Event", True, ["ev"])],
}
HAS_STATUS = {"services", "nodes", "deployments", "pods"}


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class Store:
    def __init__(self):
        self.lock = threading.Condition()
        self.objects = {}          # (gv, resource, namespace, name) -> object
        self.history = []          # (rv, type, gv, resource, object), in rv order
        self.history_rvs = []      # the rv of each history entry, for bisect
        self.rv = 100
        self.compacted = 100
        self.generation = 0        # bumped by /debug/close
        self.forced_conflicts = 0  # set by /debug/conflict
        self.cluster_ips = iter(f"10.43.{i // 250}.{i % 250 + 1}" for i in range(100000))
        self.state_file = None
        self.pods_cache = None     # the pods Deployments would run; reset when one or a Node changes

    def load(self, path):
        """Replays the journal of writes (one JSON line each), so a restarted server has
        every object it had; appending a line per write keeps each write O(1)."""
        self.state_file = path
        try:
            with open(path) as f:
                lines = f.readlines()
        except FileNotFoundError:
            lines = []
        services = 0
        for line in lines:
            try:
                rv, kind, key, obj = json.loads(line)
            except ValueError:
                break  # a line cut short by a kill: the writes before it stand
            key = tuple(None if part == "" else part for part in key.split("|"))
            if kind == "DELETED":
                self.objects.pop(key, None)
            else:
                if kind == "ADDED" and key[1] == "services":
                    services += 1
                self.objects[key] = obj
            self.rv = self.compacted = max(self.rv, rv)
        for _ in range(services):
            next(self.cluster_ips)
        self.journal = open(path, "a")

    def save(self, kind, key, obj):
        if self.state_file:
            self.journal.write(json.dumps([self.rv, kind, "|".join(part or "" for part in key), obj]) + "\n")
            self.journal.flush()

    def bump(self, kind, gv, resource, obj):
        self.write(kind, gv, resource, obj)
        if resource in ("deployments", "nodes"):
            self.pods_cache = None
            self.sync_endpoints()
        elif resource == "services":
            self.sync_endpoints(only=(obj["metadata"].get("namespace"), obj["metadata"]["name"]))

    def sync_endpoints(self, only=None):
        """The endpoints controller's work, for the pods the Deployments would run: for one
        Service (`only`: namespace, name) or, after a Deployment or Node changed, all."""
        pods = self.pods()
        if only is not None:
            candidates = [(("v1", "services", only[0], only[1]), self.objects.get(("v1", "services", only[0], only[1])))]
            candidates = [c for c in candidates if c[1] is not None]
        else:
            candidates = [item for item in list(self.objects.items()) if item[0][0] == "v1" and item[0][1] == "services"]
        for (g, r, namespace, name), service in candidates:
            selector = service.get("spec", {}).get("selector")
            key = ("discovery.k8s.io/v1", "endpointslices", namespace, f"{name}-lab")
            if not selector:
                continue
            endpoints = [{"addresses": [address], "conditions": {"ready": True, "serving": True, "terminating": False},
                          **({"nodeName": node} if node else {})}
                         for (ns, labels, address, node) in pods
                         if ns == namespace and all(labels.get(k) == v for k, v in selector.items())]
            current = self.objects.get(key)
            if current is not None and current.get("endpoints") == endpoints:
                continue
            slice_ = current or {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                                 "metadata": {"name": f"{name}-lab", "namespace": namespace, "uid": str(uuid.uuid4()),
                                              "creationTimestamp": now_rfc3339(), "generation": 1,
                                              "labels": {"kubernetes.io/service-name": name}},
                                 "addressType": "IPv4",
                                 "ports": [{"port": p.get("targetPort", p.get("port")), "protocol": p.get("protocol", "TCP")}
                                           for p in service.get("spec", {}).get("ports", []) if isinstance(p.get("targetPort", p.get("port")), int)]}
            slice_ = copy.deepcopy(slice_)
            slice_["endpoints"] = endpoints
            self.objects[key] = slice_
            self.write("MODIFIED" if current else "ADDED", "discovery.k8s.io/v1", "endpointslices", slice_)
        # Slices of deleted Services go with them.
        gone = [only] if only is not None else [(k[2], k[3][:-4]) for k in self.objects
                                                 if k[0] == "discovery.k8s.io/v1" and k[1] == "endpointslices" and k[3].endswith("-lab")]
        for namespace, name in gone:
            key = ("discovery.k8s.io/v1", "endpointslices", namespace, f"{name}-lab")
            if key in self.objects and ("v1", "services", namespace, name) not in self.objects:
                self.write("DELETED", key[0], key[1], self.objects.pop(key))

    def pods(self):
        """(namespace, labels, address, node) of every pod the Deployments would run. Worked
        out again only after a Deployment or Node changed: a pass over every object per
        Service write made writes slower the more Services there were."""
        if self.pods_cache is None:
            nodes = sorted(name for (g, r, _, name) in self.objects if g == "v1" and r == "nodes")
            pods = []
            deployments = sorted((k, o) for k, o in self.objects.items() if k[0] == "apps/v1" and k[1] == "deployments")
            for index, ((_, _, namespace, name), deployment) in enumerate(deployments):
                spec = deployment.get("spec", {})
                labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
                for replica in range(int(spec.get("replicas", 1))):
                    node = nodes[(index + replica) % len(nodes)] if nodes else None
                    pods.append((namespace, labels, f"10.42.{index % 250}.{replica + 1}", node))
            self.pods_cache = pods
        return self.pods_cache

    def write(self, kind, gv, resource, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.history.append((self.rv, kind, gv, resource, copy.deepcopy(obj)))
        self.history_rvs.append(self.rv)
        if len(self.history) > 200000:
            self.history = self.history[-100000:]
            self.history_rvs = self.history_rvs[-100000:]
            self.compacted = self.history[0][0] - 1
        self.save(kind, (gv, resource, obj["metadata"].get("namespace"), obj["metadata"]["name"]), None if kind == "DELETED" else obj)
        self.lock.notify_all()


STORE = Store()


def matches_selectors(obj, query):
    for selector in query.get("fieldSelector", []):
        for term in filter(None, selector.split(",")):
            key, _, want = term.partition("=")
            want = want.lstrip("=")
            negate = key.endswith("!")
            key = key.rstrip("!")
            value = obj
            for part in key.split("."):
                value = value.get(part, "") if isinstance(value, dict) else ""
            if (str(value) == want) == negate:
                return False
    labels = obj.get("metadata", {}).get("labels", {}) or {}
    for selector in query.get("labelSelector", []):
        for term in filter(None, selector.split(",")):
            if "!=" in term:
                key, want = term.split("!=", 1)
                if labels.get(key) == want:
                    return False
            elif "=" in term:
                key, want = term.split("=", 1)
                if labels.get(key) != want.lstrip("="):
                    return False
            elif term.startswith("!"):
                if term[1:] in labels:
                    return False
            elif term not in labels:
                return False
    return True


def service_row(obj):
    spec, status = obj.get("spec", {}), obj.get("status", {})
    ingress = status.get("loadBalancer", {}).get("ingress", []) or []
    external = ",".join(i.get("ip", i.get("hostname", "")) for i in ingress)
    if not external:
        external = "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    ports = ",".join(
        f"{p['port']}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort") else f"{p['port']}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports", []))
    return [obj["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP", "<none>"), external,
            ports or "<none>", age(obj)]


def age(obj):
    created = obj["metadata"].get("creationTimestamp")
    if not created:
        return "<unknown>"
    seconds = int(time.time() - datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp())
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m"


def table(resource, items, rv):
    if resource == "services":
        columns = ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"]
        rows = [service_row(o) for o in items]
    else:
        columns = ["Name", "Age"]
        rows = [[o["metadata"]["name"], age(o)] for o in items]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(rv)},
            "columnDefinitions": [{"name": c, "type": "string", "format": "name" if c == "Name" else "",
                                   "description": c, "priority": 0} for c in columns],
            "rows": [{"cells": r, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                             "metadata": o["metadata"]}} for r, o in zip(rows, items)]}


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "herald-test-apiserver"

    def setup(self):
        super().setup()
        # Headers and body go out as two TLS records: without TCP_NODELAY the body waits
        # for the client's delayed ACK of the headers, 40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    # --- plumbing -----------------------------------------------------------------
    def identity(self):
        cert = self.connection.getpeercert()
        if cert:
            for field in cert.get("subject", ()):
                for key, value in field:
                    if key == "commonName":
                        return value
        auth = self.headers.get("Authorization", "")
        if self.server.token and auth == f"Bearer {self.server.token}":
            return "token-user"
        return None

    def send_json(self, code, body, extra_headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra_headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def fail(self, code, reason, message, details=None):
        self.send_json(code, status_body(code, reason, message, details))

    def body(self):
        return json.loads(self.raw_body or b"{}")

    def route(self):
        """(gv, resource, namespace, name, subresource, query) or a discovery path."""
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = [p for p in url.path.split("/") if p]
        if parts[:1] == ["api"]:
            gv, rest = "v1", parts[2:] if len(parts) >= 2 else None
            if len(parts) < 2:
                return ("discovery", url.path, query)
        elif parts[:1] == ["apis"]:
            if len(parts) < 3:
                return ("discovery", url.path, query)
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return ("other", url.path, query)
        if not rest:
            return ("discovery", url.path, query)
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        resource = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if resource == "namespaces" and namespace is None and name is not None and len(rest) == 2:
            pass
        return ("resource", gv, resource, namespace, name, sub, query)

    def kind_of(self, gv, resource):
        for r, kind, namespaced, _ in DISCOVERY.get(gv, []):
            if r == resource:
                return kind, namespaced
        return None, None

    # --- verbs --------------------------------------------------------------------
    def handle_any(self, method):
        # Read the body whatever the method (kubectl sends DeleteOptions with DELETE), so
        # the next request on this connection starts where it should.
        self.raw_body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        who = self.identity()
        if who is None:
            return self.fail(401, "Unauthorized", "Unauthorized")
        route = self.route()
        if route[0] == "other":
            return self.other(method, route[1], who, route[2])
        if route[0] == "discovery":
            return self.discovery(route[1])
        _, gv, resource, namespace, name, sub, query = route
        kind, namespaced = self.kind_of(gv, resource)
        if kind is None:
            return self.fail(404, "NotFound", f"the server could not find the requested resource ({resource})")
        if method == "GET" and name is None:
            if query.get("watch", ["0"])[0] in ("1", "true"):
                return self.watch(gv, resource, namespace, query)
            return self.list(gv, kind, resource, namespace, query)
        key = (gv, resource, namespace if namespaced else None, name)
        with STORE.lock:
            if method == "GET":
                obj = STORE.objects.get(key)
                if obj is None:
                    return self.fail(404, "NotFound", f'{resource} "{name}" not found',
                                     {"name": name, "kind": resource})
                if "as=Table" in self.headers.get("Accept", ""):
                    return self.send_json(200, table(resource, [obj], STORE.rv))
                return self.send_json(200, obj)
            if method == "POST" and name is None:
                return self.create(gv, kind, resource, namespace if namespaced else None, self.body())
            if method in ("PUT", "PATCH"):
                return self.update(method, gv, kind, resource, key, sub)
            if method == "DELETE":
                obj = STORE.objects.pop(key, None)
                if obj is None:
                    return self.fail(404, "NotFound", f'{resource} "{name}" not found', {"name": name, "kind": resource})
                STORE.bump("DELETED", gv, resource, obj)
                return self.send_json(200, obj)
        return self.fail(405, "MethodNotAllowed", f"{method} not supported here")

    def create(self, gv, kind, resource, namespace, obj):
        meta = obj.setdefault("metadata", {})
        if "generateName" in meta and "name" not in meta:
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            return self.fail(422, "Invalid", "metadata.name: Required value")
        key = (gv, resource, namespace, name)
        if key in STORE.objects:
            return self.fail(409, "AlreadyExists", f'{resource} "{name}" already exists',
                             {"name": name, "kind": resource})
        if namespace:
            meta["namespace"] = namespace
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        obj["apiVersion"], obj["kind"] = gv, kind
        if resource == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("clusterIP", next(STORE.cluster_ips))
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("sessionAffinity", "None")
            spec.setdefault("externalTrafficPolicy", "Cluster")
            for port in spec.get("ports", []):
                port.setdefault("protocol", "TCP")
                if spec["type"] in ("NodePort", "LoadBalancer"):
                    port.setdefault("nodePort", 30000 + random.randint(0, 2767))
            obj.setdefault("status", {"loadBalancer": {}})
        STORE.objects[key] = obj
        STORE.bump("ADDED", gv, resource, obj)
        return self.send_json(201, obj)

    def update(self, method, gv, kind, resource, key, sub):
        current = STORE.objects.get(key)
        if current is None:
            return self.fail(404, "NotFound", f'{resource} "{key[3]}" not found', {"name": key[3], "kind": resource})
        if sub and sub != "status":
            return self.fail(404, "NotFound", f"no subresource {sub}")
        if sub == "status" and resource not in HAS_STATUS:
            return self.fail(404, "NotFound", f"{resource} has no status subresource")
        if method == "PUT" and sub == "status" and STORE.forced_conflicts > 0:
            STORE.forced_conflicts -= 1
            STORE.bump("MODIFIED", gv, resource, current)
            return self.fail(409, "Conflict", f'Operation cannot be fulfilled on {resource} "{key[3]}": the object has been modified; '
                             "please apply your changes to the latest version and try again", {"name": key[3], "kind": resource})
        if method == "PUT":
            new = self.body()
            sent_rv = new.get("metadata", {}).get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                return self.fail(409, "Conflict",
                                 f'Operation cannot be fulfilled on {resource} "{key[3]}": the object has been modified; '
                                 "please apply your changes to the latest version and try again",
                                 {"name": key[3], "kind": resource})
        else:
            content = self.headers.get("Content-Type", "")
            patch = self.body()
            if "json-patch" in content:
                return self.fail(415, "UnsupportedMediaType", "json-patch is not supported by this test server")
            # Strategic merge patches of the fields tests use merge like JSON merge patches.
            new = merge_patch(current, patch)
            sent_rv = patch.get("metadata", {}).get("resourceVersion") if isinstance(patch, dict) else None
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                return self.fail(409, "Conflict", f'Operation cannot be fulfilled on {resource} "{key[3]}": the object has been modified',
                                 {"name": key[3], "kind": resource})
        merged = copy.deepcopy(current)
        if sub == "status":
            merged["status"] = new.get("status", {})
        else:
            status = current.get("status")
            merged = new
            merged["metadata"] = {**current["metadata"], **{k: v for k, v in new.get("metadata", {}).items()
                                                            if k in ("labels", "annotations", "finalizers", "ownerReferences")}}
            if resource in HAS_STATUS and status is not None:
                merged["status"] = status
            merged["apiVersion"], merged["kind"] = gv, kind
            if merged.get("spec") != current.get("spec"):
                merged["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        if merged == current:
            return self.send_json(200, current)
        STORE.objects[key] = merged
        STORE.bump("MODIFIED", gv, resource, merged)
        return self.send_json(200, merged)

    def list(self, gv, kind, resource, namespace, query):
        with STORE.lock:
            rv = query.get("resourceVersion", [""])[0]
            if rv and rv != "0" and int(rv) < STORE.compacted:
                return self.fail(410, "Expired", f"too old resource version: {rv} ({STORE.compacted})")
            items = [copy.deepcopy(o) for (g, r, ns, _), o in sorted(STORE.objects.items(), key=lambda e: str(e[0]))
                     if g == gv and r == resource and (namespace is None or ns == namespace) and matches_selectors(o, query)]
            current = STORE.rv
        if "as=Table" in self.headers.get("Accept", ""):
            return self.send_json(200, table(resource, items, current))
        return self.send_json(200, {"kind": f"{kind}List", "apiVersion": gv, "metadata": {"resourceVersion": str(current)},
                                    "items": items})

    def watch(self, gv, resource, namespace, query):
        rv = int(query.get("resourceVersion", ["0"])[0] or 0)
        bookmarks = query.get("allowWatchBookmarks", ["false"])[0] == "true"
        timeout = int(query.get("timeoutSeconds", ["300"])[0])
        with STORE.lock:
            if rv and rv < STORE.compacted:
                # As the real server does: 200, then one ERROR event with a 410 Status.
                self.start_stream()
                self.event({"type": "ERROR", "object": status_body(410, "Expired", f"too old resource version: {rv} ({STORE.compacted})")})
                return self.end_stream()
            generation = STORE.generation
        self.start_stream()
        deadline = time.time() + timeout
        sent = rv
        last_bookmark = time.time()
        while time.time() < deadline:
            with STORE.lock:
                if STORE.generation != generation:
                    break
                newer = STORE.history[bisect.bisect_right(STORE.history_rvs, sent):]
                pending = [h for h in newer if h[2] == gv and h[3] == resource
                           and (namespace is None or h[4]["metadata"].get("namespace") == namespace)]
                # The version these pending events bring us to; read with them, so a
                # bookmark never skips an event that arrived after.
                current = STORE.rv
                if not pending:
                    STORE.lock.wait(0.5)
            try:
                for version, kind, _, _, obj in pending:
                    if matches_selectors(obj, query):
                        self.event({"type": kind, "object": obj})
                    sent = version
                if bookmarks and time.time() - last_bookmark > 1.0:
                    last_bookmark = time.time()
                    sent = max(sent, current)
                    self.event({"type": "BOOKMARK", "object": {"kind": "Bookmark", "apiVersion": gv,
                                                               "metadata": {"resourceVersion": str(sent)}}})
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                return
        self.end_stream()

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def event(self, body):
        data = (json.dumps(body) + "\n").encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_stream(self):
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        self.close_connection = True

    def discovery(self, path):
        path = path.rstrip("/")
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server.advertised}]})
        if path == "/apis":
            groups = []
            for gv in DISCOVERY:
                if "/" in gv:
                    group, version = gv.split("/")
                    entry = {"groupVersion": gv, "version": version}
                    groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        gv = path[len("/api/"):] if path.startswith("/api/") else path[len("/apis/"):]
        if gv not in DISCOVERY:
            return self.fail(404, "NotFound", "the server could not find the requested resource")
        resources = []
        for resource, kind, namespaced, short in DISCOVERY[gv]:
            resources.append({"name": resource, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                              "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                              "shortNames": short})
            if resource in HAS_STATUS:
                resources.append({"name": f"{resource}/status", "singularName": "", "namespaced": namespaced,
                                  "kind": kind, "verbs": ["get", "patch", "update"]})
        return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                                    "resources": resources})

    def openapi(self, path):
        """Just enough OpenAPI v3 for kubectl: each group-version's PATCH operations take
        `fieldValidation`, so `kubectl apply` validates on the server (which stores what it
        gets) instead of downloading schemas."""
        if path == "/openapi/v3":
            return self.send_json(200, {"paths": {
                ("api/" if gv == "v1" else "apis/") + gv: {"serverRelativeURL": f"/openapi/v3/{'api' if gv == 'v1' else 'apis'}/{gv}?hash=1"}
                for gv in DISCOVERY}})
        gv = path[len("/openapi/v3/api/"):] if path.startswith("/openapi/v3/api/") else path[len("/openapi/v3/apis/"):]
        if gv not in DISCOVERY:
            return self.fail(404, "NotFound", "no such OpenAPI document")
        group, _, version = gv.rpartition("/")
        prefix = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        paths = {}
        for resource, kind, namespaced, _ in DISCOVERY[gv]:
            item = f"{prefix}/namespaces/{{namespace}}/{resource}/{{name}}" if namespaced else f"{prefix}/{resource}/{{name}}"
            paths[item] = {"patch": {
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": kind},
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}}}}
        return self.send_json(200, {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
                                    "paths": paths, "components": {"schemas": {}}})

    def other(self, method, path, who, query):
        if path.startswith("/openapi/v3"):
            return self.openapi(path)
        if path == "/version":
            return self.send_json(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0-herald-test",
                                        "platform": "linux/amd64"})
        if path in ("/healthz", "/readyz", "/livez"):
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            return self.wfile.write(data)
        if method == "GET" and path == "/debug/stats":
            return self.send_json(200, STATS.report())
        if method == "POST" and path.startswith("/debug/"):
            if who != "admin":
                return self.fail(403, "Forbidden", "debug endpoints need the admin certificate")
            with STORE.lock:
                if path == "/debug/compact":
                    STORE.compacted = STORE.rv
                elif path == "/debug/close":
                    STORE.generation += 1
                elif path == "/debug/conflict":
                    STORE.forced_conflicts = int(query.get("count", ["1"])[0])
                STORE.lock.notify_all()
                remaining = STORE.forced_conflicts
            return self.send_json(200, {"compacted": STORE.compacted, "resourceVersion": STORE.rv,
                                        "forcedConflicts": remaining})
        return self.fail(404, "NotFound", "the server could not find the requested resource")

    def timed(self, method):
        """Handles one request and records how long the server took (watches excluded:
        they last as long as the client wants), for GET /debug/stats."""
        start = time.perf_counter()
        self.handle_any(method)
        if "watch=" not in self.path and not self.path.startswith("/debug/stats"):
            STATS.record(method, time.perf_counter() - start)

    def do_GET(self):
        self.timed("GET")

    def do_POST(self):
        self.timed("POST")

    def do_PUT(self):
        self.timed("PUT")

    def do_PATCH(self):
        self.timed("PATCH")

    def do_DELETE(self):
        self.timed("DELETE")


class Stats:
    """The server's own time per request, by method: the bench reports it beside
    heraldd's figures, so it is clear which of the two a figure measures."""

    def __init__(self):
        self.lock = threading.Lock()
        self.samples = {}

    def record(self, method, seconds):
        with self.lock:
            samples = self.samples.setdefault(method, [])
            if len(samples) < 200_000:
                samples.append(seconds)

    def report(self):
        with self.lock:
            result = {}
            for method, samples in self.samples.items():
                ordered = sorted(samples)
                pick = lambda p: ordered[min(len(ordered) - 1, int(p * (len(ordered) - 1)))] * 1000
                result[method] = {"count": len(ordered), "mean_ms": sum(ordered) / len(ordered) * 1000,
                                  "p50_ms": pick(0.5), "p99_ms": pick(0.99)}
            return result


STATS = Stats()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--client-ca", required=True)
    parser.add_argument("--token")
    parser.add_argument("--state")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.state:
        STORE.load(args.state)
    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    server.verbose = args.verbose
    server.token = args.token
    server.advertised = args.listen
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    context.load_verify_locations(args.client_ca)
    # Client certificates are checked when sent; bearer tokens are the alternative.
    context.verify_mode = ssl.CERT_OPTIONAL
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on https://{args.listen}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
