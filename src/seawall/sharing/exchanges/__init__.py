"""Exchanges Seawall pulls bank entries from (and pushes opinions to): one module per exchange."""
