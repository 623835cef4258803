"""The OASIS SARIF 2.1.0 schema shipped in tests/data, as a validator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SARIF_SCHEMA = Path(__file__).resolve().parent.parent / "data" / "sarif-schema-2.1.0.json"


def load_sarif_validator() -> Any:
    """A validator for the OASIS SARIF 2.1.0 JSON schema (draft-07), shipped in tests/data."""
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text())
    assert schema["$id"].endswith("sarif-schema-2.1.0.json")
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
