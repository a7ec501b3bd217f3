"""Legal paperwork: EU TCO removal orders (Regulation 2021/784), preservation, notices to uploaders,
DSA statements of reasons and transparency reports.

Each module does one job; :func:`seawall.composition.legal_service` gives them the parts they use. Every deadline is
computed from an injectable :class:`~seawall.legal.clock.Clock`, so the one-hour rule and the
six-month preservation period can be tested without waiting.
"""
