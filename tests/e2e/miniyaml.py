"""miniyaml — the YAML subset docs/api.yaml is written in, for stdlib-only tests.

Block mappings and sequences by indentation, '|' literal blocks, full-line
comments, and scalars: plain, "double-quoted" (JSON rules), 'single-quoted',
true/false/null, integers, and JSON flow values ({...} or [...]) on one line.
Anything else is an error with its line number, so the file cannot drift into
YAML this parser would misread."""
import json


class Error(ValueError):
    pass


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _scalar(s, lineno):
    s = s.strip()
    if not s:
        return None
    if s[0] in "{[\"":
        try:
            return json.loads(s)
        except ValueError as e:
            raise Error("line %d: bad JSON value: %s" % (lineno, e))
    if s[0] == "'":
        if not s.endswith("'"):
            raise Error("line %d: unterminated quote" % lineno)
        return s[1:-1].replace("''", "'")
    if s in ("true", "True"):
        return True
    if s in ("false", "False"):
        return False
    if s in ("null", "~"):
        return None
    try:
        return int(s)
    except ValueError:
        pass
    if s.startswith(("&", "*", "!", "%", "@", "`")):
        raise Error("line %d: unsupported YAML: %s" % (lineno, s))
    return s


def _key(s, lineno):
    s = s.strip()
    if s[:1] in "\"'":
        return _scalar(s, lineno)
    return s


class _Parser:
    def __init__(self, text):
        self.lines = text.split("\n")
        self.i = 0

    def skip(self):
        while self.i < len(self.lines):
            s = self.lines[self.i].strip()
            if s and not s.startswith("#"):
                return
            self.i += 1

    def node(self, ind):
        self.skip()
        if self.lines[self.i].lstrip().startswith("- "):
            return self.seq(ind)
        return self.map(ind)

    def block(self, parent):
        out = []
        first = None
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() and _indent(line) <= parent:
                break
            if line.strip() and first is None:
                first = _indent(line)
            out.append(line)
            self.i += 1
        while out and not out[-1].strip():
            out.pop()
        return "\n".join(l[first:] if l.strip() else "" for l in out) + "\n"

    def map(self, ind):
        d = {}
        while True:
            self.skip()
            if self.i >= len(self.lines):
                return d
            line = self.lines[self.i]
            cur = _indent(line)
            s = line.strip()
            if cur < ind or (cur == ind and s.startswith("- ")):
                return d
            if cur > ind:
                raise Error("line %d: unexpected indentation" % (self.i + 1))
            lineno = self.i + 1
            if s.endswith(":"):
                key, rest = s[:-1], ""
            elif ": " in s:
                key, rest = s.split(": ", 1)
            else:
                raise Error("line %d: expected 'key: value'" % lineno)
            key = _key(key, lineno)
            if key in d:
                raise Error("line %d: duplicate key %r" % (lineno, key))
            self.i += 1
            rest = rest.strip()
            if rest == "|":
                d[key] = self.block(cur)
            elif rest:
                d[key] = _scalar(rest, lineno)
            else:
                self.skip()
                nxt = self.lines[self.i] if self.i < len(self.lines) else ""
                if nxt.strip() and (_indent(nxt) > cur or (_indent(nxt) == cur and nxt.lstrip().startswith("- "))):
                    d[key] = self.node(_indent(nxt))
                else:
                    d[key] = None

    def seq(self, ind):
        out = []
        while True:
            self.skip()
            if self.i >= len(self.lines):
                return out
            line = self.lines[self.i]
            if _indent(line) != ind or not line.lstrip().startswith("- "):
                return out
            item = line.lstrip()[2:]
            lineno = self.i + 1
            if (": " in item or item.rstrip().endswith(":")) and item[:1] not in "{[\"'":
                self.lines[self.i] = " " * (ind + 2) + item
                out.append(self.map(ind + 2))
            else:
                self.i += 1
                out.append(_scalar(item, lineno))


def load(text):
    p = _Parser(text)
    p.skip()
    return p.node(0)
