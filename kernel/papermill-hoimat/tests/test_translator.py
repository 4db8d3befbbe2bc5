"""Tests of the Rust parameter translator (pytest or unittest), run from the repo root:

    .venv/bin/python -m unittest discover -s kernel/papermill-hoimat/tests -v

Expected Rust text is written out by hand. The start-up test needs the package
installed (`pip install -e kernel/papermill-hoimat`), as papermill finds it
through its `papermill.engine` entry point.
"""

import copy
import pathlib
import subprocess
import sys
import unittest

PACKAGE = pathlib.Path(__file__).resolve().parents[1]
REPO = PACKAGE.parents[1]
sys.path.insert(0, str(PACKAGE))

from papermill.iorw import load_notebook_node  # noqa: E402
from papermill.parameterize import parameterize_notebook  # noqa: E402
from papermill.translators import papermill_translators  # noqa: E402

from papermill_hoimat import RustTranslator as T  # noqa: E402


class Values(unittest.TestCase):
    def test_strings_are_rust_literals(self):
        self.assertEqual(T.translate("smoke"), '"smoke"')
        self.assertEqual(T.translate('a"b\\n'), '"a\\"b\\\\n"')  # quote and a literal backslash-n
        self.assertEqual(T.translate('a"b\n'), '"a\\"b\\n"')  # a real newline
        self.assertEqual(T.translate("\t\r\\"), '"\\t\\r\\\\"')
        self.assertEqual(T.translate("\x00\x1b\x7f"), '"\\u{0}\\u{1b}\\u{7f}"')
        self.assertEqual(T.translate("\u202e"), '"\\u{202e}"')  # bidi override: rustc denies it raw
        self.assertEqual(T.translate("é 'q' {}"), "\"é 'q' {}\"")
        self.assertEqual(T.translate(""), '""')

    def test_scalars(self):
        self.assertEqual(T.translate(True), "true")
        self.assertEqual(T.translate(False), "false")
        self.assertEqual(T.translate(0), "0")
        self.assertEqual(T.translate(-7), "-7")
        self.assertEqual(T.translate(-2147483648), "-2147483648")
        self.assertEqual(T.translate(2147483648), "2147483648i64")
        self.assertEqual(T.translate(-9223372036854775808), "-9223372036854775808i64")
        self.assertEqual(T.translate(9223372036854775808), "9223372036854775808u64")
        with self.assertRaisesRegex(ValueError, "18446744073709551616"):
            T.translate(18446744073709551616)

    def test_floats_always_parse_as_f64(self):
        self.assertEqual(T.translate(1.0), "1.0")
        self.assertEqual(T.translate(0.4), "0.4")
        self.assertEqual(T.translate(1e-5), "1e-05")
        self.assertEqual(T.translate(-2.5e20), "-2.5e+20")
        self.assertEqual(T.translate(float("nan")), "f64::NAN")
        self.assertEqual(T.translate(float("inf")), "f64::INFINITY")
        self.assertEqual(T.translate(float("-inf")), "f64::NEG_INFINITY")

    def test_lists(self):
        self.assertEqual(T.translate([0]), "vec![0]")
        self.assertEqual(T.translate(["a", "b"]), 'vec!["a", "b"]')
        self.assertEqual(T.translate([1, 2.5]), "vec![1.0, 2.5]")
        self.assertEqual(T.translate([True, 1]), "vec![true, 1]")  # not promoted; rustc will say so
        self.assertEqual(T.translate([1, None]), "vec![Some(1), None]")
        self.assertEqual(T.translate([[1], []]), "vec![vec![1], vec![]]")
        self.assertEqual(T.translate([]), "vec![]")  # inside a value; alone, see test_codify

    def test_dicts(self):
        self.assertEqual(
            T.translate({"a": 1, "b": 2}), 'std::collections::BTreeMap::from([("a", 1), ("b", 2)])'
        )
        self.assertEqual(T.translate({"g": [0.5]}), 'std::collections::BTreeMap::from([("g", vec![0.5])])')
        self.assertEqual(T.translate({}), "std::collections::BTreeMap::new()")

    def test_codify(self):
        with self.assertLogs("papermill_hoimat", "WARNING"):
            code = T.codify({"profile": "smoke", "seeds": [], "g1": 0.7, "m": {}, "limit": None})
        self.assertEqual(
            code,
            "// Parameters\n"
            'let profile = "smoke";\n'
            "let seeds = Vec::<i32>::new();\n"
            "let g1 = 0.7;\n"
            "let m = std::collections::BTreeMap::<&str, i32>::new();\n"
            "// limit = None: no Rust value, the notebook's own value stays\n",
        )
        self.assertEqual(T.codify({}, "Injected"), "// Injected\n")

    def test_bracketed_strings_are_lists_and_maps(self):
        # papermill's `-p seeds "[0]"` hands over the string "[0]".
        code = T.codify({"seeds": "[0]", "pair": "[1, 2.5]", "m": "{a: 1}", "s": "[a", "t": "a]", "u": "[a: b: c]"})
        self.assertEqual(
            code,
            "// Parameters\n"
            "let seeds = vec![0];\n"
            "let pair = vec![1.0, 2.5];\n"
            'let m = std::collections::BTreeMap::from([("a", 1)]);\n'
            'let s = "[a";\n'
            'let t = "a]";\n'
            'let u = "[a: b: c]";\n',
        )

    def test_names_must_be_rust_identifiers(self):
        for bad in ("1x", "a-b", "type", "fn", "self", "_", "", "a b"):
            with self.assertRaisesRegex(ValueError, "not a Rust identifier"):
                T.codify({bad: 1})
        self.assertEqual(T.codify({"_x1": 1, "PAPERMILL_INPUT_PATH": "a.ipynb"}).count("let "), 2)


class Papermill(unittest.TestCase):
    def table2(self):
        return load_notebook_node(str(REPO / "notebooks" / "table2.ipynb"))  # as papermill reads it

    def test_registered_for_the_kernel_and_the_language(self):
        self.assertIs(papermill_translators.find_translator("hoimat", "rust"), T)
        self.assertIs(papermill_translators.find_translator("evcxr", "Rust"), T)

    def test_table2_gets_an_injected_cell_after_its_parameters(self):
        nb = self.table2()
        out = parameterize_notebook(copy.deepcopy(nb), {"profile": "smoke", "seeds": [0]})
        tags = [c.metadata.get("tags", []) for c in out.cells]
        at = tags.index(["parameters"])
        self.assertEqual(tags[at + 1], ["injected-parameters"])
        self.assertEqual(out.cells[at].source, nb.cells[at].source)  # the defaults stay, shadowed
        self.assertEqual(out.cells[at + 1].source, '// Parameters\nlet profile = "smoke";\nlet seeds = vec![0];\n')
        self.assertEqual(len(out.cells), len(nb.cells) + 1)
        self.assertEqual(out.metadata.papermill.parameters, {"profile": "smoke", "seeds": [0]})
        again = parameterize_notebook(out, {"profile": "paper"})  # replaces, does not stack
        self.assertEqual(len(again.cells), len(nb.cells) + 1)
        self.assertEqual(again.cells[at + 1].source, '// Parameters\nlet profile = "paper";\n')

    def test_help_notebook_reads_the_lets(self):
        cell = next(c for c in self.table2().cells if "parameters" in c.metadata.get("tags", []))
        self.assertEqual(
            [tuple(p) for p in T.inspect(cell)],
            [
                ("profile", "None", '"quick"', "smoke | quick | paper"),
                ("seeds", "Vec<u64>", "vec![]", "empty: the definition's seeds at this profile"),
            ],
        )

    def test_papermill_start_up_registers_it(self):
        """A fresh interpreter that imports only papermill (as its CLI does), or our package first."""
        for first in ("papermill.translators", "papermill_hoimat"):
            probe = (
                f"import {first}; from papermill.translators import papermill_translators as t; "
                "from papermill.engines import papermill_engines as e; "
                "print(t.find_translator('hoimat', 'Rust').__name__, e.get_engine('hoimat').__name__)"
            )
            run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd="/")
            self.assertEqual(
                run.stdout.strip(), "RustTranslator HoimatEngine",
                f"importing {first} first: {run.stderr[-800:]}\n(is it installed? pip install -e kernel/papermill-hoimat)",
            )


if __name__ == "__main__":
    unittest.main()
