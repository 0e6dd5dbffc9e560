"""Proxy training: one small language model trained on one data mixture (import the submodules)."""
