"""tipring: a pytest harness for analog telephony FXS and FXO ports."""

__version__ = "0.1.0"
