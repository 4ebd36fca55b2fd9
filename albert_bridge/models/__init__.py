"""Backends: one implementation per framework (albert_torch, and TF2/Flax as they land), sharing only config and names."""
