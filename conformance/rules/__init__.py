"""Rule sets of the conformance suite; ``engine`` is the one engine that runs them."""
from .engine import (REGISTRY, SEVERITIES, Finding, Report, Rule, evaluate, finding, load_rule_sets, rule,
                     rule_set_names, rules, run)

__all__ = ["REGISTRY", "SEVERITIES", "Finding", "Report", "Rule", "evaluate", "finding", "load_rule_sets", "rule",
           "rule_set_names", "rules", "run"]
