"""Scans for her number and her inputs in clear: in Redis (RQ job data unpacked) and in logs."""

from __future__ import annotations

import re

import redis

from gateway import logs


def redis_dump(client: redis.Redis) -> bytes:
    """Every key and value in the database (RQ's compressed job data unpacked), for scans."""
    import zlib

    chunks: list[bytes] = []
    for key in client.scan_iter():
        chunks.append(key)
        kind = client.type(key)
        if kind == b"hash":
            for field, value in client.hgetall(key).items():
                chunks += [field, value]
        elif kind == b"list":
            chunks += client.lrange(key, 0, -1)
        elif kind == b"set":
            chunks += list(client.smembers(key))
        elif kind == b"zset":
            chunks += client.zrange(key, 0, -1)
        elif kind == b"string":
            chunks.append(client.get(key))
        elif kind == b"stream":
            for _, entry in client.xrange(key):
                for field, value in entry.items():
                    chunks += [field, value]
    unpacked = []
    for chunk in chunks:
        try:
            unpacked.append(zlib.decompress(chunk))
        except zlib.error:
            pass
    return b"\n".join(chunks + unpacked)


def phone_forms(e164: str) -> list[bytes]:
    """The ways her number could appear in clear: E.164, national, with 992, spaced."""
    nsn = e164[-9:]
    forms = [e164, nsn, "992" + nsn, f"{nsn[:2]} {nsn[2:5]} {nsn[5:]}", nsn[-7:]]
    return [f.encode() for f in forms]


def clear_findings(blob: bytes | str, phone: str, inputs: list[str] = ()) -> list[str]:
    """Every way her number (any form) or one of her inputs appears in clear in the blob."""
    data = blob.encode() if isinstance(blob, str) else blob
    *whole, last7 = phone_forms(phone)
    found = [f"phone form {form!r} found in clear" for form in whole if form in data]
    # Her last seven digits count standing alone: seven digits in a row occur by chance in the
    # hex ids of a busy database (RQ jobs and workers); her nine-digit forms do not.
    alone = re.compile(rb"(?<![0-9A-Za-z])" + re.escape(last7) + rb"(?![0-9A-Za-z])")
    found += [f"phone form {m.group()!r} found in clear" for m in alone.finditer(data)]
    # Her national digits with anything between them that a written, URL-encoded or escaped
    # number may have (the separators the log redaction knows): "90 000-99 02", "90%20000...".
    spread = re.compile(f"(?:{logs.SEPARATOR})*".join(phone[-9:]))
    found += [
        f"phone written as {m.group()!r} found in clear"
        for m in spread.finditer(data.decode("utf-8", "replace"))
    ]
    found += [f"input {text!r} found in clear" for text in inputs if text.encode() in data]
    return found


def assert_no_clear(blob: bytes | str, phone: str, inputs: list[str] = ()) -> None:
    """Fail when her number (any form) or any of her inputs appears in the blob."""
    found = clear_findings(blob, phone, inputs)
    assert not found, found[0]


def stored_keys(client: redis.Redis) -> list[bytes]:
    """Keys holding state (request-latency metrics aside, which every answer records)."""
    return [k for k in client.scan_iter() if not k.startswith(b"hd:metrics:")]
