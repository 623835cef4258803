"""The fuzz lane (red-team issue): hypothesis targets for the verify path, our JUMBF/BMFF readers, the
policy parser and the Soft Binding Resolution API, plus an atheris run of the readers.

    .venv/bin/pytest -q tests/fuzz              # bounded, derandomized: part of `make test` (~25 s)
    make fuzz                                   # long run: 100 000 executions, coverage, summary
    make fuzz FUZZ_EXAMPLES=20000               # a shorter long run

See harness.py for budgets and the corpus, known.py / test_findings.py for what was found.
"""
