"""Stand-in for transformers' tests/generation/test_utils.py (5,000 lines of generate() tests).

ALBERT cannot generate, so its tester never inherits GenerationTesterMixin; test_modeling_common.py only names the
class (in an issubclass check). Written for albert-bridge's suite harness, not taken from transformers."""


class GenerationTesterMixin:
    pass
