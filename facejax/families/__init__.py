"""Model families: one folder each, driven by the shared trainer and commands; a family never owns a loop.

The contract they implement (the core every family has, and the optional capabilities the commands ask for) is
facejax/families/base.py; the registry of names is facejax/registry.py; docs/ARCHITECTURE.md walks through both
and through adding a family.
"""
