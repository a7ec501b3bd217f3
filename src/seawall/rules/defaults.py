"""The rules in force until an operator stores their own: the banks' own default actions, unchanged.

These reproduce the behaviour of a bank's ``default_action`` exactly (allow banks win; otherwise the
strongest of block > review > label), so installing Seawall and later editing rules start from the
same place. Version 0 means "built in, never stored".
"""

from __future__ import annotations

DEFAULT_RULES = """\
# Seawall policy rules. Every rule that fires proposes actions; conflicts are settled by the
# documented precedence (allow overrides everything; block beats remove and label; …).
version: 1
rules:
  - id: allow-bank
    description: An allow bank holds known false positives (news, research, counter-speech); it always wins.
    when:
      match: {bank_kind: allow}
    then: [allow]

  - id: bank-block
    description: A match in a block bank whose default action is block.
    when:
      match: {bank_kind: block, bank_action: block}
    then: [block]

  - id: bank-review
    description: A match in a block bank whose default action is review.
    when:
      match: {bank_kind: block, bank_action: review}
    then:
      - queue: normal

  - id: bank-label
    description: A match in a block bank whose default action is label.
    when:
      match: {bank_kind: block, bank_action: label}
    then:
      - label: "This content may contain violent extremist material."
"""
