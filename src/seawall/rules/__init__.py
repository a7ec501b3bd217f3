"""Policy rules: a small YAML language mapping facts about an item to actions, with a dry run.

``language`` parses and checks rules (errors carry line numbers), ``evaluate`` runs them over
``facts``, ``precedence`` settles conflicting actions, ``service`` stores versions.
"""
