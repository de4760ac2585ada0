"""Turn the dotted paths a micro file names into Python objects."""
import importlib

from micro import MicroError


class ImportFromStringError(Exception):
    """A dotted path that does not resolve; the message names what is missing."""


def import_by_path(path):
    """Return the object `path` names: `package.module.attr` (or `__main__.fn`).

    The longest importable module prefix is imported and the rest is looked up
    as attributes, so `pkg.mod.Class.method` works too. Errors say exactly
    which module or attribute is missing; an exception raised while the
    module itself runs is reported with its own message.
    """
    if not isinstance(path, str) or not path or '.' not in path:
        raise ImportFromStringError(f"'{path}' is not a dotted path (module.name)")
    parts = path.split('.')
    if not all(p.isidentifier() for p in parts):
        raise ImportFromStringError(f"'{path}' is not a dotted path (module.name)")
    module = None
    for cut in range(len(parts) - 1, 0, -1):
        name = '.'.join(parts[:cut])
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            missing_itself = e.name is None or name == e.name or name.startswith(e.name + '.')
            if not missing_itself:
                # The module exists but something it imports does not.
                raise ImportFromStringError(f"cannot import '{path}': {e}") from None
            continue
        except Exception as e:
            raise ImportFromStringError(
                f"cannot import '{path}': importing '{name}' failed: {type(e).__name__}: {e}") from None
        break
    if module is None:
        raise ImportFromStringError(f"cannot import '{path}': no module named '{parts[0]}'")
    obj = module
    done = module.__name__
    for attr in parts[cut:]:
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise ImportFromStringError(
                f"cannot import '{path}': '{done}' has no attribute '{attr}'") from None
        done = f'{done}.{attr}'
    return obj


def resolve(path, node):
    """Import `path`, reporting a failure as a MicroError at the micro line of `node`."""
    try:
        return import_by_path(path)
    except ImportFromStringError as e:
        raise MicroError(node.source, node.line, str(e)) from None
