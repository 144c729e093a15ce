# Herald. As root on a fresh Debian machine:
#   make demo    build and run heraldd in a lab of network namespaces
#   make demo-k8s  the same with a Kubernetes API server and kubectl: a LoadBalancer Service
#   make demo-adjacent  adjacent mode: hosts answering for nodes that run no Herald (Talos)
#   make test    install what is missing, build, run unit and integration tests
#   make test-fresh  make test in a fresh Debian 12 root (only Swift's prerequisites), as CI would
#   make fuzz    libFuzzer on frames, gossip, config and Kubernetes input (FUZZ_SECONDS each, default 600)
#   make bench   latency, floods, busy hosts, memory, idle cost, failover, Kubernetes, floods against
#                a busy host, a 300 s chaos run (release build, ~55 min)
#   make install install binaries, unit, man pages, example config (PREFIX, DESTDIR)
#   make deb     build .build/herald_VERSION_ARCH.deb (dpkg-deb) and check it with lintian;
#                installs only what building needs (the [build] section of scripts/packages.txt)

SWIFT ?= swift
TOOLS := .build/tools/arpblast .build/tools/wallclock.so
# The Swift runtime is linked in, so the binaries need only libc, libpcap and libsystemd.
RELEASE_FLAGS := -c release --static-swift-stdlib --disable-local-rpath

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/herald
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSCONFDIR ?= /etc

FUZZ_SECONDS ?= 600

.PHONY: all deps deps-build deps-test build release test test-fresh fuzz demo demo-k8s demo-adjacent bench install deb clean

all: build

# scripts/packages.txt in sections: building and packaging, testing, benchmarking.
deps:
	@bash scripts/install-deps.sh build test bench

deps-build:
	@bash scripts/install-deps.sh build

deps-test:
	@bash scripts/install-deps.sh build test

build: deps-test $(TOOLS)
	$(SWIFT) build

release: deps-build
	$(SWIFT) build $(RELEASE_FLAGS)

.build/tools/arpblast: tools/arpblast.c
	@mkdir -p .build/tools
	cc -O2 -Wall -Wextra -o $@ $< -lpthread

# An LD_PRELOAD library that sets a process's wall clock wrong, timers untouched (t_replay).
.build/tools/wallclock.so: tools/wallclock.c
	@mkdir -p .build/tools
	cc -O2 -Wall -Wextra -shared -fPIC -o $@ $< -ldl

test: build
	@bash scripts/test.sh

test-fresh:
	@bash scripts/test-fresh.sh

fuzz: deps-test
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

demo: build
	@bash scripts/demo.sh

demo-k8s: build
	@bash scripts/demo-k8s.sh

demo-adjacent: build
	@bash scripts/demo-adjacent.sh

bench: deps release $(TOOLS)
	@HERALD_BIN=$(CURDIR)/.build/release bash scripts/bench.sh
	@HERALD_BIN=$(CURDIR)/.build/release bash scripts/bench-idle.sh
	@HERALD_BIN=$(CURDIR)/.build/release bash scripts/bench-failover.sh
	@HERALD_BIN=$(CURDIR)/.build/release bash scripts/bench-k8s.sh
	@HERALD_BIN=$(CURDIR)/.build/release bash scripts/bench-adjacent.sh
	@HERALD_BIN=$(CURDIR)/.build/release bash scripts/bench-flood.sh
	@echo "================ Chaos: 5 hosts, 6 VIPs, a request per VIP every 20 ms, 300 s, seed 2 ================"
	@HERALD_BIN=$(CURDIR)/.build/release bash scripts/chaos.sh 300 2

# An edited $(SYSCONFDIR)/herald/herald.toml is never replaced.
install: release
	install -D -m 755 .build/release/heraldd $(DESTDIR)$(SBINDIR)/heraldd
	install -D -m 755 .build/release/heraldctl $(DESTDIR)$(SBINDIR)/heraldctl
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	sed 's|/usr/sbin/herald|$(SBINDIR)/herald|' systemd/herald.service >$(DESTDIR)$(UNITDIR)/herald.service
	chmod 644 $(DESTDIR)$(UNITDIR)/herald.service
	for unit in herald-sync.service herald-sync.timer; do sed 's|/usr/sbin/herald|$(SBINDIR)/herald|' systemd/$$unit >$(DESTDIR)$(UNITDIR)/$$unit; chmod 644 $(DESTDIR)$(UNITDIR)/$$unit; done
	install -m 644 systemd/herald.sysusers $(DESTDIR)$(SYSUSERSDIR)/herald.conf
	gzip -9n -c man/heraldd.8 >$(DESTDIR)$(MANDIR)/man8/heraldd.8.gz
	gzip -9n -c man/heraldctl.8 >$(DESTDIR)$(MANDIR)/man8/heraldctl.8.gz
	gzip -9n -c man/herald.toml.5 >$(DESTDIR)$(MANDIR)/man5/herald.toml.5.gz
	install -d $(DESTDIR)$(SYSCONFDIR)/herald/pools.d $(DESTDIR)$(DOCDIR)/examples
	[ -e $(DESTDIR)$(SYSCONFDIR)/herald/herald.toml ] || install -m 644 etc/herald.toml $(DESTDIR)$(SYSCONFDIR)/herald/herald.toml
	install -m 644 etc/herald.toml $(DESTDIR)$(DOCDIR)/examples/herald.toml
	install -m 644 etc/sync.env.example $(DESTDIR)$(DOCDIR)/examples/sync.env
	install -m 644 README.md docs/*.md docs/grafana-dashboard.json $(DESTDIR)$(DOCDIR)/

deb: release
	@bash scripts/deb.sh

clean:
	rm -rf .build
