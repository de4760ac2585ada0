"""The exceptions a user of rhc catches or raises."""


class HTTPError(Exception):
    """Raise in a handler to answer `status` with `{"error": message}`."""

    def __init__(self, status, message=None, field=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def document(self):
        doc = {'error': self.message}
        if self.field is not None:
            doc['field'] = self.field
        return doc


class CallError(Exception):
    """An outbound call that failed; `.status` is the HTTP status or None."""

    def __init__(self, message, status=None, body=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body

    def __repr__(self):
        return f'CallError({self.message!r}, status={self.status!r})'
