"""`provenance check`: a CI gate over a tree of media, driven by a policy.

Importing this package is cheap; c2pa is loaded by the workers that verify.
"""

from __future__ import annotations

from provenance.check.policy import Policy, Scope, load_policy, load_policy_file
from provenance.check.rules import ALL_RULES, RuleInfo, RuleSet, Violation, compile_policy
from provenance.check.runner import CheckReport, FileResult, RecoverySource, check, default_jobs, verify_files
from provenance.check.walk import Candidate, discover

__all__ = [
    "ALL_RULES",
    "Candidate",
    "CheckReport",
    "FileResult",
    "Policy",
    "RecoverySource",
    "RuleInfo",
    "RuleSet",
    "Scope",
    "Violation",
    "check",
    "compile_policy",
    "default_jobs",
    "discover",
    "load_policy",
    "load_policy_file",
    "verify_files",
]
