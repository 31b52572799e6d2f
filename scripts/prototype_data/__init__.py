"""Crystallographic data of the prototype library, one module per family."""
