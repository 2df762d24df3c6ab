"""The simulated bench: a line model, DUT models, a virtual clock and instruments that talk the
real protocols (SCPI over loopback TCP, the labjack.ljm function interface)."""
