# The docs name what exists and say what runs them. Every TOML block in README.md and
# docs/ passes `heraldctl check --offline`; Prometheus rules and scrape configs pass
# promtool; every shell and other YAML block says on the line before which namespace or
# container tests run what it shows (`<!-- test: t_a, t_b -->`, each test must exist),
# which run it verbatim (`<!-- run: t_a -->`: the test takes the block from the doc with
# doc_block, so an edit of the block is what runs), or why none does
# (`<!-- illustrative: REASON -->`, which also exempts a TOML block). Every
# `heraldctl SUBCOMMAND` in README, docs and the man pages is one heraldctl has, and
# every option they give heraldctl or heraldd is one its --help lists.
source "$(dirname "$0")/lib.sh"
LAB_DIR=$(mktemp -d /tmp/htdocs.XXXXXX)
trap 'rm -rf "$LAB_DIR"' EXIT
/usr/bin/python3 - "$LAB_DIR" README.md docs/*.md <<'PY' || fail "$(cat "$LAB_DIR/unmarked" 2>/dev/null)"
import os, re, sys
out, files = sys.argv[1], sys.argv[2:]
unmarked, tests = [], set(os.listdir("Tests/integration"))
for name in files:
    text = open(name).read()
    for m in re.finditer(r'^[ ]*```(\w+)\n(.*?)^[ ]*```', text, re.S | re.M):
        language, body = m.group(1), m.group(2)
        line = text[:m.start()].count('\n') + 1
        before = text[:m.start()].rstrip('\n').rsplit('\n', 1)[-1].strip()
        where = f"{name}:{line + 1}"
        marker = re.match(r'<!-- (test|run|illustrative): (.*) -->$', before)
        if marker and marker.group(1) in ('test', 'run'):
            for test in re.split(r',\s*', marker.group(2)):
                if f"{test}.sh" not in tests: unmarked.append(f"{where}: names {test}, which is no test")
                elif marker.group(1) == 'run' and f"doc_block {name} " not in open(f"Tests/integration/{test}.sh").read():
                    unmarked.append(f"{where}: says {test} runs it, but {test} takes no block from {name} (doc_block)")
        base = f"{os.path.basename(name)}-{line + 1}"
        if language == 'toml':
            kind = 'illustrative' if marker and marker.group(1) == 'illustrative' else 'block'
            open(os.path.join(out, f"{kind}-{base}.toml"), 'w').write(body)
        elif language == 'yaml' and body.lstrip().startswith('- alert:'):
            open(os.path.join(out, f"rules-{base}.yml"), 'w').write("groups:\n- name: docs\n  rules:\n" + ''.join('  ' + l + '\n' for l in body.splitlines()))
        elif language == 'yaml' and body.lstrip().startswith('scrape_configs:'):
            open(os.path.join(out, f"prometheus-{base}.yml"), 'w').write(body)
        elif language in ('sh', 'yaml') and not marker:
            unmarked.append(f"{where}: a {language} block with none of <!-- test: … -->, <!-- run: … -->, <!-- illustrative: … --> before it")
open(os.path.join(out, "unmarked"), 'w').write('\n'.join(unmarked))
sys.exit(1 if unmarked else 0)
PY
marked=$(cat README.md docs/*.md | grep -c '^ *<!-- \(test\|run\|illustrative\): ')
verbatim=$(cat README.md docs/*.md | grep -c '^ *<!-- run: ')
pass "every shell and YAML block in README.md and docs/ says which test runs it or why none does ($marked marked, $verbatim run verbatim)"
blocks=0
for block in "$LAB_DIR"/block-*.toml; do
    [ -e "$block" ] || break
    blocks=$((blocks + 1))
    "$HERALD_BIN/heraldctl" check --offline "$block" >/dev/null 2>"$LAB_DIR/err" \
        || fail "$(basename "$block" .toml | sed 's/^block-//; s/-\([0-9]*\)$/:\1/'): the TOML block does not check: $(head -3 "$LAB_DIR/err")"
done
[ "$blocks" -ge 10 ] || fail "only $blocks TOML blocks found: the extraction is broken"
pass "$blocks TOML blocks in README.md and docs/ pass heraldctl check --offline ($(ls "$LAB_DIR"/illustrative-*.toml 2>/dev/null | wc -l) marked illustrative)"
checked=0
for rules in "$LAB_DIR"/rules-*.yml; do
    [ -e "$rules" ] || break
    promtool check rules "$rules" >"$LAB_DIR/err" 2>&1 || fail "$(basename "$rules" .yml | sed 's/^rules-//'): promtool: $(cat "$LAB_DIR/err")"
    checked=$((checked + 1))
done
for config in "$LAB_DIR"/prometheus-*.yml; do
    [ -e "$config" ] || break
    promtool check config --syntax-only "$config" >"$LAB_DIR/err" 2>&1 || fail "$(basename "$config" .yml): promtool: $(cat "$LAB_DIR/err")"
    checked=$((checked + 1))
done
[ "$checked" -ge 3 ] || fail "only $checked Prometheus blocks found"
pass "$checked Prometheus blocks (alert rules, scrape configs) pass promtool"

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

# The config reference and herald.toml(5) describe the same keys.
man=$(sed 's/\\-/-/g' man/herald.toml.5)
keys=$(sed -n 's/^| `\([a-z_]*\)` |.*/\1/p' docs/configuration.md | sort -u)
[ "$(echo "$keys" | wc -l)" -ge 25 ] || fail "only $(echo "$keys" | wc -l) keys found in docs/configuration.md's tables"
for key in $keys; do
    echo "$man" | has -qw -- "$key" || fail "docs/configuration.md documents '$key', herald.toml(5) does not"
done
pass "every key of docs/configuration.md ($(echo "$keys" | wc -l)) is in herald.toml(5)"
