#!/usr/bin/env python3
# A certhubd that answers anything, for test_cli_hostile_server: the CLI must take whatever a
# server of another version, a proxy or a hostile server answers without crashing.
#
#   hostile_server.py WORKDIR PORTFILE UPSTREAM UPSTREAM_CA ESCAPE
#
# WORKDIR/ctl says what to do with each request, read at every one:
#   "record N"    pass it on to the real certhubd at UPSTREAM (its CA in UPSTREAM_CA) and keep
#                 its answer among command N's (WORKDIR/rec/N.json);
#   "replay N M"  answer it with command N's recorded answer to the same request, changed by
#                 mutation M of that command's list (mutations() below; WORKDIR/rec/N.count
#                 says how many there are, and which of them the test looks at closer).  A
#                 request not recorded (a path built from a changed answer) gets the answer to
#                 one of the same method and shape, the recorded one's ids taken as any.
# Every mutation is deterministic: the same M gives the same bytes.  ESCAPE is the name that
# the path-out mutation puts in every string (a file that nothing may write).  Plain HTTP on
# loopback, which the CLI takes there (TLS would add some milliseconds to each of thousands of
# runs, and changes nothing of what is read); the port written to PORTFILE.
import base64
import http.client
import http.server
import json
import os
import re
import ssl
import sys
import urllib.parse

from loopback import serve

ID = re.compile(r"^[a-z]+_[0-9a-f]{24}$")


def load(workdir, n):
    try:
        with open(os.path.join(workdir, "rec", "%s.json" % n)) as f:
            return json.load(f)
    except FileNotFoundError:
        return []


def kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "num"
    if isinstance(v, str):
        return "str"
    return "arr" if isinstance(v, list) else "obj"


def tmap(v, fn, root=True):
    """v with fn(value, is_root) applied to every value, innermost first."""
    if isinstance(v, dict):
        v = {k: tmap(x, fn, False) for k, x in v.items()}
    elif isinstance(v, list):
        v = [tmap(x, fn, False) for x in v]
    return fn(v, root)


def keys_of(v, out):
    if isinstance(v, dict):
        for k, x in v.items():
            out.add(k)
            keys_of(x, out)
    elif isinstance(v, list):
        for x in v:
            keys_of(x, out)


def wrong_type(v):
    return {"str": {}, "num": "1", "bool": "yes", "null": "x", "obj": [], "arr": {"0": 1}}[kind(v)]


def only(k, new):
    return lambda v, root: new(v) if kind(v) == k else v


def nonroot(k, new):
    return lambda v, root: new(v) if kind(v) == k and not root else v


ODD_TEXT = "strings hold control characters and conversions"


def tree_mutations(escape):
    """Changes of a JSON answer's values by type, applied to every value of that type."""
    long_text = "x" * 8192
    odd_text = "\x1b]0;hostile\x07\x1b[2J\r\nforged row %s%n%s %99999d \u202e \u009b31m"
    return [
        ("strings become numbers", only("str", lambda v: 7)),
        ("strings become null", only("str", lambda v: None)),
        ("strings become objects", only("str", lambda v: {"a": "b"})),
        ("strings become arrays", only("str", lambda v: ["a"])),
        ("strings become empty", only("str", lambda v: "")),
        ("strings become 8 KB", only("str", lambda v: long_text)),
        ("strings become a path out", only("str", lambda v: escape)),
        (ODD_TEXT, only("str", lambda v: odd_text)),
        ("strings become a far time", only("str", lambda v: "9999-12-31T23:59:59Z")),
        ("numbers become strings", only("num", lambda v: "1")),
        ("numbers become the largest", only("num", lambda v: 9223372036854775807)),
        ("numbers become the smallest", only("num", lambda v: -9223372036854775808)),
        ("numbers become -1", only("num", lambda v: -1)),
        ("numbers become reals", only("num", lambda v: 1e300)),
        ("numbers become null", only("num", lambda v: None)),
        ("booleans become strings", only("bool", lambda v: "true")),
        ("booleans become numbers", only("bool", lambda v: 1)),
        ("nulls become strings", only("null", lambda v: "x")),
        ("nulls become objects", only("null", lambda v: {})),
        ("objects become arrays", nonroot("obj", lambda v: list(v.values()))),
        ("objects lose their fields", nonroot("obj", lambda v: {})),
        ("the answer becomes an array", lambda v, root: list(v.values()) if root and kind(v) == "obj" else v),
        ("the answer loses its fields", lambda v, root: {} if root else v),
        ("arrays become empty", only("arr", lambda v: [])),
        ("arrays hold every type", only("arr", lambda v: [0, None, True, "x", {}, []])),
        ("arrays become objects", only("arr", lambda v: {"0": v[0] if v else 1})),
    ]


HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n"
ERR = {"error": {"code": "internal", "message": "hostile"}}
# Changes of the whole answer: (name, status (None: the recorded one), content type, body (None:
# the recorded one; "half": its first half), headers added).
BODY_MUTATIONS = [
    ("as recorded", None, None, None, ()),
    ("200 with HTML", 200, "text/html", HTML, ()),
    ("500 with HTML", 500, "text/html", HTML, ()),
    ("200 empty", 200, "application/json", b"", ()),
    ("204 empty", 204, None, b"", ()),
    ("201 with an error", 201, "application/json", json.dumps(ERR).encode(), ()),
    ("200 with an error", 200, "application/json", json.dumps(ERR).encode(), ()),
    ("400 not JSON", 400, "text/plain", b"bad request\n", ()),
    ("404 with an error of numbers", 404, "application/json",
     b'{"error": {"code": 7, "message": 8, "field": 9, "existing_id": 10}}', ()),
    ("409 with an error of strings", 409, "application/json", b'{"error": "conflict", "message": "x"}', ()),
    ("500 with an array", 500, "application/json", b"[]", ()),
    ("403 with an empty object", 403, "application/json", b"{}", ()),
    ("302 elsewhere", 302, "text/html", HTML, (("Location", "https://127.0.0.1:1/elsewhere"),)),
    ("200 of 10 MB", 200, "application/json", b'{"id": "' + b"a" * (10 * 1024 * 1024) + b'"}', ()),
    ("200 nested deep", 200, "application/json", b"[" * 200000, ()),
    ("200 not UTF-8", 200, "application/json", b'{"id": "\xff\xfe\xc0\xaf"}', ()),
    ("200 a JSON string", 200, "application/json", b'"crt_x"', ()),
    ("truncated", None, None, "half", ()),
    ("odd headers", None, None, None,
     (("Certhub-Token-Expires", "9999-12-31T23:59:59Z"), ("Content-Disposition", 'attachment; filename="../../x"'))),
    ("a token expiry not a time", None, None, None, (("Certhub-Token-Expires", "x" * 200),)),
]


def is_json(entry):
    try:
        json.loads(base64.b64decode(entry["b"]))
        return True
    except ValueError:
        return False


def mutations(entries, escape="/nonexistent/escape"):
    """The command's mutations: whole answers, then values by type, then each field name its
    answers hold, dropped or of another type (only where some answer is JSON)."""
    out = [("body",) + m for m in BODY_MUTATIONS]
    docs = [json.loads(base64.b64decode(e["b"])) for e in entries if is_json(e)]
    if docs:
        out += [("tree",) + m for m in tree_mutations(escape)]
        names = set()
        for d in docs:
            keys_of(d, names)
        for k in sorted(names):
            out.append(("drop", k))
            out.append(("retype", k))
    return out


def change_field(v, name, how):
    if isinstance(v, dict):
        new = {}
        for k, x in v.items():
            x = change_field(x, name, how)
            if k != name:
                new[k] = x
            elif how == "retype":
                new[k] = wrong_type(x)
        return new
    if isinstance(v, list):
        return [change_field(x, name, how) for x in v]
    return v


def mutate(entry, m):
    status, ctype, body = entry["s"], entry["t"], base64.b64decode(entry["b"])
    if m[0] == "body":
        _, _, s, t, b, headers = m
        if s is None:
            return status, ctype, body[: len(body) // 2] if b == "half" else body, headers
        return s, t, b, headers
    try:
        doc = json.loads(body)
    except ValueError:
        return status, ctype, body, ()
    if m[0] == "tree":
        doc = tmap(doc, m[2])
    else:
        doc = change_field(doc, m[1], m[0])
    return status, ctype, json.dumps(doc).encode(), ()


def same_shape(recorded, asked):
    """Whether two requests' paths are the same but for the ids of the recorded one (and the
    queries)."""
    rs, as_ = recorded.partition("?")[0].split("/"), asked.partition("?")[0].split("/")
    return len(rs) == len(as_) and all(r == a or ID.match(urllib.parse.unquote(r)) for r, a in zip(rs, as_))


def main():
    workdir, portfile, upstream, upstream_ca, escape = sys.argv[1:6]
    up = urllib.parse.urlparse(upstream)
    up_ctx = ssl.create_default_context(cafile=upstream_ca)
    state = {"ctl": None, "seen": {}, "cache": {}}
    os.makedirs(os.path.join(workdir, "rec"), exist_ok=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        def send(self, status, ctype, body, extra=()):
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            for k, v in extra:
                self.send_header(k, v)
            if status != 204:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 204:
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # (the CLI stops reading an answer past its cap)

        def record(self, n, body):
            conn = http.client.HTTPSConnection(up.hostname, up.port, context=up_ctx, timeout=60)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() in ("authorization", "content-type", "certhub-password", "certhub-key-password")}
            conn.request(self.command, self.path, body=body if body else None, headers=headers)
            r = conn.getresponse()
            data = r.read()
            ctype = r.getheader("Content-Type")
            extra = [(k, v) for k, v in r.getheaders() if k.lower() in ("content-disposition", "certhub-token-expires")]
            conn.close()
            entries = load(workdir, n)
            entries.append({"m": self.command, "p": self.path, "s": r.status, "t": ctype,
                            "b": base64.b64encode(data).decode()})
            with open(os.path.join(workdir, "rec", "%s.json" % n), "w") as f:
                json.dump(entries, f)
            # (for the test's loop: how many mutations there are now, how many of them, first,
            # change whole answers, which puts control characters in every string, and which
            # answer a success status with an error)
            ms = mutations(entries)
            odd = [i for i, m in enumerate(ms) if m[1] == ODD_TEXT] + [-1]
            err = [str(i) for i, m in enumerate(ms) if m[0] == "body" and m[4] == json.dumps(ERR).encode()
                   and 200 <= m[2] < 300]
            with open(os.path.join(workdir, "rec", "%s.count" % n), "w") as f:
                f.write("%d %d %d %s\n" % (len(ms), len(BODY_MUTATIONS), odd[0], ",".join(err)))
            self.send(r.status, ctype, data, extra)

        def replay(self, ctl, n, mi):
            if n not in state["cache"]:
                entries = load(workdir, n)
                state["cache"][n] = (entries, mutations(entries, escape))
            entries, ms = state["cache"][n]
            if state["ctl"] != ctl:
                state["ctl"], state["seen"] = ctl, {}
            found = [e for e in entries if e["m"] == self.command and e["p"] == self.path]
            if not found:
                found = [e for e in entries if e["m"] == self.command and same_shape(e["p"], self.path)]
            if not found:
                self.send(404, "application/json",
                          b'{"error": {"code": "not_found", "message": "not recorded"}}')
                return
            k = (self.command, self.path)
            i = state["seen"].get(k, 0)
            state["seen"][k] = i + 1
            status, ctype, body, headers = mutate(found[min(i, len(found) - 1)], ms[mi])
            self.send(status, ctype, body, headers)

        def handle_any(self):
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(length) if length else b""
            with open(os.path.join(workdir, "ctl")) as f:
                ctl = f.read().split()
            if ctl[0] == "record":
                self.record(ctl[1], body)
            else:
                self.replay(" ".join(ctl), ctl[1], int(ctl[2]))

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        def log_message(self, *args):
            pass

    serve(Handler, portfile)


if __name__ == "__main__":
    main()
