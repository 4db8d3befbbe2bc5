"""papermill-hoimat: papermill parameters for Rust notebooks (the hoimat kernel).

With it installed (``pip install -e kernel/papermill-hoimat``),
``papermill notebooks/table2.ipynb out.ipynb -k hoimat -p profile smoke -y "seeds: [0]"``
adds after the cell tagged ``parameters`` a cell tagged ``injected-parameters``,
``// Parameters`` then ``let profile = "smoke";`` and ``let seeds = vec![0];``,
whose ``let``s shadow the defaults. papermill has no entry-point group for
translators, but imports the ``papermill.engine`` group when ``papermill.engines``
is imported, before any notebook is parameterized; so this package declares an
engine ``hoimat`` (NBClientEngine unchanged, never needs selecting), and importing
it registers ``RustTranslator`` for the kernel name ``hoimat`` and the languages
``rust``/``Rust`` (papermill tries the kernel name, then ``language_info.name``).

Values: str -> Rust string literal (``\\ " \\n \\r \\t`` escaped, other control and
format characters as ``\\u{..}``); bool -> ``true``/``false``; int -> as written
(Rust's default i32), suffixed ``i64``/``u64`` outside i32, ValueError beyond u64;
float -> Python's repr, which always has a ``.`` or exponent (``1.0``, ``1e-05``),
or ``f64::NAN``/``f64::INFINITY``/``f64::NEG_INFINITY``; list -> ``vec![..]`` (ints
become floats beside floats, a list with None is ``vec![Some(..), None]``, an empty
one ``Vec::<i32>::new()``: a bare ``vec![]`` cannot be typed in its own cell);
dict -> ``std::collections::BTreeMap::from([(k, v), ..])`` (``::new()`` if empty).
A top-level None has no Rust value that types alone: it becomes a comment and the
notebook's value stays. Literals take Rust's default types, so parameters cells
must not rely on exact integer types (table2 uses ``s as u64``), and a float
parameter is passed as ``1.0``, not ``1``. A name that is not a Rust identifier
(or is a keyword) raises ValueError. papermill's ``-p NAME VALUE`` makes
``True``/``False``/``None``/int/float strings those types and keeps anything else
a string, so ``-p seeds "[0]"`` arrives as the string ``"[0]"``. A Rust notebook
has no use for a string that spells a list, so a string parameter written as a
YAML flow list or map (``[...]`` or ``{...}``, e.g. ``"[0, 1]"``, ``"{a: 1}"``) is
read as that list or map: ``let seeds = vec![0];``. A string that must keep its
brackets cannot be passed this way (nor can ``-r`` keep them: papermill gives us the
same string); ``-y "seeds: [0]"`` and ``-f params.yaml`` work too.
"""

import logging
import math
import re
import unicodedata

import yaml

from papermill.models import Parameter
from papermill.translators import Translator, papermill_translators

__all__ = ["RustTranslator", "HoimatEngine"]
logger = logging.getLogger(__name__)

KEYWORDS = frozenset(
    "as async await break const continue crate dyn else enum extern false fn for gen if impl in let loop "
    "match mod move mut pub ref return self Self static struct super trait true type unsafe use where while "
    "abstract become box do final macro override priv try typeof unsized virtual yield".split()
)
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MAP = "std::collections::BTreeMap"
# Values that type only from their neighbours, and what they become on their own.
_ALONE = {"vec![]": "Vec::<i32>::new()", f"{_MAP}::new()": f"{_MAP}::<&str, i32>::new()"}
_LET = re.compile(
    r"^\s*let\s+(?:mut\s+)?(?P<name>\w+)\s*(?::\s*(?P<type>[^=]+?)\s*)?=\s*(?P<value>.+?);\s*(?://+\s*(?P<help>.*?))?\s*$"
)


def _collection(val):
    """A string spelling a YAML flow list or map (`-p seeds "[0]"`) as that value."""
    if isinstance(val, str) and val.strip()[:1] + val.strip()[-1:] in ("[]", "{}"):
        try:
            parsed = yaml.safe_load(val)
        except yaml.YAMLError:
            return val
        if isinstance(parsed, (list, dict)):
            return parsed
    return val


class RustTranslator(Translator):
    """papermill Translator that writes parameters as Rust `let` statements."""

    @classmethod
    def translate_str(cls, val):
        hidden = ("Cc", "Cf", "Zl", "Zp")  # control, format, line/paragraph separators
        esc = (_ESCAPES.get(c) or (f"\\u{{{ord(c):x}}}" if unicodedata.category(c) in hidden else c) for c in val)
        return '"' + "".join(esc) + '"'

    @classmethod
    def translate_escaped_str(cls, val):  # papermill's fallback for other types (dates, ...)
        return cls.translate_str(str(val))

    @classmethod
    def translate_none(cls, val):
        return "None"  # only reached inside a list or dict, where siblings are Some(..)

    @classmethod
    def translate_int(cls, val):
        for bound, suffix in ((2**31, ""), (2**63, "i64")):
            if -bound <= val < bound:
                return f"{val}{suffix}"
        if 0 <= val < 2**64:
            return f"{val}u64"
        raise ValueError(f"integer {val} does not fit a Rust i64 or u64; pass it as a float or a string")

    @classmethod
    def translate_float(cls, val):
        if math.isfinite(val):
            return repr(val)
        return "f64::NAN" if math.isnan(val) else "f64::INFINITY" if val > 0 else "f64::NEG_INFINITY"

    @classmethod
    def _items(cls, values):
        values = list(values)
        if any(isinstance(v, float) for v in values) and all(v is None or type(v) in (int, float) for v in values):
            values = [v if v is None else float(v) for v in values]
        if any(v is None for v in values):
            return ["None" if v is None else f"Some({cls.translate(v)})" for v in values]
        return [cls.translate(v) for v in values]

    @classmethod
    def translate_list(cls, val):
        return f"vec![{', '.join(cls._items(val))}]"

    @classmethod
    def translate_dict(cls, val):
        if not val:
            return f"{_MAP}::new()"
        pairs = zip([cls.translate(k) for k in val], cls._items(val.values()))
        return f"{_MAP}::from([{', '.join(f'({k}, {v})' for k, v in pairs)}])"

    @classmethod
    def comment(cls, cmt_str):
        return f"// {cmt_str}".strip()

    @classmethod
    def assign(cls, name, str_val):
        return f"let {name} = {_ALONE.get(str_val, str_val)};"

    @classmethod
    def codify(cls, parameters, comment="Parameters"):
        lines = [cls.comment(comment)]
        for name, val in parameters.items():
            if not (isinstance(name, str) and name.isidentifier() and name != "_" and name not in KEYWORDS):
                raise ValueError(f"parameter name {name!r} is not a Rust identifier")
            val = _collection(val)
            if val is None:
                logger.warning("parameter %s is None, which Rust cannot type alone: the notebook's value stays", name)
                lines.append(f"// {name} = None: no Rust value, the notebook's own value stays")
            else:
                lines.append(cls.assign(name, cls.translate(val)))
        return "\n".join(lines) + "\n"

    @classmethod
    def inspect(cls, parameters_cell):
        """`let name[: type] = default; // help` lines, for `papermill --help-notebook`."""
        found = (_LET.match(line) for line in parameters_cell.source.splitlines())
        return [Parameter(m["name"], m["type"] or "None", m["value"], m["help"] or "") for m in found if m]


for _key in ("hoimat", "rust", "Rust"):
    papermill_translators.register(_key, RustTranslator)

from .engine import HoimatEngine  # noqa: E402  (after registration; see engine.py)
