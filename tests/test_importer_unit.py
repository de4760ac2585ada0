"""rhc/importer.py: dotted paths to objects, and failures that say exactly what is missing.

Throwaway modules are written under tmp_path, put on sys.path for the test,
and forgotten again afterwards.
"""
import sys
import textwrap

import pytest

from micro import MicroError, model
from rhc.importer import ImportFromStringError, import_by_path, resolve


@pytest.fixture
def modules(tmp_path, monkeypatch):
    """`modules({'name.py': source, 'pkg/__init__.py': ''})`: importable until the test ends."""
    before = set(sys.modules)

    def write(files):
        for name, source in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for name in set(sys.modules) - before:
        del sys.modules[name]


def failure(path):
    with pytest.raises(ImportFromStringError) as e:
        import_by_path(path)
    return str(e.value)


# -- what resolves ------------------------------------------------------------------

def test_module_attribute(modules):
    modules({'plain_mod.py': 'def fn():\n    return "fn"\nVALUE = 3\n'})
    assert import_by_path('plain_mod.fn')() == 'fn'
    assert import_by_path('plain_mod.VALUE') == 3


def test_package_module_class_method(modules):
    modules({'some_pkg/__init__.py': '',
             'some_pkg/inner.py': '''
                 class Thing:
                     def method(self):
                         return "method"
                     class Nested:
                         LEVEL = 2
             '''})
    thing = import_by_path('some_pkg.inner.Thing')
    assert import_by_path('some_pkg.inner.Thing.method') is thing.method
    assert import_by_path('some_pkg.inner.Thing.Nested.LEVEL') == 2


def test_main_function(monkeypatch):
    def from_a_notebook(request):
        return 'hi'
    monkeypatch.setattr(sys.modules['__main__'], 'from_a_notebook', from_a_notebook, raising=False)
    assert import_by_path('__main__.from_a_notebook') is from_a_notebook


def test_standard_library():
    import os.path
    assert import_by_path('os.path.join') is os.path.join


# -- what does not, and what the message says ---------------------------------------------

@pytest.mark.parametrize('path', ['ping', '', 'a..b', 'a.1b', 'a.b c', '.a.b', 'a.b.', 'a-b.c'])
def test_not_a_dotted_path(path):
    assert failure(path) == f"'{path}' is not a dotted path (module.name)"


@pytest.mark.parametrize('path', [None, 3, ['a', 'b']])
def test_not_a_string(path):
    assert failure(path) == f"'{path}' is not a dotted path (module.name)"


def test_missing_module():
    assert failure('no_such_module_xyz.fn') == \
        "cannot import 'no_such_module_xyz.fn': no module named 'no_such_module_xyz'"


def test_missing_module_inside_a_package(modules):
    modules({'has_pkg/__init__.py': ''})
    assert failure('has_pkg.absent.fn') == \
        "cannot import 'has_pkg.absent.fn': 'has_pkg' has no attribute 'absent'"


@pytest.mark.parametrize('path, missing', [
    ('attr_mod.nope', "'attr_mod' has no attribute 'nope'"),
    ('attr_mod.Thing.nope', "'attr_mod.Thing' has no attribute 'nope'"),
    ('attr_mod.Thing.method.deeper', "'attr_mod.Thing.method' has no attribute 'deeper'"),
])
def test_missing_attribute_names_exactly_which(modules, path, missing):
    modules({'attr_mod.py': 'class Thing:\n    def method(self):\n        pass\n'})
    assert failure(path) == f"cannot import '{path}': {missing}"


def test_module_that_raises_on_import_carries_its_error(modules):
    modules({'raises_mod.py': 'raise RuntimeError("no config file")\n'})
    assert failure('raises_mod.fn') == ("cannot import 'raises_mod.fn': importing 'raises_mod' "
                                        "failed: RuntimeError: no config file")


def test_module_with_a_syntax_error(modules):
    modules({'syntax_mod.py': 'def broken(:\n'})
    message = failure('syntax_mod.broken')
    assert message.startswith("cannot import 'syntax_mod.broken': importing 'syntax_mod' "
                              "failed: SyntaxError: ")
    assert 'syntax_mod.py, line 1' in message


def test_module_in_a_package_that_raises(modules):
    modules({'raising_pkg/__init__.py': '', 'raising_pkg/mod.py': 'x = 1 / 0\n'})
    assert failure('raising_pkg.mod.fn') == ("cannot import 'raising_pkg.mod.fn': importing "
                                             "'raising_pkg.mod' failed: ZeroDivisionError: "
                                             "division by zero")


def test_module_importing_something_missing_names_it(modules):
    modules({'needs_dep.py': 'import dependency_not_installed_xyz\ndef fn():\n    pass\n'})
    assert failure('needs_dep.fn') == \
        "cannot import 'needs_dep.fn': No module named 'dependency_not_installed_xyz'"


def test_module_importing_a_missing_sibling_names_it(modules):
    modules({'sib_pkg/__init__.py': '', 'sib_pkg/mod.py': 'import sib_pkg.gone\n'})
    assert failure('sib_pkg.mod.fn') == \
        "cannot import 'sib_pkg.mod.fn': No module named 'sib_pkg.gone'"


def test_module_importing_a_missing_name_names_it(modules):
    modules({'from_pkg/__init__.py': '', 'from_pkg/mod.py': 'from from_pkg import gone\n'})
    assert failure('from_pkg.mod.fn').startswith(
        "cannot import 'from_pkg.mod.fn': importing 'from_pkg.mod' failed: ImportError: "
        "cannot import name 'gone' from 'from_pkg'")


def test_missing_dependency_whose_name_prefixes_the_module(modules):
    modules({'store_xyz_backend.py': 'import store_xyz\ndef fn():\n    pass\n'})
    assert failure('store_xyz_backend.fn') == \
        "cannot import 'store_xyz_backend.fn': No module named 'store_xyz'"


def test_missing_sibling_whose_name_extends_the_module(modules):
    modules({'pfx_pkg/__init__.py': '', 'pfx_pkg/a.py': 'import pfx_pkg.a_helper\n'})
    assert failure('pfx_pkg.a.fn') == \
        "cannot import 'pfx_pkg.a.fn': No module named 'pfx_pkg.a_helper'"


def test_a_failed_import_does_not_leave_the_module_behind(modules):
    modules({'once_mod.py': 'raise ValueError("first time")\n'})
    failure('once_mod.fn')
    assert 'once_mod' not in sys.modules
    assert failure('once_mod.fn').endswith('ValueError: first time')


# -- resolve: the same failures, at the micro line -----------------------------------------

def node(line=7):
    return model.Method(verb='GET', handler='whatever.fn', source='service.micro', line=line)


def test_resolve_returns_the_object(modules):
    modules({'resolved_mod.py': 'def fn():\n    pass\n'})
    assert resolve('resolved_mod.fn', node()) is sys.modules['resolved_mod'].fn


@pytest.mark.parametrize('path, message', [
    ('no_such_module_xyz.fn', "cannot import 'no_such_module_xyz.fn': no module named "
                              "'no_such_module_xyz'"),
    ('os.no_such_attribute', "cannot import 'os.no_such_attribute': 'os' has no attribute "
                             "'no_such_attribute'"),
    ('undotted', "'undotted' is not a dotted path (module.name)"),
])
def test_resolve_failure_is_a_micro_error_at_the_node(path, message):
    with pytest.raises(MicroError) as e:
        resolve(path, node(12))
    assert (e.value.source, e.value.line, e.value.message) == ('service.micro', 12, message)
    assert str(e.value) == f'service.micro:12: {message}'
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_resolve_carries_an_import_time_error(modules):
    modules({'resolve_raises.py': 'raise OSError("disk on fire")\n'})
    with pytest.raises(MicroError) as e:
        resolve('resolve_raises.fn', node())
    assert str(e.value) == ("service.micro:7: cannot import 'resolve_raises.fn': importing "
                            "'resolve_raises' failed: OSError: disk on fire")
