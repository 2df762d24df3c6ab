"""Instrument drivers, one module per family, written against `instruments.protocols`."""
