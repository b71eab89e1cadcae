#!/usr/bin/env python3
"""Parse every body phoneverify_render_dump writes with Python's XML (expat)
and JSON parsers, and check each field gives back the request value.

Expected values are computed here, independently of the library: the value
decoded as UTF-8 with errors="replace" (one U+FFFD per maximal ill-formed
subpart, Unicode 3.9), and for XML also every character XML 1.0 cannot carry
(controls other than tab, LF, CR; U+FFFE; U+FFFF) replaced by U+FFFD.

Usage: check_bodies.py <phoneverify_render_dump> <directory>
"""
import json
import pathlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def text_of(element):
    return element.text or ""


def main():
    dumper, directory = sys.argv[1], pathlib.Path(sys.argv[2])
    subprocess.run([dumper, str(directory)], check=True)
    values = sorted(directory.glob("*.value"), key=lambda p: int(p.stem))
    if len(values) < 20:
        fail("too few values written: %d" % len(values))
    checked = 0
    for value_path in values:
        raw = value_path.read_bytes()
        want_json = raw.decode("utf-8", errors="replace")
        want_xml = XML_FORBIDDEN.sub("\ufffd", want_json)
        stem = value_path.stem
        for body in sorted(directory.glob(stem + ".*.json")) + sorted(directory.glob(stem + ".*.xml")):
            # <stem>.<action>.<kind>.<ext>, where kind ("success" or a wire code) may hold dots
            rest, ext = body.name[len(stem) + 1:].rsplit(".", 1)
            action, kind = rest.split(".", 1)
            data = body.read_bytes()
            data.decode("utf-8")  # strict: the body is valid UTF-8
            is_error = kind != "success"
            if ext == "json":
                doc = json.loads(data)
                want = want_json
                fields = dict(doc)
                if is_error:
                    if list(doc) != ["RequestId", "HostId", "Code", "Message", "Recommend"]:
                        fail("%s: members %s" % (body.name, list(doc)))
            else:
                root = ET.fromstring(data)
                if not data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'):
                    fail("%s: no XML declaration" % body.name)
                want = want_xml
                expected_root = "Error" if is_error else action + "Response"
                if root.tag != expected_root:
                    fail("%s: root %s" % (body.name, root.tag))
                fields = {}
                for child in root:
                    if len(child):
                        fields[child.tag] = {g.tag: text_of(g) for g in child}
                    else:
                        fields[child.tag] = text_of(child)
                if is_error and [c.tag for c in root] != ["RequestId", "HostId", "Code", "Message"]:
                    fail("%s: elements %s" % (body.name, [c.tag for c in root]))
            if fields.get("RequestId") != want:
                fail("%s: RequestId %r, want %r" % (body.name, fields.get("RequestId"), want))
            if is_error:
                message = (directory / (stem + "." + action + "." + kind + ".message")).read_bytes()
                message = message.decode("utf-8", errors="replace")
                if ext == "xml":
                    message = XML_FORBIDDEN.sub("\ufffd", message)
                if fields["Code"] != kind or fields["Message"] != message or fields["HostId"] != want:
                    fail("%s: %r" % (body.name, fields))
                if ext == "json" and fields["Recommend"] != want:
                    fail("%s: Recommend %r" % (body.name, fields["Recommend"]))
            elif action == "SendVerificationCodeForBindSecureMobilePhone":
                if list(fields) != ["RequestId", "ExpirationDate"] or fields["ExpirationDate"] != want:
                    fail("%s: %r" % (body.name, fields))
            elif action == "GetMigrationVerifyCode":
                if list(fields) != ["RequestId", "Code", "Message", "Data", "AccessDeniedDetail"]:
                    fail("%s: fields %s" % (body.name, list(fields)))
                if fields["Code"] != "OK" or fields["Message"] != want or fields["AccessDeniedDetail"] != want:
                    fail("%s: %r" % (body.name, fields))
                if fields["Data"] != {"PhoneNumber": want, "Id": want}:
                    fail("%s: Data %r" % (body.name, fields["Data"]))
            elif list(fields) != ["RequestId"]:
                fail("%s: fields %s" % (body.name, list(fields)))
            checked += 1
    print("parsed and checked %d bodies" % checked)


if __name__ == "__main__":
    main()
