"""Text from a client, made safe to write into a log line.

A path or header is the client's to choose: written raw, `%0A` would forge a
second log line and `%1B` would send escapes to whoever tails the log. Every
character that is not printable is written as its Python escape instead.
"""


def loggable(text):
    """`text` with every non-printable character escaped (`\\n` -> `\\x0a`)."""
    if text.isprintable():      # the usual case costs one scan
        return text
    return ''.join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char):
    code = ord(char)
    if code < 0x100:
        return f'\\x{code:02x}'
    if code < 0x10000:
        return f'\\u{code:04x}'
    return f'\\U{code:08x}'
