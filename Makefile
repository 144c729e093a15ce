# Herald. As root on a fresh Debian machine:
#   make demo    build and run heraldd in a lab of network namespaces
#   make test    install what is missing, build, run unit and integration tests
#   make bench   latency, flood rate, memory and failover figures (release build, ~25 min)

SWIFT ?= swift
TOOLS := .build/tools/arpblast

.PHONY: all deps build release test demo bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps $(TOOLS)
	$(SWIFT) build

release: deps $(TOOLS)
	$(SWIFT) build -c release

$(TOOLS): tools/arpblast.c
	@mkdir -p .build/tools
	cc -O2 -Wall -Wextra -o $@ $< -lpthread

test: build
	@bash scripts/test.sh

demo: build
	@bash scripts/demo.sh

bench: release
	@HERALD_BIN=$(CURDIR)/.build/release bash scripts/bench.sh
	@HERALD_BIN=$(CURDIR)/.build/release bash scripts/bench-failover.sh

clean:
	rm -rf .build
