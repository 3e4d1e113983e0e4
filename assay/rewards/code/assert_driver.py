"""The driver that runs assert-style tests INSIDE the sandbox (stdlib only; this file's text is
the program the sandbox runs, with the solution and the tests in ``_assay_tests.txt``, a
Python literal written by assay; no json import, whose cost would dominate a short test).

It compiles and runs the solution in a fresh namespace, then the setup code (its failure is
reported apart: the tests' fault or a missing package, not the program's), then each test
in that namespace, and reports after each step one line ``<nonce> {json}`` on a descriptor
of its own (the solution's prints go to stderr). A solution that exits or is killed before
the last report has not passed the tests that were not reported: ``sys.exit(0)`` before the
tests is a failure, not a pass.

Not a defence against a solution that reads this process's memory for the nonce or patches
the test functions from inside: assert-style tests run in the solution's process, as
HumanEval's and MBPP's own evaluations do.
"""

import os
import sys
import traceback


def _describe(error, tb, solution="solution.py"):
    frames = traceback.extract_tb(tb)
    item = {"error": type(error).__name__, "message": str(error)[:300]}
    for frame in frames:
        if frame.filename == solution:
            item["line"] = frame.lineno
    if frames and frames[-1].filename.startswith("test_"):
        item["test_line"] = (frames[-1].line or "")[:200]
    if isinstance(error, SyntaxError) and error.filename == solution:
        item["line"] = error.lineno
        item["message"] = error.msg
    return item


def main():
    from _json import encode_basestring_ascii as quote

    with open("_assay_tests.txt", encoding="utf-8") as handle:
        spec = eval(compile(handle.read(), "_assay_tests.txt", "eval"), {"__builtins__": {}})  # a literal assay wrote
    os.unlink("_assay_tests.txt")
    nonce = spec.pop("nonce")
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)

    def report(**item):
        fields = []
        for key, value in item.items():
            if isinstance(value, str):
                shown = quote(value)
            elif isinstance(value, bool) or value is None:
                shown = "true" if value else "false" if value is False else "null"
            else:
                shown = str(int(value))
            fields.append(quote(key) + ": " + shown)
        channel.write(nonce + " {" + ", ".join(fields) + "}\n")
        channel.flush()

    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        exec(compile(spec["program"], "solution.py", "exec"), namespace)
    except BaseException as error:  # the program itself fails (syntax error, exception at import)
        report(stage="program", **_describe(error, sys.exc_info()[2]))
        return
    if spec.get("setup"):
        try:
            exec(compile(spec["setup"], "test_setup.py", "exec"), namespace)
        except BaseException as error:  # the tests' own setup (MBPP's imports, setup code): not the program's fault
            report(stage="setup", **_describe(error, sys.exc_info()[2]))
            return
    report(stage="loaded")
    for index, test in enumerate(spec["tests"]):
        try:
            exec(compile(test, "test_%d.py" % index, "exec"), namespace)
        except BaseException as error:
            report(stage="test", index=index, passed=False, **_describe(error, sys.exc_info()[2]))
        else:
            report(stage="test", index=index, passed=True)
    report(stage="done")


main()
