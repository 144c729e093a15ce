# The docs name what exists: every TOML block in README.md and docs/ passes
# `heraldctl check --offline` (a block marked `<!-- illustrative: REASON -->` on the line
# before is exempt, with its reason), every `heraldctl SUBCOMMAND` in README, docs and the
# man pages is one heraldctl has, and every option they give heraldctl or heraldd is
# one its --help lists.
source "$(dirname "$0")/lib.sh"
LAB_DIR=$(mktemp -d /tmp/htdocs.XXXXXX); lab_on_cleanup "rm -rf '$LAB_DIR'"
/usr/bin/python3 - "$LAB_DIR" README.md docs/*.md <<'PY' || fail "could not extract the doc blocks"
import re, sys, os
out, files = sys.argv[1], sys.argv[2:]
for name in files:
    text = open(name).read()
    for m in re.finditer(r'```toml\n(.*?)```', text, re.S):
        line = text[:m.start()].count('\n') + 1
        before = text[:m.start()].rstrip('\n').rsplit('\n', 1)[-1]
        kind = 'illustrative' if before.startswith('<!-- illustrative:') else 'block'
        open(os.path.join(out, f"{kind}-{os.path.basename(name)}-{line}.toml"), 'w').write(m.group(1))
PY
blocks=0
for block in "$LAB_DIR"/block-*.toml; do
    [ -e "$block" ] || break
    blocks=$((blocks + 1))
    "$HERALD_BIN/heraldctl" check --offline "$block" >/dev/null 2>"$LAB_DIR/err" \
        || fail "$(basename "$block" .toml | sed 's/^block-//; s/-\([0-9]*\)$/:\1/'): the TOML block does not check: $(head -3 "$LAB_DIR/err")"
done
[ "$blocks" -ge 10 ] || fail "only $blocks TOML blocks found: the extraction is broken"
pass "$blocks TOML blocks in README.md and docs/ pass heraldctl check --offline ($(ls "$LAB_DIR"/illustrative-*.toml 2>/dev/null | wc -l) marked illustrative)"

subcommands=$("$HERALD_BIN/heraldctl" --help | sed -n '/SUBCOMMANDS/,$p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p' | sort -u)
[ -n "$subcommands" ] || fail "heraldctl --help lists no subcommands"
# Commands: at the start of a line, after a backtick, a prompt, sudo, && or a pipe, or
# after the man pages' .B (whose \- is a dash).
docs() { cat README.md docs/*.md; sed 's/\\-/-/g' man/*.[58]; }
command='(^ *|`|\$ |sudo |&& |\| |^\.BR? )'
used=$(docs | grep -oE "${command}heraldctl( --?[a-z-]+( [^ -][^ ]*)?)* [a-z][a-z-]+" \
    | sed -E 's/.*heraldctl( --?[a-z-]+( [^ -][^ ]*)?)* //' | sort -u)
for word in $used; do
    echo "$subcommands" | has -qx "$word" || fail "the docs use 'heraldctl $word', which heraldctl does not have: $(grep -nE "heraldctl $word" README.md docs/*.md man/*.[58] | head -3)"
done
pass "every heraldctl subcommand the docs use exists ($(echo "$used" | wc -w) distinct)"

for tool in heraldd heraldctl; do
    help=$("$HERALD_BIN/$tool" --help 2>&1)
    if [ $tool = heraldctl ]; then for word in $subcommands; do help+=$'\n'$("$HERALD_BIN/heraldctl" help "$word" 2>&1); done; fi
    for option in $(docs | grep -oE "${command}$tool [^|;&\`#]*" | grep -oE ' --[a-z][a-z-]+' | sort -u); do
        echo "$help" | has -q -- "$option" || fail "the docs give $tool $option, which its --help does not list"
    done
done
pass "every option the docs give heraldd and heraldctl is in their --help"
