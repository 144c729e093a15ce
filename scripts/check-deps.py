#!/usr/bin/python3
"""Checks that every program the project's scripts and tests run is installed by
scripts/install-deps.sh: each command word found in scripts/, Tests/integration/,
Tests/support/ and the Makefile's recipes must be a shell builtin, a function of those
scripts, a program of Debian's essential set, or provided (dpkg -S) by a package in
scripts/packages.txt (or by an entry there that names another source).

Exit status 0 when everything is accounted for; 1 with one line per missing command,
naming the package to add. `--exclude PKG` pretends PKG is not in the list (to show
that the check catches its removal).
"""
import glob
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SEPARATORS = {";", "&", "&&", "||", "|", "|&", "(", ")", "\n", ";;", "{", "}", "!"}
KEYWORDS = {"if", "then", "elif", "else", "fi", "do", "done", "while", "until", "for", "in", "case", "esac",
            "function", "time", "select", "[[", "]]", "coproc"}
SYSTEM_DIRS = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
# What `make deb` and `make install` run, with only the [build] section installed.
BUILD_FILES = {"scripts/deb.sh", "scripts/install-deps.sh", "Makefile"}


class Lexer:
    """Splits shell source into words and separators. Quotes are kept inside words
    (stripped later), `$(...)` and backticks become separate nested sources, and
    here-document bodies are skipped: they are data (YAML, TOML, nft rules)."""

    def __init__(self, text):
        self.text = text
        self.i = 0
        self.nested = []  # sources of $(...) and `...`
        self.heredocs = []

    def tokens(self):
        out = []
        word = ""
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c == "\\" and self.i + 1 < len(text):
                if text[self.i + 1] == "\n":
                    self.i += 2
                    continue
                word += text[self.i:self.i + 2]
                self.i += 2
                continue
            if c == "'":
                end = text.find("'", self.i + 1)
                end = len(text) if end < 0 else end
                word += text[self.i:end + 1]
                self.i = end + 1
                continue
            if c == '"':
                word += self.double_quoted()
                continue
            if c == "$" and text.startswith("$((", self.i):
                end = self.matching(self.i + 1)
                word += text[self.i:end + 1]
                self.i = end + 1
                continue
            if c == "$" and text.startswith("$(", self.i):
                end = self.matching(self.i + 1)
                self.nested.append(text[self.i + 2:end])
                word += "$(...)"
                self.i = end + 1
                continue
            if c == "`":
                end = text.find("`", self.i + 1)
                end = len(text) if end < 0 else end
                self.nested.append(text[self.i + 1:end])
                word += "`...`"
                self.i = end + 1
                continue
            if c == "#" and word == "":
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end
                continue
            if c in " \t":
                if word:
                    out.append(word)
                    word = ""
                self.i += 1
                continue
            if c == "\n":
                if word:
                    out.append(word)
                    word = ""
                out.append("\n")
                self.i += 1
                self.skip_heredocs()
                continue
            if c == "<" and text.startswith("<<", self.i) and not text.startswith("<<<", self.i):
                match = re.match(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1", text[self.i:])
                if match:
                    if word:
                        out.append(word)
                        word = ""
                    self.heredocs.append(match.group(2))
                    self.i += match.end()
                    continue
            if c == "(" and re.match(r"^[A-Za-z_][A-Za-z0-9_]*\+?=$", word):
                end = self.matching(self.i)
                word += text[self.i:end + 1]
                self.i = end + 1
                continue
            if c in ";&|(){}<>" and not (c in "{}" and word):
                if word:
                    out.append(word)
                    word = ""
                two = text[self.i:self.i + 2]
                if two in ("&&", "||", ";;", "|&", ">>", "<<", "&>", ">&", "<&"):
                    out.append(two)
                    self.i += 2
                else:
                    out.append(c)
                    self.i += 1
                continue
            word += c
            self.i += 1
        if word:
            out.append(word)
        return out

    def double_quoted(self):
        text = self.text
        start = self.i
        self.i += 1
        while self.i < len(text) and text[self.i] != '"':
            if text[self.i] == "\\":
                self.i += 2
                continue
            if text.startswith("$((", self.i):
                self.i = self.matching(self.i + 1) + 1
                continue
            if text.startswith("$(", self.i):
                end = self.matching(self.i + 1)
                self.nested.append(text[self.i + 2:end])
                self.i = end + 1
                continue
            if text[self.i] == "`":
                end = text.find("`", self.i + 1)
                self.nested.append(text[self.i + 1:end])
                self.i = end + 1
                continue
            self.i += 1
        self.i += 1
        return text[start:self.i]

    def matching(self, open_index):
        """Index of the parenthesis closing the one at open_index, quotes respected."""
        depth = 0
        i = open_index
        text = self.text
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
                continue
            if c == "'":
                i = text.find("'", i + 1) + 1 or len(text)
                continue
            if c == '"':
                j = i + 1
                while j < len(text) and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                i = j + 1
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        return len(text) - 1

    def skip_heredocs(self):
        while self.heredocs:
            delimiter = self.heredocs.pop(0)
            while self.i < len(self.text):
                end = self.text.find("\n", self.i)
                end = len(self.text) if end < 0 else end
                line = self.text[self.i:end]
                self.i = end + 1
                if line.strip() == delimiter:
                    break


def unquote(word):
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


def commands(text):
    """Every simple command in `text` as a list of words (quotes removed from the
    first word only), nested sources included."""
    lexer = Lexer(text)
    tokens = lexer.tokens()
    result = []
    current = []
    in_case = False
    expect_pattern = False
    skip_next = False
    for token in tokens + ["\n"]:
        if token in (">", ">>", "<", "&>", ">&", "<&"):
            skip_next = True
            continue
        if skip_next and token not in SEPARATORS:
            skip_next = False
            continue
        skip_next = False
        if token in SEPARATORS:
            if token == ")" and expect_pattern:
                expect_pattern = False
                current = []
                continue
            if token == ";;" and in_case:
                expect_pattern = True
            if current:
                result.append(current)
            current = []
            continue
        if expect_pattern:
            if token == "esac":
                in_case = expect_pattern = False
            continue
        if not current and token in KEYWORDS:
            if token in ("case", "for", "select"):
                current = [token]
            continue
        if current[:1] == ["case"]:
            if token == "in":
                in_case = expect_pattern = True
                current = []
            continue
        if current[:1] in (["for"], ["select"]):
            continue
        current.append(token)
    for source in lexer.nested:
        result += commands(source)
    return result


# Wrappers that run another command: how many leading words to skip (after the
# wrapper's own options) before the command word.
WRAPPERS = {
    "lab_exec": 1, "lab_spawn": 2, "exec": 0, "nohup": 0, "setsid": 0, "env": 0, "xargs": 0, "sudo": 0,
    "timeout": 1, "chrt": 1, "nice": 0, "taskset": 1, "stdbuf": 0, "unshare": 0, "nsenter": 0, "setpriv": 0,
    "strace": 0, "command": 0,
}
# Shell functions of the scripts that run their arguments as a command (which may be
# another function).
SHELL_WRAPPERS = {"may_fail"}
# Options of those wrappers that take a separate argument.
OPTION_ARGUMENTS = {"-s", "-k", "-n", "-t", "-p", "--signal", "--kill-after", "--propagation", "-c", "-o", "-e", "-u"}


def command_words(words, functions, wrapped=False):
    """The command word of a simple command and of whatever it runs, skipping
    assignments and wrapper options; yields (word, inner-source, wrapped) triples, where
    inner-source is the script given to `sh -c` and the like, and wrapped says the word
    is run by a wrapper (ip netns exec, timeout, ...): a program, never a shell function."""
    words = [w for w in words if w is not None]
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=", words[0]):
        words = words[1:]
    if not words:
        return
    name = unquote(words[0])
    if name == "command" and len(words) > 1 and words[1].startswith("-"):
        return  # command -v X: a lookup, not a run
    yield name, None, wrapped
    rest = words[1:]
    if name in ("sh", "bash") and len(rest) >= 2 and rest[0] == "-c":
        yield None, unquote(rest[1]), wrapped
        return
    if name in SHELL_WRAPPERS:
        yield from command_words(rest, functions, wrapped)
        return
    if name == "ip" and rest[:2] == ["netns", "exec"] and len(rest) > 3:
        yield from command_words(rest[3:], functions, True)
        return
    if name in WRAPPERS:
        skip = WRAPPERS[name]
        if name == "command" and rest and rest[0].startswith("-"):
            return
        index = 0
        while index < len(rest) and rest[index].startswith("-"):
            if rest[index] == "--":
                index += 1
                break
            index += 2 if rest[index] in OPTION_ARGUMENTS else 1
        if name == "env":
            while index < len(rest) and "=" in rest[index]:
                index += 1
        index += skip
        if index < len(rest):
            yield from command_words(rest[index:], functions, True)


def is_plain(name):
    return re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$", name) is not None


def shell_sources():
    files = sorted(glob.glob(os.path.join(ROOT, "scripts/*.sh")) + glob.glob(os.path.join(ROOT, "Tests/integration/*.sh"))
                   + glob.glob(os.path.join(ROOT, "Tests/support/*.sh")) + glob.glob(os.path.join(ROOT, ".ci/run")))
    sources = [(os.path.relpath(f, ROOT), open(f, encoding="utf-8").read()) for f in files]
    makefile = os.path.join(ROOT, "Makefile")
    recipes = [line[1:] for line in open(makefile, encoding="utf-8").read().splitlines() if line.startswith("\t")]
    recipes = [re.sub(r"^[@-]+", "", line).replace("$$", "$").replace("$(SWIFT)", "swift") for line in recipes]
    sources.append(("Makefile", "\n".join(re.sub(r"\$\(([A-Z_]+)\)", r"MAKEVAR", line) for line in recipes)))
    return sources


def builtins():
    out = subprocess.run(["bash", "-c", "compgen -b; compgen -k"], capture_output=True, text=True).stdout.split()
    return set(out) | {"[", "test", "true", "false", "echo", "printf", "kill", "pwd"}


def package_of(path):
    """The Debian package that ships `path` (following symlinks and the /usr merge)."""
    candidates = [path]
    if path.startswith("/usr/"):
        candidates.append(path[4:])
    elif path.startswith("/bin/") or path.startswith("/sbin/"):
        candidates.append("/usr" + path)
    seen = set()
    while candidates:
        candidate = candidates.pop(0)
        if candidate in seen:
            continue
        seen.add(candidate)
        out = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            packages, _, owned = line.partition(": ")
            if owned.strip() == candidate and not packages.startswith("diversion by"):
                return packages.split(",")[0].strip().split(":")[0]
        if os.path.islink(candidate):
            target = os.readlink(candidate)
            candidates.append(os.path.normpath(os.path.join(os.path.dirname(candidate), target)))
    return None


def essential_packages():
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Essential}\n"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.endswith(" yes")}


def listed_packages(exclude, sections=None):
    """scripts/packages.txt: Debian packages one per line, under `[build]`, `[test]` and
    `[bench]`; `name from SOURCE: path` lines for the few programs that come from
    elsewhere (kubectl from PyPI). `sections`: only those (default all)."""
    packages, others = set(), {}
    section = None
    for line in open(os.path.join(ROOT, "scripts/packages.txt"), encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        header = re.match(r"^\[([a-z]+)\]$", line)
        if header:
            section = header.group(1)
            continue
        if sections is not None and section not in sections:
            continue
        match = re.match(r"^(\S+) from ([^:]+?)(?:: (\S+))?$", line)
        if match:
            if match.group(1) not in exclude:
                path = match.group(3) and os.path.join(ROOT, match.group(3))
                others[match.group(1)] = (match.group(2), path)
        elif line not in exclude:
            packages.add(line)
    return packages, others


def main(argv):
    exclude = set()
    while argv:
        if argv[0] == "--exclude" and len(argv) > 1:
            exclude.add(argv[1])
            argv = argv[2:]
        else:
            print(f"usage: check-deps.py [--exclude PACKAGE]...", file=sys.stderr)
            return 2
    packages, others = listed_packages(exclude)
    build_packages, build_others = listed_packages(exclude, {"build"})
    essential = essential_packages()
    known = builtins()
    sources = shell_sources()
    functions = set()
    for _, text in sources:
        functions |= set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(\)\s*\{?", text, re.M))

    uses = {}
    pending = list(sources)
    while pending:
        origin, text = pending.pop()
        for words in commands(text):
            for name, inner, wrapped in command_words(words, functions):
                if inner is not None:
                    pending.append((origin, inner))
                    continue
                if name in KEYWORDS or (not wrapped and (name in known or name in functions)):
                    continue
                if name.startswith("/"):
                    if any(name.startswith(d + "/") for d in SYSTEM_DIRS):
                        uses.setdefault(name, set()).add(origin)
                    continue
                if not is_plain(name) or name.startswith(("-", ".")) or name.isdigit():
                    continue
                uses.setdefault(name, set()).add(origin)

    problems = []
    for name in sorted(uses):
        where = ", ".join(sorted(uses[name]))
        if name in others:
            source, path = others[name]
            if path is None:
                if shutil.which(name) is None:
                    problems.append(f"{name} (used in {where}): not found; it comes from {source}")
            elif not os.access(path, os.X_OK):
                problems.append(f"{name} (used in {where}): not installed; scripts/install-deps.sh installs it from {source} to {path}")
            continue
        paths = [name] if name.startswith("/") else [os.path.join(d, name) for d in SYSTEM_DIRS]
        found = [p for p in paths if os.path.exists(p)]
        if not found:
            problems.append(f"{name} (used in {where}): not installed, and no package in scripts/packages.txt provides it "
                            f"(find one with: apt-file search bin/{name})")
            continue
        package = next((p for p in map(package_of, found) if p), None)
        if package is None:
            problems.append(f"{name} (used in {where}): {found[0]} belongs to no Debian package; install it from "
                            f"scripts/install-deps.sh")
        elif package not in packages and package not in essential:
            problems.append(f"{name} (used in {where}): add package {package} to scripts/packages.txt")
        elif package not in build_packages and package not in essential and uses[name] & BUILD_FILES:
            # `make deb` installs only [build]: what building and packaging run must be there.
            problems.append(f"{name} (used in {where}): add package {package} to the [build] section of scripts/packages.txt")
    for problem in problems:
        print(f"check-deps: {problem}")
    print(f"check-deps: {len(uses)} commands, {len(problems)} not provided by scripts/packages.txt")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
