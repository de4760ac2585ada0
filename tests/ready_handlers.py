"""The `async def` READY checks of tests/micro_files/async_ready.micro (`ready_handlers.NAME`)."""
import rhc
import rhc.micro

OUTCOME = {'value': True}   # what `outcome` returns; an exception is raised
SEEN = []                   # what the checks record: 'called', 'cancelled'


async def outcome():
    """Suspend once (so the probe really is a task), then say what OUTCOME says."""
    SEEN.append('called')
    await rhc.sleep(0)
    value = OUTCOME['value']
    if isinstance(value, Exception):
        raise value
    return value


async def backend_up():
    """Ready when the backend's /health answers 200: otherwise the call raises CallError.

    The call's own timeout is long, so a backend that never answers is cut off
    by the probe's bound (rhc.probes.CHECK_TIMEOUT).
    """
    SEEN.append('called')
    backend = rhc.Connection(rhc.micro.config.ready_backend, timeout=30)
    try:
        await backend.get('/health')
        return True
    except rhc.Cancelled:
        SEEN.append('cancelled')
        raise
    finally:
        backend.close()
